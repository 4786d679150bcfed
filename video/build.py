"""The EDID builder: EDID 1.4 base block, plus a CTA-861 block when audio is advertised.

Every EDID built here passes ``edid-decode -c`` (the tests run it on every preset, audio
option, name and serial).

Why no HDMI Vendor-Specific Data Block: the HDMI specification requires the base block
to be EDID 1.3, and edid-decode fails an HDMI VSDB behind a 1.4 base block; the product
contract (SPEC §6) fixes 1.4. So the CTA block carries basic audio, the audio and speaker
blocks, a video data block and a video capability block, and no HDMI VSDB. Sources see
LPCM audio support (the basic-audio flag and the Audio Data Block), but a source that
wants an HDMI VSDB before it treats a sink as HDMI (Linux DRM drivers, for one, send HDMI
audio only to such sinks) may treat these as DVI and stay silent over HDMI. For such
targets present the learned console monitor's EDID, or use DisplayPort.
"""

from __future__ import annotations

import math

from kvmswitchd.errors import InputError
from video.cta import (
    CTA_REVISION,
    LPCM_7_1,
    LPCM_STEREO,
    SPEAKERS_7_1,
    SPEAKERS_STEREO,
    Audio,
    CtaExtension,
    encode_cta,
)
from video.descriptors import (
    DescriptorTag,
    RangeFormula,
    RangeLimits,
    encode_dtd,
    encode_dummy,
    encode_range_limits,
    encode_text,
)
from video.edid import DigitalInterface
from video.framing import HEADER
from video.mode import DetailedTiming, Mode
from video.presets import DEFAULT_PRESET, Preset, resolve_preset
from video.timings import ESTABLISHED, VICS, encode_standard, timing_for

_STD_SLOTS = 8
_UNUSED_STD = bytes((0x01, 0x01))
_GAMMA_2_2 = 120  # (gamma * 100) - 100
# Feature byte (1.4): RGB 4:4:4 only, sRGB is the default colour space, and DTD 1 is the
# native pixel format and preferred refresh rate. Not continuous-frequency: the built
# EDIDs list exact modes and their range limits are "bare limits".
_FEATURES = 0x06
# sRGB primaries and D65 white (x, y), as 10-bit fractions. Claiming sRGB with other
# chromaticities is a conformity failure.
_SRGB = ((0.640, 0.330), (0.300, 0.600), (0.150, 0.060), (0.3127, 0.3290))
_YEAR_BASE = 1990
_MAX_YEAR = _YEAR_BASE + 255
_MAX_WEEK = 54


_BITS_PER_COLOR = {6: 1, 8: 2, 10: 3, 12: 4, 14: 5, 16: 6}


def encode_manufacturer(code: str) -> bytes:
    """Three letters A-Z as the big-endian 5-bit-per-letter ID ("KVM" -> 2E CD)."""
    if len(code) != 3 or not all("A" <= ch <= "Z" for ch in code):
        raise InputError(f"manufacturer {code!r} must be three capital letters A-Z")
    value = 0
    for ch in code:
        value = value << 5 | (ord(ch) - ord("A") + 1)
    return value.to_bytes(2, "big")


def _chromaticity() -> bytes:
    coords = [round(c * 1024) for point in _SRGB for c in point]
    low = [c & 3 for c in coords]
    byte25 = low[0] << 6 | low[1] << 4 | low[2] << 2 | low[3]
    byte26 = low[4] << 6 | low[5] << 4 | low[6] << 2 | low[7]
    return bytes((byte25, byte26, *(c >> 2 for c in coords)))


def _established(preset: Preset) -> bytes:
    bits = bytearray(3)
    for byte, bit in preset.established:
        bits[byte - 35] |= 1 << bit
    return bytes(bits)


