"""The CTA-861 extension block (tag 0x02): video/audio data blocks and extra DTDs."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from video.descriptors import DESCRIPTOR_SIZE, decode_dtd, encode_dtd
from video.errors import EdidError
from video.mode import DetailedTiming

BLOCK_SIZE = 128
CTA_TAG = 0x02
CTA_REVISION = 3
_DATA_START = 4
_CHECKSUM = 127
# A data block header holds its payload length in 5 bits.
MAX_DATA_BLOCK_PAYLOAD = 31


class Audio(enum.StrEnum):
    """What a built EDID advertises for audio (a port's audio capability, SPEC §2)."""

    NONE = "none"
    STEREO = "stereo"
    MULTICHANNEL = "multichannel"


class AudioFormat(enum.IntEnum):
    """Audio format code of a short audio descriptor (byte 0, bits 6-3)."""

    LPCM = 1
    AC3 = 2
    MPEG1 = 3
    MP3 = 4
    MPEG2 = 5
    AAC_LC = 6
    DTS = 7
    ATRAC = 8
    ONE_BIT_AUDIO = 9
    ENHANCED_AC3 = 10
    DTS_HD = 11
    MAT = 12
    DST = 13
    WMA_PRO = 14
    EXTENDED = 15


class DataBlockTag(enum.IntEnum):
    """CTA data block tag (header bits 7-5)."""

    AUDIO = 1
    VIDEO = 2
    VENDOR = 3
    SPEAKERS = 4
    VESA_DTC = 5
    EXTENDED = 7


_EXT_VIDEO_CAPABILITY = 0x00
_HDMI_OUI = bytes((0x03, 0x0C, 0x00))  # IEEE OUI 00-0C-03, stored little-endian
_SAMPLE_RATES_KHZ = (32.0, 44.1, 48.0, 88.2, 96.0, 176.4, 192.0)
_SAMPLE_SIZES_BITS = (16, 20, 24)


@dataclass(frozen=True, slots=True)
class ShortAudioDescriptor:
    """One audio format the sink accepts. ``format`` is an :class:`AudioFormat` value."""

    format: int
    channels: int
    sample_rates_khz: tuple[float, ...]
    sample_sizes_bits: tuple[int, ...] = ()  # LPCM only
    max_bitrate_kbps: int | None = None  # AC-3 .. ATRAC only

    def encode(self) -> bytes:
        rates = sum(1 << i for i, r in enumerate(_SAMPLE_RATES_KHZ) if r in self.sample_rates_khz)
        if self.format == AudioFormat.LPCM:
            last = sum(
                1 << i for i, s in enumerate(_SAMPLE_SIZES_BITS) if s in self.sample_sizes_bits
            )
        else:
            last = (self.max_bitrate_kbps or 0) // 8
        return bytes(((self.format & 0xF) << 3 | (self.channels - 1) & 7, rates, last))

    @classmethod
    def decode(cls, raw: bytes) -> ShortAudioDescriptor:
        code = raw[0] >> 3 & 0xF
        rates = tuple(r for i, r in enumerate(_SAMPLE_RATES_KHZ) if raw[1] >> i & 1)
        sizes: tuple[int, ...] = ()
        bitrate = None
        if code == AudioFormat.LPCM:
            sizes = tuple(s for i, s in enumerate(_SAMPLE_SIZES_BITS) if raw[2] >> i & 1)
        elif AudioFormat.AC3 <= code <= AudioFormat.ATRAC:
            bitrate = raw[2] * 8
        return cls(code, (raw[0] & 7) + 1, rates, sizes, bitrate)


_ALL_RATES = _SAMPLE_RATES_KHZ
LPCM_STEREO = ShortAudioDescriptor(AudioFormat.LPCM, 2, _ALL_RATES, _SAMPLE_SIZES_BITS)
LPCM_7_1 = ShortAudioDescriptor(AudioFormat.LPCM, 8, _ALL_RATES, _SAMPLE_SIZES_BITS)
# Speaker allocation, the block's 3 payload bytes as a little-endian int. Byte 1: bit 0
# FL/FR, 1 LFE1, 2 FC, 3 BL/BR; byte 2 bit 3 LS/RS. 7.1 = FL/FR LFE1 FC BL/BR LS/RS.
SPEAKERS_STEREO = 0x000001
SPEAKERS_7_1 = 0x00080F


@dataclass(frozen=True, slots=True)
class CtaExtension:
    """What a CTA-861 block says. ``native_vics`` is the subset flagged native."""

    revision: int
    underscan: bool = False
    basic_audio: bool = False
    ycbcr444: bool = False
    ycbcr422: bool = False
    native_dtds: int = 0
    vics: tuple[int, ...] = ()
    native_vics: tuple[int, ...] = ()
    audio: tuple[ShortAudioDescriptor, ...] = ()
    speaker_allocation: int | None = None
    hdmi_physical_address: str | None = None
    detailed: tuple[DetailedTiming, ...] = ()


def _data_block(tag: DataBlockTag, payload: bytes) -> bytes:
    if len(payload) > MAX_DATA_BLOCK_PAYLOAD:
        raise ValueError(f"CTA data block payload of {len(payload)} bytes is too long")
    return bytes((tag << 5 | len(payload),)) + payload


def _svd(vic: int, native: bool) -> int:
    # Only VICs 1-64 have a native flag (bit 7); higher VICs are stored as themselves.
    return vic | 0x80 if native and vic <= 64 else vic


def encode_cta(cta: CtaExtension) -> bytes:
    """Build the 128-byte block, checksum included."""
    blocks = b""
    if cta.vics:
        svds = bytes(_svd(v, v in cta.native_vics) for v in cta.vics)
        blocks += _data_block(DataBlockTag.VIDEO, svds)
    if cta.audio:
        blocks += _data_block(DataBlockTag.AUDIO, b"".join(s.encode() for s in cta.audio))
    if cta.speaker_allocation is not None:
        speakers = cta.speaker_allocation.to_bytes(3, "little")
        blocks += _data_block(DataBlockTag.SPEAKERS, speakers)
    # Video Capability: RGB quantization range selectable (QS=1), IT and CE content
    # always underscanned; edid-decode asks for it so sources can pick full/limited RGB.
    blocks += _data_block(DataBlockTag.EXTENDED, bytes((_EXT_VIDEO_CAPABILITY, 0x4A)))
    dtds = b"".join(encode_dtd(t) for t in cta.detailed)
    offset = _DATA_START + len(blocks)
    if offset + len(dtds) > _CHECKSUM:
        raise ValueError("CTA data blocks and DTDs do not fit one block")
    flags = (
        cta.underscan << 7
        | cta.basic_audio << 6
        | cta.ycbcr444 << 5
        | cta.ycbcr422 << 4
        | (cta.native_dtds & 0xF)
    )
    body = bytes((CTA_TAG, cta.revision, offset, flags)) + blocks + dtds
    body += bytes(_CHECKSUM - len(body))
    return body + bytes(((-sum(body)) & 0xFF,))


def _decode_svds(payload: bytes) -> tuple[list[int], list[int]]:
    vics: list[int] = []
    native: list[int] = []
    for svd in payload:
        if 129 <= svd <= 192:
            vics.append(svd - 128)
            native.append(svd - 128)
        elif svd not in (0, 128, 254, 255):
            vics.append(svd)
    return vics, native


def decode_cta(block: bytes, *, index: int) -> CtaExtension:
    """Decode a CTA-861 block (``index`` = its block number); structural errors raise."""
    base = index * BLOCK_SIZE
    revision, dtd_offset, flags = block[1], block[2], block[3]
    if revision == 0:
        raise EdidError("CTA-861 revision 0 does not exist", block=index, offset=base + 1)
    if 0 < dtd_offset < _DATA_START or dtd_offset > _CHECKSUM:
        raise EdidError(
            "CTA-861 DTD offset out of range",
            block=index,
            offset=base + 2,
            expected="0 or 4..127",
            got=str(dtd_offset),
        )
    vics: list[int] = []
    native: list[int] = []
    audio: list[ShortAudioDescriptor] = []
    speakers: int | None = None
    physical: str | None = None
    pos = _DATA_START
    end = dtd_offset if revision >= CTA_REVISION else _DATA_START
    while pos < end:
        tag, length = block[pos] >> 5, block[pos] & 0x1F
        payload = block[pos + 1 : pos + 1 + length]
        if pos + 1 + length > end:
            raise EdidError(
                f"CTA data block (tag {tag}, {length} bytes) runs past the DTD offset {end}",
                block=index,
                offset=base + pos,
            )
        if tag == DataBlockTag.VIDEO:
            more, more_native = _decode_svds(payload)
            vics += more
            native += more_native
        elif tag == DataBlockTag.AUDIO:
            if length % 3:
                raise EdidError(
                    f"CTA audio data block length {length} is not a multiple of 3",
                    block=index,
                    offset=base + pos,
                )
            audio += [ShortAudioDescriptor.decode(payload[i : i + 3]) for i in range(0, length, 3)]
        elif tag == DataBlockTag.SPEAKERS and length >= 1:
            speakers = int.from_bytes(payload[:3], "little")
        elif tag == DataBlockTag.VENDOR and payload[:3] == _HDMI_OUI and length >= 5:
            a, b = payload[3], payload[4]
            physical = f"{a >> 4}.{a & 0xF}.{b >> 4}.{b & 0xF}"
        elif tag == DataBlockTag.EXTENDED and length == 0:
            raise EdidError(
                "CTA extended data block has no extended tag", block=index, offset=base + pos
            )
        pos += 1 + length
    detailed: list[DetailedTiming] = []
    pos = dtd_offset
    while dtd_offset and pos + DESCRIPTOR_SIZE <= _CHECKSUM and (block[pos] or block[pos + 1]):
        dtd = block[pos : pos + DESCRIPTOR_SIZE]
        detailed.append(decode_dtd(dtd, block=index, offset=base + pos))
        pos += DESCRIPTOR_SIZE
    has_flags = revision >= 2
    return CtaExtension(
        revision=revision,
        underscan=has_flags and bool(flags & 0x80),
        basic_audio=has_flags and bool(flags & 0x40),
        ycbcr444=has_flags and bool(flags & 0x20),
        ycbcr422=has_flags and bool(flags & 0x10),
        native_dtds=flags & 0xF if has_flags else 0,
        vics=tuple(vics),
        native_vics=tuple(native),
        audio=tuple(audio),
        speaker_allocation=speakers,
        hdmi_physical_address=physical,
        detailed=tuple(detailed),
    )
