"""Video modes (what a target drives) and detailed timings (how it drives them).

A :class:`Mode` is the user-facing "1920x1080@60". A :class:`DetailedTiming` is the full
raster (porches, sync widths, polarities, pixel clock) that an EDID detailed timing
descriptor carries; its ``mode`` is the Mode it produces.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from kvmswitchd.errors import InputError

# Two refresh rates this close are the same mode to a monitor: 59.94 (NTSC-derived, what
# CTA VICs 1-3 and DMT 640x480 really run at) and 60.004 (DMT 1024x768) are both "60".
# Monitors lock to ±0.5 % of nominal; 0.5 Hz is that at 100 Hz and stricter below.
REFRESH_TOLERANCE_HZ = 0.5

# A rate this close to a whole number prints as that number: DMT 1024x768 (60.004 Hz) and
# 1280x1024 (60.020 Hz) print "@60", while 23.976, 59.94 and 59.95 (CVT-RB) keep decimals.
_WHOLE_HZ = 0.021
# A mode text longer than this is not a mode (it comes from config or the network).
MAX_MODE_TEXT = 32
# Largest raster an EDID detailed timing can describe (12-bit active fields).
MAX_ACTIVE = 4095

_MODE_RE = re.compile(r"(\d{1,5})x(\d{1,5})(i?)(?:@(\d{1,3}(?:\.\d{1,3})?))?")


@dataclass(frozen=True, slots=True)
class Mode:
    """A video mode. ``refresh_hz`` is the field rate for interlaced modes (as in EDID)."""

    width: int
    height: int
    refresh_hz: float
    interlaced: bool = False
    pixel_clock_khz: int | None = None

    def __str__(self) -> str:
        """``1920x1080@60``; fractional rates keep two decimals (``640x480@59.94``)."""
        scan = "i" if self.interlaced else ""
        rate = self.refresh_hz
        shown = f"{round(rate)}" if abs(rate - round(rate)) < _WHOLE_HZ else f"{rate:.2f}"
        return f"{self.width}x{self.height}{scan}@{shown}"

    def same_as(self, other: Mode) -> bool:
        """Same raster and scan, refresh within :data:`REFRESH_TOLERANCE_HZ`.

        The pixel clock is ignored: two timings of one mode (CTA and CVT-RB 1080p60, say)
        are the same picture to the user.
        """
        return (
            self.width == other.width
            and self.height == other.height
            and self.interlaced == other.interlaced
            and abs(self.refresh_hz - other.refresh_hz) <= REFRESH_TOLERANCE_HZ
        )


def parse_mode(text: str) -> Mode:
    """Parse ``"1920x1080@60"``, ``"1920x1080i@60"`` or ``"1920x1080"`` (60 Hz)."""
    if len(text) > MAX_MODE_TEXT:
        raise InputError(f"mode text is {len(text)} characters, at most {MAX_MODE_TEXT}")
    match = _MODE_RE.fullmatch(text.strip())
    if match is None:
        raise InputError(f"bad mode {text!r}: expected WIDTHxHEIGHT[i][@HZ], e.g. 1920x1080@60")
    width, height = int(match[1]), int(match[2])
    refresh = float(match[4]) if match[4] else 60.0
    if not (0 < width <= MAX_ACTIVE and 0 < height <= MAX_ACTIVE * 2 and refresh > 0):
        raise InputError(f"bad mode {text!r}: size or refresh out of range")
    return Mode(width, height, refresh, interlaced=bool(match[3]))


@dataclass(frozen=True, slots=True)
class DetailedTiming:
    """A full raster. Vertical fields count lines per *field* when ``interlaced``.

    That is how an EDID detailed timing descriptor stores interlaced modes: 1080i has
    ``v_active=540``; the frame has ``2 * v_total + 1`` lines.
    """

    pixel_clock_khz: int
    h_active: int
    h_front: int
    h_sync: int
    h_back: int
    v_active: int
    v_front: int
    v_sync: int
    v_back: int
    h_sync_positive: bool = True
    v_sync_positive: bool = True
    interlaced: bool = False
    width_mm: int = 0
    height_mm: int = 0

    @property
    def h_blank(self) -> int:
        return self.h_front + self.h_sync + self.h_back

    @property
    def v_blank(self) -> int:
        return self.v_front + self.v_sync + self.v_back

    @property
    def h_total(self) -> int:
        return self.h_active + self.h_blank

    @property
    def v_total(self) -> int:
        return self.v_active + self.v_blank

    @property
    def h_freq_khz(self) -> float:
        return self.pixel_clock_khz / self.h_total

    @property
    def refresh_hz(self) -> float:
        lines = self.v_total + (0.5 if self.interlaced else 0.0)
        return self.pixel_clock_khz * 1000.0 / (self.h_total * lines)

    @property
    def mode(self) -> Mode:
        height = self.v_active * 2 if self.interlaced else self.v_active
        return Mode(self.h_active, height, self.refresh_hz, self.interlaced, self.pixel_clock_khz)


# CVT 1.2 reduced-blanking (v1) constants.
_CVT_RB_MIN_VBLANK_US = 460.0
_CVT_RB_V_FRONT = 3
_CVT_MIN_V_BACK = 6
_CVT_RB_H_FRONT, _CVT_RB_H_SYNC, _CVT_RB_H_BACK = 48, 32, 80
_CVT_CLOCK_STEP_KHZ = 250


def _cvt_vsync_lines(width: int, height: int) -> int:
    """CVT encodes the aspect ratio in the vsync width (10 lines: none of the standard)."""
    for (num, den), lines in (((4, 3), 4), ((16, 9), 5), ((16, 10), 6), ((5, 4), 7), ((15, 9), 7)):
        if height * num % den == 0 and height * num // den == width:
            return lines
    return 10


def cvt_reduced_blanking(width: int, height: int, refresh_hz: float) -> DetailedTiming:
    """VESA CVT reduced-blanking (v1) timing of a progressive mode.

    Used to build EDIDs for modes no table knows, and to estimate the pixel clock and line
    rate of a mode for a monitor's range limits. Matches ``edid-decode --cvt ...,rb=1``.
    """
    if width <= 0 or height <= 0 or refresh_hz <= 0:
        raise InputError(f"no CVT timing for {width}x{height}@{refresh_hz}")
    v_sync = _cvt_vsync_lines(width, height)
    h_period_us = (1e6 / refresh_hz - _CVT_RB_MIN_VBLANK_US) / height
    if h_period_us <= 0:
        raise InputError(f"no CVT timing for {width}x{height}@{refresh_hz}: refresh too high")
    vbi_lines = max(
        math.floor(_CVT_RB_MIN_VBLANK_US / h_period_us) + 1,
        _CVT_RB_V_FRONT + v_sync + _CVT_MIN_V_BACK,
    )
    h_total = width + _CVT_RB_H_FRONT + _CVT_RB_H_SYNC + _CVT_RB_H_BACK
    v_total = height + vbi_lines
    clock = refresh_hz * v_total * h_total / 1000.0
    clock_khz = math.floor(clock / _CVT_CLOCK_STEP_KHZ) * _CVT_CLOCK_STEP_KHZ
    return DetailedTiming(
        pixel_clock_khz=clock_khz,
        h_active=width,
        h_front=_CVT_RB_H_FRONT,
        h_sync=_CVT_RB_H_SYNC,
        h_back=_CVT_RB_H_BACK,
        v_active=height,
        v_front=_CVT_RB_V_FRONT,
        v_sync=v_sync,
        v_back=vbi_lines - _CVT_RB_V_FRONT - v_sync,
        h_sync_positive=True,
        v_sync_positive=False,
    )
