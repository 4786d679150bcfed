"""Timing tables, CVT and standard timing codes, checked against edid-decode's own tables."""

from __future__ import annotations

import re

import pytest

from kvmswitchd.errors import InputError
from tests.video.conftest import edid_decode
from video import DetailedTiming, Mode, parse_mode
from video.mode import cvt_reduced_blanking
from video.presets import PRESETS
from video.timings import (
    DMTS,
    ESTABLISHED,
    STANDARD_CODES,
    VICS,
    decode_standard,
    encode_standard,
    find_timing,
)

_HEAD = re.compile(r"(\d+)x(\d+)(i?)\s+([\d.]+) Hz.*?([\d.]+) MHz")
_H = re.compile(r"Hfront\s+(\d+) Hsync\s+(\d+) Hback\s+(\d+) Hpol (\w)(?: Hborder (\d+))?")
_V = re.compile(r"Vfront\s+(\d+) Vsync\s+(\d+) Vback\s+(\d+) Vpol (\w)(?: Vborder (\d+))?")


def _oracle_timing(text: str) -> DetailedTiming:
    """The timing edid-decode -L prints, borders folded into the porches."""
    head, h, v = _HEAD.search(text), _H.search(text), _V.search(text)
    assert head and h and v, text
    interlaced = head[3] == "i"
    hb, vb = int(h[5] or 0), int(v[5] or 0)
    return DetailedTiming(
        pixel_clock_khz=round(float(head[5]) * 1000),
        h_active=int(head[1]),
        h_front=int(h[1]) + hb,
        h_sync=int(h[2]),
        h_back=int(h[3]) + hb,
        v_active=int(head[2]) // (2 if interlaced else 1),
        v_front=int(v[1]) + vb,
        v_sync=int(v[2]),
        v_back=int(v[3]) + vb,
        h_sync_positive=h[4] == "P",
        v_sync_positive=v[4] == "P",
        interlaced=interlaced,
    )


@pytest.mark.external
@pytest.mark.parametrize("vic", sorted(VICS))
def test_vic_table_matches_edid_decode(vic: int) -> None:
    out = edid_decode("-L", "--vic", str(vic)).stdout
    assert VICS[vic] == _oracle_timing(out)
    assert abs(VICS[vic].refresh_hz - float(_HEAD.search(out)[4])) < 1e-3  # type: ignore[index]  # asserted in _oracle_timing


@pytest.mark.external
@pytest.mark.parametrize("dmt", sorted(DMTS))
def test_dmt_table_matches_edid_decode(dmt: int) -> None:
    out = edid_decode("-L", "--dmt", f"0x{dmt:02x}").stdout
    assert DMTS[dmt] == _oracle_timing(out)


@pytest.mark.external
def test_established_timings_match_edid_decode() -> None:
    out = edid_decode("-L", "--list-established-timings").stdout
    entries = re.split(r"\n(?=Byte 0x)", out.split("Established timings III")[0])
    seen = 0
    for entry in entries:
        where = re.match(r"Byte 0x(\w\w), Bit (\d)", entry)
        if where is None:
            continue
        key = (int(where[1], 16), int(where[2]))
        assert ESTABLISHED[key] == _oracle_timing(entry), key
        seen += 1
    assert seen == len(ESTABLISHED) == 17


@pytest.mark.external
@pytest.mark.parametrize(
    ("width", "height", "refresh"),
    [(2560, 1440, 60), (1920, 1080, 60), (1280, 1024, 60), (3840, 2160, 30), (1920, 1200, 60),
     (1280, 800, 75), (1600, 900, 60), (2560, 1080, 60), (3440, 1440, 60), (3840, 2160, 60)],
)  # fmt: skip
def test_cvt_reduced_blanking_matches_edid_decode(width: int, height: int, refresh: int) -> None:
    out = edid_decode("-L", "--cvt", f"w={width},h={height},fps={refresh},rb=1").stdout
    assert cvt_reduced_blanking(width, height, refresh) == _oracle_timing(out)


