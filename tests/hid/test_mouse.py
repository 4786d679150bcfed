"""Relative mouse and absolute pointer: exact bytes, ±127 chunking, clamping, parsers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hid import evcodes as ec
from hid.mouse import (
    ABS_MAX,
    MAX_CHUNKS,
    AbsolutePointer,
    AbsoluteReport,
    RelativeMouse,
    RelativeReport,
    parse_absolute_report,
    parse_relative_report,
    scale_to_abs,
)
from kvmswitchd.errors import InputError, RemoteProtocolError

deltas = st.integers(-3000, 3000)


def test_relative_button_and_move_bytes() -> None:
    mouse = RelativeMouse()
    assert mouse.report_len == 5
    assert mouse.button(ec.BTN_LEFT, pressed=True) == bytes.fromhex("01 00 00 00 00")
    assert mouse.move(10, -5) == [bytes.fromhex("01 0A FB 00 00")]
    assert mouse.move(0, 0, wheel=-1, hwheel=2) == [bytes.fromhex("01 00 00 FF 02")]
    assert mouse.button(1, pressed=True) == bytes.fromhex("03 00 00 00 00")
    assert mouse.button(ec.BTN_LEFT, pressed=False) == bytes.fromhex("02 00 00 00 00")
    assert mouse.release_all() == bytes(5)
    assert mouse.buttons == 0


def test_relative_without_pan_is_four_bytes_and_drops_hwheel() -> None:
    mouse = RelativeMouse(pan=False)
    assert mouse.report_len == 4
    assert mouse.move(1, 2, wheel=3, hwheel=4) == [bytes.fromhex("00 01 02 03")]
    assert mouse.move(0, 0, hwheel=4) == []


def test_back_and_forward_buttons_use_bits_3_and_4() -> None:
    mouse = RelativeMouse()
    assert mouse.button(ec.BTN_BACK, pressed=True)[0] == 0x08
    assert mouse.button(ec.BTN_FORWARD, pressed=True)[0] == 0x18


@pytest.mark.parametrize("bad", [8, -1, ec.BTN_TOUCH, ec.KEY_A])
def test_unknown_button_is_an_input_error(bad: int) -> None:
    with pytest.raises(InputError, match="not a mouse button"):
        RelativeMouse().button(bad, pressed=True)
    with pytest.raises(InputError):
        AbsolutePointer().button(bad, pressed=True)


def test_zero_move_sends_nothing() -> None:
    assert RelativeMouse().move(0, 0) == []


def test_large_delta_is_split_into_127_chunks() -> None:
    reports = RelativeMouse().move(300, -10)
    assert [parse_relative_report(r) for r in reports] == [
        RelativeReport(0, 127, -10),
        RelativeReport(0, 127, 0),
        RelativeReport(0, 46, 0),
    ]


@given(deltas, deltas, st.integers(-400, 400), st.integers(-400, 400))
def test_chunks_sum_to_the_delta_and_stay_in_int8_range(
    dx: int, dy: int, wheel: int, hwheel: int
) -> None:
    mouse = RelativeMouse()
    decoded = [parse_relative_report(r) for r in mouse.move(dx, dy, wheel, hwheel)]
    assert sum(r.dx for r in decoded) == dx
    assert sum(r.dy for r in decoded) == dy
    assert sum(r.wheel for r in decoded) == wheel
    assert sum(r.pan for r in decoded) == hwheel
    for r in decoded:
        assert all(-127 <= v <= 127 for v in (r.dx, r.dy, r.wheel, r.pan))


def test_absurd_delta_is_clamped_to_max_chunks_reports() -> None:
    reports = RelativeMouse().move(10**9, -(10**9))
    assert len(reports) == MAX_CHUNKS
    decoded = [parse_relative_report(r) for r in reports]
    assert sum(r.dx for r in decoded) == MAX_CHUNKS * 127
    assert sum(r.dy for r in decoded) == -MAX_CHUNKS * 127


def test_absolute_report_is_buttons_x_y_le16_wheel_pan() -> None:
    pointer = AbsolutePointer()
    assert pointer.report_len == 7
    assert pointer.move_to(0x1234, 0x7FFF) == bytes.fromhex("00 34 12 FF 7F 00 00")
    assert pointer.button(ec.BTN_RIGHT, pressed=True) == bytes.fromhex("02 34 12 FF 7F 00 00")
    assert pointer.scroll(-2, 1) == [bytes.fromhex("02 34 12 FF 7F FE 01")]
    assert pointer.release_all() == bytes.fromhex("00 34 12 FF 7F 00 00")
    assert pointer.position == (0x1234, 0x7FFF)


def test_absolute_without_pan_is_six_bytes() -> None:
    pointer = AbsolutePointer(pan=False)
    assert pointer.report_len == 6
    assert pointer.move_to(1, 2) == bytes.fromhex("00 01 00 02 00 00")
    assert pointer.scroll(0, 5) == []


def test_absolute_coordinates_are_clamped() -> None:
    pointer = AbsolutePointer()
    assert parse_absolute_report(pointer.move_to(-5, 40000)) == AbsoluteReport(0, 0, ABS_MAX)


def test_move_to_can_carry_clamped_wheel_steps() -> None:
    pointer = AbsolutePointer()
    assert parse_absolute_report(pointer.move_to(5, 6, wheel=-3, hwheel=2)) == AbsoluteReport(
        0, 5, 6, -3, 2
    )
    assert parse_absolute_report(pointer.move_to(5, 6, wheel=500)).wheel == 127
    assert AbsolutePointer(pan=False).move_to(1, 2, hwheel=9) == bytes.fromhex("00 01 00 02 00 00")


def test_absolute_scroll_is_chunked() -> None:
    reports = AbsolutePointer().scroll(200)
    assert [parse_absolute_report(r).wheel for r in reports] == [127, 73]


@pytest.mark.parametrize(
    ("px", "size", "expected"),
    [(0, 1920, 0), (1919, 1920, 32767), (959, 1920, 16375), (-3, 1920, 0), (5000, 1920, 32767)],
)
def test_scale_to_abs_maps_the_pixel_range_onto_0_32767(px: int, size: int, expected: int) -> None:
    assert scale_to_abs(px, px, size, size) == (expected, expected)
    assert AbsolutePointer.scale_to_abs(px, 0, size, 1) == (expected, 0)


def test_scale_to_abs_rejects_empty_screens() -> None:
    with pytest.raises(InputError):
        scale_to_abs(0, 0, 0, 1080)


@given(st.integers(0, 4000), st.integers(1, 4000))
def test_scale_to_abs_is_monotonic_and_in_range(px: int, width: int) -> None:
    x, _ = scale_to_abs(px, 0, width, 1)
    nxt, _ = scale_to_abs(px + 1, 0, width, 1)
    assert 0 <= x <= nxt <= ABS_MAX


def test_parsers_accept_boot_and_short_reports() -> None:
    assert parse_relative_report(bytes.fromhex("05 FF 01")) == RelativeReport(5, -1, 1)
    assert parse_relative_report(bytes.fromhex("00 00 00 81")) == RelativeReport(0, 0, 0, -127)
    assert parse_absolute_report(bytes.fromhex("01 00 40 00 40 01")) == AbsoluteReport(
        1, 0x4000, 0x4000, 1
    )


@pytest.mark.parametrize("length", [0, 2, 6])
def test_relative_parser_rejects_bad_lengths(length: int) -> None:
    with pytest.raises(RemoteProtocolError):
        parse_relative_report(bytes(length))


@pytest.mark.parametrize("length", [0, 5, 8])
def test_absolute_parser_rejects_bad_lengths(length: int) -> None:
    with pytest.raises(RemoteProtocolError):
        parse_absolute_report(bytes(length))
