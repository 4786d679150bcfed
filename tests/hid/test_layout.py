"""US layout: every printable ASCII character types and decodes back; bad text is refused."""

from __future__ import annotations

import re
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hid.layout import BACKSPACE, ENTER, SPACE, TAB, char_for, strokes_for_text
from kvmswitchd.errors import InputError

TYPEABLE = string.ascii_letters + string.digits + string.punctuation + " \n\t\b"


def test_letters_digits_and_shifted_symbols() -> None:
    assert strokes_for_text("aA1!") == [(0x04, False), (0x04, True), (0x1E, False), (0x1E, True)]
    assert strokes_for_text("zZ0)") == [(0x1D, False), (0x1D, True), (0x27, False), (0x27, True)]


def test_control_characters_are_enter_tab_backspace() -> None:
    assert strokes_for_text("\n\t\b ") == [
        (ENTER, False),
        (TAB, False),
        (BACKSPACE, False),
        (SPACE, False),
    ]


@pytest.mark.parametrize(
    ("char", "stroke"),
    [
        ("-", (0x2D, False)),
        ("_", (0x2D, True)),
        ("\\", (0x31, False)),
        ("|", (0x31, True)),
        ("'", (0x34, False)),
        ('"', (0x34, True)),
        ("`", (0x35, False)),
        ("~", (0x35, True)),
        ("?", (0x38, True)),
        ("@", (0x1F, True)),
    ],
)
def test_us_punctuation(char: str, stroke: tuple[int, bool]) -> None:
    assert strokes_for_text(char) == [stroke]


def test_every_printable_ascii_character_is_typeable() -> None:
    assert len(strokes_for_text(TYPEABLE)) == len(TYPEABLE)


@given(st.text(alphabet=TYPEABLE))
def test_typed_text_decodes_back_without_caps_lock(text: str) -> None:
    decoded = "".join(str(char_for(u, shift, caps=False)) for u, shift in strokes_for_text(text))
    assert decoded == text


@pytest.mark.parametrize("bad", ["é", "\r", "€", "a\x00"])
def test_untypeable_character_is_named_in_the_error(bad: str) -> None:
    with pytest.raises(InputError, match=re.escape(repr(bad[-1]))):
        strokes_for_text(bad)


def test_error_names_the_first_bad_character_and_position() -> None:
    with pytest.raises(InputError, match=r"'ü'.*position 2"):
        strokes_for_text("abü€")


def test_caps_lock_flips_letters_only() -> None:
    assert char_for(0x04, shift=False, caps=True) == "A"
    assert char_for(0x04, shift=True, caps=True) == "a"
    assert char_for(0x1E, shift=False, caps=True) == "1"
    assert char_for(0x1E, shift=True, caps=True) == "!"
    assert char_for(0x38, shift=False, caps=True) == "/"


def test_keys_that_type_nothing_decode_to_none() -> None:
    assert char_for(0x3A, shift=False, caps=False) is None  # F1
    assert char_for(0xE1, shift=True, caps=False) is None  # Shift itself
    assert char_for(0x58, shift=True, caps=False) == "\n"  # keypad Enter
