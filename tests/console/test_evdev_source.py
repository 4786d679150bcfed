"""The evdev console source against fake devices (this host has no /dev/input)."""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import AsyncIterator, Collection, Mapping

import pytest

from kvmswitchd.console.device import classify
from kvmswitchd.console.evdev_source import EvdevOpener, EvdevSource
from kvmswitchd.console.events import (
    ABS_X,
    ABS_Y,
    EV_ABS,
    EV_KEY,
    EV_LED,
    EV_REL,
    EV_SYN,
    LED_CAPSL,
    LED_COMPOSE,
    LED_KANA,
    LED_NUML,
    LED_SCROLLL,
    REL_X,
    REL_Y,
    SYN_DROPPED,
    SYN_REPORT,
    AbsMotion,
    ButtonChange,
    KeyChange,
    Motion,
    encode_record,
)
from tests.conftest import require_module
from tests.console.sinks import RecordingSink

KEY_A, KEY_B, KEY_LEFTCTRL, KEY_LEFTSHIFT, BTN_LEFT = 30, 48, 29, 42, 0x110
SYN = encode_record(EV_SYN, SYN_REPORT, 0)
KEYBOARD_CAPS: Mapping[int, Collection[int]] = {
    EV_SYN: [0, 1, 17],
    EV_KEY: list(range(1, 120)),
    EV_LED: [LED_NUML, LED_CAPSL, LED_SCROLLL],
}
MOUSE_CAPS: Mapping[int, Collection[int]] = {
    EV_SYN: [0, 2],
    EV_KEY: [BTN_LEFT, 0x111, 0x112],
    EV_REL: [REL_X, REL_Y, 8],
}
TABLET_CAPS: Mapping[int, Collection[int]] = {
    EV_SYN: [0, 3],
    EV_KEY: [BTN_LEFT],
    EV_ABS: [ABS_X, ABS_Y],
}
POWER_BUTTON_CAPS: Mapping[int, Collection[int]] = {EV_SYN: [0, 1], EV_KEY: [116]}


class FakeDevice:
    """A ``ConsoleDevice``: records pushed by the test, readiness through a real pipe."""

    def __init__(self, path: str, caps: Mapping[int, Collection[int]]) -> None:
        self.path = path
        self.name = f"fake {path}"
        self.caps = caps
        self._r, self._w = os.pipe()
        os.set_blocking(self._r, False)
        self._queue = bytearray()
        self.unplugged = False
        self.grabbed = False
        self.closed = False
        self.held: set[int] = set()  # what EVIOCGKEY would report
        self.leds: dict[int, bool] = {}

    def push(self, data: bytes) -> None:
        self._queue += data
        os.write(self._w, b"!")

    def unplug(self) -> None:
        self.unplugged = True
        os.write(self._w, b"!")

    def fileno(self) -> int:
        return self._r

    def read_raw(self, size: int) -> bytes:
        with contextlib.suppress(BlockingIOError):
            os.read(self._r, 4096)  # the wake-up bytes
        if self.unplugged:
            raise OSError(errno.ENODEV, "No such device")
        if not self._queue:
            raise BlockingIOError
        data = bytes(self._queue[:size])
        del self._queue[:size]
        if self._queue:
            os.write(self._w, b"!")
        return data

    def capabilities(self) -> Mapping[int, Collection[int]]:
        return self.caps

    def abs_range(self, axis: int) -> tuple[int, int]:
        return (0, 1023) if axis == ABS_X else (0, 767)

    def active_keys(self) -> Collection[int]:
        if self.unplugged:
            raise OSError(errno.ENODEV, "No such device")
        return sorted(self.held)

    def grab(self) -> None:
        if self.grabbed:
            raise OSError(errno.EBUSY, "Device or resource busy")
        self.grabbed = True

    def ungrab(self) -> None:
        if not self.grabbed:
            raise OSError(errno.EINVAL, "Invalid argument")
        self.grabbed = False

    def set_led(self, led: int, on: bool) -> None:
        self.leds[led] = on

    def close(self) -> None:
        assert not self.closed, "closed twice"
        self.closed = True
        os.close(self._r)
        os.close(self._w)


class FakeOpener:
    """A ``DeviceOpener`` over a dict of plugged-in devices; each open is a new fake."""

    def __init__(self) -> None:
        self.plugged: dict[str, Mapping[int, Collection[int]]] = {}
        self.opened: list[FakeDevice] = []

    def list_paths(self) -> Collection[str]:
        return [p for p in self.plugged if p.startswith("/dev/input/event")]

    def open(self, path: str) -> FakeDevice:
        if path not in self.plugged:
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)
        device = FakeDevice(path, self.plugged[path])
        self.opened.append(device)
        return device

    def latest(self, path: str) -> FakeDevice:
        return [d for d in self.opened if d.path == path][-1]


