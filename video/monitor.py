"""Mode checks: can the console monitor show what a target drives? (SPEC §6)

The rule, in order:

1. A monitor shows every mode its EDID lists: detailed timings (base and CTA blocks),
   standard timings, established timings and CTA VICs this library knows. Modes match by
   size, scan and refresh within 0.5 Hz (59.94 and 60 are one mode).
2. A monitor that advertises continuous frequency (feature bit 0; "GTF supported" in
   EDID 1.3) and carries range limits also shows any progressive mode that
   - is no larger than its preferred (native) mode in either dimension,
   - has a refresh rate within the vertical limits (0.5 Hz tolerance), and
   - whose timing — the published DMT/CTA timing, else CVT reduced blanking, with the
     mode's own pixel clock when it has one — is within the horizontal-rate, pixel-clock
     and (CVT) line-width limits.
3. Anything else is a "black screen risk".
"""

from __future__ import annotations

from kvmswitchd.errors import InputError
from video.edid import EdidInfo, parse_edid
from video.errors import EdidError
from video.mode import REFRESH_TOLERANCE_HZ, Mode
from video.presets import PRESETS
from video.timings import KNOWN_TIMINGS, VICS, timing_for


def _info(edid: bytes | EdidInfo) -> EdidInfo:
    return edid if isinstance(edid, EdidInfo) else parse_edid(edid)


def _unique(modes: list[Mode]) -> tuple[Mode, ...]:
    out: list[Mode] = []
    for mode in modes:
        if not any(mode.same_as(seen) for seen in out):
            out.append(mode)
    return tuple(out)


def listed_modes(edid: bytes | EdidInfo) -> tuple[Mode, ...]:
    """The modes the EDID lists explicitly, preferred first, without duplicates."""
    info = _info(edid)
    modes = [t.mode for t in info.detailed]
    modes += info.standard
    modes += info.established
    if info.cta is not None:
        modes += [VICS[v].mode for v in info.cta.vics if v in VICS]
    return _unique(modes)


def _within_range(info: EdidInfo, mode: Mode) -> bool:
    limits, native = info.range_limits, info.preferred
    if not info.continuous_frequency or limits is None or native is None or mode.interlaced:
        return False
    if mode.width > native.width or mode.height > native.height:
        return False
    if not (
        limits.min_v_hz - REFRESH_TOLERANCE_HZ
        <= mode.refresh_hz
        <= limits.max_v_hz + REFRESH_TOLERANCE_HZ
    ):
        return False
    try:
        timing = timing_for(mode)
    except InputError:  # no CVT timing exists (refresh too high for any blanking)
        return False
    clock_khz = mode.pixel_clock_khz or timing.pixel_clock_khz
    h_freq_khz = clock_khz / timing.h_total
    if not limits.min_h_khz <= h_freq_khz <= limits.max_h_khz:
        return False
    if clock_khz > limits.max_pixel_clock_mhz * 1000:
        return False
    return limits.cvt_max_h_active is None or mode.width <= limits.cvt_max_h_active


def _range_candidates() -> tuple[Mode, ...]:
    modes = [t.mode for t in KNOWN_TIMINGS if not t.interlaced]
    modes += [p.mode for p in PRESETS.values()]
    return _unique(modes)


_RANGE_CANDIDATES = _range_candidates()


def supported_modes(edid: bytes | EdidInfo) -> tuple[Mode, ...]:
    """Listed modes, then (continuous-frequency monitors) known modes inside the limits."""
    info = _info(edid)
    listed = listed_modes(info)
    in_range = [m for m in _RANGE_CANDIDATES if _within_range(info, m)]
    return _unique([*listed, *in_range])


def preferred_mode(edid: bytes | EdidInfo) -> Mode:
    """The mode a source picks by default (DTD 1); :class:`EdidError` if none is listed."""
    mode = _info(edid).preferred
    if mode is None:
        raise EdidError("lists no video modes at all")
    return mode


def monitor_can_show(monitor_edid: bytes | EdidInfo, mode: Mode) -> bool:
    """Whether the monitor can display ``mode`` (rule in the module docstring)."""
    info = _info(monitor_edid)
    if any(mode.same_as(listed) for listed in listed_modes(info)):
        return True
    return _within_range(info, mode)


def suggest_modes(monitor_edid: bytes | EdidInfo, port_edid: bytes | EdidInfo) -> tuple[Mode, ...]:
    """Modes the target (shown ``port_edid``) could drive that the monitor can show.

    Largest first (pixels, then refresh); empty when the two have nothing in common.
    """
    monitor = _info(monitor_edid)
    usable = [m for m in supported_modes(port_edid) if monitor_can_show(monitor, m)]
    return tuple(sorted(usable, key=lambda m: (m.width * m.height, m.refresh_hz), reverse=True))
