"""Descriptors parse in hid-tools, and every report our encoders build decodes back there."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hid import descriptors as d
from hid.keyboard import BootKeyboard, NkroKeyboard, parse_boot_report, parse_nkro_report
from hid.mouse import AbsolutePointer, RelativeMouse
from kvmswitchd.errors import LocalProtocolError
from tests.conftest import require_module

KEYBOARD_PAGE = 0x07
BUTTON_PAGE = 0x09
X, Y, WHEEL, AC_PAN = 0x10030, 0x10031, 0x10038, 0xC0238


@pytest.fixture(scope="module")
def hidtools() -> Any:
    require_module("hidtools", "hid-tools is the independent report-descriptor parser")
    from hidtools import hid

    return hid


def parse(hidtools: Any, descriptor: bytes) -> Any:
    return hidtools.ReportDescriptor.from_bytes(list(descriptor))


def decode(rdesc: Any, data: bytes, report_id: int = -1) -> dict[Any, Any]:
    """hid-tools' view of one input report: {usage: value} for variables, plus the array."""
    report = rdesc.input_reports[report_id]
    assert report.size == len(data)
    out: dict[Any, Any] = {"array": []}
    for field in report:
        if field.is_const:
            continue
        values = field.get_values(list(data))
        if field.is_array:
            out["array"] += [v for v in values if v]
        else:
            assert field.usage not in out, f"usage {field.usage:#x} in two fields"
            out[field.usage] = values[0]
    return out


def keyboard_usages(view: dict[Any, Any]) -> set[int]:
    held = {u & 0xFFFF for u, v in view.items() if u != "array" and v}
    return held | set(view["array"])


@pytest.mark.parametrize(
    ("function", "input_len", "output_len"),
    [
        (d.BOOT_KEYBOARD_FUNCTION, 8, 1),
        (d.NKRO_KEYBOARD_FUNCTION, 29, 1),
        (d.RELATIVE_MOUSE_FUNCTION, 5, None),
        (d.RELATIVE_MOUSE_NO_PAN_FUNCTION, 4, None),
        (d.ABSOLUTE_POINTER_FUNCTION, 7, None),
        (d.ABSOLUTE_POINTER_NO_PAN_FUNCTION, 6, None),
    ],
)
def test_descriptor_parses_with_the_report_sizes_we_declare(
    hidtools: Any, function: d.HidFunction, input_len: int, output_len: int | None
) -> None:
    rdesc = parse(hidtools, function.report_descriptor)
    assert bytes(rdesc.bytes) == function.report_descriptor
    assert {k: r.size for k, r in rdesc.input_reports.items()} == {-1: input_len}
    assert function.report_length == input_len
    if output_len is None:
        assert not rdesc.output_reports
    else:
        assert {k: r.size for k, r in rdesc.output_reports.items()} == {-1: output_len}


def test_boot_keyboard_descriptor_is_the_reference_one_with_the_0xff_key_range() -> None:
    reference = bytes.fromhex(
        "05 01 09 06 A1 01 05 07 19 E0 29 E7 15 00 25 01 75 01 95 08 81 02"
        "95 01 75 08 81 03 95 05 75 01 05 08 19 01 29 05 91 02 95 01 75 03"
        "91 03 95 06 75 08 15 00 25 65 05 07 19 00 29 65 81 00 C0"
    )
    assert len(reference) == 63
    widened = reference.replace(b"\x25\x65", b"\x26\xff\x00").replace(b"\x29\x65", b"\x2a\xff\x00")
    assert widened == d.BOOT_KEYBOARD


def test_nkro_descriptor_with_report_id_numbers_input_and_led_reports(hidtools: Any) -> None:
    rdesc = parse(hidtools, d.nkro_keyboard(report_id=3))
    assert {k: r.size for k, r in rdesc.input_reports.items()} == {3: 30}
    assert {k: r.size for k, r in rdesc.output_reports.items()} == {3: 2}
    kb = NkroKeyboard(report_id=3)
    report = kb.press(0x2C)
    assert report is not None
    assert keyboard_usages(decode(rdesc, report, report_id=3)) == {0x2C}


def test_led_output_report_fields_are_num_caps_scroll_compose_kana(hidtools: Any) -> None:
    rdesc = parse(hidtools, d.BOOT_KEYBOARD)
    fields = [f for f in rdesc.output_reports[-1] if not f.is_const]
    assert [f.usage for f in fields] == [0x80001 + n for n in range(5)]
    assert [f.start for f in fields] == [0, 1, 2, 3, 4]


