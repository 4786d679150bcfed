"""Timing tables: CTA-861 VICs, VESA DMT, established timings, standard timing codes.

Values are the published standards (CTA-861-H table 1-4, VESA DMT 1.13); the tests check
every row against ``edid-decode --vic N`` / ``--dmt N`` / ``--list-established-timings``.
"""

from __future__ import annotations

from video.mode import REFRESH_TOLERANCE_HZ, DetailedTiming, Mode, cvt_reduced_blanking

# Relative pixel-clock difference under which two timings are the same clock
# (59.94 vs 60 Hz variants of one VIC differ by 0.1 %).
_CLOCK_TOLERANCE = 0.005


def _t(
    clock_khz: int,
    h: tuple[int, int, int, int],
    v: tuple[int, int, int, int],
    pol: str = "++",
    *,
    interlaced: bool = False,
) -> DetailedTiming:
    """Compact row: (active, front, sync, back) for H and V (per field), polarity "+-"."""
    return DetailedTiming(clock_khz, *h, *v, pol[0] == "+", pol[1] == "+", interlaced=interlaced)


# CTA-861 Video Identification Codes this library knows (the common ones).
VICS: dict[int, DetailedTiming] = {
    1: _t(25175, (640, 16, 96, 48), (480, 10, 2, 33), "--"),
    2: _t(27000, (720, 16, 62, 60), (480, 9, 6, 30), "--"),
    3: _t(27000, (720, 16, 62, 60), (480, 9, 6, 30), "--"),
    4: _t(74250, (1280, 110, 40, 220), (720, 5, 5, 20)),
    5: _t(74250, (1920, 88, 44, 148), (540, 2, 5, 15), interlaced=True),
    6: _t(27000, (1440, 38, 124, 114), (240, 4, 3, 15), "--", interlaced=True),
    7: _t(27000, (1440, 38, 124, 114), (240, 4, 3, 15), "--", interlaced=True),
    16: _t(148500, (1920, 88, 44, 148), (1080, 4, 5, 36)),
    17: _t(27000, (720, 12, 64, 68), (576, 5, 5, 39), "--"),
    18: _t(27000, (720, 12, 64, 68), (576, 5, 5, 39), "--"),
    19: _t(74250, (1280, 440, 40, 220), (720, 5, 5, 20)),
    20: _t(74250, (1920, 528, 44, 148), (540, 2, 5, 15), interlaced=True),
    21: _t(27000, (1440, 24, 126, 138), (288, 2, 3, 19), "--", interlaced=True),
    22: _t(27000, (1440, 24, 126, 138), (288, 2, 3, 19), "--", interlaced=True),
    31: _t(148500, (1920, 528, 44, 148), (1080, 4, 5, 36)),
    32: _t(74250, (1920, 638, 44, 148), (1080, 4, 5, 36)),
    33: _t(74250, (1920, 528, 44, 148), (1080, 4, 5, 36)),
    34: _t(74250, (1920, 88, 44, 148), (1080, 4, 5, 36)),
    60: _t(59400, (1280, 1760, 40, 220), (720, 5, 5, 20)),
    61: _t(74250, (1280, 2420, 40, 220), (720, 5, 5, 20)),
    62: _t(74250, (1280, 1760, 40, 220), (720, 5, 5, 20)),
    63: _t(297000, (1920, 88, 44, 148), (1080, 4, 5, 36)),
    64: _t(297000, (1920, 528, 44, 148), (1080, 4, 5, 36)),
    93: _t(297000, (3840, 1276, 88, 296), (2160, 8, 10, 72)),
    94: _t(297000, (3840, 1056, 88, 296), (2160, 8, 10, 72)),
    95: _t(297000, (3840, 176, 88, 296), (2160, 8, 10, 72)),
    96: _t(594000, (3840, 1056, 88, 296), (2160, 8, 10, 72)),
    97: _t(594000, (3840, 176, 88, 296), (2160, 8, 10, 72)),
}