def _standard(preset: Preset) -> bytes:
    codes = b"".join(encode_standard(mode) for mode in preset.standard[:_STD_SLOTS])
    return codes + _UNUSED_STD * (_STD_SLOTS - len(codes) // 2)


def advertised_timings(preset: Preset) -> tuple[DetailedTiming, ...]:
    """Every timing the EDID built from ``preset`` lists (DTD, established, standard, VICs)."""
    extra = [ESTABLISHED[key] for key in preset.established]
    extra += [timing_for(mode) for mode in preset.standard]
    extra += [VICS[vic] for vic in preset.vics]
    return (preset.timing, *extra)


def range_limits_for(timings: tuple[DetailedTiming, ...]) -> RangeLimits:
    """The tightest whole-number limits that contain every listed timing."""
    return RangeLimits(
        min_v_hz=math.floor(min(t.refresh_hz for t in timings)),
        max_v_hz=math.ceil(max(t.refresh_hz for t in timings)),
        min_h_khz=math.floor(min(t.h_freq_khz for t in timings)),
        max_h_khz=math.ceil(max(t.h_freq_khz for t in timings)),
        max_pixel_clock_mhz=math.ceil(max(t.pixel_clock_khz for t in timings) / 10_000) * 10,
        formula=RangeFormula.BARE_LIMITS,
    )


def _video_input(interface: DigitalInterface, bits_per_color: int) -> int:
    if bits_per_color not in _BITS_PER_COLOR:
        raise InputError(f"bits per colour must be one of {sorted(_BITS_PER_COLOR)}")
    if interface not in DigitalInterface._value2member_map_:
        raise InputError(f"digital interface {interface!r} is not an EDID 1.4 interface code")
    return 0x80 | _BITS_PER_COLOR[bits_per_color] << 4 | interface


def _cta(preset: Preset, audio: Audio) -> bytes:
    multichannel = audio is Audio.MULTICHANNEL
    return encode_cta(
        CtaExtension(
            revision=CTA_REVISION,
            underscan=True,
            basic_audio=True,
            # DTD 1 is the native format; flagging its VIC native too would make edid-decode
            # warn about "multiple native progressive timings".
            native_dtds=1,
            vics=preset.vics,
            audio=(LPCM_7_1, LPCM_STEREO) if multichannel else (LPCM_STEREO,),
            speaker_allocation=SPEAKERS_7_1 if multichannel else SPEAKERS_STEREO,
        )
    )


def build_edid(
    mode: str | Mode | DetailedTiming = DEFAULT_PRESET,
    *,
    name: str = "KVM-EMU",
    serial: str | None = None,
    manufacturer: str = "KVM",
    product: int = 0x1234,
    audio: Audio | str = Audio.NONE,
    digital_interface: DigitalInterface = DigitalInterface.HDMI_A,
    bits_per_color: int = 8,
    week: int = 1,
    year: int = 2024,
) -> bytes:
    """Build an EDID 1.4 (128 bytes, or 256 with a CTA-861 block when audio != none).

    ``mode`` is a preset name (:data:`video.presets.PRESETS`), ``"WxH@Hz"``, a
    :class:`Mode` or an exact :class:`DetailedTiming`. ``serial`` goes in a text serial
    descriptor (the binary serial field stays 0, as edid-decode asks). ``week`` 0 means
    unspecified. Bad arguments raise :class:`InputError` naming the argument.
    """
    preset = resolve_preset(mode)
    if audio not in Audio._value2member_map_:
        raise InputError(f"audio {audio!r} must be one of {', '.join(Audio)}")
    audio = Audio(audio)
    if not 0 <= product <= 0xFFFF:
        raise InputError(f"product code {product} is out of 0..65535")
    if not 0 <= week <= _MAX_WEEK:
        raise InputError(f"week {week} is out of 0..{_MAX_WEEK}")
    if not _YEAR_BASE <= year <= _MAX_YEAR:
        raise InputError(f"year {year} is out of {_YEAR_BASE}..{_MAX_YEAR}")
    timing = preset.timing
    limits = range_limits_for(advertised_timings(preset))
    descriptors = (
        encode_dtd(timing)
        + encode_range_limits(limits)
        + encode_text(DescriptorTag.NAME, name)
        + (encode_text(DescriptorTag.SERIAL, serial) if serial is not None else encode_dummy())
    )
    extensions = 0 if audio is Audio.NONE else 1
    base = (
        HEADER
        + encode_manufacturer(manufacturer)
        + product.to_bytes(2, "little")
        + bytes(4)  # binary serial: 0 (a text serial, if any, is in a descriptor)
        + bytes((week, year - _YEAR_BASE, 1, 4))
        + bytes((_video_input(digital_interface, bits_per_color),))
        + bytes((round(timing.width_mm / 10), round(timing.height_mm / 10), _GAMMA_2_2))
        + bytes((_FEATURES,))
        + _chromaticity()
        + _established(preset)
        + _standard(preset)
        + descriptors
        + bytes((extensions,))
    )
    blob = base + bytes(((-sum(base)) & 0xFF,))
    if audio is not Audio.NONE:
        blob += _cta(preset, audio)
    return blob
