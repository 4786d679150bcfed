"""The US keyboard layout both ways: text → (usage, needs_shift) strokes, usage → character.

Used to type text into a port (``strokes_for_text``) and by emulated targets to turn the
reports they receive back into text (``char_for``). Page 0x07 usages only.
"""

from __future__ import annotations

from typing import Final

from kvmswitchd.errors import InputError

ENTER: Final = 0x28
ESCAPE: Final = 0x29
BACKSPACE: Final = 0x2A
TAB: Final = 0x2B
SPACE: Final = 0x2C
CAPS_LOCK: Final = 0x39
LEFT_SHIFT: Final = 0xE1

# Digits and punctuation: usage → (unshifted, shifted).
_SYMBOLS: Final[dict[int, tuple[str, str]]] = {
    0x1E: ("1", "!"),
    0x1F: ("2", "@"),
    0x20: ("3", "#"),
    0x21: ("4", "$"),
    0x22: ("5", "%"),
    0x23: ("6", "^"),
    0x24: ("7", "&"),
    0x25: ("8", "*"),
    0x26: ("9", "("),
    0x27: ("0", ")"),
    0x2D: ("-", "_"),
    0x2E: ("=", "+"),
    0x2F: ("[", "{"),
    0x30: ("]", "}"),
    0x31: ("\\", "|"),
    0x33: (";", ":"),
    0x34: ("'", '"'),
    0x35: ("`", "~"),
    0x36: (",", "<"),
    0x37: (".", ">"),
    0x38: ("/", "?"),
}
# Keys that type the same character whatever the modifiers (keypad operators need no NumLock).
_FIXED: Final[dict[int, str]] = {
    ENTER: "\n",
    BACKSPACE: "\b",
    TAB: "\t",
    SPACE: " ",
    0x54: "/",
    0x55: "*",
    0x56: "-",
    0x57: "+",
    0x58: "\n",  # keypad Enter
}
_LETTER_A: Final = 0x04
_LETTER_Z: Final = 0x1D

_STROKES: Final[dict[str, tuple[int, bool]]] = {
    **{chr(ord("a") + u - _LETTER_A): (u, False) for u in range(_LETTER_A, _LETTER_Z + 1)},
    **{chr(ord("A") + u - _LETTER_A): (u, True) for u in range(_LETTER_A, _LETTER_Z + 1)},
    **{plain: (u, False) for u, (plain, _) in _SYMBOLS.items()},
    **{shifted: (u, True) for u, (_, shifted) in _SYMBOLS.items()},
    "\n": (ENTER, False),
    "\t": (TAB, False),
    "\b": (BACKSPACE, False),
    " ": (SPACE, False),
}


def strokes_for_text(text: str) -> list[tuple[int, bool]]:
    """One (usage, needs_shift) per character of ``text``. Raises InputError naming the
    first character a US keyboard can't type (and its position)."""
    strokes = []
    for index, char in enumerate(text):
        stroke = _STROKES.get(char)
        if stroke is None:
            raise InputError(
                f"can't type {char!r} (U+{ord(char):04X}) at position {index} on a US keyboard"
            )
        strokes.append(stroke)
    return strokes


def char_for(usage: int, shift: bool, caps: bool) -> str | None:
    """The character ``usage`` types with these Shift and Caps Lock states, or None.

    Letters are upper case when Shift xor Caps Lock; digits and punctuation follow Shift only.
    """
    if _LETTER_A <= usage <= _LETTER_Z:
        base = ord("A" if shift != caps else "a")
        return chr(base + usage - _LETTER_A)
    pair = _SYMBOLS.get(usage)
    if pair is not None:
        return pair[1] if shift else pair[0]
    return _FIXED.get(usage)
