"""evdev key code → HID usage (page 0x07) → PS/2 scan code set 2, and mouse button bits.

The table is reference §4.5 (the inverse of the kernel's ``hid_keyboard[]``, cross-checked
against PiKVM), with its notes applied:

* KEY_COMPOSE (127, the kernel's name) and KEY_CONTEXT_MENU (438, PiKVM's) both send 0x65;
  0x65 decodes to KEY_COMPOSE.
* KEY_KATAKANA (90) sends 0x88 as the reference table row says (PiKVM); KEY_KATAKANAHIRAGANA
  (93), which is what the kernel reports for a real 0x88 key, sends 0x88 too and is what 0x88
  decodes to.
* KEY_BACKSLASH sends 0x31 only; 0x32 (Non-US #) and the kernel's second volume/mute usages
  0xED-0xEF are accepted when decoding (:func:`evdev_for`) but never emitted.
* PS/2: make ``xx`` → break ``F0 xx``; make ``E0 xx`` → break ``E0 F0 xx``. Print Screen and
  Pause are sequences (Pause has no break). F13-F24 have no set-2 code here (``None``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from hid import evcodes as ec


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """One key. ``ps2_make`` is None when the key has no set-2 code; ``ps2_break`` is None
    then too, and for Pause, which sends no break."""

    evdev: int
    name: str
    usage: int
    ps2_make: bytes | None
    ps2_break: bytes | None


# (evdev code, HID usage, PS/2 set-2 make as hex, or None). Where two evdev codes share a
# usage the first row is the one the usage decodes to.
_ROWS: Final[tuple[tuple[int, int, str | None], ...]] = (
    (ec.KEY_A, 0x04, "1C"),
    (ec.KEY_B, 0x05, "32"),
    (ec.KEY_C, 0x06, "21"),
    (ec.KEY_D, 0x07, "23"),
    (ec.KEY_E, 0x08, "24"),
    (ec.KEY_F, 0x09, "2B"),
    (ec.KEY_G, 0x0A, "34"),
    (ec.KEY_H, 0x0B, "33"),
    (ec.KEY_I, 0x0C, "43"),
    (ec.KEY_J, 0x0D, "3B"),
    (ec.KEY_K, 0x0E, "42"),
    (ec.KEY_L, 0x0F, "4B"),
    (ec.KEY_M, 0x10, "3A"),
    (ec.KEY_N, 0x11, "31"),
    (ec.KEY_O, 0x12, "44"),
    (ec.KEY_P, 0x13, "4D"),
    (ec.KEY_Q, 0x14, "15"),
    (ec.KEY_R, 0x15, "2D"),
    (ec.KEY_S, 0x16, "1B"),
    (ec.KEY_T, 0x17, "2C"),
    (ec.KEY_U, 0x18, "3C"),
    (ec.KEY_V, 0x19, "2A"),
    (ec.KEY_W, 0x1A, "1D"),
    (ec.KEY_X, 0x1B, "22"),
    (ec.KEY_Y, 0x1C, "35"),
    (ec.KEY_Z, 0x1D, "1A"),
    (ec.KEY_1, 0x1E, "16"),
    (ec.KEY_2, 0x1F, "1E"),
    (ec.KEY_3, 0x20, "26"),
    (ec.KEY_4, 0x21, "25"),
    (ec.KEY_5, 0x22, "2E"),
    (ec.KEY_6, 0x23, "36"),
    (ec.KEY_7, 0x24, "3D"),
    (ec.KEY_8, 0x25, "3E"),
    (ec.KEY_9, 0x26, "46"),
    (ec.KEY_0, 0x27, "45"),
    (ec.KEY_ENTER, 0x28, "5A"),
    (ec.KEY_ESC, 0x29, "76"),
    (ec.KEY_BACKSPACE, 0x2A, "66"),
    (ec.KEY_TAB, 0x2B, "0D"),
    (ec.KEY_SPACE, 0x2C, "29"),
    (ec.KEY_MINUS, 0x2D, "4E"),
    (ec.KEY_EQUAL, 0x2E, "55"),
    (ec.KEY_LEFTBRACE, 0x2F, "54"),
    (ec.KEY_RIGHTBRACE, 0x30, "5B"),
    (ec.KEY_BACKSLASH, 0x31, "5D"),
    (ec.KEY_SEMICOLON, 0x33, "4C"),
    (ec.KEY_APOSTROPHE, 0x34, "52"),
    (ec.KEY_GRAVE, 0x35, "0E"),
    (ec.KEY_COMMA, 0x36, "41"),
    (ec.KEY_DOT, 0x37, "49"),
    (ec.KEY_SLASH, 0x38, "4A"),
    (ec.KEY_CAPSLOCK, 0x39, "58"),
    (ec.KEY_F1, 0x3A, "05"),
    (ec.KEY_F2, 0x3B, "06"),
    (ec.KEY_F3, 0x3C, "04"),
    (ec.KEY_F4, 0x3D, "0C"),
    (ec.KEY_F5, 0x3E, "03"),
    (ec.KEY_F6, 0x3F, "0B"),
    (ec.KEY_F7, 0x40, "83"),
    (ec.KEY_F8, 0x41, "0A"),
    (ec.KEY_F9, 0x42, "01"),
    (ec.KEY_F10, 0x43, "09"),
    (ec.KEY_F11, 0x44, "78"),
    (ec.KEY_F12, 0x45, "07"),
    (ec.KEY_SYSRQ, 0x46, None),  # a sequence: see _SEQUENCES
    (ec.KEY_SCROLLLOCK, 0x47, "7E"),
    (ec.KEY_PAUSE, 0x48, None),  # a sequence: see _SEQUENCES
    (ec.KEY_INSERT, 0x49, "E0 70"),
    (ec.KEY_HOME, 0x4A, "E0 6C"),
    (ec.KEY_PAGEUP, 0x4B, "E0 7D"),
    (ec.KEY_DELETE, 0x4C, "E0 71"),
    (ec.KEY_END, 0x4D, "E0 69"),
    (ec.KEY_PAGEDOWN, 0x4E, "E0 7A"),
    (ec.KEY_RIGHT, 0x4F, "E0 74"),
    (ec.KEY_LEFT, 0x50, "E0 6B"),
    (ec.KEY_DOWN, 0x51, "E0 72"),
    (ec.KEY_UP, 0x52, "E0 75"),
    (ec.KEY_NUMLOCK, 0x53, "77"),
    (ec.KEY_KPSLASH, 0x54, "E0 4A"),
    (ec.KEY_KPASTERISK, 0x55, "7C"),
    (ec.KEY_KPMINUS, 0x56, "7B"),
    (ec.KEY_KPPLUS, 0x57, "79"),
    (ec.KEY_KPENTER, 0x58, "E0 5A"),
    (ec.KEY_KP1, 0x59, "69"),
    (ec.KEY_KP2, 0x5A, "72"),
    (ec.KEY_KP3, 0x5B, "7A"),
    (ec.KEY_KP4, 0x5C, "6B"),
    (ec.KEY_KP5, 0x5D, "73"),
    (ec.KEY_KP6, 0x5E, "74"),
    (ec.KEY_KP7, 0x5F, "6C"),
    (ec.KEY_KP8, 0x60, "75"),
    (ec.KEY_KP9, 0x61, "7D"),
    (ec.KEY_KP0, 0x62, "70"),
    (ec.KEY_KPDOT, 0x63, "71"),
    (ec.KEY_102ND, 0x64, "61"),
    (ec.KEY_COMPOSE, 0x65, "E0 2F"),  # the kernel's name for 0x65 (decodes to this)
    (ec.KEY_CONTEXT_MENU, 0x65, "E0 2F"),  # PiKVM's name for 0x65
    (ec.KEY_POWER, 0x66, "E0 5E"),  # PiKVM; E0 5E is ACPI Wake (MS spec: Power E0 37)
    (ec.KEY_F13, 0x68, None),
    (ec.KEY_F14, 0x69, None),
    (ec.KEY_F15, 0x6A, None),
    (ec.KEY_F16, 0x6B, None),
    (ec.KEY_F17, 0x6C, None),
    (ec.KEY_F18, 0x6D, None),
    (ec.KEY_F19, 0x6E, None),
    (ec.KEY_F20, 0x6F, None),
    (ec.KEY_F21, 0x70, None),
    (ec.KEY_F22, 0x71, None),
    (ec.KEY_F23, 0x72, None),
    (ec.KEY_F24, 0x73, None),
    (ec.KEY_MUTE, 0x7F, "E0 23"),
    (ec.KEY_VOLUMEUP, 0x80, "E0 32"),
    (ec.KEY_VOLUMEDOWN, 0x81, "E0 21"),
    (ec.KEY_RO, 0x87, "51"),
    (ec.KEY_KATAKANAHIRAGANA, 0x88, "13"),  # the kernel's name for 0x88 (decodes to this)
    (ec.KEY_KATAKANA, 0x88, "13"),  # reference table row (PiKVM); the kernel says 0x92
    (ec.KEY_YEN, 0x89, "6A"),
    (ec.KEY_HENKAN, 0x8A, "64"),
    (ec.KEY_MUHENKAN, 0x8B, "67"),
    (ec.KEY_LEFTCTRL, 0xE0, "14"),
    (ec.KEY_LEFTSHIFT, 0xE1, "12"),
    (ec.KEY_LEFTALT, 0xE2, "11"),
    (ec.KEY_LEFTMETA, 0xE3, "E0 1F"),
    (ec.KEY_RIGHTCTRL, 0xE4, "E0 14"),
    (ec.KEY_RIGHTSHIFT, 0xE5, "59"),
    (ec.KEY_RIGHTALT, 0xE6, "E0 11"),
    (ec.KEY_RIGHTMETA, 0xE7, "E0 27"),
)

# Multi-byte set-2 sequences (make, break): reference §4.5, Pause pinned to end ``F0 77``.
_SEQUENCES: Final[dict[int, tuple[bytes, bytes | None]]] = {
    ec.KEY_SYSRQ: (bytes.fromhex("E0 12 E0 7C"), bytes.fromhex("E0 F0 7C E0 F0 12")),
    ec.KEY_PAUSE: (bytes.fromhex("E1 14 77 E1 F0 14 F0 77"), None),
}

# Usages the kernel maps to a key we already send under another usage: decode only.
_DECODE_ONLY: Final[dict[int, int]] = {
    0x32: ec.KEY_BACKSLASH,  # Non-US # and ~
    0xED: ec.KEY_VOLUMEUP,
    0xEE: ec.KEY_VOLUMEDOWN,
    0xEF: ec.KEY_MUTE,
}


def _ps2(evdev: int, make_hex: str | None) -> tuple[bytes | None, bytes | None]:
    if evdev in _SEQUENCES:
        return _SEQUENCES[evdev]
    if make_hex is None:
        return None, None
    make = bytes.fromhex(make_hex)
    return make, make[:-1] + b"\xf0" + make[-1:]


KEYS: Final[tuple[KeyInfo, ...]] = tuple(
    KeyInfo(code, ec.code_name(ec.EV_KEY, code), usage, *_ps2(code, make))
    for code, usage, make in _ROWS
)
_BY_EVDEV: Final[dict[int, KeyInfo]] = {k.evdev: k for k in KEYS}
_BY_USAGE: Final[dict[int, KeyInfo]] = {k.usage: k for k in reversed(KEYS)}  # first row wins
_USAGE_TO_EVDEV: Final[dict[int, int]] = {u: k.evdev for u, k in _BY_USAGE.items()} | _DECODE_ONLY

# Modifier usages 0xE0 LeftCtrl … 0xE7 RightGUI → bit number in the report's modifier byte.
MODIFIER_BIT: Final[dict[int, int]] = {0xE0 + n: n for n in range(8)}
# The same as masks (1 << bit), for ``mods |= MODIFIER_MASK[usage]``.
MODIFIER_MASK: Final[dict[int, int]] = {u: 1 << n for u, n in MODIFIER_BIT.items()}


def usage_for(evdev_code: int) -> int | None:
    """The HID usage (page 0x07) an evdev key sends, or None if it has none."""
    key = _BY_EVDEV.get(evdev_code)
    return None if key is None else key.usage


def evdev_for(usage: int) -> int | None:
    """The evdev key code a HID usage decodes to (the kernel's choice), or None."""
    return _USAGE_TO_EVDEV.get(usage)


def key_for_evdev(evdev_code: int) -> KeyInfo | None:
    return _BY_EVDEV.get(evdev_code)


def key_for_usage(usage: int) -> KeyInfo | None:
    """The key sent for ``usage`` (the first row for a shared usage), or None."""
    return _BY_USAGE.get(usage)


def is_modifier(usage: int) -> bool:
    return 0xE0 <= usage <= 0xE7


# Mouse buttons: evdev code → bit in the HID button byte. HID button n is evdev
# BTN_MOUSE + n - 1 (hid-input.c); BTN_BACK / BTN_FORWARD go to bits 3 / 4 like BTN_SIDE /
# BTN_EXTRA (PiKVM, reference §4.4), so hosts treat them as back / forward.
_BUTTON_BITS: Final[dict[int, int]] = {
    ec.BTN_LEFT: 0,
    ec.BTN_RIGHT: 1,
    ec.BTN_MIDDLE: 2,
    ec.BTN_SIDE: 3,
    ec.BTN_EXTRA: 4,
    ec.BTN_BACK: 3,
    ec.BTN_FORWARD: 4,
    ec.BTN_TASK: 7,
}
# Decoding side (emulated targets): bit → evdev code, the kernel's BTN_MOUSE + n - 1.
_BUTTON_CODES: Final[tuple[int, ...]] = tuple(ec.BTN_LEFT + n for n in range(8))


def button_bit(evdev_btn_code: int) -> int | None:
    """The HID button bit (0 = left) for an evdev BTN_* code, or None for other buttons."""
    return _BUTTON_BITS.get(evdev_btn_code)


def button_code(bit: int) -> int:
    """The evdev code a HID button bit 0..7 decodes to (BTN_LEFT … BTN_TASK)."""
    return _BUTTON_CODES[bit]
