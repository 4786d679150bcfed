"""HID reports → QEMU ``input-send-event`` events (QMP), sans-IO.

A ``qemu`` port's encoders make the same USB reports as every other port (boot or NKRO
keyboard, relative or absolute pointer: ``hid.keyboard``, ``hid.mouse``); this module
turns each report into the QMP input events that carry the same change to the VM:

* ``QCODES``: HID usage (page 0x07) → QEMU ``QKeyCode`` name. Every usage of our key
  table (``hid.keymap``) has one except F13-F24, which QEMU 7.2's ``QKeyCode`` lacks:
  those keys are not sent to a VM (``unsent`` counts them).
* ``KeyboardEvents.report(report)``: the key events that take the VM from the previous
  report's keys to this one's (releases first, then presses, in usage order). A boot
  report whose slots say ErrorRollOver (0x01) keeps the keys held as they were.
* ``PointerEvents.report(report)``: button edges, then motion (``rel`` deltas, or ``abs``
  0..32767: the same range as ours), then the wheel as button presses (one down/up pair
  per step: QEMU's ``wheel-up``/``wheel-down`` buttons, ``wheel-left``/``wheel-right``
  for the horizontal wheel).

The event dicts are the ``events`` argument of ``input-send-event`` as they go on the
wire. No I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from hid.keyboard import BOOT_REPORT_LEN, ERROR_ROLLOVER, NKRO_REPORT_LEN

Event = dict[str, Any]

# HID usage → QKeyCode (qapi/ui.json). Letters and digits are their own names.
QCODES: Final[dict[int, str]] = {
    **{0x04 + i: chr(ord("a") + i) for i in range(26)},
    **{0x1E + i: str((i + 1) % 10) for i in range(10)},
    0x28: "ret",
    0x29: "esc",
    0x2A: "backspace",
    0x2B: "tab",
    0x2C: "spc",
    0x2D: "minus",
    0x2E: "equal",
    0x2F: "bracket_left",
    0x30: "bracket_right",
    0x31: "backslash",
    0x32: "backslash",  # Non-US # (decoded as backslash by our key table too)
    0x33: "semicolon",
    0x34: "apostrophe",
    0x35: "grave_accent",
    0x36: "comma",
    0x37: "dot",
    0x38: "slash",
    0x39: "caps_lock",
    **{0x3A + i: f"f{i + 1}" for i in range(12)},
    0x46: "print",
    0x47: "scroll_lock",
    0x48: "pause",
    0x49: "insert",
    0x4A: "home",
    0x4B: "pgup",
    0x4C: "delete",
    0x4D: "end",
    0x4E: "pgdn",
    0x4F: "right",
    0x50: "left",
    0x51: "down",
    0x52: "up",
    0x53: "num_lock",
    0x54: "kp_divide",
    0x55: "kp_multiply",
    0x56: "kp_subtract",
    0x57: "kp_add",
    0x58: "kp_enter",
    **{0x59 + i: f"kp_{i + 1}" for i in range(9)},
    0x62: "kp_0",
    0x63: "kp_decimal",
    0x64: "less",
    0x65: "menu",
    0x66: "power",
    0x67: "kp_equals",
    0x7F: "audiomute",
    0x80: "volumeup",
    0x81: "volumedown",
    0x85: "kp_comma",
    0x87: "ro",
    0x88: "katakanahiragana",
    0x89: "yen",
    0x8A: "henkan",
    0x8B: "muhenkan",
    0xE0: "ctrl",
    0xE1: "shift",
    0xE2: "alt",
    0xE3: "meta_l",
    0xE4: "ctrl_r",
    0xE5: "shift_r",
    0xE6: "alt_r",
    0xE7: "meta_r",
}

# Mouse report button bit → QEMU InputButton (bits 5-7 have no QEMU button).
BUTTONS: Final[tuple[str, ...]] = ("left", "right", "middle", "side", "extra")
# Wheel steps one report may carry per direction as button presses (int8: at most 127).
_WHEEL_BUTTONS: Final = (("wheel-up", "wheel-down"), ("wheel-right", "wheel-left"))


def key_event(qcode: str, down: bool) -> Event:
    return {"type": "key", "data": {"down": down, "key": {"type": "qcode", "data": qcode}}}


def button_event(button: str, down: bool) -> Event:
    return {"type": "btn", "data": {"down": down, "button": button}}


def motion_event(kind: str, axis: str, value: int) -> Event:
    return {"type": kind, "data": {"axis": axis, "value": value}}


def report_usages(report: bytes) -> frozenset[int] | None:
    """The usages a boot (8-byte) or NKRO (29-byte) report holds down; None for a boot
    report in ErrorRollOver (too many keys: the held set did not change) or a report of
    another length (not a keyboard report: ignored)."""
    if len(report) == BOOT_REPORT_LEN:
        slots = report[2:]
        if ERROR_ROLLOVER in slots:
            return None
        keys = {u for u in slots if u >= 0x04}
    elif len(report) == NKRO_REPORT_LEN:
        keys = {
            i * 8 + bit
            for i, byte in enumerate(report[1:])
            if byte
            for bit in range(8)
            if byte >> bit & 1
        }
    else:
        return None
    mods = report[0]
    keys.update(0xE0 + bit for bit in range(8) if mods >> bit & 1)
    return frozenset(keys)


class KeyboardEvents:
    """Key reports → key events, against the keys the VM was last told are down."""

    __slots__ = ("down", "unsent")

    def __init__(self) -> None:
        self.down: frozenset[int] = frozenset()
        self.unsent = 0  # key changes with no QKeyCode (F13-F24) that were not sent

    def report(self, report: bytes) -> list[Event]:
        keys = report_usages(report)
        if keys is None:
            return []
        released = sorted(self.down - keys)
        pressed = sorted(keys - self.down)
        self.down = keys
        return self._events(released, False) + self._events(pressed, True)

    def _events(self, usages: Iterable[int], down: bool) -> list[Event]:
        out = []
        for usage in usages:
            qcode = QCODES.get(usage)
            if qcode is None:
                self.unsent += 1
            else:
                out.append(key_event(qcode, down))
        return out

    def forget(self) -> None:
        """A new VM (restarted, reconnected): it holds no key we pressed."""
        self.down = frozenset()


def _int8(byte: int) -> int:
    return byte - 0x100 if byte & 0x80 else byte


class PointerEvents:
    """Mouse reports (relative ``[buttons][dx][dy][wheel][pan?]`` or absolute
    ``[buttons][x LE16][y LE16][wheel][pan?]``) → button, motion and wheel events."""

    __slots__ = ("absolute", "buttons", "position")

    def __init__(self, *, absolute: bool) -> None:
        self.absolute = absolute
        self.buttons = 0
        self.position: tuple[int, int] | None = None  # absolute: the last one sent

    def report(self, report: bytes) -> list[Event]:
        if len(report) < (6 if self.absolute else 3):
            return []  # not a report of this pointer: ignored
        out: list[Event] = []
        buttons = report[0]
        changed = buttons ^ self.buttons
        for bit, name in enumerate(BUTTONS):
            if changed >> bit & 1:
                out.append(button_event(name, bool(buttons >> bit & 1)))
        self.buttons = buttons
        if self.absolute:
            x = min(int.from_bytes(report[1:3], "little"), 0x7FFF)
            y = min(int.from_bytes(report[3:5], "little"), 0x7FFF)
            if (x, y) != self.position:
                out += [motion_event("abs", "x", x), motion_event("abs", "y", y)]
                self.position = (x, y)
            wheels = report[5:7]
        else:
            dx, dy = _int8(report[1]), _int8(report[2])
            if dx:
                out.append(motion_event("rel", "x", dx))
            if dy:
                out.append(motion_event("rel", "y", dy))
            wheels = report[3:5]
        for (positive, negative), byte in zip(_WHEEL_BUTTONS, wheels, strict=False):
            steps = _int8(byte)
            name = positive if steps > 0 else negative
            for _ in range(abs(steps)):
                out += [button_event(name, True), button_event(name, False)]
        return out

    def forget(self) -> None:
        """A new VM: no button is down there, and its pointer is wherever it is."""
        self.buttons = 0
        self.position = None
