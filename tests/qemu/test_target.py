"""The qemu target against a fake QEMU speaking QMP on a real unix socket: input as
input-send-event (paced by each reply, never dropped), the run state and power actions,
the VM going away and coming back, screendumps, and the USB disk of storage follow."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hid import evcodes as ec
from hid.qcodes import button_event, key_event, motion_event
from kvmswitchd.core.commands import PowerAction
from kvmswitchd.errors import BusyError, DeviceError
from kvmswitchd.port import Port
from kvmswitchd.port_config import PortConfig
from kvmswitchd.targets.qemu import QemuTarget
from kvmswitchd.targets.qemu_disk import DEVICE, NODE
from tests.qemu.conftest import make_target
from tests.qemu.fake_qmp import FakeQmp


def flat(vm: FakeQmp) -> list[dict[str, Any]]:
    return [event for batch in vm.input for event in batch]


def port_on(target: QemuTarget, mouse: str = "relative") -> Port:
    return Port(PortConfig(unit=2, target="qemu", mouse=mouse, qmp="unix:/x"), target)


async def until(target: QemuTarget, check: Callable[[], bool]) -> None:
    """Wait (on the target's change notices) until ``check()`` holds."""
    changed = asyncio.Event()
    target.on_change = changed.set
    async with asyncio.timeout(10):
        while not check():
            changed.clear()
            await changed.wait()


def typed(*codes: int) -> list[tuple[int, bool]]:
    return [(c, True) for c in codes] + [(c, False) for c in reversed(codes)]


async def test_typed_keys_reach_the_vm_as_qcode_events_in_order(
    vm: FakeQmp, target: QemuTarget
) -> None:
    port = port_on(target)
    for code, down in typed(ec.KEY_LEFTSHIFT, ec.KEY_H) + typed(ec.KEY_I, ec.KEY_ENTER):
        port.key(code, down)
    await target.drained()
    assert flat(vm) == [
        key_event("shift", True),
        key_event("h", True),
        key_event("h", False),
        key_event("shift", False),
        key_event("i", True),
        key_event("ret", True),
        key_event("ret", False),
        key_event("i", False),
    ]
    assert target.view()["input_commands"] == 8


async def test_an_input_command_qemu_refuses_costs_that_report_not_the_rest(
    vm: FakeQmp, target: QemuTarget
) -> None:
    """An error reply is not a lost link: the session and the queued reports go on."""
    port = port_on(target)
    vm.reject_input = {0}  # the first command ("h" pressed) is answered with an error
    for code, down in typed(ec.KEY_H) + typed(ec.KEY_I):
        port.key(code, down)
    await target.drained()
    assert flat(vm) == [key_event("h", False), key_event("i", True), key_event("i", False)]
    assert target.view()["rejected_inputs"] == 1
    assert target.connects == 1  # the same session throughout


async def test_a_slow_vm_gets_back_pressure_one_command_at_a_time_and_loses_nothing(
    vm: FakeQmp, target: QemuTarget
) -> None:
    port = port_on(target)
    vm.hold_input = True
    for _ in range(50):
        port.key(ec.KEY_A, True)
        port.key(ec.KEY_A, False)
    await vm.wait_for("input-send-event")
    assert vm.in_flight == 1 and len(target.keyboard_queue) == 100  # the head waits in place
    vm.release_input()
    await target.drained()
    assert vm.most_in_flight == 1
    assert flat(vm) == [key_event("a", True), key_event("a", False)] * 50


async def test_relative_pointer_buttons_and_both_wheels(vm: FakeQmp, target: QemuTarget) -> None:
    port = port_on(target)
    port.move(5, -3)
    await target.drained()
    port.button(ec.BTN_LEFT, True)
    await target.drained()
    port.move(0, 0, wheel=1, hwheel=-1)
    await target.drained()
    port.button(ec.BTN_LEFT, False)
    await target.drained()
    assert flat(vm) == [
        motion_event("rel", "x", 5),
        motion_event("rel", "y", -3),
        button_event("left", True),
        button_event("wheel-up", True),
        button_event("wheel-up", False),
        button_event("wheel-left", True),
        button_event("wheel-left", False),
        button_event("left", False),
    ]


async def test_an_absolute_pointer_sends_qemu_abs_coordinates(vm: FakeQmp) -> None:
    target = make_target(vm.path, mouse="absolute")
    await target.start()
    try:
        await target.connected.wait()
        port = port_on(target, mouse="absolute")
        port.move_to(0, 32767)
        await target.drained()
        port.button(ec.BTN_RIGHT, True)
        await target.drained()
        assert flat(vm) == [
            motion_event("abs", "x", 0),
            motion_event("abs", "y", 32767),
            button_event("right", True),
        ]
    finally:
        await target.stop()


async def test_a_vm_that_is_not_running_is_an_offline_port_until_it_starts(
    sock_dir: Path,
) -> None:
    path = sock_dir / "vm.qmp"
    target = make_target(path)
    await target.start()
    try:
        view = target.power_view()
        assert (view["online"], view["status"]) == (False, "offline")
        port = port_on(target)
        port.key(ec.KEY_A, True)
        assert target.dropped == 1 and len(target.keyboard_queue) == 0
        with pytest.raises(BusyError, match="cannot start a VM whose process has quit"):
            await target.power(PowerAction.ON)
        with pytest.raises(BusyError, match="not running"):
            await target.power(PowerAction.RESET)
        assert target.screen().startswith(b"\x89PNG")  # a card saying the VM is offline
        vm = FakeQmp(path)
        await vm.start()
        await target.connected.wait()
        assert target.power_view()["status"] == "running"
        await vm.kill()
    finally:
        await target.stop()


async def test_the_vm_killed_and_restarted_is_reconnected(vm: FakeQmp, target: QemuTarget) -> None:
    port = port_on(target)
    port.key(ec.KEY_LEFTCTRL, True)
    await target.drained()
    await vm.kill()
    await until(target, lambda: not target.online)
    assert target.power_view()["status"] == "offline"
    await vm.start()
    await until(target, lambda: target.online)
    assert target.connects == 2
    port.key(ec.KEY_B, True)
    await target.drained()
    # the new VM held nothing: it is told of ctrl (still held here) with b
    assert vm.input[-1] == [key_event("b", True), key_event("ctrl", True)]


@pytest.mark.parametrize(
    ("status", "action", "commands", "after"),
    [
        ("running", PowerAction.OFF, ["system_powerdown"], "running"),
        ("running", PowerAction.HARD_OFF, ["quit"], "offline"),
        ("running", PowerAction.RESET, ["system_reset"], "running"),
        ("running", PowerAction.PAUSE, ["stop"], "paused"),
        ("paused", PowerAction.RESUME, ["cont"], "running"),
        ("paused", PowerAction.ON, ["cont"], "running"),
        ("shutdown", PowerAction.ON, ["system_reset", "cont"], "running"),
        ("running", PowerAction.ON, [], "running"),
    ],
)
async def test_each_power_action_is_its_qmp_commands_and_the_run_state_follows(
    vm: FakeQmp,
    target: QemuTarget,
    status: str,
    action: PowerAction,
    commands: list[str],
    after: str,
) -> None:
    vm.status = status
    target.status = status
    vm.commands.clear()
    await target.power(action)
    assert [c for c in vm.names() if not c.startswith("query-")] == commands
    await until(target, lambda: target.status == after)


async def test_a_shut_down_vm_cannot_resume_and_a_refused_command_is_a_device_error(
    vm: FakeQmp, target: QemuTarget
) -> None:
    vm.status = target.status = "shutdown"
    with pytest.raises(BusyError, match="use on"):
        await target.power(PowerAction.RESUME)
    target.status = "paused"  # we think it is paused; QEMU says otherwise
    with pytest.raises(DeviceError, match="Resetting the Virtual Machine is required"):
        await target.power(PowerAction.RESUME)


async def test_run_state_events_from_the_vm_reach_the_view(vm: FakeQmp, target: QemuTarget) -> None:
    vm.status = "paused"
    vm.event("STOP")
    await until(target, lambda: target.status == "paused")
    assert target.power_view()["last_event"] == "STOP"


async def test_a_screendump_is_read_back_and_its_file_removed(
    vm: FakeQmp, target: QemuTarget
) -> None:
    frame = await target.refresh_screen()
    assert frame == vm.screen
    args = await vm.wait_for("screendump")
    assert args["format"] == "png"
    assert not Path(args["filename"]).exists()
    assert target.screen() == vm.screen


async def test_a_screendump_that_is_not_a_png_keeps_the_last_frame(
    vm: FakeQmp, target: QemuTarget
) -> None:
    good = await target.refresh_screen()
    vm.screen = b"not a png"
    assert await target.refresh_screen() is None
    assert target.screen() == good


async def test_a_symlink_planted_as_the_screendump_is_not_followed(
    vm: FakeQmp, target: QemuTarget, sock_dir: Path
) -> None:
    """QEMU may write in the screendump folder: it must not make us read another file."""
    good = await target.refresh_screen()
    await vm.wait_for("screendump")  # the first, written as QEMU does
    secret = sock_dir / "secret.png"
    secret.write_bytes(png_of_secret := vm.screen + b"secret")
    vm.screen_link = secret
    assert await target.refresh_screen() is None
    args = await vm.wait_for("screendump")
    assert not Path(args["filename"]).is_symlink()  # removed, and the target untouched
    assert secret.read_bytes() == png_of_secret
    assert target.screen() == good


async def test_storage_on_the_port_is_a_usb_disk_plugged_in_and_out(
    vm: FakeQmp, target: QemuTarget, sock_dir: Path
) -> None:
    image = str(sock_dir / "disk.img")
    target.disk.set((image, True))
    await target.disk.settled()
    assert vm.nodes[NODE]["file"] == {"driver": "file", "filename": image, "read-only": True}
    assert vm.devices[DEVICE]["driver"] == "usb-storage"
    assert vm.devices[DEVICE]["drive"] == NODE
    target.disk.set(None)
    await target.disk.settled()
    assert vm.devices == {} and vm.nodes == {}
    names = vm.names()
    assert names.index("device_del") < names.index("blockdev-del")


async def test_a_restarted_vm_gets_the_disk_again_and_a_known_one_is_left_alone(
    vm: FakeQmp, target: QemuTarget, sock_dir: Path
) -> None:
    image = str(sock_dir / "disk.img")
    target.disk.set((image, False))
    await target.disk.settled()
    await vm.kill()
    vm.nodes.clear()
    vm.devices.clear()
    await until(target, lambda: not target.online)
    await vm.start()
    await until(target, lambda: target.online)
    await target.disk.settled()
    assert DEVICE in vm.devices
    # the daemon restarts, the VM does not: the disk it has is ours, nothing is re-plugged
    second = make_target(vm.path)
    second.disk.set((image, False))
    await target.stop()
    vm.commands.clear()
    await second.start()
    try:
        await second.connected.wait()
        await second.disk.settled()
        assert "blockdev-add" not in vm.names() and "device_del" not in vm.names()
    finally:
        await second.stop()


async def test_disk_io_in_the_vm_is_reported_as_host_io(vm: FakeQmp, target: QemuTarget) -> None:
    seen: list[bool] = []
    got = asyncio.Event()

    def on_io(write: bool) -> None:
        seen.append(write)
        got.set()

    target.disk.on_io = on_io
    target.disk.io_interval = 0.01
    target.disk.set(("/dev/null", False))
    await target.disk.settled()
    await vm.wait_for("query-blockstats")  # the baseline
    vm.counters[1] += 3
    await got.wait()
    got.clear()
    vm.counters[0] += 1
    await got.wait()
    assert seen == [True, False]


async def test_a_guest_eject_is_the_hosts_eject(vm: FakeQmp, target: QemuTarget) -> None:
    ejected = asyncio.Event()
    target.disk.on_ejected = ejected.set
    target.disk.set(("/dev/null", False))
    await target.disk.settled()
    vm.event("DEVICE_TRAY_MOVED", {"device": "", "id": DEVICE, "tray-open": True})
    await ejected.wait()
