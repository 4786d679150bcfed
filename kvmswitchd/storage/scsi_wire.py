"""SCSI wire values: opcodes, status, sense codes and the byte layouts of the replies.

Facts from SPC/SBC as summarised in protocols.md §6 and the Linux mass-storage gadget's
observable behaviour; all encoders here are pure functions.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol


class Opcode(enum.IntEnum):
    """The command set this model implements."""

    TEST_UNIT_READY = 0x00
    REQUEST_SENSE = 0x03
    INQUIRY = 0x12
    MODE_SENSE_6 = 0x1A
    START_STOP_UNIT = 0x1B
    PREVENT_ALLOW_MEDIUM_REMOVAL = 0x1E
    READ_FORMAT_CAPACITIES = 0x23
    READ_CAPACITY_10 = 0x25
    READ_10 = 0x28
    WRITE_10 = 0x2A
    SYNCHRONIZE_CACHE_10 = 0x35
    MODE_SENSE_10 = 0x5A

    @property
    def cdb_length(self) -> int:
        """The CDB length of the opcode's group (group 0: 6 bytes; groups 1-2: 10)."""
        return 6 if self < 0x20 else 10


class ScsiStatus(enum.IntEnum):
    GOOD = 0x00
    CHECK_CONDITION = 0x02


class Sense(enum.IntEnum):
    """Sense key, ASC and ASCQ packed as ``0xKKAAQQ``."""

    NO_SENSE = 0x000000
    MEDIUM_NOT_PRESENT = 0x023A00
    WRITE_ERROR = 0x030C02  # auto-reallocation failed: the closest "write failed"
    UNRECOVERED_READ_ERROR = 0x031100
    INVALID_COMMAND = 0x052000
    LBA_OUT_OF_RANGE = 0x052100
    INVALID_FIELD_IN_CDB = 0x052400
    LUN_NOT_SUPPORTED = 0x052500
    MEDIUM_REMOVAL_PREVENTED = 0x055302
    NOT_READY_TO_READY = 0x062800  # UNIT ATTENTION: medium may have changed
    RESET_OCCURRED = 0x062900  # UNIT ATTENTION: power on, reset or bus device reset
    WRITE_PROTECTED = 0x072700

    @property
    def key(self) -> int:
        return self >> 16

    @property
    def asc(self) -> int:
        return (self >> 8) & 0xFF

    @property
    def ascq(self) -> int:
        return self & 0xFF


FIXED_SENSE_LENGTH = 18


def fixed_sense(sense: Sense, info: int | None = None) -> bytes:
    """Fixed-format (0x70, current error) sense data; ``info`` sets VALID + INFORMATION."""
    out = bytearray(FIXED_SENSE_LENGTH)
    out[0] = 0x70 | (0x80 if info is not None else 0)
    out[2] = sense.key
    if info is not None:
        out[3:7] = (info & 0xFFFFFFFF).to_bytes(4)
    out[7] = FIXED_SENSE_LENGTH - 8  # additional sense length
    out[12], out[13] = sense.asc, sense.ascq
    return bytes(out)


def parse_fixed_sense(data: bytes) -> tuple[int, int | None]:
    """``(0xKKAAQQ, information or None)`` from fixed-format sense bytes (initiator side)."""
    if len(data) < 14 or data[0] & 0x7F not in (0x70, 0x71):
        return 0, None
    packed = (data[2] & 0x0F) << 16 | data[12] << 8 | data[13]
    return packed, int.from_bytes(data[3:7]) if data[0] & 0x80 else None


_VENDOR_LEN, _PRODUCT_LEN, _REVISION_LEN = 8, 16, 4


@dataclass(frozen=True, slots=True)
class InquiryIdentity:
    """INQUIRY strings: vendor 8, product 16, revision 4 printable ASCII characters."""

    vendor: str = "kvmswd"
    product: str = "Virtual Storage"
    revision: str = "0001"

    def __post_init__(self) -> None:
        for text, cap in (
            (self.vendor, _VENDOR_LEN),
            (self.product, _PRODUCT_LEN),
            (self.revision, _REVISION_LEN),
        ):
            if len(text) > cap or not (text.isascii() and text.isprintable()):
                raise ValueError(f"INQUIRY string {text!r}: at most {cap} printable ASCII")

    def encode(self) -> bytes:
        text = f"{self.vendor:<8.8}{self.product:<16.16}{self.revision:<4.4}"
        return text.encode("ascii")


INQUIRY_LENGTH = 36


def inquiry_data(identity: InquiryIdentity, cdb: bytes, *, present: bool, removable: bool) -> bytes:
    """Standard INQUIRY data, cut to the allocation length (CDB bytes 3-4)."""
    out = bytearray(INQUIRY_LENGTH)
    out[0] = 0x00 if present else 0x7F  # direct-access block device / no LUN here
    out[1] = 0x80 if removable else 0x00  # RMB
    out[2] = 0x02  # version: SCSI-2 level, as the Linux gadget reports
    out[3] = 0x02  # response data format
    out[4] = INQUIRY_LENGTH - 5  # additional length
    out[8:36] = identity.encode()
    return bytes(out[: int.from_bytes(cdb[3:5])])


_CACHING_PAGE = 0x08
_ALL_PAGES = 0x3F
_PC_CHANGEABLE, _PC_SAVED = 1, 3


def _caching_page(changeable: bool) -> bytes:
    page = bytearray(12)
    page[0], page[1] = _CACHING_PAGE, len(page) - 2
    if not changeable:
        page[2] = 0x04  # WCE: hosts should send SYNCHRONIZE CACHE before removal
        page[4:6] = page[8:10] = page[10:12] = b"\xff\xff"  # prefetch: no limits
    return bytes(page)


def mode_sense_data(cdb: bytes, *, write_protected: bool) -> bytes | None:
    """MODE SENSE(6)/(10) reply with the WP bit; None for a page we don't have."""
    six = cdb[0] == Opcode.MODE_SENSE_6
    control, page, subpage = cdb[2] >> 6, cdb[2] & 0x3F, cdb[3]
    if control == _PC_SAVED or subpage:
        return None
    if page in (_CACHING_PAGE, _ALL_PAGES):
        pages = _caching_page(control == _PC_CHANGEABLE)
    else:
        return None
    specific = 0x80 if write_protected else 0x00
    if six:
        data = bytes([3 + len(pages), 0, specific, 0]) + pages
        return data[: cdb[4]]
    data = (6 + len(pages)).to_bytes(2) + bytes([0, specific, 0, 0, 0, 0]) + pages
    return data[: int.from_bytes(cdb[7:9])]


class _Geometry(Protocol):
    @property
    def block_size(self) -> int: ...

    @property
    def block_count(self) -> int: ...


def read_capacity_data(medium: _Geometry) -> bytes:
    """READ CAPACITY(10): last LBA and block length, big-endian."""
    last = min(medium.block_count - 1, 0xFFFFFFFF)
    return last.to_bytes(4) + medium.block_size.to_bytes(4)


def format_capacities(medium: _Geometry) -> bytes:
    """READ FORMAT CAPACITIES: one current/maximum descriptor, formatted media (0x02)."""
    count = min(medium.block_count, 0xFFFFFFFF)
    return bytes([0, 0, 0, 8]) + count.to_bytes(4) + b"\x02" + medium.block_size.to_bytes(3)
