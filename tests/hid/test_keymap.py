"""hid.keymap against every row of the reference §4.5 table, plus its notes."""

from __future__ import annotations

import pytest

from hid import evcodes as ec
from hid import keymap
from hid.keymap import (
    MODIFIER_BIT,
    MODIFIER_MASK,
    button_bit,
    button_code,
    evdev_for,
    is_modifier,
    key_for_evdev,
    key_for_usage,
    usage_for,
)
from tests.hid.reference_table import RefRow, plain_make, rows

ROWS = rows()


def test_reference_table_has_all_126_rows() -> None:
    assert len(ROWS) == 126


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r.name)
def test_every_reference_row_maps_evdev_to_usage_and_ps2(row: RefRow) -> None:
    assert ec.CODES[row.name] == row.code
    assert usage_for(row.code) == row.usage
    key = key_for_evdev(row.code)
    assert key is not None
    assert key.name == row.name
    make = plain_make(row)
    if make is not None:
        assert key.ps2_make == make
        assert key.ps2_break == make[:-1] + b"\xf0" + make[-1:]


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r.name)
def test_every_reference_usage_decodes_back_to_an_evdev_key_with_that_usage(row: RefRow) -> None:
    back = evdev_for(row.usage)
    assert back is not None
    assert usage_for(back) == row.usage


def test_compose_and_context_menu_both_send_0x65_which_decodes_to_compose() -> None:
    assert usage_for(ec.KEY_COMPOSE) == usage_for(ec.KEY_CONTEXT_MENU) == 0x65
    assert evdev_for(0x65) == ec.KEY_COMPOSE == 127
    compose, menu = key_for_evdev(127), key_for_evdev(438)
    assert compose is not None
    assert menu is not None
    assert compose.ps2_make == menu.ps2_make == bytes.fromhex("E0 2F")


def test_katakana_follows_the_table_row_and_0x88_decodes_to_the_kernel_name() -> None:
    assert usage_for(ec.KEY_KATAKANA) == 0x88
    assert usage_for(ec.KEY_KATAKANAHIRAGANA) == 0x88
    assert evdev_for(0x88) == ec.KEY_KATAKANAHIRAGANA == 93


def test_backslash_emits_0x31_and_non_us_hash_decodes_to_backslash() -> None:
    assert usage_for(ec.KEY_BACKSLASH) == 0x31
    assert evdev_for(0x31) == evdev_for(0x32) == ec.KEY_BACKSLASH


def test_volume_and_mute_emit_keyboard_page_usages_but_decode_both() -> None:
    assert (usage_for(ec.KEY_MUTE), usage_for(ec.KEY_VOLUMEUP)) == (0x7F, 0x80)
    assert usage_for(ec.KEY_VOLUMEDOWN) == 0x81
    assert evdev_for(0xED) == ec.KEY_VOLUMEUP
    assert evdev_for(0xEE) == ec.KEY_VOLUMEDOWN
    assert evdev_for(0xEF) == ec.KEY_MUTE


def test_print_screen_and_pause_are_the_reference_sequences() -> None:
    sysrq = key_for_usage(0x46)
    pause = key_for_usage(0x48)
    assert sysrq is not None
    assert pause is not None
    assert sysrq.ps2_make == bytes.fromhex("E0 12 E0 7C")
    assert sysrq.ps2_break == bytes.fromhex("E0 F0 7C E0 F0 12")
    assert pause.ps2_make == bytes.fromhex("E1 14 77 E1 F0 14 F0 77")
    assert pause.ps2_make[-2:] == b"\xf0\x77"  # not technoblogy's E0 77
    assert pause.ps2_break is None


def test_power_uses_pikvm_wake_code_and_f13_to_f24_have_no_ps2_code() -> None:
    power = key_for_evdev(ec.KEY_POWER)
    assert power is not None
    assert power.ps2_make == bytes.fromhex("E0 5E")
    for code in range(ec.KEY_F13, ec.KEY_F24 + 1):
        key = key_for_evdev(code)
        assert key is not None
        assert key.ps2_make is None
        assert key.ps2_break is None


def test_unknown_keys_have_no_usage() -> None:
    assert usage_for(ec.KEY_PLAYPAUSE) is None
    assert usage_for(0x2FF) is None
    assert evdev_for(0x00) is None
    assert evdev_for(0x01) is None  # ErrorRollOver is not a key
    assert key_for_usage(0xFF) is None


def test_no_two_keys_share_a_ps2_make_unless_they_share_a_usage() -> None:
    seen: dict[bytes, int] = {}
    for key in keymap.KEYS:
        if key.ps2_make is not None:
            assert seen.setdefault(key.ps2_make, key.usage) == key.usage, key.name


def test_modifier_bits_follow_the_usb_modifier_byte() -> None:
    assert {0xE0 + n: n for n in range(8)} == MODIFIER_BIT
    assert MODIFIER_MASK[0xE1] == 0x02
    assert MODIFIER_MASK[0xE7] == 0x80
    assert all(is_modifier(u) for u in range(0xE0, 0xE8))
    assert not is_modifier(0xDF)
    assert not is_modifier(0xE8)
    assert not is_modifier(0x04)
    assert usage_for(ec.KEY_LEFTSHIFT) == 0xE1
    assert usage_for(ec.KEY_RIGHTMETA) == 0xE7


@pytest.mark.parametrize(
    ("code", "bit"),
    [
        (ec.BTN_LEFT, 0),
        (ec.BTN_RIGHT, 1),
        (ec.BTN_MIDDLE, 2),
        (ec.BTN_SIDE, 3),
        (ec.BTN_EXTRA, 4),
        (ec.BTN_BACK, 3),
        (ec.BTN_FORWARD, 4),
        (ec.BTN_TASK, 7),
    ],
)
def test_mouse_buttons_map_to_hid_bits(code: int, bit: int) -> None:
    assert button_bit(code) == bit


def test_other_buttons_have_no_bit_and_bits_decode_to_btn_mouse_plus_n() -> None:
    assert button_bit(ec.BTN_TOUCH) is None
    assert button_bit(ec.KEY_A) is None
    assert [button_code(b) for b in range(5)] == [0x110, 0x111, 0x112, 0x113, 0x114]
    assert button_code(7) == ec.BTN_TASK