def press(code: int) -> bytes:
    return encode_record(EV_KEY, code, 1) + SYN


def release(code: int) -> bytes:
    return encode_record(EV_KEY, code, 0) + SYN


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


@pytest.fixture
def opener() -> FakeOpener:
    return FakeOpener()


@pytest.fixture
async def make_source(sink: RecordingSink, opener: FakeOpener) -> AsyncIterator[list[EvdevSource]]:
    """Sources built by a test are closed after it (their timer included)."""
    made: list[EvdevSource] = []
    yield made
    for source in made:
        source.close()


def start(
    made: list[EvdevSource],
    sink: RecordingSink,
    opener: FakeOpener,
    *,
    paths: Collection[str] = (),
    auto: bool = False,
) -> EvdevSource:
    source = EvdevSource(
        sink,
        opener=opener,
        paths=tuple(paths),
        auto=auto,
        rescan_interval=3600,  # the tests call rescan() themselves
        clock=lambda: 7.0,
        warn=lambda _: None,
    )
    source.start()
    made.append(source)
    return source


KBD = "/dev/input/event0"
MOUSE = "/dev/input/event1"


async def test_a_configured_device_is_grabbed_and_its_events_delivered(
    make_source: list[EvdevSource], sink: RecordingSink, opener: FakeOpener
) -> None:
    opener.plugged[KBD] = KEYBOARD_CAPS
    source = start(make_source, sink, opener, paths=[KBD])
    device = opener.latest(KBD)
    assert device.grabbed
    assert source.devices == (KBD,)
    device.push(press(KEY_A) + encode_record(EV_KEY, KEY_A, 2) + SYN + release(KEY_A))
    assert await sink.next() == (KBD, [KeyChange(KEY_A, True)], 7.0)
    assert await sink.next() == (KBD, [KeyChange(KEY_A, False)], 7.0)


async def test_auto_takes_keyboards_and_mice_but_not_other_devices(
    make_source: list[EvdevSource], sink: RecordingSink, opener: FakeOpener
) -> None:
    opener.plugged.update(
        {KBD: KEYBOARD_CAPS, MOUSE: MOUSE_CAPS, "/dev/input/event2": POWER_BUTTON_CAPS}
    )
    source = start(make_source, sink, opener, auto=True)
    assert source.devices == (KBD, MOUSE)
    power = opener.latest("/dev/input/event2")
    assert power.closed
    assert not power.grabbed
    opener.latest(MOUSE).push(
        encode_record(EV_REL, REL_X, 4) + encode_record(EV_KEY, BTN_LEFT, 1) + SYN
    )
    assert await sink.next_batch() == [ButtonChange(BTN_LEFT, True), Motion(4, 0)]
    source.rescan()  # a skipped device is not reopened on every poll
    assert len([d for d in opener.opened if d.path == "/dev/input/event2"]) == 1


async def test_a_tablet_reports_absolute_motion_with_its_range(
    make_source: list[EvdevSource], sink: RecordingSink, opener: FakeOpener
) -> None:
    opener.plugged[MOUSE] = TABLET_CAPS
    start(make_source, sink, opener, auto=True)
    opener.latest(MOUSE).push(
        encode_record(EV_ABS, ABS_X, 1023) + encode_record(EV_ABS, ABS_Y, 0) + SYN
    )
    batch = await sink.next_batch()
    assert batch == [AbsMotion(1023, 0, 0, 1023, 0, 767)]
    assert isinstance(batch[0], AbsMotion)
    assert batch[0].scaled() == (32767, 0)


async def test_hotplug_a_new_device_is_opened_on_rescan(
    make_source: list[EvdevSource], sink: RecordingSink, opener: FakeOpener
) -> None:
    source = start(make_source, sink, opener, auto=True)
    assert not source.devices
    opener.plugged[KBD] = KEYBOARD_CAPS
    source.rescan()
    assert source.devices == (KBD,)
    assert opener.latest(KBD).grabbed


