"""The EDID parser and validator: bytes in, :class:`EdidInfo` (or an :class:`EdidError`) out.

Validation is framing (size, header, checksums, extension count, version) plus decoding
every descriptor and CTA data block: a descriptor that cannot be decoded sensibly (a
timing whose sync runs past its blanking, a display descriptor with a non-zero byte 2,
a CTA data block running past its DTDs...) is an error naming its byte. Vendor
peculiarities that real monitors ship (odd text, unknown tags, conformity warnings) are
not errors: a monitor's EDID is learned as it is.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from video.cta import CTA_TAG, CtaExtension, decode_cta
from video.descriptors import (
    DESCRIPTOR_SIZE,
    DescriptorTag,
    RangeLimits,
    decode_dtd,
    decode_range_limits,
    decode_text,
)
from video.errors import EdidError
from video.framing import BLOCK_SIZE, EXTENSION_COUNT_OFFSET, check_framing
from video.mode import DetailedTiming, Mode
from video.timings import ESTABLISHED, VICS, decode_standard

_YEAR_BASE = 1990
_MODEL_YEAR_WEEK = 0xFF
_MAX_WEEK = 54
_DESCRIPTOR_OFFSETS = (54, 72, 90, 108)
_STD_OFFSET, _STD_SLOTS = 38, 8
_EXTRA_STD_SLOTS = 6  # a 0xFA descriptor holds six more standard timings


class DigitalInterface(enum.IntEnum):
    """EDID 1.4 video input byte, bits 3-0."""

    UNDEFINED = 0
    DVI = 1
    HDMI_A = 2
    HDMI_B = 3
    MDDI = 4
    DISPLAYPORT = 5


_BITS_PER_COLOR = {1: 6, 2: 8, 3: 10, 4: 12, 5: 14, 6: 16}


@dataclass(frozen=True, slots=True)
class EdidInfo:
    """What an EDID says, decoded.

    ``continuous_frequency`` is feature bit 0: in EDID 1.4 "continuous frequency", in 1.3
    "GTF timings within the range limits are supported" — for a mode check both mean the
    monitor syncs to any timing inside its range limits. ``detailed`` lists the base
    block's DTDs, then those of CTA blocks. ``cta`` is the first CTA-861 block, if any.
    """

    version: tuple[int, int]
    manufacturer: str
    product: int
    serial: int
    serial_text: str | None
    name: str | None
    texts: tuple[str, ...]
    week: int | None
    year: int
    model_year: bool
    digital: bool
    interface: DigitalInterface | None
    bits_per_color: int | None
    size_cm: tuple[int, int]
    continuous_frequency: bool
    established: tuple[Mode, ...]
    standard: tuple[Mode, ...]
    detailed: tuple[DetailedTiming, ...]
    range_limits: RangeLimits | None
    extensions: int
    cta: CtaExtension | None

    @property
    def preferred(self) -> Mode | None:
        """DTD 1 (how every OS reads it), else the first mode listed anywhere."""
        if self.detailed:
            return self.detailed[0].mode
        vics = self.cta.vics if self.cta else ()
        listed = [VICS[v].mode for v in vics if v in VICS]
        listed += [*self.standard, *self.established]
        return listed[0] if listed else None


def decode_manufacturer(raw: bytes) -> str:
    """Three 5-bit letters, big-endian; a code outside A-Z reads as ``?``."""
    value = raw[0] << 8 | raw[1]
    codes = (value >> 10 & 0x1F, value >> 5 & 0x1F, value & 0x1F)
    return "".join(chr(ord("A") + c - 1) if 1 <= c <= 26 else "?" for c in codes)


@dataclass(slots=True)
class _Descriptors:
    detailed: list[DetailedTiming]
    standard: list[Mode]
    texts: list[str]
    name: str | None = None
    serial: str | None = None
    limits: RangeLimits | None = None


def _decode_descriptors(blob: bytes, minor: int) -> _Descriptors:
    found = _Descriptors([], [], [])
    for at in _DESCRIPTOR_OFFSETS:
        data = blob[at : at + DESCRIPTOR_SIZE]
        if data[0] or data[1]:
            found.detailed.append(decode_dtd(data, block=0, offset=at))
            continue
        if data[2]:
            raise EdidError(
                "display descriptor byte 2 must be 0",
                block=0,
                offset=at + 2,
                got=f"0x{data[2]:02x}",
            )
        tag = data[3]
        if tag == DescriptorTag.NAME and found.name is None:
            found.name = decode_text(data)
        elif tag == DescriptorTag.SERIAL and found.serial is None:
            found.serial = decode_text(data)
        elif tag == DescriptorTag.TEXT:
            found.texts.append(decode_text(data))
        elif tag == DescriptorTag.RANGE_LIMITS and found.limits is None:
            found.limits = decode_range_limits(data, minor=minor, block=0, offset=at)
        elif tag == DescriptorTag.STANDARD_TIMINGS:
            for i in range(_EXTRA_STD_SLOTS):
                mode = decode_standard(data[5 + 2 * i], data[6 + 2 * i], minor=minor)
                if mode is not None:
                    found.standard.append(mode)
    return found


def parse_edid(blob: bytes) -> EdidInfo:
    """Validate and decode an EDID; any defect raises :class:`EdidError`."""
    check_framing(blob)
    minor = blob[19]
    established = tuple(
        timing.mode for (byte, bit), timing in ESTABLISHED.items() if blob[byte] >> bit & 1
    )
    standard = [
        mode
        for i in range(_STD_SLOTS)
        if (
            mode := decode_standard(
                blob[_STD_OFFSET + 2 * i], blob[_STD_OFFSET + 2 * i + 1], minor=minor
            )
        )
        is not None
    ]
    found = _decode_descriptors(blob, minor)
    detailed = list(found.detailed)
    cta: CtaExtension | None = None
    extensions = blob[EXTENSION_COUNT_OFFSET]
    for index in range(1, extensions + 1):
        block = blob[index * BLOCK_SIZE : (index + 1) * BLOCK_SIZE]
        if block[0] == CTA_TAG:
            decoded = decode_cta(block, index=index)
            detailed += decoded.detailed
            cta = cta or decoded
    video_input = blob[20]
    digital = bool(video_input & 0x80)
    interface = None
    bits = None
    if digital and minor >= 4:
        code = video_input & 0x0F
        interface = DigitalInterface(code) if code in DigitalInterface._value2member_map_ else None
        bits = _BITS_PER_COLOR.get(video_input >> 4 & 7)
    week = blob[16]
    return EdidInfo(
        version=(blob[18], minor),
        manufacturer=decode_manufacturer(blob[8:10]),
        product=int.from_bytes(blob[10:12], "little"),
        serial=int.from_bytes(blob[12:16], "little"),
        serial_text=found.serial,
        name=found.name,
        texts=tuple(found.texts),
        week=week if 1 <= week <= _MAX_WEEK else None,
        year=_YEAR_BASE + blob[17],
        model_year=week == _MODEL_YEAR_WEEK,
        digital=digital,
        interface=interface,
        bits_per_color=bits,
        size_cm=(blob[21], blob[22]),
        continuous_frequency=bool(blob[24] & 0x01),
        established=established,
        standard=(*standard, *found.standard),
        detailed=tuple(detailed),
        range_limits=found.limits,
        extensions=extensions,
        cta=cta,
    )


def validate_edid(blob: bytes) -> None:
    """Raise :class:`EdidError` (with block, byte offset, expected/got) if ``blob`` is bad."""
    parse_edid(blob)
