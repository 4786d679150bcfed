"""The parser reads back exactly what the builder wrote, and the golden vectors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from video import PRESETS, Audio, DigitalInterface, build_edid, parse_edid
from video.build import advertised_timings, range_limits_for
from video.descriptors import RangeFormula

# Golden vectors of protocols.md §3.4.
GOLDEN_14 = bytes.fromhex(
    "00ffffffffffff002ecd34120100000001220104a5351e7806ee91a3544c99260f5054210800"
    "81c08100b30001010101010101010101023a801871382d40582c45000f282100001e000000fd"
    "00304b1e5311010a202020202020000000fc004b564d2d454d550a2020202020000000ff0053"
    "4e3030303030310a202020200069"
)
GOLDEN_13_CTA = bytes.fromhex(
    "00ffffffffffff002ecd3412000000000122010380351e780eee91a3544c99260f5054210800"
    "81c08100b30001010101010101010101023a801871382d40582c45000f282100001e000000fd"
    "00304b1e5311000a202020202020000000fc004b564d2d454d550a2020202020000000ff0053"
    "4e3030303030310a2020202001880203118143900403e2004a65030c001000023a801871382d"
    "40582c45000f282100001e000000000000000000000000000000000000000000000000000000"
    + "00" * 65
    + "b6"
)

_TEXT = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=13).filter(
    lambda s: s == s.rstrip(" ")
)
_LETTERS = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=3, max_size=3)


@pytest.mark.parametrize("preset", list(PRESETS))
@pytest.mark.parametrize("audio", list(Audio))
def test_parser_reads_back_every_preset_and_audio_option(preset: str, audio: Audio) -> None:
    info = parse_edid(build_edid(preset, audio=audio))
    expected = PRESETS[preset]
    assert info.version == (1, 4)
    assert info.manufacturer == "KVM"
    assert info.product == 0x1234
    assert info.name == "KVM-EMU"
    assert info.detailed[0] == expected.timing
    assert info.preferred == expected.mode
    assert info.range_limits == range_limits_for(advertised_timings(expected))
    assert info.standard == expected.standard
    assert info.interface is DigitalInterface.HDMI_A
    assert info.bits_per_color == 8
    assert not info.continuous_frequency
    if audio is Audio.NONE:
        assert info.cta is None
        assert info.extensions == 0
    else:
        assert info.cta is not None
        assert info.cta.vics == expected.vics
        assert info.cta.basic_audio
        assert max(s.channels for s in info.cta.audio) == (8 if audio is Audio.MULTICHANNEL else 2)


@given(
    preset=st.sampled_from(list(PRESETS)),
    audio=st.sampled_from(list(Audio)),
    name=_TEXT,
    serial=st.none() | _TEXT,
    manufacturer=_LETTERS,
    product=st.integers(0, 0xFFFF),
    week=st.integers(0, 54),
    year=st.integers(1990, 2245),
    interface=st.sampled_from(list(DigitalInterface)),
    bits=st.sampled_from([6, 8, 10, 12, 14, 16]),
)
def test_parser_reads_back_any_identity_the_builder_writes(
    preset: str,
    audio: Audio,
    name: str,
    serial: str | None,
    manufacturer: str,
    product: int,
    week: int,
    year: int,
    interface: DigitalInterface,
    bits: int,
) -> None:
    blob = build_edid(
        preset,
        audio=audio,
        name=name,
        serial=serial,
        manufacturer=manufacturer,
        product=product,
        week=week,
        year=year,
        digital_interface=interface,
        bits_per_color=bits,
    )
    info = parse_edid(blob)
    assert (info.manufacturer, info.product, info.name, info.serial_text) == (
        manufacturer,
        product,
        name,
        serial,
    )
    assert (info.week, info.year, info.model_year) == (week or None, year, False)
    assert (info.interface, info.bits_per_color) == (interface, bits)
    assert info.preferred == PRESETS[preset].mode


def test_golden_1_4_vector_parses() -> None:
    info = parse_edid(GOLDEN_14)
    assert info.version == (1, 4)
    assert (info.manufacturer, info.product, info.serial) == ("KVM", 0x1234, 1)
    assert (info.name, info.serial_text) == ("KVM-EMU", "SN000001")
    assert (info.week, info.year) == (1, 2024)
    assert info.interface is DigitalInterface.DISPLAYPORT
    assert info.size_cm == (53, 30)
    assert str(info.preferred) == "1920x1080@60"
    assert info.range_limits is not None
    assert (info.range_limits.min_v_hz, info.range_limits.max_v_hz) == (48, 75)
    assert (info.range_limits.min_h_khz, info.range_limits.max_h_khz) == (30, 83)
    assert info.range_limits.max_pixel_clock_mhz == 170
    assert info.range_limits.formula is RangeFormula.BARE_LIMITS
    assert [str(m) for m in info.established] == ["640x480@59.94", "800x600@60.32", "1024x768@60"]
    assert [str(m) for m in info.standard] == ["1280x720@60", "1280x800@59.81", "1680x1050@59.95"]


def test_golden_1_3_vector_with_hdmi_vsdb_parses() -> None:
    info = parse_edid(GOLDEN_13_CTA)
    assert info.version == (1, 3)
    assert info.interface is None  # EDID 1.3 has no interface field
    assert info.cta is not None
    assert info.cta.vics == (16, 4, 3)
    assert info.cta.native_vics == (16,)
    assert info.cta.hdmi_physical_address == "1.0.0.0"
    assert info.cta.underscan
    assert len(info.detailed) == 2  # DTD 1 in the base block, one more in the CTA block


def test_model_year_week_is_reported_as_a_flag() -> None:
    blob = bytearray(build_edid("1080p60"))
    blob[16] = 0xFF
    blob[127] = (-sum(blob[:127])) & 0xFF
    info = parse_edid(bytes(blob))
    assert info.model_year
    assert info.week is None
