"""HID report descriptors for the reports our encoders emit, and the HID class descriptor.

* Boot keyboard: reference §4.2 with PiKVM's key range (logical/usage max 0xFF instead of
  0x65, so F13-F24, Power and the Intl keys are accepted): input 8 bytes, LED output 1 byte.
* NKRO keyboard: reference §4.3 (QMK's shape): modifier byte + 224-bit bitmap (usages
  0x00-0xDF, so no usage appears in two fields; see hid.keyboard) and the same LED output.
  With a report id, every input report and the LED output report start with that id (so
  the host's LED write is 2 bytes).
* Relative mouse: 8 buttons, X/Y/Wheel int8 -127..127 relative, optional AC Pan; Pointer in
  a Physical collection (Apple Recovery wants it).
* Absolute pointer: 8 buttons, X/Y 16-bit 0..32767 absolute, Wheel (and optional AC Pan)
  relative.

Every descriptor is checked against hid-tools' independent parser in the tests, including the
sizes and decoded field values of the reports the encoders build.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from hid.keyboard import BOOT_REPORT_LEN, NKRO_REPORT_LEN
from hid.mouse import ABS_REPORT_LEN, ABS_REPORT_LEN_NO_PAN, REL_REPORT_LEN, REL_REPORT_LEN_NO_PAN
from kvmswitchd.errors import LocalProtocolError

LED_REPORT_LEN: Final = 1
HID_DESCRIPTOR_TYPE: Final = 0x21
REPORT_DESCRIPTOR_TYPE: Final = 0x22
HID_CLASS: Final = 0x03

_KEYBOARD_OPEN: Final = bytes.fromhex("05 01 09 06 A1 01")  # Generic Desktop, Keyboard, App
_MODIFIERS: Final = bytes.fromhex("05 07 19 E0 29 E7 15 00 25 01 75 01 95 08 81 02")
_LED_OUTPUT: Final = bytes.fromhex(
    "95 05 75 01 05 08 19 01 29 05 91 02"  # 5 LEDs: Num, Caps, Scroll, Compose, Kana
    "95 01 75 03 91 03"  # 3 bits padding
)
_END: Final = bytes.fromhex("C0")

BOOT_KEYBOARD: Final = (
    _KEYBOARD_OPEN
    + _MODIFIERS
    + bytes.fromhex("95 01 75 08 81 03")  # reserved byte
    + _LED_OUTPUT
    + bytes.fromhex("95 06 75 08 15 00 26 FF 00 05 07 19 00 2A FF 00 81 00")  # 6 key slots
    + _END
)

_MOUSE_OPEN: Final = bytes.fromhex(
    "05 01 09 02 A1 01"  # Generic Desktop, Mouse, Collection (Application)
    "09 01 A1 00"  # Pointer, Collection (Physical)
    "05 09 19 01 29 08 15 00 25 01 95 08 75 01 81 02"  # 8 buttons
)
_PAN: Final = bytes.fromhex("05 0C 0A 38 02 15 81 25 7F 75 08 95 01 81 06")  # AC Pan int8 rel
_REL_XY_WHEEL: Final = bytes.fromhex("05 01 09 30 09 31 09 38 15 81 25 7F 75 08 95 03 81 06")
_ABS_XY: Final = bytes.fromhex("05 01 09 30 09 31 16 00 00 26 FF 7F 75 10 95 02 81 02")
_ABS_WHEEL: Final = bytes.fromhex("09 38 15 81 25 7F 75 08 95 01 81 06")
_MOUSE_CLOSE: Final = bytes.fromhex("C0 C0")


def nkro_keyboard(report_id: int | None = None) -> bytes:
    """The NKRO keyboard descriptor (see :class:`hid.keyboard.NkroKeyboard`)."""
    rid = b"" if report_id is None else bytes((0x85, report_id))
    bitmap = bytes.fromhex("05 07 19 00 29 DF 15 00 25 01 75 01 95 E0 81 02")
    return _KEYBOARD_OPEN + rid + _MODIFIERS + bitmap + _LED_OUTPUT + _END


def relative_mouse(pan: bool = True) -> bytes:
    return _MOUSE_OPEN + _REL_XY_WHEEL + (_PAN if pan else b"") + _MOUSE_CLOSE


def absolute_pointer(pan: bool = True) -> bytes:
    return _MOUSE_OPEN + _ABS_XY + _ABS_WHEEL + (_PAN if pan else b"") + _MOUSE_CLOSE


NKRO_KEYBOARD: Final = nkro_keyboard()
RELATIVE_MOUSE: Final = relative_mouse(pan=True)
ABSOLUTE_POINTER: Final = absolute_pointer(pan=True)


def hid_descriptor(report_len: int, country: int = 0) -> bytes:
    """The 9-byte HID class descriptor: ``09 21 11 01 <country> 01 22 <len LE16>``, where
    ``report_len`` is the length of the report descriptor."""
    if not 0 <= report_len <= 0xFFFF or not 0 <= country <= 0xFF:
        raise LocalProtocolError(f"bad HID descriptor: report_len={report_len} country={country}")
    length = report_len.to_bytes(2, "little")
    return bytes((9, HID_DESCRIPTOR_TYPE, 0x11, 0x01, country, 1, REPORT_DESCRIPTOR_TYPE)) + length


@dataclass(frozen=True, slots=True)
class HidFunction:
    """What a USB backend (gadget configfs, USB/IP) needs to present one HID interface."""

    subclass: int  # 1 = boot interface, 0 = none
    protocol: int  # 1 = keyboard, 2 = mouse, 0 = none
    report_length: int  # longest input report, bytes
    report_descriptor: bytes


# The boot keyboard is the default: BIOSes speak only the boot protocol.
BOOT_KEYBOARD_FUNCTION: Final = HidFunction(1, 1, BOOT_REPORT_LEN, BOOT_KEYBOARD)
# No boot subclass: the bitmap is not a boot report (a host must not pick boot protocol).
NKRO_KEYBOARD_FUNCTION: Final = HidFunction(0, 0, NKRO_REPORT_LEN, NKRO_KEYBOARD)
# The first 3 bytes of the relative report are the boot-mouse report.
RELATIVE_MOUSE_FUNCTION: Final = HidFunction(1, 2, REL_REPORT_LEN, RELATIVE_MOUSE)
RELATIVE_MOUSE_NO_PAN_FUNCTION: Final = HidFunction(
    1, 2, REL_REPORT_LEN_NO_PAN, relative_mouse(pan=False)
)
# Subclass 0 / protocol 0 for the absolute pointer, as PiKVM does.
ABSOLUTE_POINTER_FUNCTION: Final = HidFunction(0, 0, ABS_REPORT_LEN, ABSOLUTE_POINTER)
ABSOLUTE_POINTER_NO_PAN_FUNCTION: Final = HidFunction(
    0, 0, ABS_REPORT_LEN_NO_PAN, absolute_pointer(pan=False)
)
