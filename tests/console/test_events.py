"""input_event records and the normalised console values."""

from __future__ import annotations

import struct

from hypothesis import given
from hypothesis import strategies as st

from kvmswitchd.console.events import (
    LED_CAPSL,
    LED_NUML,
    LED_SCROLLL,
    RECORD,
    RECORD_SIZE,
    AbsMotion,
    InputEvent,
    decode_records,
    encode_record,
    is_button,
    leds_from_hid,
)

events = st.builds(
    InputEvent,
    sec=st.integers(-(2**63), 2**63 - 1),
    usec=st.integers(-(2**63), 2**63 - 1),
    type=st.integers(0, 0xFFFF),
    code=st.integers(0, 0xFFFF),
    value=st.integers(-(2**31), 2**31 - 1),
)


def test_a_record_is_the_24_byte_linux_input_event() -> None:
    assert RECORD_SIZE == 24
    assert encode_record(1, 30, 1, sec=5, usec=7) == struct.pack("=qqHHi", 5, 7, 1, 30, 1)


@given(st.lists(events, max_size=20))
def test_records_round_trip(evs: list[InputEvent]) -> None:
    data = b"".join(encode_record(e.type, e.code, e.value, e.sec, e.usec) for e in evs)
    decoded, rest = decode_records(data)
    assert decoded == evs
    assert rest == b""


@given(st.lists(events, max_size=10), st.data())
def test_any_chunking_decodes_the_same_records(evs: list[InputEvent], data: st.DataObject) -> None:
    raw = b"".join(RECORD.pack(*e) for e in evs)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(raw)), max_size=8)))
    out: list[InputEvent] = []
    rest = b""
    for start, end in zip([0, *cuts], [*cuts, len(raw)], strict=True):
        decoded, rest = decode_records(rest + raw[start:end])
        out += decoded
        assert len(rest) < RECORD_SIZE
    assert out == evs
    assert rest == b""


def test_a_partial_record_is_kept_as_the_rest() -> None:
    decoded, rest = decode_records(encode_record(1, 30, 1) + b"\x01\x02\x03")
    assert decoded == [InputEvent(0, 0, 1, 30, 1)]
    assert rest == b"\x01\x02\x03"


def test_buttons_and_keys_are_told_apart() -> None:
    assert is_button(0x110)  # BTN_LEFT
    assert is_button(0x14A)  # BTN_TOUCH
    assert is_button(0x2C0)  # BTN_TRIGGER_HAPPY1
    assert not is_button(30)  # KEY_A
    assert not is_button(0x160)  # KEY_OK


def test_hid_led_bits_map_to_evdev_leds() -> None:
    assert leds_from_hid(0b101) == {LED_NUML, LED_SCROLLL}
    assert leds_from_hid(0b10) == {LED_CAPSL}
    assert leds_from_hid(0) == frozenset()


def test_absolute_motion_scales_the_device_range_to_hid() -> None:
    assert AbsMotion(0, 0, 0, 1023, 0, 767).scaled() == (0, 0)
    assert AbsMotion(1023, 767, 0, 1023, 0, 767).scaled() == (32767, 32767)
    assert AbsMotion(0, 0, -100, 100, -100, 100).scaled() == (16383, 16383)
    assert AbsMotion(5, 5, 3, 3, 0, 0).scaled() == (0, 0)  # a degenerate range
