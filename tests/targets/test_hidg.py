"""The ``gadget`` target: reports written to HID nodes, stood in for by FIFOs and a pty
(a character device, as a real ``/dev/hidgN`` is), offline and back, LED reports read."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import tty
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hid.pacing import STALL_AFTER
from kvmswitchd.config import parse_config
from kvmswitchd.core.commands import Origin, Source
from kvmswitchd.errors import ConfigError
from kvmswitchd.targets.hidg import GadgetTarget, HidgNode, still_absolute, still_relative
from kvmswitchd.targets.target import TargetBackend
from tests.daemon.conftest import start

PRESS_A = bytes((0, 0, 4, 0, 0, 0, 0, 0))
PRESS_AB = bytes((0, 0, 4, 5, 0, 0, 0, 0))
RELEASED = bytes(8)
TIMEOUT = 5.0
F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)


def fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


@contextlib.contextmanager
def reading(path: Path) -> Iterator[int]:
    """The host side of a FIFO node: a non-blocking read end."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        yield fd
    finally:
        os.close(fd)


def drain(fd: int) -> bytes:
    out = b""
    with contextlib.suppress(BlockingIOError):
        while chunk := os.read(fd, 65536):
            out += chunk
    return out


async def readable(fd: int) -> None:
    """Wait (no sleeping) until ``fd`` has data."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(fd, wake)
    try:
        await asyncio.wait_for(ready, TIMEOUT)
    finally:
        loop.remove_reader(fd)


async def started(node: HidgNode) -> HidgNode:
    await node.start()
    return node


def test_the_gadget_target_satisfies_the_target_protocol(tmp_path: Path) -> None:
    target: TargetBackend = GadgetTarget(str(tmp_path / "k"), str(tmp_path / "m"))
    assert target.kind == "gadget"
    assert target.screen() is None


async def test_each_report_is_one_write_the_reader_gets_byte_exact(tmp_path: Path) -> None:
    path = fifo(tmp_path / "hidg0")
    with reading(path) as host:
        node = await started(HidgNode(str(path), name="k"))
        try:
            assert node.online
            for report in (PRESS_A, PRESS_AB, RELEASED):
                node.write(report)
            assert drain(host) == PRESS_A + PRESS_AB + RELEASED
            assert node.view()["reports"] == 3
        finally:
            node.stop()


async def test_a_node_nobody_reads_is_offline_and_gets_the_latest_report_when_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = fifo(tmp_path / "hidg0")
    caplog.set_level(logging.INFO, "kvmswitchd.targets.hidg")
    node = await started(HidgNode(str(path), name="k", retry_interval=3600))
    try:
        assert not node.online  # a FIFO's write side won't open without a reader
        for report in (PRESS_A, PRESS_AB, RELEASED, PRESS_A) * 50:
            node.write(report)  # kept, not raised, not logged
        offline_lines = [r for r in caplog.records if "offline" in r.getMessage()]
        assert len(offline_lines) == 1
        with reading(path) as host:
            assert node.reopen()
            assert drain(host) == PRESS_A  # only the latest state, once
            assert any("back online" in r.getMessage() for r in caplog.records)
    finally:
        node.stop()


async def test_a_reader_that_leaves_makes_the_node_offline_until_it_returns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = fifo(tmp_path / "hidg0")
    caplog.set_level(logging.WARNING, "kvmswitchd.targets.hidg")
    with reading(path) as host:
        node = await started(HidgNode(str(path), name="k", retry_interval=3600))
        node.write(PRESS_A)
        assert drain(host) == PRESS_A
    try:
        node.write(PRESS_AB)  # EPIPE: the host went away while A was held
        node.write(RELEASED)  # released meanwhile
        assert not node.online
        assert node.view()["outages"] == 1
        assert len([r for r in caplog.records if "offline" in r.getMessage()]) == 1
        assert not node.reopen()  # still nobody reading: stays offline, quietly
        assert len([r for r in caplog.records if "offline" in r.getMessage()]) == 1
        with reading(path) as host:
            assert node.reopen()
            assert drain(host) == RELEASED  # A does not stay stuck on the host
            node.write(PRESS_A)
            assert drain(host) == PRESS_A
    finally:
        node.stop()


def small_pipe(fd: int) -> None:
    """Shrink a FIFO's buffer to one page (512 keyboard reports), so a burst fills it."""
    fcntl.fcntl(fd, F_SETPIPE_SZ, 4096)


