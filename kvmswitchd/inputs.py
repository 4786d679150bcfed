"""Input that arrives as JSON (HTTP, websocket) or as text to type, turned into the same
console batches the physical console produces.

``{"type": "EV_KEY", "code": "KEY_A", "value": 1}`` — type and code by evdev name or
number — becomes an ``InputEvent`` that goes through the one console assembler.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hid import evcodes, keymap, layout
from kvmswitchd.console.events import ConsoleAssembler, ConsoleInput, InputEvent, KeyChange
from kvmswitchd.errors import InputError

# One request may carry at most this many events / characters: bounds the work a single
# HTTP or websocket message can cause.
MAX_EVENTS = 4096
MAX_TEXT = 16384
_LEFTSHIFT = evcodes.CODES["KEY_LEFTSHIFT"]
_SYN = evcodes.CODES["EV_SYN"]
_SYN_REPORT = evcodes.CODES["SYN_REPORT"]


def parse_events(events: Sequence[Mapping[str, Any]]) -> list[InputEvent]:
    """Validate JSON events into input events; the first bad one is an InputError."""
    if len(events) > MAX_EVENTS:
        raise InputError(f"too many events in one request (max {MAX_EVENTS})")
    out: list[InputEvent] = []
    for index, event in enumerate(events):
        unknown = set(event) - {"type", "code", "value"}
        if unknown:
            raise InputError(f"events[{index}]: unknown field {sorted(unknown)[0]!r}")
        try:
            type_ = evcodes.parse_type(_field(event, "type", index))
            code = evcodes.parse_code(type_, _field(event, "code", index))
        except InputError as exc:
            raise InputError(f"events[{index}]: {exc}") from None
        value = event.get("value", 0)
        if isinstance(value, bool) or not isinstance(value, int) or not -(2**31) <= value < 2**31:
            raise InputError(f"events[{index}].value must be a 32-bit integer")
        out.append(InputEvent(0, 0, type_, code, value))
    return out


def _field(event: Mapping[str, Any], key: str, index: int) -> str | int:
    if key not in event:
        raise InputError(f"events[{index}]: {key} is required")
    value = event[key]
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InputError(f"events[{index}].{key} must be a name or a number")
    return value


def assemble(assembler: ConsoleAssembler, events: Sequence[InputEvent]) -> list[ConsoleInput]:
    """Run events through ``assembler``; a missing final SYN_REPORT is supplied."""
    out: list[ConsoleInput] = []
    for event in events:
        batch = assembler.feed(event)
        if batch:
            out.extend(batch)
    if not events or (events[-1].type, events[-1].code) != (_SYN, _SYN_REPORT):
        batch = assembler.feed(InputEvent(0, 0, _SYN, _SYN_REPORT, 0))
        if batch:
            out.extend(batch)
    return out


def text_strokes(text: str) -> list[ConsoleInput]:
    """Key presses and releases that type ``text`` with a US layout."""
    if len(text) > MAX_TEXT:
        raise InputError(f"text is longer than {MAX_TEXT} characters")
    out: list[ConsoleInput] = []
    for usage, shift in layout.strokes_for_text(text):
        code = _evdev_for_usage(usage)
        if shift:
            out.append(KeyChange(_LEFTSHIFT, True))
        out.append(KeyChange(code, True))
        out.append(KeyChange(code, False))
        if shift:
            out.append(KeyChange(_LEFTSHIFT, False))
    return out


def _evdev_for_usage(usage: int) -> int:
    code = keymap.evdev_for(usage)
    if code is None:  # layout only produces usages the keymap knows
        raise InputError(f"no key for HID usage 0x{usage:02x}")
    return code
