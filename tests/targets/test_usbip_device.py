"""The sans-IO composite device: descriptors, control requests, held URBs, queues, storage."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hid.descriptors import BOOT_KEYBOARD, RELATIVE_MOUSE
from kvmswitchd.errors import ConfigError
from kvmswitchd.storage.bot import CommandBlockWrapper, CommandStatusWrapper, CswStatus
from kvmswitchd.storage.initiator import CheckConditionError, prevent_allow, write10
from kvmswitchd.targets import usbip_wire as wire
from kvmswitchd.targets.usbip_device import UsbipDevice
from kvmswitchd.targets.usbip_wire import Completion
from tests.storage.rig import make_rig

PRESS_A = bytes((0, 0, 4, 0, 0, 0, 0, 0))
RELEASE = bytes(8)


class Host:
    """Drives a device the way a USB/IP client would, one URB at a time."""

    def __init__(self, device: UsbipDevice) -> None:
        self.device = device
        self.seq = 0
        device.plug()

    def submit(
        self, ep: int, *, length: int = 0, data: bytes = b"", setup: bytes = bytes(8)
    ) -> list[Completion]:
        self.seq += 1
        direction_in = bool(ep & 0x80)
        size = length if direction_in else len(data)
        cmd = wire.Submit(self.seq, 0x10001, direction_in, ep & 0x0F, 0, size, 0, setup)
        return self.device.submit(cmd, data)

    def control(
        self, rtype: int, request: int, value: int, index: int, data_or_length: bytes | int = 0
    ) -> Completion:
        length = data_or_length if isinstance(data_or_length, int) else len(data_or_length)
        setup = struct.pack("<BBHHH", rtype, request, value, index, length)
        if rtype & 0x80:
            (done,) = self.submit(0x80, length=length, setup=setup)
        else:
            assert isinstance(data_or_length, bytes)
            (done,) = self.submit(0x00, data=data_or_length, setup=setup)
        return done

    def get(self, rtype: int, request: int, value: int, index: int, length: int) -> bytes:
        done = self.control(rtype, request, value, index, length)
        assert done.status == 0, f"stalled: {rtype:02x}/{request:02x}/{value:04x}"
        return done.data


def interfaces(config: bytes) -> list[tuple[int, int, int, int]]:
    found, i = [], 9
    while i < len(config):
        length, kind = config[i], config[i + 1]
        if kind == 4:
            found.append((config[i + 2], config[i + 5], config[i + 6], config[i + 7]))
        i += length
    return found


def test_configuration_has_keyboard_mouse_and_storage_interfaces() -> None:
    host = Host(UsbipDevice(1))
    config = host.get(0x80, 6, 0x0200, 0, 255)
    assert struct.unpack_from("<H", config, 2)[0] == len(config)
    assert interfaces(config) == [(0, 3, 1, 1), (1, 3, 1, 2), (2, 8, 6, 0x50)]
    assert host.get(0x80, 6, 0x0200, 0, 9) == config[:9]  # the host's first, short read


def test_absolute_and_nkro_interfaces_use_no_boot_subclass() -> None:
    host = Host(UsbipDevice(2, keyboard="usb-nkro", mouse="absolute"))
    assert interfaces(host.get(0x80, 6, 0x0200, 0, 255))[:2] == [(0, 3, 0, 0), (1, 3, 0, 0)]


def test_ps2_keyboard_is_a_config_error_naming_the_key() -> None:
    with pytest.raises(ConfigError) as caught:
        UsbipDevice(3, keyboard="ps2")
    assert caught.value.path == "ports.3.keyboard"


def test_descriptors_answer_standard_gets() -> None:
    host = Host(UsbipDevice(4))
    device = host.get(0x80, 6, 0x0100, 0, 18)
    assert struct.unpack_from("<HH", device, 8) == (0x1D6B, 0x0104)
    assert host.get(0x80, 6, 0x0300, 0, 255) == bytes((4, 3, 0x09, 0x04))
    assert host.get(0x80, 6, 0x0302, 0x0409, 255)[2:].decode("utf-16-le") == "KVM port 4"
    assert host.get(0x81, 6, 0x2200, 0, 255) == BOOT_KEYBOARD
    assert host.get(0x81, 6, 0x2200, 1, 255) == RELATIVE_MOUSE
    assert host.get(0x81, 6, 0x2100, 0, 9)[7:] == len(BOOT_KEYBOARD).to_bytes(2, "little")


@pytest.mark.parametrize(
    ("rtype", "code", "value", "index"),
    [
        (0x80, 6, 0x0600, 0),  # device qualifier: full-speed only
        (0x80, 6, 0x0304, 0),  # no such string
        (0x00, 9, 2, 0),  # no configuration 2
        (0x01, 0x0B, 1, 0),  # no alternate setting 1
        (0x81, 6, 0x2200, 2),  # storage has no report descriptor
        (0xC0, 0x20, 0, 0),  # vendor request
        (0xA1, 0x01, 0x0100, 5),  # no interface 5
    ],
)
def test_unsupported_requests_stall(rtype: int, code: int, value: int, index: int) -> None:
    host = Host(UsbipDevice(1))
    assert host.control(rtype, code, value, index, 8 if rtype & 0x80 else b"").status == wire.EPIPE


def test_keyboard_urb_is_held_until_a_report_exists() -> None:
    device = UsbipDevice(1)
    host = Host(device)
    assert host.submit(0x81, length=8) == []
    assert device.view()["held_urbs"] == 1
    assert device.push_keyboard(PRESS_A) == [Completion(1, data=PRESS_A)]
    assert device.view()["held_urbs"] == 0


def test_reports_wait_in_order_for_a_host_that_polls_late() -> None:
    device = UsbipDevice(1)
    host = Host(device)
    device.push_keyboard(PRESS_A)
    device.push_keyboard(RELEASE)
    assert [c.data for c in host.submit(0x81, length=8)] == [PRESS_A]
    assert [c.data for c in host.submit(0x81, length=8)] == [RELEASE]
    assert host.submit(0x81, length=8) == []


def test_a_2000_report_burst_polled_one_urb_at_a_time_arrives_complete_and_in_order() -> None:
    device = UsbipDevice(1)
    host = Host(device)
    burst = [bytes((0, 0, 4 + i % 26, 0, 0, 0, 0, 0)) if i % 2 else RELEASE for i in range(2000)]
    for report in burst:  # pushed at once, as switchboard -> router does for a paste
        device.push_keyboard(report, now=0.0)
    delivered = [host.submit(0x81, length=8)[0].data for _ in burst]
    assert delivered == burst
    assert host.submit(0x81, length=8) == []
    assert device.view()["pacing"]["keyboard"]["discarded"] == 0


def test_a_host_that_stops_polling_stalls_the_queue_and_then_gets_release_all() -> None:
    device = UsbipDevice(1)
    host = Host(device)
    device.push_keyboard(PRESS_A, now=1.0)
    device.push_keyboard(PRESS_A, now=10.0)  # nothing taken for 9 s: stalled
    assert device.stalled
    assert [c.data for c in host.submit(0x81, length=8)] == [RELEASE]
    assert not device.stalled
    assert device.view()["pacing"]["keyboard"]["recoveries"] == 1
    assert host.submit(0x81, length=8) == []


def test_reports_while_detached_are_not_queued_but_held_keys_greet_the_next_host() -> None:
    device = UsbipDevice(1)
    device.push_keyboard(PRESS_A)
    host = Host(device)
    host.control(0x00, 9, 1, 0, b"")  # SET_CONFIGURATION keeps the greeting
    assert [c.data for c in host.submit(0x81, length=8)] == [PRESS_A]
    assert host.submit(0x81, length=8) == []


def test_unlinked_urb_is_never_completed() -> None:
    device = UsbipDevice(1)
    host = Host(device)
    host.submit(0x81, length=8)
    assert device.unlink(1)
    assert not device.unlink(1)
    assert device.push_keyboard(PRESS_A) == []
    assert [c.data for c in host.submit(0x81, length=8)] == [PRESS_A]


def test_too_many_held_urbs_stall() -> None:
    host = Host(UsbipDevice(1))
    for _ in range(4):
        assert host.submit(0x82, length=8) == []
    (extra,) = host.submit(0x82, length=8)
    assert extra.status == wire.EPIPE


def test_led_report_reaches_the_listener_by_set_report_and_interrupt_out() -> None:
    device = UsbipDevice(1)
    heard: list[bytes] = []
    device.keyboard.on_output = heard.append
    host = Host(device)
    assert host.control(0x21, 0x09, 0x0200, 0, b"\x02").status == 0
    assert host.submit(0x01, data=b"\x01")[0].status == 0
    assert heard == [b"\x02", b"\x01"]
    assert host.get(0xA1, 0x01, 0x0200, 0, 1) == b"\x01"  # GET_REPORT(Output)
    assert host.submit(0x01, data=bytes(9))[0].status == wire.EPIPE  # not an LED report


def test_hid_idle_protocol_and_get_report() -> None:
    device = UsbipDevice(1)
    host = Host(device)
    assert host.control(0x21, 0x0A, 0x7D00, 0, b"").status == 0
    assert host.get(0xA1, 0x02, 0, 0, 1) == b"\x7d"
    device.push_keyboard(PRESS_A)
    assert host.get(0xA1, 0x01, 0x0100, 0, 8) == PRESS_A
    assert host.get(0xA1, 0x03, 0, 1, 1) == b"\x01"
    assert host.control(0x21, 0x0B, 0, 1, b"").status == 0  # boot protocol
    assert host.get(0xA1, 0x03, 0, 1, 1) == b"\x00"


def test_boot_protocol_mouse_gets_the_three_byte_boot_report() -> None:
    device = UsbipDevice(1)
    host = Host(device)
    host.control(0x21, 0x0B, 0, 1, b"")
    device.push_mouse(bytes((1, 5, 0xFB, 1, 0)))
    assert [c.data for c in host.submit(0x82, length=8)] == [bytes((1, 5, 0xFB))]


def _int8(byte: int) -> int:
    return byte - 256 if byte > 127 else byte


@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.integers(-127, 127), st.integers(-127, 127), st.booleans()),
        max_size=40,
    )
)
def test_queued_mouse_keeps_every_button_change_and_all_motion(
    moves: list[tuple[int, int, int, bool]],
) -> None:
    device = UsbipDevice(1)
    host = Host(device)
    delivered: list[bytes] = []
    for buttons, dx, dy, poll in moves:
        device.push_mouse(bytes((buttons, dx & 0xFF, dy & 0xFF, 0, 0)))
        if poll:
            delivered += [c.data for c in host.submit(0x82, length=8)]
    while batch := host.submit(0x82, length=8):
        delivered += [c.data for c in batch]
    device.unlink(host.seq)
    assert sum(_int8(r[1]) for r in delivered) == sum(m[1] for m in moves)
    assert sum(_int8(r[2]) for r in delivered) == sum(m[2] for m in moves)

    def changes(states: list[int]) -> list[int]:
        return [s for i, s in enumerate(states) if i == 0 or states[i - 1] != s]

    assert changes([r[0] for r in delivered]) == changes([m[0] for m in moves])


# -- storage ---------------------------------------------------------------------------------


def cbw(cb: bytes, length: int, *, data_in: bool, tag: int = 1) -> bytes:
    return CommandBlockWrapper(tag, length, data_in, 0, cb).encode()


def csw(host: Host) -> CommandStatusWrapper:
    (done,) = host.submit(0x83, length=13)
    assert done.status == 0
    return CommandStatusWrapper.decode(done.data)


def test_empty_storage_interface_answers_medium_not_present() -> None:
    host = Host(UsbipDevice(1))
    assert host.get(0xA1, 0xFE, 0, 2, 1) == b"\x00"  # GET MAX LUN
    host.submit(0x02, data=cbw(bytes(6), 0, data_in=False))  # TEST UNIT READY
    assert csw(host).status is CswStatus.FAILED
    host.submit(0x02, data=cbw(bytes((3, 0, 0, 0, 18, 0)), 18, data_in=True))
    (sense,) = host.submit(0x83, length=18)
    assert (sense.data[2], sense.data[12]) == (0x02, 0x3A)  # NOT READY / MEDIUM NOT PRESENT


def test_bulk_in_before_its_cbw_is_held_then_served() -> None:
    rig = make_rig()
    device = UsbipDevice(1)
    device.set_storage(rig.transport)
    host = Host(device)
    assert host.submit(0x83, length=13) == []
    done = host.submit(0x02, data=cbw(bytes(6), 0, data_in=False))
    assert [c.seqnum for c in done] == [2, 1]
    assert CommandStatusWrapper.decode(done[1].data).status is CswStatus.PASSED


def test_invalid_cbw_stalls_until_bulk_only_reset() -> None:
    rig = make_rig()
    device = UsbipDevice(1)
    device.set_storage(rig.transport)
    host = Host(device)
    assert host.submit(0x02, data=b"garbage")[0].status == wire.EPIPE
    assert host.get(0x82, 0, 0, 0x02, 2) == b"\x01\x00"  # GET_STATUS: halted
    assert host.control(0x02, 1, 0, 0x02, b"").status == 0  # CLEAR_FEATURE(HALT)
    assert host.submit(0x02, data=cbw(bytes(6), 0, data_in=False))[0].status == wire.EPIPE
    assert host.control(0x21, 0xFF, 0, 2, b"").status == 0  # Bulk-Only reset
    host.control(0x02, 1, 0, 0x02, b"")
    assert host.submit(0x02, data=cbw(bytes(6), 0, data_in=False))[0].status == 0
    assert csw(host).status is CswStatus.PASSED


def test_storage_swapped_mid_command_stalls_until_the_host_resets() -> None:
    rig = make_rig()
    device = UsbipDevice(1)
    device.set_storage(rig.transport)
    host = Host(device)
    host.submit(0x02, data=cbw(write10(0, 1), 512, data_in=False))
    device.set_storage(None)
    rig.transport.disconnect()
    assert host.submit(0x02, data=bytes(512))[0].status == wire.EPIPE
    assert host.submit(0x83, length=13)[0].status == wire.EPIPE
    host.control(0x21, 0xFF, 0, 2, b"")
    host.control(0x02, 1, 0, 0x83, b"")
    host.control(0x02, 1, 0, 0x02, b"")
    host.submit(0x02, data=cbw(bytes(6), 0, data_in=False))
    assert csw(host).status is CswStatus.FAILED  # now the empty reader: no medium


def test_host_going_away_releases_its_lock_and_command_reported() -> None:
    rig = make_rig()
    device = UsbipDevice(1)
    device.set_storage(rig.transport)
    host = Host(device)
    host.submit(0x02, data=cbw(prevent_allow(True), 0, data_in=False))
    assert csw(host).status is CswStatus.PASSED
    host.submit(0x02, data=cbw(write10(0, 1), 512, data_in=False))
    rig.heard.events.clear()
    device.unplug()
    assert rig.heard.events == [("io_finished", True), ("lock_changed", False)]
    assert not rig.unit.locked
    with pytest.raises(CheckConditionError) as caught:
        rig.host.test_unit_ready()
    assert caught.value.sense == 0x062900  # the next host sees a reset


def test_get_max_lun_does_not_end_a_swap_stall() -> None:
    rig = make_rig()
    device = UsbipDevice(1)
    device.set_storage(rig.transport)
    host = Host(device)
    host.submit(0x02, data=cbw(write10(0, 1), 512, data_in=False))
    device.set_storage(None)
    assert host.get(0xA1, 0xFE, 0, 2, 1) == b"\x00"
    assert host.submit(0x02, data=bytes(512))[0].status == wire.EPIPE