ops = st.lists(
    st.tuples(st.sampled_from([*range(0x04, 0x0E), 0x73, 0x8A, 0xDF, 0xE0, 0xE5]), st.booleans()),
    max_size=30,
)


@settings(max_examples=50)
@given(ops)
def test_every_boot_report_decodes_in_hid_tools_as_in_our_parser(
    hidtools: Any, sequence: list[tuple[int, bool]]
) -> None:
    rdesc = parse(hidtools, d.BOOT_KEYBOARD)
    kb = BootKeyboard()
    for usage, down in sequence:
        report = kb.press(usage) if down else kb.release(usage)
        if report is None:
            continue
        ours = parse_boot_report(report)
        theirs = keyboard_usages(decode(rdesc, report))
        if ours.rollover:
            assert theirs - {1} == {u for u in ours.usages if u >= 0xE0}
        else:
            assert theirs == ours.usages == kb.pressed


@settings(max_examples=50)
@given(ops)
def test_every_nkro_report_decodes_in_hid_tools_as_in_our_parser(
    hidtools: Any, sequence: list[tuple[int, bool]]
) -> None:
    rdesc = parse(hidtools, d.NKRO_KEYBOARD)
    kb = NkroKeyboard()
    for usage, down in sequence:
        report = kb.press(usage) if down else kb.release(usage)
        if report is not None:
            assert keyboard_usages(decode(rdesc, report)) == parse_nkro_report(report).usages


@settings(max_examples=50)
@given(
    st.integers(0, 7),
    st.integers(-400, 400),
    st.integers(-400, 400),
    st.integers(-200, 200),
    st.integers(-200, 200),
    st.booleans(),
)
def test_relative_reports_decode_in_hid_tools(
    hidtools: Any, bit: int, dx: int, dy: int, wheel: int, hwheel: int, pan: bool
) -> None:
    rdesc = parse(hidtools, d.relative_mouse(pan=pan))
    mouse = RelativeMouse(pan=pan)
    pressed = decode(rdesc, mouse.button(bit, pressed=True))
    assert [pressed[0x90001 + n] for n in range(8)] == [int(n == bit) for n in range(8)]
    views = [decode(rdesc, r) for r in mouse.move(dx, dy, wheel, hwheel)]
    assert sum(v[X] for v in views) == dx
    assert sum(v[Y] for v in views) == dy
    assert sum(v[WHEEL] for v in views) == wheel
    assert sum(v.get(AC_PAN, 0) for v in views) == (hwheel if pan else 0)


@settings(max_examples=50)
@given(st.integers(0, 32767), st.integers(0, 32767), st.integers(-127, 127), st.booleans())
def test_absolute_reports_decode_in_hid_tools(
    hidtools: Any, x: int, y: int, wheel: int, pan: bool
) -> None:
    rdesc = parse(hidtools, d.absolute_pointer(pan=pan))
    pointer = AbsolutePointer(pan=pan)
    pointer.button(2, pressed=True)
    view = decode(rdesc, pointer.move_to(x, y))
    assert (view[X], view[Y], view[0x90003], view[0x90001]) == (x, y, 1, 0)
    for report in pointer.scroll(wheel, hwheel=-wheel):
        view = decode(rdesc, report)
        assert view[WHEEL] == wheel
        assert view.get(AC_PAN, 0) == (-wheel if pan else 0)


def test_hid_class_descriptor_bytes() -> None:
    assert d.hid_descriptor(len(d.BOOT_KEYBOARD)) == bytes.fromhex("09 21 11 01 00 01 22 41 00")
    assert d.hid_descriptor(0x1234, country=33) == bytes.fromhex("09 21 11 01 21 01 22 34 12")


@pytest.mark.parametrize(("length", "country"), [(-1, 0), (0x10000, 0), (10, 256)])
def test_hid_class_descriptor_rejects_out_of_range_fields(length: int, country: int) -> None:
    with pytest.raises(LocalProtocolError):
        d.hid_descriptor(length, country)


def test_interface_classes() -> None:
    assert (d.BOOT_KEYBOARD_FUNCTION.subclass, d.BOOT_KEYBOARD_FUNCTION.protocol) == (1, 1)
    assert (d.RELATIVE_MOUSE_FUNCTION.subclass, d.RELATIVE_MOUSE_FUNCTION.protocol) == (1, 2)
    assert (d.ABSOLUTE_POINTER_FUNCTION.subclass, d.ABSOLUTE_POINTER_FUNCTION.protocol) == (0, 0)
