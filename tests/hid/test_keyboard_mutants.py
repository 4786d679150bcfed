"""Keyboard encoder edges that mutation testing showed the other tests leave open: the
first and last usages and report ids, exactly six keys, and no redundant report after a
release-all."""

from __future__ import annotations

import pytest

from hid.keyboard import (
    BOOT_KEY_SLOTS,
    NKRO_REPORT_LEN,
    BootKeyboard,
    NkroKeyboard,
    parse_nkro_report,
)
from kvmswitchd.errors import InputError, RemoteProtocolError

A, LCTRL, LSHIFT = 0x04, 0xE0, 0xE1


def test_nkro_releases_the_first_key_usage() -> None:
    # usage 0x04 is "a": a release that returned None would leave it stuck on the target
    kb = NkroKeyboard()
    assert kb.press(A) is not None
    released = kb.release(A)
    assert released == bytes(NKRO_REPORT_LEN)
    assert kb.pressed == frozenset()


def test_nkro_key_presses_and_releases_like_press_and_release() -> None:
    kb = NkroKeyboard()
    pressed = kb.key(A, True)
    assert pressed is not None
    assert parse_nkro_report(pressed).usages == {A}
    assert kb.key(LSHIFT, True) is not None
    assert kb.key(A, False) is not None
    assert kb.pressed == {LSHIFT}
    assert kb.key(A, False) is None  # not held any more


def test_nkro_boot_report_of_exactly_six_keys_shows_them_all() -> None:
    kb = NkroKeyboard()
    keys = list(range(0x04, 0x04 + BOOT_KEY_SLOTS))
    for usage in keys:
        kb.press(usage)
    kb.press(LCTRL)
    assert kb.boot_report() == bytes([0x01, 0, *keys])


@pytest.mark.parametrize("report_id", [1, 255])
def test_nkro_report_ids_1_and_255_are_accepted(report_id: int) -> None:
    kb = NkroKeyboard(report_id=report_id)
    report = kb.press(A)
    assert report is not None
    assert report[0] == report_id
    assert parse_nkro_report(report, report_id=report_id).keys == (A,)


@pytest.mark.parametrize("report_id", [0, 256])
def test_a_report_id_outside_a_byte_is_refused_with_the_range(report_id: int) -> None:
    with pytest.raises(InputError) as caught:
        NkroKeyboard(report_id=report_id)
    assert str(caught.value) == f"report id must be 1..255, not {report_id}"


def test_a_bad_nkro_report_is_refused_naming_what_was_received() -> None:
    with pytest.raises(RemoteProtocolError) as caught:
        parse_nkro_report(bytes(30))
    assert str(caught.value) == "NKRO report is 30 bytes, expected 29"
    with pytest.raises(RemoteProtocolError) as caught:
        parse_nkro_report(bytes([7, 9]) + bytes(28), report_id=2)
    assert str(caught.value) == "NKRO report id 7, expected 2"


def test_after_release_all_a_release_of_nothing_sends_no_report() -> None:
    kb = BootKeyboard()
    kb.press(A)
    kb.press(LSHIFT)
    assert kb.release_all() == bytes(8)
    assert kb.release(LSHIFT) is None  # the target already has the empty report
    assert kb.press(A) == bytes([0, 0, A, 0, 0, 0, 0, 0])


@pytest.mark.parametrize("usage", [0x01, 0xE8])
def test_a_press_of_a_non_key_says_which_usages_are_keys(usage: int) -> None:
    for kb in (BootKeyboard(), NkroKeyboard()):
        with pytest.raises(InputError) as caught:
            kb.press(usage)
        assert str(caught.value) == (
            f"not a keyboard usage: {usage:#04x} (expected 0x04-0xDF or 0xE0-0xE7)"
        )
