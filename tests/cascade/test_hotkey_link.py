"""The hotkeys downstream: its config, what it types and when (injected time), and how
an interrupted sequence is cleaned up."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from hid.evcodes import KEY_3, KEY_ENTER, KEY_LEFTALT, KEY_LEFTCTRL, KEY_SCROLLLOCK
from kvmswitchd.cascade.downstream import DownstreamView, UpstreamSide
from kvmswitchd.cascade.hotkey_config import PRESETS, parse_hotkeys_cascade
from kvmswitchd.cascade.hotkey_link import HotkeyDownstream
from kvmswitchd.core.ports import ALL_CHANNELS
from kvmswitchd.errors import ConfigError, DeviceError, PortError
from tests.cascade.fake_clock import FakeClock


class Keyboard:
    """Port N's keyboard as the downstream sees it: every key change with its time."""

    def __init__(self, clock: FakeClock, fail_after: int | None = None) -> None:
        self.clock = clock
        self.typed: list[tuple[float, int, bool]] = []
        self.fail_after = fail_after

    def key(self, code: int, pressed: bool) -> None:
        if self.fail_after is not None and len(self.typed) >= self.fail_after and pressed:
            raise DeviceError("port 3 is gone")
        self.typed.append((round(self.clock.now - 100.0, 6), code, pressed))


def downstream(table: dict[str, Any], clock: FakeClock, keyboard: Keyboard) -> HotkeyDownstream:
    config = parse_hotkeys_cascade({"kind": "hotkeys", **table}, "ports.3.cascade")
    side = UpstreamSide(3, keyboard.key, clock.sleep, clock.monotonic)
    return HotkeyDownstream(config, side)


async def test_the_aten_preset_types_its_hotkey_at_the_configured_times() -> None:
    clock = FakeClock()
    keyboard = Keyboard(clock)
    down = downstream({"preset": "aten", "ports": 4, "delay": 0.2, "hold": 0.04}, clock, keyboard)
    views: list[DownstreamView] = []
    await down.start(views.append, lambda _e: None)
    await down.select((3,), ALL_CHANNELS)
    assert keyboard.typed == [
        (0.0, KEY_SCROLLLOCK, True),
        (0.04, KEY_SCROLLLOCK, False),
        (0.24, KEY_SCROLLLOCK, True),
        (0.28, KEY_SCROLLLOCK, False),
        (0.48, KEY_3, True),
        (0.52, KEY_3, False),
        (0.72, KEY_ENTER, True),
        (0.76, KEY_ENTER, False),
    ]
    assert views[-1].active == (3,)
    assert "assumed" in views[-1].detail


async def test_a_chord_sequence_holds_its_modifiers_around_the_digit() -> None:
    clock = FakeClock()
    keyboard = Keyboard(clock)
    down = downstream({"preset": "adder", "ports": 4, "delay": 0.1}, clock, keyboard)
    await down.select((3,), ALL_CHANNELS)
    assert [(code, pressed) for _, code, pressed in keyboard.typed] == [
        (KEY_LEFTCTRL, True),
        (KEY_LEFTALT, True),
        (KEY_3, True),
        (KEY_3, False),
        (KEY_LEFTALT, False),
        (KEY_LEFTCTRL, False),
    ]


async def test_an_interrupted_sequence_releases_what_it_holds_and_says_how_far_it_got() -> None:
    clock = FakeClock()
    keyboard = Keyboard(clock, fail_after=2)
    down = downstream({"preset": "adder", "ports": 4}, clock, keyboard)
    views: list[DownstreamView] = []
    await down.start(views.append, lambda _e: None)
    with pytest.raises(DeviceError) as caught:
        await down.select((3,), ALL_CHANNELS)
    message = str(caught.value)
    assert "port 3's hotkey switch" in message
    assert "after 2 of 6 key events" in message
    assert "released: LEFTALT, LEFTCTRL" in message
    assert keyboard.typed[-2:] == [(0.3, KEY_LEFTALT, False), (0.3, KEY_LEFTCTRL, False)]
    assert views[-1].active is None


