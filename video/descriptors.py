"""The 18-byte EDID descriptors: detailed timings, text, range limits.

Encoders take values and return bytes; decoders take the 18 bytes plus where they sit
(block number, absolute offset) so their errors can point at the bad byte.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from kvmswitchd.errors import InputError
from video.errors import EdidError
from video.mode import DetailedTiming

DESCRIPTOR_SIZE = 18
# Text descriptors hold at most 13 characters (bytes 5..17).
MAX_TEXT = 13
_TEXT_START = 5


class DescriptorTag(enum.IntEnum):
    """Byte 3 of a display descriptor (one whose pixel-clock bytes are zero)."""

    SERIAL = 0xFF
    TEXT = 0xFE
    RANGE_LIMITS = 0xFD
    NAME = 0xFC
    COLOR_POINT = 0xFB
    STANDARD_TIMINGS = 0xFA
    COLOR_MANAGEMENT = 0xF9
    CVT_CODES = 0xF8
    ESTABLISHED_III = 0xF7
    DUMMY = 0x10


class RangeFormula(enum.IntEnum):
    """Byte 10 of the range-limits descriptor: how to make timings inside the limits."""

    DEFAULT_GTF = 0x00
    BARE_LIMITS = 0x01  # EDID 1.4 only: the limits, no formula
    SECONDARY_GTF = 0x02
    CVT = 0x04


@dataclass(frozen=True, slots=True)
class RangeLimits:
    """Display range limits (tag 0xFD). Rates in Hz and kHz; clock in MHz."""

    min_v_hz: int
    max_v_hz: int
    min_h_khz: int
    max_h_khz: int
    max_pixel_clock_mhz: float
    formula: RangeFormula | None = RangeFormula.BARE_LIMITS  # None: an unknown code
    cvt_max_h_active: int | None = None  # CVT block: widest line, None = no limit


# Field limits of the detailed timing descriptor (bit widths of each field).
_DTD_LIMITS = {
    "h_active": 0xFFF,
    "h_blank": 0xFFF,
    "v_active": 0xFFF,
    "v_blank": 0xFFF,
    "h_front": 0x3FF,
    "h_sync": 0x3FF,
    "v_front": 0x3F,
    "v_sync": 0x3F,
    "width_mm": 0xFFF,
    "height_mm": 0xFFF,
}
_MAX_DTD_CLOCK_10KHZ = 0xFFFF  # 655.35 MHz


def encode_dtd(timing: DetailedTiming) -> bytes:
    """Encode a detailed timing. The clock is rounded to the nearest 10 kHz."""
    clock = round(timing.pixel_clock_khz / 10)
    if not 0 < clock <= _MAX_DTD_CLOCK_10KHZ:
        raise InputError(
            f"pixel clock {timing.pixel_clock_khz} kHz does not fit a detailed timing "
            f"(10 kHz .. 655350 kHz)"
        )
    values = {
        "h_active": timing.h_active,
        "h_blank": timing.h_blank,
        "v_active": timing.v_active,
        "v_blank": timing.v_blank,
        "h_front": timing.h_front,
        "h_sync": timing.h_sync,
        "v_front": timing.v_front,
        "v_sync": timing.v_sync,
        "width_mm": timing.width_mm,
        "height_mm": timing.height_mm,
    }
    for name, value in values.items():
        if not 0 <= value <= _DTD_LIMITS[name]:
            raise InputError(f"detailed timing {name}={value} is out of 0..{_DTD_LIMITS[name]}")
    if timing.h_active == 0 or timing.v_active == 0 or timing.h_back < 0 or timing.v_back < 0:
        raise InputError("detailed timing needs non-zero active size and no negative porch")
    ha, hb, va, vb = timing.h_active, timing.h_blank, timing.v_active, timing.v_blank
    hf, hs, vf, vs = timing.h_front, timing.h_sync, timing.v_front, timing.v_sync
    wmm, hmm = timing.width_mm, timing.height_mm
    flags = 0x18 | (timing.v_sync_positive << 2) | (timing.h_sync_positive << 1)
    if timing.interlaced:
        flags |= 0x80
    return bytes(
        (
            clock & 0xFF,
            clock >> 8,
            ha & 0xFF,
            hb & 0xFF,
            (ha >> 8) << 4 | hb >> 8,
            va & 0xFF,
            vb & 0xFF,
            (va >> 8) << 4 | vb >> 8,
            hf & 0xFF,
            hs & 0xFF,
            (vf & 0xF) << 4 | (vs & 0xF),
            (hf >> 8) << 6 | (hs >> 8) << 4 | (vf >> 4) << 2 | vs >> 4,
            wmm & 0xFF,
            hmm & 0xFF,
            (wmm >> 8) << 4 | hmm >> 8,
            0,
            0,
            flags,
        )
    )


def decode_dtd(data: bytes, *, block: int, offset: int) -> DetailedTiming:
    """Decode a detailed timing (``data`` is the 18 bytes found at ``offset``).

    Sync polarities are read for digital separate sync (the norm); for digital composite
    only the H polarity exists, and analog sync has none (both read as negative).
    """
    d = data
    ha = d[2] | (d[4] >> 4) << 8
    hb = d[3] | (d[4] & 0xF) << 8
    va = d[5] | (d[7] >> 4) << 8
    vb = d[6] | (d[7] & 0xF) << 8
    hf = d[8] | (d[11] >> 6) << 8
    hs = d[9] | (d[11] >> 4 & 3) << 8
    vf = d[10] >> 4 | (d[11] >> 2 & 3) << 4
    vs = d[10] & 0xF | (d[11] & 3) << 4
    if ha == 0 or va == 0:
        raise EdidError(
            "detailed timing has no active pixels or lines", block=block, offset=offset + 2
        )
    if hf + hs > hb:
        raise EdidError(
            f"detailed timing H front porch + sync ({hf} + {hs}) exceed the blanking ({hb})",
            block=block,
            offset=offset + 8,
        )
    if vf + vs > vb:
        raise EdidError(
            f"detailed timing V front porch + sync ({vf} + {vs}) exceed the blanking ({vb})",
            block=block,
            offset=offset + 10,
        )
    flags = d[17]
    sync = flags >> 3 & 3
    return DetailedTiming(
        pixel_clock_khz=(d[0] | d[1] << 8) * 10,
        h_active=ha,
        h_front=hf,
        h_sync=hs,
        h_back=hb - hf - hs,
        v_active=va,
        v_front=vf,
        v_sync=vs,
        v_back=vb - vf - vs,
        h_sync_positive=sync >= 2 and bool(flags & 0x02),
        v_sync_positive=sync == 3 and bool(flags & 0x04),
        interlaced=bool(flags & 0x80),
        width_mm=d[12] | (d[14] >> 4) << 8,
        height_mm=d[13] | (d[14] & 0xF) << 8,
    )


def _display(tag: int, payload: bytes, byte4: int = 0) -> bytes:
    return bytes((0, 0, 0, tag, byte4)) + payload


def encode_text(tag: DescriptorTag, text: str) -> bytes:
    """A text descriptor: up to 13 printable ASCII characters, ``0A`` then ``20`` padding."""
    if len(text) > MAX_TEXT:
        raise InputError(f"EDID text {text!r} is {len(text)} characters, at most {MAX_TEXT}")
    if not all(0x20 <= ord(ch) < 0x7F for ch in text):
        raise InputError(f"EDID text {text!r} must be printable ASCII")
    raw = text.encode("ascii")
    if len(raw) < MAX_TEXT:
        raw += b"\n" + b" " * (MAX_TEXT - len(raw) - 1)
    return _display(tag, raw)


def decode_text(data: bytes) -> str:
    """The text of a text descriptor; bytes outside printable ASCII read as ``?``."""
    raw = data[_TEXT_START:DESCRIPTOR_SIZE].split(b"\n", 1)[0]
    return "".join(chr(b) if 0x20 <= b < 0x7F else "?" for b in raw).rstrip(" ")


def encode_dummy() -> bytes:
    """A dummy descriptor (tag 0x10): fills a slot with nothing."""
    return _display(DescriptorTag.DUMMY, bytes(13))


_NO_FORMULA_PAD = b"\n" + b" " * 6


def encode_range_limits(limits: RangeLimits) -> bytes:
    """Encode range limits without rate offsets (every rate must fit 1..255)."""
    rates = (limits.min_v_hz, limits.max_v_hz, limits.min_h_khz, limits.max_h_khz)
    if not all(1 <= rate <= 255 for rate in rates):
        raise InputError(f"range limits {rates} must each fit 1..255")
    clock = math.ceil(limits.max_pixel_clock_mhz / 10)
    if not 1 <= clock <= 255:
        raise InputError(f"max pixel clock {limits.max_pixel_clock_mhz} MHz is out of range")
    formula = RangeFormula.BARE_LIMITS if limits.formula is None else limits.formula
    if formula not in (RangeFormula.BARE_LIMITS, RangeFormula.DEFAULT_GTF):
        raise InputError("only bare limits or default GTF range descriptors can be built")
    return _display(DescriptorTag.RANGE_LIMITS, bytes((*rates, clock, formula)) + _NO_FORMULA_PAD)


def decode_range_limits(data: bytes, *, minor: int, block: int, offset: int) -> RangeLimits:
    """Decode range limits, applying the EDID 1.4 +255 rate offsets (byte 4)."""
    flags = data[4] if minor >= 4 else 0
    min_v, max_v, min_h, max_h = data[5], data[6], data[7], data[8]
    if flags & 0x02:
        max_v += 255
        if flags & 0x01:
            min_v += 255
    if flags & 0x08:
        max_h += 255
        if flags & 0x04:
            min_h += 255
    if min_v > max_v:
        raise EdidError(
            f"range limits: min vertical rate {min_v} Hz > max {max_v} Hz",
            block=block,
            offset=offset + 5,
        )
    if min_h > max_h:
        raise EdidError(
            f"range limits: min horizontal rate {min_h} kHz > max {max_h} kHz",
            block=block,
            offset=offset + 7,
        )
    clock = data[9] * 10.0
    code = data[10]
    formula = RangeFormula(code) if code in RangeFormula._value2member_map_ else None
    cvt_max_h_active = None
    if formula is RangeFormula.CVT:
        clock -= (data[12] >> 2) * 0.25
        width = ((data[12] & 3) << 8 | data[13]) * 8
        cvt_max_h_active = width or None
    return RangeLimits(min_v, max_v, min_h, max_h, clock, formula, cvt_max_h_active)
