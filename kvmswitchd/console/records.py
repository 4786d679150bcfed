"""Console input on the wire: Linux ``struct input_event`` records and codes (sans-IO).

A record is ``struct timeval time; __u16 type; __u16 code; __s32 value`` -- 24 bytes on
64-bit (``RECORD``, native ``llHHi``). Both console sources (evdev nodes and ``fifo:``
pipes) read these records; ``kvmswitchd.console.events`` turns them into console input.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

RECORD = struct.Struct("llHHi")
RECORD_SIZE = RECORD.size

# Event types, codes and limits (include/uapi/linux/input-event-codes.h).
EV_SYN = 0x00
EV_KEY = 0x01
EV_REL = 0x02
EV_ABS = 0x03
EV_MSC = 0x04
EV_LED = 0x11
EV_REP = 0x14
EV_MAX = 0x1F
SYN_REPORT = 0
SYN_DROPPED = 3
KEY_MAX = 0x2FF
REL_MAX = 0x0F
ABS_MAX = 0x3F
REL_X = 0x00
REL_Y = 0x01
REL_HWHEEL = 0x06
REL_WHEEL = 0x08
REL_WHEEL_HI_RES = 0x0B
REL_HWHEEL_HI_RES = 0x0C
ABS_X = 0x00
ABS_Y = 0x01
WHEEL_HI_RES_PER_DETENT = 120
KEY_LEFTSHIFT = 42
KEY_RIGHTSHIFT = 54
KEY_LEFTCTRL = 29
KEY_RIGHTCTRL = 97
BTN_MISC = 0x100  # first button code: 0x100..0x15f are buttons (mouse, joystick, digitizer)
BTN_LEFT = 0x110
BTN_RIGHT = 0x111
BTN_MIDDLE = 0x112
BTN_TOUCH = 0x14A
KEY_OK = 0x160  # first key code after the button block
BTN_TRIGGER_HAPPY = 0x2C0  # 0x2c0..0x2e7: more buttons
BTN_TRIGGER_HAPPY_LAST = 0x2E7
LED_NUML = 0
LED_CAPSL = 1
LED_SCROLLL = 2
LED_COMPOSE = 3
LED_KANA = 4
# LEDs the console keyboard shows for a port; HID LED report bit n is evdev LED n here.
PORT_LEDS = (LED_NUML, LED_CAPSL, LED_SCROLLL, LED_COMPOSE, LED_KANA)


class InputEvent(NamedTuple):
    """One ``struct input_event`` (a tuple, so decoding costs no extra object)."""

    sec: int
    usec: int
    type: int
    code: int
    value: int


def decode_records(buf: bytes | bytearray | memoryview) -> tuple[list[InputEvent], bytes]:
    """Decode the whole records in ``buf``; return them and the partial record left over.

    The leftover is always shorter than one record, so a caller that prepends it to its
    next read never buffers more than ``RECORD_SIZE - 1`` bytes.
    """
    whole = len(buf) - len(buf) % RECORD_SIZE
    view = memoryview(buf)
    events = [InputEvent._make(t) for t in RECORD.iter_unpack(view[:whole])]
    return events, bytes(view[whole:])


def encode_record(type_: int, code: int, value: int, sec: int = 0, usec: int = 0) -> bytes:
    """One ``struct input_event`` record (for writers, tests and benchmarks)."""
    return RECORD.pack(sec, usec, type_, code, value)


def is_button(code: int) -> bool:
    """True for BTN_* codes (mouse, joystick, digitizer buttons), False for keyboard keys."""
    return BTN_MISC <= code < KEY_OK or BTN_TRIGGER_HAPPY <= code <= BTN_TRIGGER_HAPPY_LAST


def leds_from_hid(mask: int) -> frozenset[int]:
    """evdev LED codes that are on in a HID keyboard LED output report byte."""
    return frozenset(led for led in PORT_LEDS if mask >> led & 1)
