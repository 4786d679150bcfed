"""What a console source needs from an input device, and how devices are judged.

``kvmswitchd.console.evdev_source`` implements these Protocols with python-evdev; tests
implement them with fake devices.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Protocol

from kvmswitchd.console.records import (
    ABS_X,
    BTN_LEFT,
    EV_ABS,
    EV_KEY,
    EV_REL,
    KEY_LEFTCTRL,
    KEY_LEFTSHIFT,
    KEY_RIGHTCTRL,
    KEY_RIGHTSHIFT,
    REL_X,
)

KEYBOARD_KEYS = frozenset({KEY_LEFTCTRL, KEY_RIGHTCTRL, KEY_LEFTSHIFT, KEY_RIGHTSHIFT})


class ConsoleDevice(Protocol):
    """An open input device (python-evdev's ``InputDevice``, thinly wrapped)."""

    path: str
    name: str

    def fileno(self) -> int: ...
    def read_raw(self, size: int) -> bytes:
        """Whole records; ``BlockingIOError`` if none, ``OSError(ENODEV)`` when unplugged."""
        ...

    def capabilities(self) -> Mapping[int, Collection[int]]: ...
    def abs_range(self, axis: int) -> tuple[int, int]: ...
    def active_keys(self) -> Collection[int]: ...
    def grab(self) -> None: ...
    def ungrab(self) -> None: ...
    def set_led(self, led: int, on: bool) -> None: ...
    def close(self) -> None: ...


class DeviceOpener(Protocol):
    def list_paths(self) -> Collection[str]:
        """Event nodes present now (``/dev/input/event*``)."""
        ...

    def open(self, path: str) -> ConsoleDevice:
        """Open ``path``; ``OSError`` when it is absent or not accessible."""
        ...


def classify(caps: Mapping[int, Collection[int]]) -> tuple[bool, bool]:
    """(is a keyboard, is a pointer), as PiKVM and the X server judge devices."""
    keys = set(caps.get(EV_KEY, ()))
    keyboard = bool(keys & KEYBOARD_KEYS)
    pointer = BTN_LEFT in keys and (REL_X in caps.get(EV_REL, ()) or ABS_X in caps.get(EV_ABS, ()))
    return keyboard, pointer
