"""Built-in EDID presets and the rule for which extra modes an EDID advertises.

Every built EDID advertises its preferred (native) mode plus the common smaller modes
whose pixel clock does not exceed the preferred one's — so a source that can't drive the
native mode still finds something, and nothing listed is harder to drive than the native.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from kvmswitchd.errors import InputError
from video.mode import DetailedTiming, Mode, parse_mode
from video.timings import DMTS, ESTABLISHED, VICS, find_timing, timing_for


@dataclass(frozen=True, slots=True)
class Preset:
    """A preferred timing (with the panel's image size in mm) and what else to list."""

    name: str
    timing: DetailedTiming
    established: tuple[tuple[int, int], ...]  # (byte, bit) keys of timings.ESTABLISHED
    standard: tuple[Mode, ...]
    vics: tuple[int, ...]  # the first is the preferred mode's own VIC when it has one

    @property
    def mode(self) -> Mode:
        return self.timing.mode


# Candidates for the extra modes, best first.
_ESTABLISHED_CANDIDATES = ((35, 5), (35, 0), (36, 3))  # 640x480, 800x600, 1024x768 @60
_STANDARD_CANDIDATES = tuple(
    DMTS[dmt].mode for dmt in (0x52, 0x3A, 0x53, 0x2F, 0x23, 0x1C, 0x55)
)  # 1920x1080, 1680x1050, 1600x900, 1440x900, 1280x1024, 1280x800, 1280x720 @60
_VIC_CANDIDATES = (97, 95, 16, 4, 1)
# Image size of a panel for a custom mode: a 24" (610 mm) diagonal.
_CUSTOM_DIAGONAL_MM = 610


def _fits(extra: DetailedTiming, preferred: DetailedTiming) -> bool:
    return (
        extra.h_active <= preferred.h_active
        and extra.v_active <= preferred.v_active
        and extra.pixel_clock_khz <= preferred.pixel_clock_khz
        and not extra.interlaced
    )


def make_preset(name: str, timing: DetailedTiming) -> Preset:
    """Apply the advertising rule to a preferred timing."""
    own_vic = next(
        (vic for vic, t in VICS.items() if t == replace(timing, width_mm=0, height_mm=0)), None
    )
    established = tuple(key for key in _ESTABLISHED_CANDIDATES if _fits(ESTABLISHED[key], timing))
    standard = tuple(
        mode
        for mode in _STANDARD_CANDIDATES
        if not mode.same_as(timing.mode) and _fits(timing_for(mode), timing)
    )
    vics = tuple(v for v in _VIC_CANDIDATES if v != own_vic and _fits(VICS[v], timing))
    return Preset(name, timing, established, standard, (own_vic, *vics) if own_vic else vics)


def _sized(timing: DetailedTiming, width_mm: int, height_mm: int) -> DetailedTiming:
    return replace(timing, width_mm=width_mm, height_mm=height_mm)


# 1440p60 is CVT reduced blanking (what 27" QHD monitors list): 241.5 MHz.
_QHD_RB = DetailedTiming(241500, 2560, 48, 32, 80, 1440, 3, 5, 33, True, False)

PRESETS: dict[str, Preset] = {
    preset.name: preset
    for preset in (
        make_preset("1024x768", _sized(DMTS[0x10], 304, 228)),  # DMT, 65 MHz, 15"
        make_preset("1080p60", _sized(VICS[16], 527, 296)),  # CEA VIC 16, 148.5 MHz, 24"
        make_preset("1440p60", _sized(_QHD_RB, 597, 336)),  # CVT-RB, 241.5 MHz, 27"
        make_preset("4k30", _sized(VICS[95], 597, 336)),  # CEA VIC 95, 297 MHz, 27"
        make_preset("4k60", _sized(VICS[97], 597, 336)),  # CEA VIC 97, 594 MHz, 27"
    )
}
DEFAULT_PRESET = "1080p60"


def _custom(mode: Mode) -> Preset:
    if mode.interlaced:
        raise InputError(f"an interlaced preferred mode ({mode}) is not supported")
    for preset in PRESETS.values():
        if preset.mode.same_as(mode) and mode.pixel_clock_khz in (
            None,
            preset.timing.pixel_clock_khz,
        ):
            return preset
    timing = find_timing(mode) or timing_for(mode)
    diagonal = math.hypot(timing.h_active, timing.v_active)
    width_mm = round(_CUSTOM_DIAGONAL_MM * timing.h_active / diagonal)
    height_mm = round(_CUSTOM_DIAGONAL_MM * timing.v_active / diagonal)
    return make_preset(str(mode), _sized(timing, width_mm, height_mm))


def resolve_preset(spec: str | Mode | DetailedTiming) -> Preset:
    """A preset name (``"4k60"``), a mode (text ``"1920x1200@60"`` or :class:`Mode`) or
    an exact :class:`DetailedTiming`. Unknown modes get their CVT reduced-blanking timing.
    """
    if isinstance(spec, DetailedTiming):
        return make_preset(str(spec.mode), spec)
    if isinstance(spec, Mode):
        return _custom(spec)
    key = spec.strip().lower()
    if key in PRESETS:
        return PRESETS[key]
    if not key[:1].isdigit() or "x" not in key:
        names = ", ".join(PRESETS)
        raise InputError(f"unknown EDID preset {spec!r}: expected one of {names} or WxH@HZ")
    return _custom(parse_mode(key))
