"""Boot and NKRO keyboard encoders and parsers: exact bytes, rollover, no lost release."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hid.keyboard import (
    BOOT_REPORT_LEN,
    NKRO_REPORT_LEN,
    BootKeyboard,
    NkroKeyboard,
    parse_boot_report,
    parse_nkro_report,
)
from kvmswitchd.errors import InputError, RemoteProtocolError

A, B, C, LSHIFT, RGUI = 0x04, 0x05, 0x06, 0xE1, 0xE7
ROLLOVER = bytes.fromhex("00 00 01 01 01 01 01 01")

usages = st.sampled_from([*range(0x04, 0x10), 0x65, 0x8A, 0xDF, *range(0xE0, 0xE8)])
ops = st.lists(st.tuples(usages, st.booleans()), max_size=60)


def test_boot_press_and_release_give_exact_reports() -> None:
    kb = BootKeyboard()
    assert kb.press(A) == bytes.fromhex("00 00 04 00 00 00 00 00")
    assert kb.press(LSHIFT) == bytes.fromhex("02 00 04 00 00 00 00 00")
    assert kb.press(B) == bytes.fromhex("02 00 04 05 00 00 00 00")
    assert kb.release(A) == bytes.fromhex("02 00 05 00 00 00 00 00")
    assert kb.release(LSHIFT) == bytes.fromhex("00 00 05 00 00 00 00 00")
    assert kb.release(B) == bytes(8)


def test_boot_repeated_press_and_release_of_unheld_key_return_none() -> None:
    kb = BootKeyboard()
    assert kb.press(A) is not None
    assert kb.press(A) is None
    assert kb.release(B) is None
    assert kb.release(0x00) is None  # not even a key: still no error on release
    assert kb.press(RGUI) == bytes.fromhex("80 00 04 00 00 00 00 00")
    assert kb.press(RGUI) is None


def test_seventh_key_gives_error_rollover_with_valid_modifiers() -> None:
    kb = BootKeyboard()
    kb.press(LSHIFT)
    for usage in range(0x04, 0x0A):
        assert kb.press(usage) is not None
    assert kb.report() == bytes.fromhex("02 00 04 05 06 07 08 09")
    assert kb.press(0x0A) == bytes.fromhex("02 00 01 01 01 01 01 01")
    assert kb.press(0x0B) is None  # still rollover: the report did not change
    assert kb.release(LSHIFT) == ROLLOVER
    assert kb.release(0x04) is None  # seven keys still held: still rollover
    assert kb.release(0x05) == bytes.fromhex("00 00 06 07 08 09 0A 0B")


def test_release_all_always_returns_the_zero_report_and_forgets_everything() -> None:
    kb = BootKeyboard()
    assert kb.release_all() == bytes(8)
    kb.press(A)
    kb.press(0xE0)
    assert kb.release_all() == bytes(8)
    assert kb.pressed == frozenset()
    assert kb.press(A) == bytes.fromhex("00 00 04 00 00 00 00 00")


def test_pressed_includes_modifiers_and_keys_beyond_six() -> None:
    kb = BootKeyboard()
    held = {0xE0, 0xE6, *range(0x04, 0x0C)}
    for usage in held:
        kb.press(usage)
    assert kb.pressed == held
    assert isinstance(kb.pressed, frozenset)


@pytest.mark.parametrize("bad", [0x00, 0x01, 0x03, 0xE8, 0xFF, 0x100, -1])
def test_press_of_a_non_key_usage_is_an_input_error(bad: int) -> None:
    with pytest.raises(InputError):
        BootKeyboard().press(bad)
    with pytest.raises(InputError):
        NkroKeyboard().press(bad)


@given(ops)
def test_boot_report_always_shows_the_held_keys_or_rollover(
    sequence: list[tuple[int, bool]],
) -> None:
    kb = BootKeyboard()
    held: set[int] = set()
    for usage, down in sequence:
        result = kb.press(usage) if down else kb.release(usage)
        if down:
            held.add(usage)
        else:
            held.discard(usage)
        decoded = parse_boot_report(kb.report())
        assert result is None or result == kb.report()
        assert kb.pressed == held
        keys = {u for u in held if u < 0xE0}
        if len(keys) > 6:
            assert decoded.rollover
            assert decoded.keys == (1,) * 6
            assert decoded.usages == held - keys
        else:
            assert decoded.usages == held
    for usage in list(held):
        kb.release(usage)
    assert kb.report() == bytes(8)


@given(ops)
def test_boot_reports_returned_form_the_same_stream_as_polling(
    sequence: list[tuple[int, bool]],
) -> None:
    """A host that only sees the returned reports ends in the same state as the encoder."""
    kb = BootKeyboard()
    last = bytes(8)
    for usage, down in sequence:
        result = kb.press(usage) if down else kb.release(usage)
        if result is not None:
            assert result != last
            last = result
        assert last == kb.report()


def test_nkro_report_is_modifier_byte_then_bitmap() -> None:
    kb = NkroKeyboard()
    report = kb.press(A)
    assert report is not None
    assert len(report) == NKRO_REPORT_LEN == 29
    assert report[0] == 0
    assert report[1] == 0x10  # usage 4: byte 0 of the bitmap, bit 4
    report = kb.press(0xE5)
    assert report is not None
    assert report[0] == 0x20
    assert report[1:] == bytes([0x10]) + bytes(27)
    report = kb.press(0xDF)
    assert report is not None
    assert report[-1] == 0x80  # usage 0xDF: bitmap byte 27, bit 7


def test_nkro_with_report_id_prefixes_it() -> None:
    kb = NkroKeyboard(report_id=4)
    assert kb.report_len == 30
    report = kb.press(B)
    assert report is not None
    assert report[:3] == bytes([4, 0, 0x20])
    assert parse_nkro_report(report, report_id=4).keys == (B,)
    assert kb.release_all() == bytes([4]) + bytes(29)


def test_nkro_boot_report_reflects_the_same_state() -> None:
    kb = NkroKeyboard()
    kb.press(C)
    kb.press(A)
    kb.press(0xE0)
    assert kb.boot_report() == bytes.fromhex("01 00 04 06 00 00 00 00")
    for usage in range(0x07, 0x0C):
        kb.press(usage)
    assert kb.boot_report() == bytes.fromhex("01 00 01 01 01 01 01 01")


@given(ops)
def test_nkro_report_always_decodes_to_exactly_the_held_keys(
    sequence: list[tuple[int, bool]],
) -> None:
    kb = NkroKeyboard()
    held: set[int] = set()
    for usage, down in sequence:
        result = kb.press(usage) if down else kb.release(usage)
        changed = (usage not in held) if down else (usage in held)
        assert (result is not None) == changed
        if down:
            held.add(usage)
        else:
            held.discard(usage)
        assert parse_nkro_report(kb.report()).usages == held
        assert kb.pressed == held
    assert kb.release_all() == bytes(NKRO_REPORT_LEN)


def test_nkro_release_of_non_key_is_none() -> None:
    assert NkroKeyboard().release(0xFF) is None


@pytest.mark.parametrize("length", [0, 7, 9, 64])
def test_parse_boot_report_rejects_wrong_length(length: int) -> None:
    with pytest.raises(RemoteProtocolError, match="expected 8"):
        parse_boot_report(bytes(length))


def test_parse_nkro_report_rejects_wrong_length_or_id() -> None:
    with pytest.raises(RemoteProtocolError):
        parse_nkro_report(bytes(30))  # 29 expected without a report id
    with pytest.raises(RemoteProtocolError, match="report id"):
        parse_nkro_report(bytes([3]) + bytes(29), report_id=4)


def test_nkro_report_id_must_be_a_byte() -> None:
    with pytest.raises(InputError):
        NkroKeyboard(report_id=0)


@given(st.binary(min_size=BOOT_REPORT_LEN, max_size=BOOT_REPORT_LEN))
def test_any_8_bytes_parse_as_a_boot_report(data: bytes) -> None:
    report = parse_boot_report(data)
    assert report.modifiers == data[0]
    assert all(report.keys)
