"""The UI's KeyboardEvent.code → evdev table only names keys the daemon can type."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest

import web
from hid import evcodes, keymap

KEYS_JS = Path(web.__file__).parent / "static" / "keys.js"


def js_names() -> set[str]:
    return set(re.findall(r'"((?:KEY|BTN)_\w+)"', KEYS_JS.read_text()))


# What keys.js builds from patterns (KeyA, Digit1, Numpad1, F1..F24).
PATTERN_NAMES = (
    {f"KEY_{c}" for c in string.ascii_uppercase + string.digits}
    | {f"KEY_KP{d}" for d in range(10)}
    | {f"KEY_F{n}" for n in range(1, 25)}
)


@pytest.mark.parametrize("name", sorted(js_names() | PATTERN_NAMES))
def test_every_name_the_ui_sends_is_an_evdev_code_the_keymap_can_send(name: str) -> None:
    type_ = evcodes.EV_KEY
    code = evcodes.parse_code(type_, name)
    if name.startswith("KEY_"):
        assert keymap.usage_for(code) is not None, f"{name} has no HID usage"
    else:
        assert keymap.button_bit(code) is not None, f"{name} is not a mouse button"


def test_the_table_covers_the_keys_a_console_needs() -> None:
    names = js_names()
    for needed in (
        "KEY_ENTER",
        "KEY_LEFTSHIFT",
        "KEY_SCROLLLOCK",
        "KEY_UP",
        "KEY_ESC",
        "KEY_LEFTCTRL",
        "KEY_RIGHTALT",
        "KEY_BACKSPACE",
        "KEY_KPENTER",
        "BTN_LEFT",
    ):
        assert needed in names
