"""A tiny flat file table on a block device, for emulated computers and tests.

Not a real filesystem: enough for a virtual computer to "save a file to the USB stick"
through the full SCSI/BOT path and for tests to read it back from the image file.

Layout (little-endian): the first ``DIRECTORY_BLOCKS`` blocks hold the directory — a
16-byte header (``b"KVMFLAT1"``, entry count u32, next free LBA u32) then 48-byte entries
(name 32 bytes UTF-8 NUL-padded, first LBA u32, size u64, 4 pad). Files are allocated
append-only after the directory; rewriting a file allocates new blocks, so a rewrite
never damages the previous version before the directory points at the new one.
"""

from __future__ import annotations

import struct

from kvmswitchd.errors import BusyError, DeviceError, InputError, NotFoundError
from kvmswitchd.storage.blockdev import BlockDevice

MAGIC = b"KVMFLAT1"
DIRECTORY_BYTES = 4096
_HEADER = struct.Struct("<8sII")
_ENTRY = struct.Struct("<32sIQ4x")
# The directory's fixed size caps the number of files a volume holds.
MAX_FILES = (DIRECTORY_BYTES - _HEADER.size) // _ENTRY.size
MAX_NAME_BYTES = 32


def _directory_blocks(device: BlockDevice) -> int:
    return -(-DIRECTORY_BYTES // device.block_size)


def _check_name(name: str) -> bytes:
    try:
        raw = name.encode("utf-8")
    except UnicodeEncodeError:
        raw = b""
    if not raw or len(raw) > MAX_NAME_BYTES or b"\0" in raw:
        raise InputError(f"file name must be 1..{MAX_NAME_BYTES} UTF-8 bytes without NUL")
    return raw


class FlatVolume:
    """A mounted flat volume. ``format`` makes one; ``mount`` opens an existing one."""

    def __init__(self, device: BlockDevice, files: dict[str, tuple[int, int]], free: int):
        self.device = device
        self._files = files  # name -> (first LBA, size in bytes)
        self._free = free

    @classmethod
    def format(cls, device: BlockDevice) -> FlatVolume:
        volume = cls(device, {}, _directory_blocks(device))
        volume._write_directory()
        return volume

    @classmethod
    def mount(cls, device: BlockDevice) -> FlatVolume:
        blocks = _directory_blocks(device)
        raw = device.read(0, blocks)
        magic, count, free = _HEADER.unpack_from(raw)
        if magic != MAGIC or count > MAX_FILES or not blocks <= free <= device.block_count:
            raise DeviceError("not a flat volume (format it first)")
        files: dict[str, tuple[int, int]] = {}
        for i in range(count):
            name, lba, size = _ENTRY.unpack_from(raw, _HEADER.size + i * _ENTRY.size)
            if lba + -(-size // device.block_size) > free:
                raise DeviceError("flat volume directory is corrupt")
            files[name.rstrip(b"\0").decode("utf-8", "replace")] = (lba, size)
        return cls(device, files, free)

    def files(self) -> dict[str, int]:
        """File names and sizes."""
        return {name: size for name, (_, size) in self._files.items()}

    def read_file(self, name: str) -> bytes:
        try:
            lba, size = self._files[name]
        except KeyError:
            raise NotFoundError(f"no file {name!r} on the volume") from None
        if size == 0:
            return b""
        blocks = -(-size // self.device.block_size)
        return self.device.read(lba, blocks)[:size]

    def write_file(self, name: str, data: bytes) -> None:
        """Store ``data`` under ``name`` and flush (like a synchronous mount)."""
        _check_name(name)
        if name not in self._files and len(self._files) >= MAX_FILES:
            raise BusyError(f"volume directory is full ({MAX_FILES} files)")
        size = self.device.block_size
        blocks = -(-len(data) // size)
        if self._free + blocks > self.device.block_count:
            raise BusyError("volume is full")
        lba = self._free
        if blocks:
            self.device.write(lba, data.ljust(blocks * size, b"\0"))
        self._files[name] = (lba, len(data))
        self._free += blocks
        self._write_directory()
        self.device.flush()

    def _write_directory(self) -> None:
        raw = bytearray(_directory_blocks(self.device) * self.device.block_size)
        _HEADER.pack_into(raw, 0, MAGIC, len(self._files), self._free)
        for i, (name, (lba, size)) in enumerate(self._files.items()):
            _ENTRY.pack_into(raw, _HEADER.size + i * _ENTRY.size, _check_name(name), lba, size)
        self.device.write(0, bytes(raw))
