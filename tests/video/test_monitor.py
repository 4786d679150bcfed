"""Mode checks: what a console monitor can show, and what a target could use instead."""

from __future__ import annotations

import pytest

from video import (
    PRESETS,
    EdidError,
    Mode,
    build_edid,
    listed_modes,
    monitor_can_show,
    parse_edid,
    preferred_mode,
    suggest_modes,
    supported_modes,
)
from video.descriptors import DescriptorTag, encode_dummy
from video.framing import block_checksum

MONITOR_1080P = build_edid("1080p60")
MONITOR_4K = build_edid("4k60")


def _patched(blob: bytes, changes: dict[int, int]) -> bytes:
    out = bytearray(blob)
    for index, value in changes.items():
        out[index] = value
    out[127] = block_checksum(out[:128])
    return bytes(out)


def _continuous_1080p_monitor() -> bytes:
    """A 1080p monitor that syncs to anything in 48-75 Hz, 30-83 kHz, 170 MHz."""
    blob = build_edid("1080p60")
    limits_at = 72
    assert blob[limits_at + 3] == DescriptorTag.RANGE_LIMITS
    return _patched(
        blob,
        {24: blob[24] | 0x01, limits_at + 5: 48, limits_at + 6: 75, limits_at + 7: 30,
         limits_at + 8: 83, limits_at + 9: 17},
    )  # fmt: skip


def test_a_4k60_target_on_a_1080p_only_monitor_is_flagged_with_suggested_modes() -> None:
    target = preferred_mode(MONITOR_4K)
    assert str(target) == "3840x2160@60"
    assert not monitor_can_show(MONITOR_1080P, target)
    suggestions = suggest_modes(MONITOR_1080P, MONITOR_4K)
    assert [str(m) for m in suggestions[:3]] == ["1920x1080@60", "1680x1050@59.95", "1600x900@60"]
    assert all(monitor_can_show(MONITOR_1080P, m) for m in suggestions)
    assert not any(m.width > 1920 for m in suggestions)


def test_a_1080p60_target_on_a_4k_monitor_is_fine() -> None:
    assert monitor_can_show(MONITOR_4K, preferred_mode(MONITOR_1080P))


@pytest.mark.parametrize("preset", list(PRESETS))
def test_every_preset_monitor_shows_its_own_preferred_mode(preset: str) -> None:
    blob = build_edid(preset)
    assert monitor_can_show(blob, preferred_mode(blob))
    assert suggest_modes(blob, blob)[0].same_as(preferred_mode(blob))


def test_a_59_94_hz_target_matches_a_60_hz_listing() -> None:
    assert monitor_can_show(MONITOR_1080P, Mode(1920, 1080, 59.94))
    assert monitor_can_show(MONITOR_1080P, Mode(640, 480, 60.0))
    assert not monitor_can_show(MONITOR_1080P, Mode(1920, 1080, 50.0))


def test_supported_modes_cover_dtds_standard_established_and_vics() -> None:
    blob = build_edid("4k60", audio="stereo")
    modes = [str(m) for m in supported_modes(blob)]
    assert modes[0] == "3840x2160@60"  # DTD 1 first
    assert "1920x1080@60" in modes  # standard timing (and VIC 16)
    assert "800x600@60.32" in modes  # established timing
    assert "3840x2160@30" in modes  # CTA VIC 95 only
    assert "3840x2160@30" not in [str(m) for m in supported_modes(build_edid("4k60"))]


def test_non_continuous_monitors_show_only_what_they_list() -> None:
    assert not parse_edid(MONITOR_1080P).continuous_frequency
    assert supported_modes(MONITOR_1080P) == listed_modes(MONITOR_1080P)
    assert not monitor_can_show(MONITOR_1080P, Mode(1280, 960, 60))


def test_continuous_frequency_monitors_show_unlisted_modes_inside_their_range_limits() -> None:
    monitor = _continuous_1080p_monitor()
    assert parse_edid(monitor).continuous_frequency
    assert monitor_can_show(monitor, Mode(1280, 960, 60))  # CVT-RB 1280x960, 80 MHz
    assert monitor_can_show(monitor, Mode(1280, 1024, 75))  # DMT, 135 MHz, 80 kHz
    assert monitor_can_show(monitor, Mode(1024, 768, 50))


@pytest.mark.parametrize(
    ("mode", "why"),
    [
        (Mode(1920, 1080, 85), "above the 75 Hz vertical limit"),
        (Mode(1280, 720, 40), "below the 48 Hz vertical limit"),
        (Mode(1920, 1200, 60), "taller than the native 1080 lines"),
        (Mode(2560, 1440, 30), "wider than the native 1920 pixels"),
        (Mode(1280, 960, 60, pixel_clock_khz=175000), "its own clock is above 170 MHz"),
        (Mode(1920, 1080, 60, interlaced=True), "interlaced and not listed"),
    ],
)
def test_continuous_frequency_monitors_refuse_modes_outside_their_limits(
    mode: Mode, why: str
) -> None:
    assert not monitor_can_show(_continuous_1080p_monitor(), mode), why


def test_continuous_frequency_adds_in_range_modes_to_the_supported_list() -> None:
    monitor = _continuous_1080p_monitor()
    extra = set(map(str, supported_modes(monitor))) - set(map(str, listed_modes(monitor)))
    assert "1280x1024@75.02" in extra
    assert "1024x768@75.03" in extra
    assert not any(int(m.split("x")[0]) > 1920 for m in extra)


def test_preferred_mode_of_an_edid_listing_nothing_is_an_edid_error() -> None:
    blob = bytearray(build_edid("1080p60"))
    blob[35:38] = bytes(3)  # no established timings
    blob[38:54] = bytes((1, 1)) * 8  # no standard timings
    blob[54:72] = encode_dummy()  # no detailed timing
    blob[127] = block_checksum(blob)
    info = parse_edid(bytes(blob))
    assert info.preferred is None
    with pytest.raises(EdidError, match="lists no video modes"):
        preferred_mode(bytes(blob))
    assert supported_modes(info) == ()
    assert suggest_modes(MONITOR_1080P, info) == ()