async def test_a_full_node_is_back_pressure_every_report_follows_in_order(
    tmp_path: Path,
) -> None:
    path = fifo(tmp_path / "hidg0")
    with reading(path) as host:
        small_pipe(host)
        node = await started(HidgNode(str(path), name="k"))
        try:
            sent = 0
            while node.online:  # fill the pipe until the kernel says EAGAIN
                node.write(PRESS_A)
                sent += 1
            assert node.view()["stalls"] == 1
            node.write(PRESS_AB)
            node.write(RELEASED)
            got = drain(host)  # the host catches up: the node becomes writable
            while len(got) < 8 * (sent + 2):
                await readable(host)
                got += drain(host)
            assert got == PRESS_A * sent + PRESS_AB + RELEASED
            assert node.online
        finally:
            node.stop()


async def test_a_slow_reader_receives_every_report_of_a_burst_in_order(tmp_path: Path) -> None:
    path = fifo(tmp_path / "hidg0")
    burst = [bytes((0, 0, 4 + i % 26, i % 256, 0, 0, 0, 0)) for i in range(2000)]
    with reading(path) as host:
        small_pipe(host)
        node = await started(HidgNode(str(path), name="k"))
        try:
            for report in burst:  # all at once, as the router pushes a paste
                node.write(report)
            got = b""
            while len(got) < 8 * len(burst):
                await readable(host)
                got += os.read(host, 8 * 64)  # a host taking a few reports per poll
            assert got == b"".join(burst)
            assert node.view()["pacing"]["discarded"] == 0
        finally:
            node.stop()


async def test_a_node_that_takes_nothing_for_stall_after_gets_release_all_then_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "kvmswitchd.targets.hidg")
    now = [0.0]
    path = fifo(tmp_path / "hidg0")
    with reading(path) as host:
        small_pipe(host)
        node = await started(HidgNode(str(path), name="k", clock=lambda: now[0]))
        try:
            while node.online:
                node.write(PRESS_A)
            now[0] += STALL_AFTER + 1  # the host took nothing for longer than that
            for _ in range(5):
                node.write(PRESS_AB)  # dropped: nothing stale is replayed
            assert node.queue.stalled
            stalled_lines = [r for r in caplog.records if "is not taking reports" in r.getMessage()]
            assert len(stalled_lines) == 1
            drain(host)  # what the pipe already held
            await readable(host)
            assert drain(host) == RELEASED
            assert not node.queue.stalled
            node.write(PRESS_A)
            assert drain(host) == PRESS_A
            assert node.view()["pacing"]["recoveries"] == 1
            assert any("takes reports again" in r.getMessage() for r in caplog.records)
        finally:
            node.stop()


def test_a_mouse_report_resent_after_an_outage_keeps_buttons_and_position_not_motion() -> None:
    assert still_relative(bytes((1, 5, 0xFB, 1, 0))) == bytes((1, 0, 0, 0, 0))
    absolute = bytes((2, 0x10, 0x20, 0x30, 0x40, 0xFF, 1))
    assert still_absolute(absolute) == bytes((2, 0x10, 0x20, 0x30, 0x40, 0, 0))


async def test_an_outage_drops_the_motion_of_the_mouse_report_it_resends(tmp_path: Path) -> None:
    kbd, mouse = fifo(tmp_path / "hidg0"), fifo(tmp_path / "hidg1")
    target = GadgetTarget(str(kbd), str(mouse), retry_interval=3600)
    await target.start()
    try:
        target.write_mouse(bytes((1, 10, 20, 0, 0)))  # left held, moving; nobody reading
        with reading(mouse) as host:
            assert target.mouse.reopen()
            assert drain(host) == bytes((1, 0, 0, 0, 0))
    finally:
        await target.stop()