async def test_a_cancelled_sequence_leaves_no_key_down() -> None:
    clock = FakeClock(auto=False)
    keyboard = Keyboard(clock)
    down = downstream({"preset": "adder", "ports": 4}, clock, keyboard)
    task = asyncio.create_task(down.select((2,), ALL_CHANNELS))
    await clock.sleeping()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [(c, p) for _, c, p in keyboard.typed] == [(KEY_LEFTCTRL, True), (KEY_LEFTCTRL, False)]
    assert down.view().active is None


async def test_two_selects_never_interleave_their_keys() -> None:
    clock = FakeClock()
    keyboard = Keyboard(clock)
    down = downstream({"preset": "tesmart", "ports": 8}, clock, keyboard)
    await asyncio.gather(down.select((2,), ALL_CHANNELS), down.select((5,), ALL_CHANNELS))
    codes = [c for _, c, p in keyboard.typed if p]
    assert codes in ([70, 70, 3, 70, 70, 6], [70, 70, 6, 70, 70, 3])


async def test_a_channel_the_switch_lacks_or_a_deeper_path_is_refused_naming_the_hop() -> None:
    clock = FakeClock()
    keyboard = Keyboard(clock)
    down = downstream({"preset": "tesmart", "ports": 4}, clock, keyboard)
    with pytest.raises(PortError, match=r"port 3's hotkey switch has channels 1\.\.4, not 5"):
        await down.select((5,), ALL_CHANNELS)
    with pytest.raises(PortError, match="has one level"):
        await down.select((2, 1), ALL_CHANNELS)
    assert keyboard.typed == []


def test_the_kvmswitchd_preset_adds_enter_where_digits_accumulate() -> None:
    small = parse_hotkeys_cascade({"preset": "kvmswitchd", "ports": 8}, "p")
    large = parse_hotkeys_cascade({"preset": "kvmswitchd", "ports": 12}, "p")
    assert small.sequence == "ScrollLock ScrollLock {port}"
    assert large.sequence == "ScrollLock ScrollLock {port} Enter"


@pytest.mark.parametrize(
    ("table", "key", "message"),
    [
        ({"ports": 4}, "p", "expected a preset"),
        ({"preset": "acme", "ports": 4}, "p.preset", "expected one of aten"),
        ({"preset": "tesmart", "ports": 12}, "p.ports", "addresses 1..8"),
        ({"sequence": "{port}", "ports": 0}, "p.ports", "1..64"),
        ({"sequence": "Scrol {port}", "ports": 4}, "p.sequence", "position 1, 'Scrol'"),
        ({"sequence": "{port:1}", "ports": 12}, "p.sequence", "for channel 12"),
        ({"preset": "aten", "ports": 4, "delay": 5}, "p.delay", "0..2"),
        ({"preset": "aten", "ports": 4, "hold": 0}, "p.hold", "0.01..2"),
        ({"preset": "aten", "ports": 4, "confirm": "video"}, "p.confirm", '"serial"'),
        ({"preset": "aten", "ports": 2, "names": ["a", "b", "c"]}, "p.names", "at most 2"),
        ({"preset": "aten", "ports": 2, "names": ["a\n"]}, "p.names[0]", "printable"),
        ({"preset": "aten", "ports": 2, "speed": 1}, "p.speed", "unknown key"),
        ({"kind": "serial", "preset": "aten", "ports": 2}, "p.kind", '"hotkeys"'),
        ({"preset": "aten", "ports": 2, "confirm": "serial"}, "p.readback", "a serial table"),
        ({"preset": "aten", "ports": 2, "readback": {}}, "p.readback", 'confirm = "serial"'),
        (
            {"preset": "aten", "ports": 2, "confirm": "serial", "readback": {"dialect": "x"}},
            "p.readback.dialect",
            '"tesmart", "aten" or "text"',
        ),
        (
            {"preset": "aten", "ports": 2, "confirm": "serial", "readback": {"ports": 2}},
            "p.readback",
            "they are the hotkeys'",
        ),
    ],
)
def test_a_bad_hotkeys_table_names_its_key(table: dict[str, Any], key: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_hotkeys_cascade(table, "p")
    assert caught.value.path == key
    assert message in caught.value.message


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_parses_and_reaches_its_highest_channel(name: str) -> None:
    config = parse_hotkeys_cascade({"preset": name, "ports": PRESETS[name].max_ports}, "p")
    assert config.steps