# VESA DMT timings this library knows, by DMT id. Borders folded into the porches.
DMTS: dict[int, DetailedTiming] = {
    0x04: _t(25175, (640, 16, 96, 48), (480, 10, 2, 33), "--"),
    0x05: _t(31500, (640, 24, 40, 128), (480, 9, 3, 28), "--"),
    0x06: _t(31500, (640, 16, 64, 120), (480, 1, 3, 16), "--"),
    0x08: _t(36000, (800, 24, 72, 128), (600, 1, 2, 22)),
    0x09: _t(40000, (800, 40, 128, 88), (600, 1, 4, 23)),
    0x0A: _t(50000, (800, 56, 120, 64), (600, 37, 6, 23)),
    0x0B: _t(49500, (800, 16, 80, 160), (600, 1, 3, 21)),
    0x0F: _t(44900, (1024, 8, 176, 56), (384, 0, 4, 20), interlaced=True),
    0x10: _t(65000, (1024, 24, 136, 160), (768, 3, 6, 29), "--"),
    0x11: _t(75000, (1024, 24, 136, 144), (768, 3, 6, 29), "--"),
    0x12: _t(78750, (1024, 16, 96, 176), (768, 1, 3, 28)),
    0x15: _t(108000, (1152, 64, 128, 256), (864, 1, 3, 32)),
    0x1C: _t(83500, (1280, 72, 128, 200), (800, 3, 6, 22), "-+"),
    0x23: _t(108000, (1280, 48, 112, 248), (1024, 1, 3, 38)),
    0x24: _t(135000, (1280, 16, 144, 248), (1024, 1, 3, 38)),
    0x2F: _t(106500, (1440, 80, 152, 232), (900, 3, 6, 25), "-+"),
    0x33: _t(162000, (1600, 64, 192, 304), (1200, 1, 3, 46)),
    0x3A: _t(146250, (1680, 104, 176, 280), (1050, 3, 6, 30), "-+"),
    0x44: _t(154000, (1920, 48, 32, 80), (1200, 3, 6, 26), "+-"),
    0x45: _t(193250, (1920, 136, 200, 336), (1200, 3, 6, 36), "-+"),
    0x51: _t(85500, (1366, 70, 143, 213), (768, 3, 3, 24)),
    0x52: _t(148500, (1920, 88, 44, 148), (1080, 4, 5, 36)),
    0x53: _t(108000, (1600, 24, 80, 96), (900, 1, 3, 96)),
    0x55: _t(74250, (1280, 110, 40, 220), (720, 5, 5, 20)),
}

# Established timings I & II (base block bytes 35-37): (byte offset, bit) -> timing.
# The three Apple/IBM ones are not DMTs but have published rasters all the same.
ESTABLISHED: dict[tuple[int, int], DetailedTiming] = {
    (35, 7): _t(28320, (720, 18, 108, 54), (400, 21, 2, 26), "-+"),
    (35, 6): _t(35500, (720, 18, 108, 54), (400, 12, 2, 35), "-+"),
    (35, 5): DMTS[0x04],
    (35, 4): _t(30240, (640, 64, 64, 96), (480, 3, 3, 39), "--"),
    (35, 3): DMTS[0x05],
    (35, 2): DMTS[0x06],
    (35, 1): DMTS[0x08],
    (35, 0): DMTS[0x09],
    (36, 7): DMTS[0x0A],
    (36, 6): DMTS[0x0B],
    (36, 5): _t(57284, (832, 32, 64, 224), (624, 1, 3, 39), "--"),
    (36, 4): DMTS[0x0F],
    (36, 3): DMTS[0x10],
    (36, 2): DMTS[0x11],
    (36, 1): DMTS[0x12],
    (36, 0): DMTS[0x24],
    (37, 7): _t(100000, (1152, 48, 128, 128), (870, 3, 3, 39)),
}

# Standard timing aspect codes (bits 7-6 of byte 2), EDID 1.3+: numerator, denominator.
_STD_ASPECTS = ((16, 10), (4, 3), (5, 4), (16, 9))
_STD_MIN_WIDTH, _STD_MAX_WIDTH = 256, 2288  # (byte1 + 31) * 8 with byte1 in 1..255
_STD_MIN_REFRESH, _STD_MAX_REFRESH = 60, 123


# Standard timing codes that VESA DMT assigns to its timings (DMT id by code). A code not
# here stands for a GTF (EDID 1.3) or CVT (1.4) timing of the nominal size and rate.
STANDARD_CODES: dict[tuple[int, int], int] = {
    (0x31, 0x40): 0x04,
    (0x31, 0x4C): 0x05,
    (0x31, 0x4F): 0x06,
    (0x45, 0x40): 0x09,
    (0x45, 0x4C): 0x0A,
    (0x45, 0x4F): 0x0B,
    (0x61, 0x40): 0x10,
    (0x61, 0x4C): 0x11,
    (0x61, 0x4F): 0x12,
    (0x71, 0x4F): 0x15,
    (0x81, 0x00): 0x1C,
    (0x81, 0x80): 0x23,
    (0x81, 0x8F): 0x24,
    (0x81, 0xC0): 0x55,
    (0x95, 0x00): 0x2F,
    (0xA9, 0x40): 0x33,
    (0xA9, 0xC0): 0x53,
    (0xB3, 0x00): 0x3A,
    (0xD1, 0x00): 0x45,
    (0xD1, 0xC0): 0x52,
}


