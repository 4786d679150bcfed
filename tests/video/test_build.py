"""The EDID builder: conformity (edid-decode -c), exact bytes, argument errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from kvmswitchd.errors import InputError
from tests.video.conftest import edid_decode_file
from video import PRESETS, Audio, DigitalInterface, build_edid, parse_edid
from video.build import encode_manufacturer
from video.descriptors import encode_dtd

# Golden vector of protocols.md §3.4 (verified with edid-decode by the research notes).
GOLDEN_14 = bytes.fromhex(
    "00ffffffffffff002ecd34120100000001220104a5351e7806ee91a3544c99260f5054210800"
    "81c08100b30001010101010101010101023a801871382d40582c45000f282100001e000000fd"
    "00304b1e5311010a202020202020000000fc004b564d2d454d550a2020202020000000ff0053"
    "4e3030303030310a202020200069"
)
CUSTOM_NAME, CUSTOM_SERIAL = "Rack3 Port 12", "SN-0000000042"  # 13 characters each: the max

BUILDS = [
    pytest.param(
        preset, audio, custom, id=f"{preset}-{audio.value}-{'custom' if custom else 'default'}"
    )
    for preset in PRESETS
    for audio in Audio
    for custom in (False, True)
]


@pytest.mark.external
@pytest.mark.parametrize(("preset", "audio", "custom"), BUILDS)
def test_every_built_edid_passes_edid_decode_conformity(
    tmp_path: Path, preset: str, audio: Audio, custom: bool
) -> None:
    if custom:
        blob = build_edid(preset, audio=audio, name=CUSTOM_NAME, serial=CUSTOM_SERIAL)
    else:
        blob = build_edid(preset, audio=audio)
    result = edid_decode_file(tmp_path, blob, "-c")
    assert result.returncode == 0, result.stdout
    assert "EDID conformity: PASS" in result.stdout
    assert "Failures:" not in result.stdout


@pytest.mark.external
@pytest.mark.parametrize("mode", ["1920x1200@60", "1280x1024@75", "2560x1080@60", "1920x1080@50"])
@pytest.mark.parametrize("interface", [DigitalInterface.HDMI_A, DigitalInterface.DISPLAYPORT])
def test_custom_modes_and_interfaces_also_pass_edid_decode(
    tmp_path: Path, mode: str, interface: DigitalInterface
) -> None:
    blob = build_edid(mode, audio=Audio.MULTICHANNEL, digital_interface=interface)
    result = edid_decode_file(tmp_path, blob, "-c")
    assert result.returncode == 0, result.stdout


@pytest.mark.external
def test_edid_decode_reads_the_name_serial_and_preferred_mode_we_wrote(tmp_path: Path) -> None:
    blob = build_edid("4k60", audio=Audio.STEREO, name=CUSTOM_NAME, serial=CUSTOM_SERIAL)
    out = edid_decode_file(tmp_path, blob, "-c").stdout
    assert "Manufacturer: KVM" in out
    assert "Model: 4660" in out
    assert "Display Product Name: 'Rack3 Port 12'" in out
    assert "Display Product Serial Number: 'SN-0000000042'" in out
    assert "DTD 1:  3840x2160   60.000000 Hz" in out
    assert "Max channels: 2" in out


def test_1080p60_preset_is_the_worked_example_dtd() -> None:
    dtd = encode_dtd(PRESETS["1080p60"].timing)
    assert dtd == bytes.fromhex("023a801871382d40582c45000f282100001e")


def test_base_block_fields_match_the_golden_vector() -> None:
    blob = build_edid("1080p60", digital_interface=DigitalInterface.DISPLAYPORT)
    assert blob[:8] == GOLDEN_14[:8]  # header
    assert blob[8:12] == GOLDEN_14[8:12]  # "KVM", product 0x1234
    assert blob[18:35] == GOLDEN_14[18:35]  # version, input, size, gamma, features, colour
    assert blob[54:72] == GOLDEN_14[54:72]  # DTD 1
    assert blob[0x5A:0x6C] == GOLDEN_14[0x5A:0x6C]  # monitor name descriptor


def test_manufacturer_kvm_encodes_as_2ecd() -> None:
    assert encode_manufacturer("KVM") == bytes((0x2E, 0xCD))


def test_no_audio_builds_one_block_and_audio_adds_a_cta_block() -> None:
    assert len(build_edid("1080p60")) == 128
    assert build_edid("1080p60")[126] == 0
    stereo = build_edid("1080p60", audio="stereo")
    assert len(stereo) == 256
    assert stereo[126] == 1
    assert stereo[128:130] == bytes((0x02, 0x03))  # CTA-861, revision 3
    assert stereo[131] & 0x40  # basic audio


def test_stereo_and_multichannel_advertise_the_promised_audio() -> None:
    stereo = parse_edid(build_edid("1080p60", audio=Audio.STEREO)).cta
    multi = parse_edid(build_edid("1080p60", audio=Audio.MULTICHANNEL)).cta
    assert stereo is not None
    assert multi is not None
    assert [(s.format, s.channels) for s in stereo.audio] == [(1, 2)]
    assert [(s.format, s.channels) for s in multi.audio] == [(1, 8), (1, 2)]
    assert stereo.speaker_allocation == 0x000001  # FL/FR
    assert multi.speaker_allocation == 0x00080F  # FL/FR LFE1 FC BL/BR LS/RS
    assert stereo.audio[0].sample_rates_khz == (32.0, 44.1, 48.0, 88.2, 96.0, 176.4, 192.0)
    assert stereo.audio[0].sample_sizes_bits == (16, 20, 24)


def test_built_edids_carry_no_hdmi_vsdb_because_the_base_block_is_1_4() -> None:
    cta = parse_edid(build_edid("4k60", audio=Audio.MULTICHANNEL)).cta
    assert cta is not None
    assert cta.hdmi_physical_address is None


def test_a_serial_goes_in_a_text_descriptor_and_the_binary_serial_stays_zero() -> None:
    info = parse_edid(build_edid("1080p60", serial="ABC123"))
    assert info.serial == 0
    assert info.serial_text == "ABC123"
    assert parse_edid(build_edid("1080p60")).serial_text is None


def test_preset_names_are_case_insensitive_and_modes_are_accepted() -> None:
    assert build_edid("4K60") == build_edid("4k60")
    assert build_edid("1920x1080@60") == build_edid("1080p60")
    assert build_edid(PRESETS["1440p60"].mode) == build_edid("1440p60")
    assert build_edid(PRESETS["4k30"].timing) == build_edid("4k30")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": "8k120"}, "unknown EDID preset '8k120': expected one of 1024x768, 1080p60"),
        ({"mode": "9000x9000@60"}, "out of range"),
        ({"mode": "1920x1080i@60"}, "interlaced"),
        ({"name": "fourteen chars"}, "at most 13"),
        ({"name": "Bildschirm \u00e4"}, "printable ASCII"),
        ({"serial": "line\nbreak"}, "printable ASCII"),
        ({"manufacturer": "kvm"}, "three capital letters"),
        ({"manufacturer": "KV"}, "three capital letters"),
        ({"product": 70000}, "product code 70000"),
        ({"week": 55}, "week 55"),
        ({"year": 1989}, "year 1989"),
        ({"bits_per_color": 9}, "bits per colour"),
        ({"audio": "surround"}, "surround"),
    ],
)
def test_bad_builder_arguments_raise_input_errors_that_name_the_problem(
    kwargs: dict[str, object], message: str
) -> None:
    mode = kwargs.pop("mode", "1080p60")
    with pytest.raises(InputError, match=message):
        build_edid(mode, **kwargs)  # type: ignore[arg-type]  # deliberately loose kwargs


def test_a_mode_too_fast_for_a_detailed_timing_is_refused() -> None:
    with pytest.raises(InputError, match="does not fit a detailed timing"):
        build_edid("3840x2160@75")  # CVT-RB would need 670 MHz