@pytest.mark.external
@pytest.mark.parametrize(("code", "dmt"), sorted(STANDARD_CODES.items()))
def test_standard_timing_codes_decode_like_edid_decode(code: tuple[int, int], dmt: int) -> None:
    mode = DMTS[dmt].mode
    assert encode_standard(mode) == bytes(code)
    assert decode_standard(*code) == mode
    out = edid_decode("--std", f"0x{code[0]:02x},0x{code[1]:02x}").stdout
    head = _HEAD.search(out)
    assert head is not None, out
    assert f"DMT 0x{dmt:02x}" in out
    assert (mode.width, mode.height) == (int(head[1]), int(head[2]))
    assert abs(mode.refresh_hz - float(head[4])) < 1e-3


def test_standard_codes_outside_dmt_decode_to_the_nominal_mode() -> None:
    assert decode_standard(0x71, 0x40) == Mode(1152, 864, 60.0)  # a GTF/CVT timing
    assert encode_standard(Mode(1152, 864, 60.0)) == bytes((0x71, 0x40))


def test_unused_standard_timing_slots_decode_to_nothing() -> None:
    assert decode_standard(0x01, 0x01) is None
    assert decode_standard(0x00, 0x00) is None


def test_standard_timing_aspect_code_00_is_1_to_1_before_edid_1_3() -> None:
    mode = decode_standard(0x81, 0x00, minor=2)
    assert mode is not None
    assert (mode.width, mode.height) == (1280, 1280)
    mode = decode_standard(0x81, 0x00, minor=3)
    assert mode is not None
    assert (mode.width, mode.height) == (1280, 800)


@pytest.mark.parametrize(
    "mode",
    [Mode(1366, 768, 60), Mode(1920, 1080, 30), Mode(1920, 1080, 60, interlaced=True),
     Mode(2560, 1440, 60), Mode(1920, 1080, 124)],
)  # fmt: skip
def test_modes_without_a_standard_timing_code_are_refused(mode: Mode) -> None:
    with pytest.raises(ValueError, match="standard timing"):
        encode_standard(mode)


def test_find_timing_tells_a_reduced_blanking_clock_from_a_cta_one() -> None:
    assert find_timing(Mode(1920, 1080, 60)) == VICS[16]
    assert find_timing(Mode(1920, 1080, 60, pixel_clock_khz=138500)) is None
    assert find_timing(Mode(1920, 1080, 59.94)) == VICS[16]


def test_preset_pixel_clocks_are_the_published_ones() -> None:
    clocks = {name: preset.timing.pixel_clock_khz for name, preset in PRESETS.items()}
    assert clocks == {
        "1024x768": 65000,
        "1080p60": 148500,
        "1440p60": 241500,
        "4k30": 297000,
        "4k60": 594000,  # fits the 655.35 MHz a detailed timing can carry
    }


def test_mode_prints_like_1920x1080_at_60() -> None:
    assert str(Mode(1920, 1080, 60.0)) == "1920x1080@60"
    assert str(Mode(1024, 768, 60.004)) == "1024x768@60"
    assert str(Mode(640, 480, 59.940476)) == "640x480@59.94"
    assert str(Mode(1920, 1080, 60.0, interlaced=True)) == "1920x1080i@60"
    assert str(PRESETS["1440p60"].mode) == "2560x1440@59.95"


def test_parse_mode_reads_what_str_writes() -> None:
    assert parse_mode("1920x1080@60") == Mode(1920, 1080, 60.0)
    assert parse_mode("1920x1080i@50") == Mode(1920, 1080, 50.0, interlaced=True)
    assert parse_mode(" 640x480@59.94 ") == Mode(640, 480, 59.94)
    assert parse_mode("1280x720") == Mode(1280, 720, 60.0)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "1920",
        "1920x",
        "x1080",
        "1920x1080@",
        "0x0@60",
        "9999x9999@60",
        "1920x1080@0",
        "a" * 100,
    ],
)
def test_parse_mode_rejects_garbage_with_input_error(text: str) -> None:
    with pytest.raises(InputError):
        parse_mode(text)


def test_modes_within_half_a_hertz_are_the_same_mode() -> None:
    assert Mode(640, 480, 59.94).same_as(Mode(640, 480, 60))
    assert not Mode(640, 480, 59.4).same_as(Mode(640, 480, 60))
    assert not Mode(1920, 1080, 60, interlaced=True).same_as(Mode(1920, 1080, 60))