async def test_unplug_releases_everything_held_and_the_device_is_reopened_when_back(
    make_source: list[EvdevSource], sink: RecordingSink, opener: FakeOpener
) -> None:
    opener.plugged[KBD] = KEYBOARD_CAPS
    source = start(make_source, sink, opener, paths=[KBD])
    first = opener.latest(KBD)
    first.push(press(KEY_LEFTCTRL) + press(KEY_A))
    assert await sink.next_batch() == [KeyChange(KEY_LEFTCTRL, True)]
    assert await sink.next_batch() == [KeyChange(KEY_A, True)]
    del opener.plugged[KBD]
    first.unplug()
    assert await sink.next_batch() == [KeyChange(KEY_LEFTCTRL, False), KeyChange(KEY_A, False)]
    assert first.closed
    assert not source.devices
    source.rescan()  # still gone: nothing happens
    assert not source.devices
    opener.plugged[KBD] = KEYBOARD_CAPS
    source.rescan()
    second = opener.latest(KBD)
    assert second is not first
    assert second.grabbed
    second.push(press(KEY_B))
    assert await sink.next_batch() == [KeyChange(KEY_B, True)]


async def test_syn_dropped_resyncs_with_the_keys_the_device_really_holds(
    make_source: list[EvdevSource], sink: RecordingSink, opener: FakeOpener
) -> None:
    opener.plugged[KBD] = KEYBOARD_CAPS
    start(make_source, sink, opener, paths=[KBD])
    device = opener.latest(KBD)
    device.push(press(KEY_A))
    assert await sink.next_batch() == [KeyChange(KEY_A, True)]
    device.held = {KEY_LEFTSHIFT}  # A was released and Shift pressed while events were lost
    device.push(encode_record(EV_SYN, SYN_DROPPED, 0) + release(KEY_A) + press(KEY_B))
    assert await sink.next_batch() == [KeyChange(KEY_A, False), KeyChange(KEY_LEFTSHIFT, True)]
    assert await sink.next_batch() == [KeyChange(KEY_B, True)]


async def test_leds_are_written_to_every_keyboard_including_later_ones(
    make_source: list[EvdevSource], sink: RecordingSink, opener: FakeOpener
) -> None:
    opener.plugged.update({KBD: KEYBOARD_CAPS, MOUSE: MOUSE_CAPS})
    source = start(make_source, sink, opener, auto=True)
    source.set_leds({LED_CAPSL, LED_SCROLLL})
    expected = {LED_NUML: False, LED_CAPSL: True, LED_SCROLLL: True}
    expected |= {LED_COMPOSE: False, LED_KANA: False}
    assert opener.latest(KBD).leds == expected
    assert opener.latest(MOUSE).leds == {}
    opener.plugged["/dev/input/event5"] = KEYBOARD_CAPS
    source.rescan()
    assert opener.latest("/dev/input/event5").leds == expected


async def test_close_ungrabs_closes_and_releases(
    make_source: list[EvdevSource], sink: RecordingSink, opener: FakeOpener
) -> None:
    opener.plugged[MOUSE] = MOUSE_CAPS
    source = start(make_source, sink, opener, auto=True)
    device = opener.latest(MOUSE)
    device.push(encode_record(EV_KEY, BTN_LEFT, 1) + SYN)
    assert await sink.next_batch() == [ButtonChange(BTN_LEFT, True)]
    source.close()
    assert not device.grabbed
    assert device.closed
    assert sink.all[-1][1] == [ButtonChange(BTN_LEFT, False)]
    assert not source.devices


async def test_a_device_grabbed_elsewhere_is_retried_with_one_warning(
    sink: RecordingSink, opener: FakeOpener
) -> None:
    class Busy(FakeDevice):
        def grab(self) -> None:
            raise OSError(errno.EBUSY, "Device or resource busy")

    class BusyOpener(FakeOpener):
        def open(self, path: str) -> FakeDevice:
            device = Busy(path, KEYBOARD_CAPS)
            self.opened.append(device)
            return device

    busy = BusyOpener()
    busy.plugged[KBD] = KEYBOARD_CAPS
    warnings: list[str] = []
    source = EvdevSource(sink, opener=busy, paths=[KBD], rescan_interval=3600, warn=warnings.append)
    source.start()
    source.rescan()
    source.close()
    assert not source.devices
    assert all(d.closed for d in busy.opened)
    assert len(busy.opened) == 2
    assert len(warnings) == 1
    assert "cannot grab" in warnings[0]


def test_devices_are_classified_as_keyboards_and_pointers() -> None:
    assert classify(KEYBOARD_CAPS) == (True, False)
    assert classify(MOUSE_CAPS) == (False, True)
    assert classify(TABLET_CAPS) == (False, True)
    assert classify(POWER_BUTTON_CAPS) == (False, False)


def test_the_real_opener_lists_nothing_in_an_empty_directory(tmp_path: object) -> None:
    require_module("evdev", "the real opener wraps python-evdev")
    assert list(EvdevOpener(str(tmp_path)).list_paths()) == []
    with pytest.raises(OSError):  # noqa: PT011  # any open failure is an OSError
        EvdevOpener(str(tmp_path)).open(f"{tmp_path}/event0")
