"""What the guest's input devices delivered: ``struct input_event`` records captured with
``cat /dev/input/eventN > /out/FILE &``, decoded on the host, and a US-layout reading of
the key presses that is independent of the daemon's own layout tables."""

from __future__ import annotations

import asyncio
import struct
import time
from dataclasses import dataclass
from pathlib import Path

from evdev import ecodes

RECORD = struct.Struct("<qqHHi")  # struct input_event on x86_64: timeval, type, code, value
EV_KEY, EV_REL, EV_ABS, EV_LED = ecodes.EV_KEY, ecodes.EV_REL, ecodes.EV_ABS, ecodes.EV_LED
# A delivery that stopped for this long has ended (what is missing never comes): a TCG
# guest on a loaded 2-core machine can pause for a second or two in the middle of one.
QUIET = 5.0


@dataclass(frozen=True, slots=True)
class Event:
    type: int
    code: int
    value: int


def read_events(path: Path) -> list[Event]:
    data = path.read_bytes() if path.exists() else b""
    whole = len(data) - len(data) % RECORD.size
    return [Event(t, c, v) for _, _, t, c, v in RECORD.iter_unpack(data[:whole])]


def key_changes(events: list[Event]) -> list[tuple[str, int]]:
    """(KEY_NAME, 1 pressed / 0 released) in order; autorepeat (2) is the kernel's own."""
    return [(_key_name(e.code), e.value) for e in events if e.type == EV_KEY and e.value != 2]


def _key_name(code: int) -> str:
    name = ecodes.KEY.get(code) or ecodes.BTN.get(code) or str(code)
    return name[0] if isinstance(name, list | tuple) else name


async def settled(path: Path, count: int, within: float) -> list[Event]:
    """The events in ``path`` once ``count`` key changes arrived, or once nothing more came
    for ``QUIET`` seconds (what arrived then is all that will: the test compares it)."""
    deadline = time.monotonic() + within
    last_size, quiet_since = -1, time.monotonic()
    while time.monotonic() < deadline:
        size = path.stat().st_size if path.exists() else 0
        if size != last_size:
            last_size, quiet_since = size, time.monotonic()
            if len(key_changes(read_events(path))) >= count:
                break
        elif time.monotonic() - quiet_since > QUIET:
            break
        await asyncio.sleep(0.1)
    return read_events(path)


# US layout, written out here so the check does not lean on hid/layout.py.
_PLAIN = "abcdefghijklmnopqrstuvwxyz1234567890-=[];',./` "
_SHIFTED = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ!@#$%^&*()_+{}:"<>?~'
_KEYS = [f"KEY_{c.upper()}" for c in "abcdefghijklmnopqrstuvwxyz1234567890"] + [
    "KEY_MINUS",
    "KEY_EQUAL",
    "KEY_LEFTBRACE",
    "KEY_RIGHTBRACE",
    "KEY_SEMICOLON",
    "KEY_APOSTROPHE",
    "KEY_COMMA",
    "KEY_DOT",
    "KEY_SLASH",
    "KEY_GRAVE",
    "KEY_SPACE",
]
_CHAR_OF = {(k, False): c for k, c in zip(_KEYS, _PLAIN, strict=True)}
_CHAR_OF |= {(k, True): c for k, c in zip(_KEYS, _SHIFTED, strict=False)}
_CHAR_OF[("KEY_ENTER", False)] = "\n"
SHIFTED = _SHIFTED
TYPABLE = _PLAIN + _SHIFTED + "\n"


def typed_text(changes: list[tuple[str, int]]) -> str:
    """The text those key changes type on a US layout (shift held or not at each press);
    a key this table doesn't know shows as ``<KEY_NAME>``."""
    shift = 0
    out: list[str] = []
    for name, value in changes:
        if name in ("KEY_LEFTSHIFT", "KEY_RIGHTSHIFT"):
            shift += 1 if value else -1
        elif value == 1:
            out.append(_CHAR_OF.get((name, shift > 0), f"<{name}>"))
    return "".join(out)
