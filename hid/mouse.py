"""USB mouse reports: relative mouse and absolute pointer (reference §4.4).

Relative report: ``[buttons][dx int8][dy int8][wheel int8]`` plus ``[pan int8]`` (AC Pan,
horizontal wheel) when built with ``pan=True`` (the default): 5 bytes, or 4 without pan.
The first three bytes are the boot-mouse report.

Absolute report: ``[buttons][x LE16][y LE16][wheel int8]`` plus ``[pan int8]``: 7 bytes with
pan (default), 6 without. X and Y are 0..32767.

Buttons are bits (0 left, 1 right, 2 middle, 3 side/back, 4 extra/forward); ``button()``
takes a bit 0..7 or an evdev ``BTN_*`` code. Deltas are coalesced by callers per SYN_REPORT;
``move``/``scroll`` split them into reports of at most ±127 per axis.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from hid.keymap import button_bit
from kvmswitchd.errors import InputError, RemoteProtocolError

REL_REPORT_LEN: Final = 5  # with pan
REL_REPORT_LEN_NO_PAN: Final = 4
BOOT_MOUSE_REPORT_LEN: Final = 3
ABS_REPORT_LEN: Final = 7  # with pan
ABS_REPORT_LEN_NO_PAN: Final = 6
ABS_MAX: Final = 32767
DELTA_MAX: Final = 127  # the descriptor's int8 range is -127..127
# Cap on the reports one move/scroll may produce; larger deltas are clamped to
# ±MAX_CHUNKS * 127 per axis. Stops a bogus delta (a broken device, a huge API value) from
# flooding a port with millions of reports.
MAX_CHUNKS: Final = 64
_DELTA_LIMIT: Final = MAX_CHUNKS * DELTA_MAX


def _bit(bit_or_code: int) -> int:
    if 0 <= bit_or_code <= 7:
        return bit_or_code
    bit = button_bit(bit_or_code)
    if bit is None:
        raise InputError(f"not a mouse button: {bit_or_code} (expected a bit 0..7 or BTN_*)")
    return bit


def _chunks(*deltas: int) -> list[tuple[int, ...]]:
    """Split deltas into steps of at most ±127 per axis (same sums, after clamping)."""
    left = [max(-_DELTA_LIMIT, min(_DELTA_LIMIT, d)) for d in deltas]
    steps = []
    while any(left):
        step = tuple(max(-DELTA_MAX, min(DELTA_MAX, d)) for d in left)
        left = [d - s for d, s in zip(left, step, strict=True)]
        steps.append(step)
    return steps


def scale_to_abs(px: int, py: int, width: int, height: int) -> tuple[int, int]:
    """A screen pixel → 0..32767 coordinates (``x * 32767 / (width - 1)``), clamped."""
    if width < 1 or height < 1:
        raise InputError(f"screen size must be positive, not {width}x{height}")

    def scale(p: int, size: int) -> int:
        if size == 1:
            return 0
        return max(0, min(ABS_MAX, (p * ABS_MAX * 2 + (size - 1)) // (2 * (size - 1))))

    return scale(px, width), scale(py, height)


class RelativeMouse:
    """Relative mouse encoder. Every method returns what to send (always at least one report
    for ``button``/``release_all``; ``move`` returns [] when all deltas are zero)."""

    __slots__ = ("_buttons", "_pan")

    def __init__(self, pan: bool = True) -> None:
        self._pan = pan
        self._buttons = 0

    @property
    def report_len(self) -> int:
        return REL_REPORT_LEN if self._pan else REL_REPORT_LEN_NO_PAN

    @property
    def buttons(self) -> int:
        return self._buttons

    def _report(self, dx: int, dy: int, wheel: int, hwheel: int) -> bytes:
        if self._pan:
            return bytes((self._buttons, dx & 0xFF, dy & 0xFF, wheel & 0xFF, hwheel & 0xFF))
        return bytes((self._buttons, dx & 0xFF, dy & 0xFF, wheel & 0xFF))

    def button(self, bit_or_code: int, pressed: bool) -> bytes:
        mask = 1 << _bit(bit_or_code)
        self._buttons = self._buttons | mask if pressed else self._buttons & ~mask
        return self._report(0, 0, 0, 0)

    def move(self, dx: int, dy: int, wheel: int = 0, hwheel: int = 0) -> list[bytes]:
        """Reports carrying these deltas (wheel up positive; hwheel dropped without pan)."""
        if not self._pan:
            hwheel = 0
        lo, hi = -DELTA_MAX, DELTA_MAX
        if lo <= dx <= hi and lo <= dy <= hi and lo <= wheel <= hi and lo <= hwheel <= hi:
            if not (dx or dy or wheel or hwheel):
                return []
            return [self._report(dx, dy, wheel, hwheel)]  # the common case: one report
        return [self._report(*step) for step in _chunks(dx, dy, wheel, hwheel)]

    def release_all(self) -> bytes:
        self._buttons = 0
        return self._report(0, 0, 0, 0)


class AbsolutePointer:
    """Absolute pointer ("tablet") encoder, 0..32767 on both axes."""

    __slots__ = ("_buttons", "_pan", "_x", "_y")

    def __init__(self, pan: bool = True) -> None:
        self._pan = pan
        self._buttons = 0
        self._x = 0
        self._y = 0

    scale_to_abs = staticmethod(scale_to_abs)

    @property
    def report_len(self) -> int:
        return ABS_REPORT_LEN if self._pan else ABS_REPORT_LEN_NO_PAN

    @property
    def buttons(self) -> int:
        return self._buttons

    @property
    def position(self) -> tuple[int, int]:
        return self._x, self._y

    def _report(self, wheel: int = 0, hwheel: int = 0) -> bytes:
        x, y = self._x, self._y
        head = (self._buttons, x & 0xFF, x >> 8, y & 0xFF, y >> 8, wheel & 0xFF)
        return bytes((*head, hwheel & 0xFF)) if self._pan else bytes(head)

    def move_to(self, x: int, y: int, wheel: int = 0, hwheel: int = 0) -> bytes:
        """Move to (x, y), each clamped to 0..32767, with optional wheel steps in the same
        report (clamped to ±127: use ``scroll`` for bigger ones; hwheel needs pan)."""
        self._x = max(0, min(ABS_MAX, x))
        self._y = max(0, min(ABS_MAX, y))
        return self._report(
            max(-DELTA_MAX, min(DELTA_MAX, wheel)), max(-DELTA_MAX, min(DELTA_MAX, hwheel))
        )

    def button(self, bit_or_code: int, pressed: bool) -> bytes:
        mask = 1 << _bit(bit_or_code)
        self._buttons = self._buttons | mask if pressed else self._buttons & ~mask
        return self._report()

    def scroll(self, wheel: int, hwheel: int = 0) -> list[bytes]:
        """Reports carrying these wheel steps at the current position (hwheel needs pan)."""
        if not self._pan:
            hwheel = 0
        return [self._report(w, h) for w, h in _chunks(wheel, hwheel)]

    def release_all(self) -> bytes:
        self._buttons = 0
        return self._report()


@dataclass(frozen=True, slots=True)
class RelativeReport:
    buttons: int
    dx: int
    dy: int
    wheel: int = 0
    pan: int = 0


@dataclass(frozen=True, slots=True)
class AbsoluteReport:
    buttons: int
    x: int
    y: int
    wheel: int = 0
    pan: int = 0


def _int8(byte: int) -> int:
    return byte - 0x100 if byte & 0x80 else byte


def parse_relative_report(data: bytes) -> RelativeReport:
    """Decode a 3-byte boot, 4-byte (wheel) or 5-byte (wheel + pan) relative report."""
    if not BOOT_MOUSE_REPORT_LEN <= len(data) <= REL_REPORT_LEN:
        raise RemoteProtocolError(f"relative mouse report is {len(data)} bytes, expected 3..5")
    values = [_int8(b) for b in data[1:]]
    return RelativeReport(data[0], *values)


def parse_absolute_report(data: bytes) -> AbsoluteReport:
    """Decode a 6-byte (wheel) or 7-byte (wheel + pan) absolute report."""
    if len(data) not in (ABS_REPORT_LEN_NO_PAN, ABS_REPORT_LEN):
        raise RemoteProtocolError(f"absolute pointer report is {len(data)} bytes, expected 6 or 7")
    x = int.from_bytes(data[1:3], "little")
    y = int.from_bytes(data[3:5], "little")
    pan = _int8(data[6]) if len(data) == ABS_REPORT_LEN else 0
    return AbsoluteReport(data[0], x, y, _int8(data[5]), pan)
