"""Framing checks of an EDID blob: size, header, checksums, extension count, version."""

from __future__ import annotations

from video.errors import EdidError

BLOCK_SIZE = 128
# At most 4 blocks (base + 3 extensions): what an E-DDC read without segment paging past
# 512 bytes yields, and all that a KVM port needs. Stops a configured or uploaded "EDID"
# from being megabytes that every port then carries and re-validates.
MAX_BLOCKS = 4
MAX_EDID_BYTES = BLOCK_SIZE * MAX_BLOCKS
HEADER = bytes((0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x00))
EXTENSION_COUNT_OFFSET = 126
CHECKSUM_OFFSET = 127
_VERSION_OFFSET = 18
_MAX_REVISION = 4


def _hex(data: bytes) -> str:
    return data.hex(" ")


def check_size(blob: bytes) -> None:
    """A whole number (1..4) of 128-byte blocks."""
    if not blob:
        raise EdidError(
            "is empty", block=0, offset=0, expected=f"1..{MAX_BLOCKS} blocks of {BLOCK_SIZE} bytes"
        )
    if len(blob) > MAX_EDID_BYTES:
        raise EdidError(
            f"is {len(blob)} bytes, more than the cap of {MAX_EDID_BYTES} ({MAX_BLOCKS} blocks)",
            block=MAX_BLOCKS,
            offset=MAX_EDID_BYTES,
        )
    if len(blob) % BLOCK_SIZE:
        whole = len(blob) // BLOCK_SIZE
        raise EdidError(
            f"is {len(blob)} bytes, not a whole number of {BLOCK_SIZE}-byte blocks "
            f"(block {whole} is truncated)",
            block=whole,
            offset=len(blob),
            expected=f"{(whole + 1) * BLOCK_SIZE} bytes",
            got=f"{len(blob)} bytes",
        )


def block_checksum(block: bytes | bytearray) -> int:
    """The value byte 127 must hold so the block sums to 0 mod 256."""
    return (-sum(block[:CHECKSUM_OFFSET])) & 0xFF


def check_framing(blob: bytes) -> None:
    """Raise :class:`EdidError` unless the blob is framed like an EDID.

    Order: size, header, every block's checksum, extension count, version. Checksums come
    before the extension count so that a corrupted byte 126 is reported as corruption.
    """
    check_size(blob)
    for i, (want, have) in enumerate(zip(HEADER, blob, strict=False)):
        if want != have:
            raise EdidError(
                "bad header",
                block=0,
                offset=i,
                expected=_hex(HEADER),
                got=_hex(blob[: len(HEADER)]),
            )
    for index in range(len(blob) // BLOCK_SIZE):
        block = blob[index * BLOCK_SIZE : (index + 1) * BLOCK_SIZE]
        want = block_checksum(block)
        if block[CHECKSUM_OFFSET] != want:
            raise EdidError(
                "checksum mismatch",
                block=index,
                offset=index * BLOCK_SIZE + CHECKSUM_OFFSET,
                expected=f"0x{want:02x}",
                got=f"0x{block[CHECKSUM_OFFSET]:02x}",
            )
    extensions = blob[EXTENSION_COUNT_OFFSET]
    if extensions >= MAX_BLOCKS:
        raise EdidError(
            f"extension count {extensions} exceeds the cap of {MAX_BLOCKS - 1}",
            block=0,
            offset=EXTENSION_COUNT_OFFSET,
        )
    if (extensions + 1) * BLOCK_SIZE != len(blob):
        raise EdidError(
            f"extension count {extensions} does not match the blob size",
            block=0,
            offset=EXTENSION_COUNT_OFFSET,
            expected=f"{(extensions + 1) * BLOCK_SIZE} bytes",
            got=f"{len(blob)} bytes",
        )
    version, revision = blob[_VERSION_OFFSET], blob[_VERSION_OFFSET + 1]
    if version != 1 or revision > _MAX_REVISION:
        raise EdidError(
            "unsupported EDID version",
            block=0,
            offset=_VERSION_OFFSET,
            expected=f"1.0 .. 1.{_MAX_REVISION}",
            got=f"{version}.{revision}",
        )