@pytest.fixture
def pty_node() -> Iterator[tuple[int, str]]:
    """A pty: its far end is a character device, readable and writable like hidg."""
    master, slave = os.openpty()
    tty.setraw(slave)
    name = os.ttyname(slave)
    os.close(slave)
    try:
        yield master, name
    finally:
        os.close(master)


async def test_led_output_reports_are_read_from_a_character_device_node(
    tmp_path: Path, pty_node: tuple[int, str]
) -> None:
    master, name = pty_node
    target = GadgetTarget(name, str(fifo(tmp_path / "hidg1")), retry_interval=3600)
    leds: asyncio.Queue[bytes] = asyncio.Queue()
    target.set_output_listener(leds.put_nowait)
    await target.start()
    try:
        os.write(master, b"\x02")  # the host turns Caps Lock on
        assert await asyncio.wait_for(leds.get(), TIMEOUT) == b"\x02"
        target.write_keyboard(PRESS_A)
        await readable(master)
        assert os.read(master, 64) == PRESS_A
        assert target.view()["keyboard"]["online"]
    finally:
        await target.stop()


def origin() -> Origin:
    return Origin(Source.HTTP, "test")


async def test_a_gadget_port_in_the_daemon_gets_typed_keys_and_a_release_on_stop(
    tmp_path: Path,
) -> None:
    kbd, mouse = fifo(tmp_path / "hidg0"), fifo(tmp_path / "hidg1")
    port: dict[str, Any] = {"target": "gadget", "hidg_keyboard": str(kbd), "hidg_mouse": str(mouse)}
    with reading(kbd) as host, reading(mouse) as mouse_host:
        daemon, board = await start(tmp_path / "state", {"ports": {"1": port}})
        try:
            board.type_input("a", None, origin())
            assert drain(host) == PRESS_A + RELEASED
            board.type_input(None, [{"type": "EV_REL", "code": "REL_X", "value": 3}], origin())
            assert drain(mouse_host) == bytes((0, 3, 0, 0, 0))
            assert board.target("1")["keyboard"]["reports"] == 2
        finally:
            await daemon.stop()
        assert drain(host) == RELEASED  # release-all on a clean shutdown


@pytest.mark.parametrize(
    ("port", "path"),
    [
        ({"target": "gadget", "hidg_mouse": "/dev/hidg1"}, "ports.2.hidg_keyboard"),
        ({"target": "gadget", "hidg_keyboard": "/dev/hidg0"}, "ports.2.hidg_mouse"),
        (
            {"target": "gadget", "hidg_keyboard": "hidg0", "hidg_mouse": "/dev/hidg1"},
            "ports.2.hidg_keyboard",
        ),
        (
            {"target": "gadget", "hidg_keyboard": "/dev/hidg0", "hidg_mouse": 3},
            "ports.2.hidg_mouse",
        ),
        ({"target": "emulated", "hidg_keyboard": "/dev/hidg0"}, "ports.2.hidg_keyboard"),
        (
            {
                "target": "gadget",
                "keyboard": "ps2",
                "hidg_keyboard": "/dev/hidg0",
                "hidg_mouse": "/dev/hidg1",
            },
            "ports.2.keyboard",
        ),
    ],
)
def test_gadget_port_config_errors_name_the_key(port: dict[str, Any], path: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"ports": {"2": port}})
    assert info.value.path == path


def test_a_gadget_port_config_carries_both_node_paths() -> None:
    config = parse_config(
        {"ports": {"2": {"target": "gadget", "hidg_keyboard": "/dev/hidg0", "hidg_mouse": "/x"}}}
    )
    assert (config.port(2).hidg_keyboard, config.port(2).hidg_mouse) == ("/dev/hidg0", "/x")
