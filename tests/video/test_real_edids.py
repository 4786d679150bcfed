"""Real monitors' EDIDs (tests/video/data) parse to what edid-decode reports for them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.video.conftest import REAL_EDIDS, edid_decode_file, real_edid
from video import (
    EdidError,
    build_edid,
    monitor_can_show,
    parse_edid,
    preferred_mode,
    suggest_modes,
    validate_edid,
)


@dataclass(frozen=True)
class Facts:
    manufacturer: str
    product: int
    name: str
    serial_text: str | None
    made: tuple[int, int]  # week, year
    version: tuple[int, int]
    preferred: str  # DTD 1 as Mode.__str__
    clock_khz: int
    ranges: tuple[int, int, int, int, float]  # V min/max Hz, H min/max kHz, clock MHz
    vics: tuple[int, ...]
    audio_channels: tuple[int, ...]


# As edid-decode -c reports them (see data/README.md).
FACTS = {
    "dell-u2212hm": Facts("DEL", 53318, "DELL U2212HM", "D4FKG35V2FEL", (22, 2013), (1, 3),
                          "1920x1080@60", 148500, (56, 76, 30, 83, 170.0), (16, 4, 3), (2,)),
    "lg-ultra-hd": Facts("GSM", 23305, "LG Ultra HD", None, (3, 2018), (1, 4),
                         "3840x2160@60", 533250, (56, 61, 30, 135, 560.0), (16, 4, 3, 1), (2,)),
    "dell-d1918h": Facts("DEL", 8197, "D1918H", "2C8FJ8255K5E", (6, 2018), (1, 3),
                         "1366x768@59.79", 85500, (56, 75, 30, 83, 90.0),
                         (16, 4, 19, 3, 2, 18, 17, 7, 6, 22, 21, 1), (2,)),
    "benq-fp937s": Facts("BNQ", 30341, "BenQ FP937s", None, (24, 2004), (1, 3),
                         "1280x1024@60", 108000, (56, 76, 31, 83, 140.0), (), ()),
}  # fmt: skip


@pytest.mark.parametrize("name", REAL_EDIDS)
def test_real_monitor_edid_parses_to_the_published_facts(name: str) -> None:
    info = parse_edid(real_edid(name))
    facts = FACTS[name]
    assert info.manufacturer == facts.manufacturer
    assert info.product == facts.product
    assert info.name == facts.name
    assert info.serial_text == facts.serial_text
    assert (info.week, info.year) == facts.made
    assert info.version == facts.version
    assert str(preferred_mode(info)) == facts.preferred
    assert info.detailed[0].pixel_clock_khz == facts.clock_khz
    limits = info.range_limits
    assert limits is not None
    ranges = (limits.min_v_hz, limits.max_v_hz, limits.min_h_khz, limits.max_h_khz)
    assert (*ranges, limits.max_pixel_clock_mhz) == facts.ranges
    assert (info.cta.vics if info.cta else ()) == facts.vics
    channels = tuple(s.channels for s in info.cta.audio) if info.cta else ()
    assert channels == facts.audio_channels


@pytest.mark.external
@pytest.mark.parametrize("name", REAL_EDIDS)
def test_real_monitor_facts_agree_with_live_edid_decode(tmp_path: Path, name: str) -> None:
    info = parse_edid(real_edid(name))
    out = edid_decode_file(tmp_path, real_edid(name)).stdout
    assert f"Manufacturer: {info.manufacturer}" in out
    assert f"Model: {info.product}" in out
    assert f"Display Product Name: '{info.name}'" in out
    dtd = re.search(r"DTD 1:\s+(\d+)x(\d+)\s+([\d.]+) Hz.*?([\d.]+) MHz", out)
    assert dtd is not None
    first = info.detailed[0]
    assert (first.h_active, first.v_active) == (int(dtd[1]), int(dtd[2]))
    assert abs(first.refresh_hz - float(dtd[3])) < 1e-3
    assert first.pixel_clock_khz == round(float(dtd[4]) * 1000)
    limits = info.range_limits
    assert limits is not None
    assert (
        f"{limits.min_v_hz}-{limits.max_v_hz} Hz V, {limits.min_h_khz}-{limits.max_h_khz} kHz H, "
        f"max dotclock {limits.max_pixel_clock_mhz:g} MHz"
    ) in out


def test_real_monitor_cta_blocks_decode_audio_and_hdmi_address() -> None:
    u2212 = parse_edid(real_edid("dell-u2212hm")).cta
    assert u2212 is not None
    assert u2212.hdmi_physical_address == "2.0.0.0"
    assert u2212.audio[0].sample_rates_khz == (32.0, 44.1, 48.0)
    assert u2212.audio[0].sample_sizes_bits == (16, 20, 24)
    d1918 = parse_edid(real_edid("dell-d1918h"))
    assert len(d1918.detailed) == 6  # 1 in the base block, 5 in the CTA block
    assert d1918.cta is not None
    assert d1918.cta.underscan


def test_a_published_dump_with_its_blocks_doubled_is_rejected_on_the_extension_count() -> None:
    doubled = real_edid("dell-u2212hm") * 2  # as linuxhw's collector recorded it
    with pytest.raises(EdidError) as caught:
        validate_edid(doubled)
    assert (caught.value.block, caught.value.offset) == (0, 126)
    assert "extension count 1" in str(caught.value)
    assert caught.value.expected == "256 bytes"
    assert caught.value.got == "512 bytes"


def test_a_4k60_target_on_a_real_1080p_monitor_is_flagged_with_suggestions() -> None:
    monitor = real_edid("dell-u2212hm")
    target = preferred_mode(build_edid("4k60"))
    assert not monitor_can_show(monitor, target)
    suggestions = suggest_modes(monitor, build_edid("4k60"))
    assert str(suggestions[0]) == "1920x1080@60"
    assert all(monitor_can_show(monitor, mode) for mode in suggestions)


def test_a_1080p60_target_on_a_real_4k_monitor_is_fine() -> None:
    assert monitor_can_show(real_edid("lg-ultra-hd"), preferred_mode(build_edid("1080p60")))
    assert monitor_can_show(real_edid("lg-ultra-hd"), preferred_mode(build_edid("4k60")))