def decode_standard(b1: int, b2: int, *, minor: int = 4) -> Mode | None:
    """Decode one 2-byte standard timing; ``None`` for an unused slot (``01 01``/``00 00``).

    EDID 1.0-1.2 used aspect code 00 for 1:1; 1.3 and later for 16:10.
    """
    if b1 in (0x00, 0x01) and b2 in (0x00, 0x01):
        return None
    dmt = STANDARD_CODES.get((b1, b2)) if minor >= 3 else None
    if dmt is not None:
        return DMTS[dmt].mode
    width = (b1 + 31) * 8
    code = b2 >> 6
    num, den = (1, 1) if code == 0 and minor < 3 else _STD_ASPECTS[code]
    return Mode(width, width * den // num, float((b2 & 0x3F) + 60))


def encode_standard(mode: Mode) -> bytes:
    """Encode a mode as a 2-byte standard timing; ``ValueError`` if it has no such form.

    A DMT timing gets the code DMT assigns it (640x480@72.8 is "72 Hz"); other modes get
    their size and rounded rate.
    """
    for std_code, dmt in STANDARD_CODES.items():
        timing = DMTS[dmt]
        if timing.mode.same_as(mode) and mode.pixel_clock_khz in (None, timing.pixel_clock_khz):
            return bytes(std_code)
    if mode.interlaced or not _STD_MIN_WIDTH <= mode.width <= _STD_MAX_WIDTH:
        raise ValueError(f"{mode} has no standard timing code")
    if mode.width % 8:
        raise ValueError(f"{mode} has no standard timing code (width not a multiple of 8)")
    refresh = round(mode.refresh_hz)
    if not _STD_MIN_REFRESH <= refresh <= _STD_MAX_REFRESH:
        raise ValueError(f"{mode} has no standard timing code (refresh out of 60..123)")
    for code, (num, den) in enumerate(_STD_ASPECTS):
        if mode.width * den == mode.height * num:
            return bytes((mode.width // 8 - 31, (code << 6) | (refresh - 60)))
    raise ValueError(f"{mode} has no standard timing code (aspect not 16:10/4:3/5:4/16:9)")


def _known() -> tuple[DetailedTiming, ...]:
    seen: list[DetailedTiming] = []
    for timing in (*DMTS.values(), *VICS.values(), *ESTABLISHED.values()):
        if timing not in seen:
            seen.append(timing)
    return tuple(seen)


KNOWN_TIMINGS: tuple[DetailedTiming, ...] = _known()


def find_timing(mode: Mode) -> DetailedTiming | None:
    """The published timing of ``mode`` (DMT, CTA or established), if there is one.

    Matches size, scan and refresh (within tolerance); when the mode carries a pixel clock
    the timing's clock must agree too (so 1600x900@60 RB and a CVT 1600x900 differ).
    """
    for timing in KNOWN_TIMINGS:
        if not timing.mode.same_as(mode):
            continue
        clock = mode.pixel_clock_khz
        if clock is None or abs(timing.pixel_clock_khz - clock) <= clock * _CLOCK_TOLERANCE:
            return timing
    return None


def timing_for(mode: Mode) -> DetailedTiming:
    """The published timing of ``mode``, else its CVT reduced-blanking timing.

    Interlaced modes with no published timing have no CVT-RB form; ``ValueError``.
    """
    known = find_timing(mode)
    if known is not None:
        return known
    if mode.interlaced:
        raise ValueError(f"no known timing for interlaced mode {mode}")
    return cvt_reduced_blanking(mode.width, mode.height, mode.refresh_hz)


__all__ = [
    "DMTS",
    "ESTABLISHED",
    "KNOWN_TIMINGS",
    "REFRESH_TOLERANCE_HZ",
    "STANDARD_CODES",
    "VICS",
    "decode_standard",
    "encode_standard",
    "find_timing",
    "timing_for",
]
