"""Block devices: what a SCSI logical unit reads and writes (an image file, or memory).

``BlockDevice`` is the seam between the sans-IO SCSI model and storage. ``FileBlockDevice``
is the thin I/O adapter over an image file (``os.pread``/``os.pwrite``; ``flush`` is
``fsync``); ``MemoryBlockDevice`` is for tests and for emulated targets' own disks.

An image whose size is not a multiple of the block size exposes only its whole blocks:
trailing bytes are never read or written.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

from kvmswitchd.errors import DeviceError, InputError, LocalProtocolError

BLOCK_SIZE = 512
# READ CAPACITY(10) reports the last LBA in 32 bits: beyond 2**32 blocks a host would need
# READ CAPACITY(16), which this model does not implement.
MAX_BLOCK_COUNT = 2**32


class BlockDevice(Protocol):
    """Fixed-size blocks addressed by LBA. Errors are ``DeviceError``."""

    @property
    def block_size(self) -> int: ...

    @property
    def block_count(self) -> int: ...

    def read(self, lba: int, count: int) -> bytes:
        """``count`` whole blocks from ``lba``; the range is checked by the caller."""
        ...

    def write(self, lba: int, data: bytes) -> None:
        """Whole blocks (``len(data)`` a multiple of ``block_size``) at ``lba``."""
        ...

    def flush(self) -> None:
        """Make every acknowledged write durable."""
        ...

    def close(self) -> None:
        """Release the backing store (the medium is being unloaded). Idempotent."""
        ...


def check_range(device: BlockDevice, lba: int, count: int) -> None:
    """Raise ``LocalProtocolError`` for a block range outside ``device``."""
    if lba < 0 or count < 0 or lba + count > device.block_count:
        raise LocalProtocolError(
            f"blocks {lba}+{count} outside a device of {device.block_count} blocks"
        )


class MemoryBlockDevice:
    """A block device in a ``bytearray``."""

    def __init__(self, block_count: int, block_size: int = BLOCK_SIZE) -> None:
        if block_count <= 0 or block_size <= 0:
            raise InputError("a block device needs at least one block of at least one byte")
        self._size = block_size
        self._data = bytearray(block_count * block_size)
        self.flushes = 0
        self.closed = False

    @property
    def block_size(self) -> int:
        return self._size

    @property
    def block_count(self) -> int:
        return len(self._data) // self._size

    def read(self, lba: int, count: int) -> bytes:
        check_range(self, lba, count)
        return bytes(self._data[lba * self._size : (lba + count) * self._size])

    def write(self, lba: int, data: bytes) -> None:
        if len(data) % self._size:
            raise LocalProtocolError("writes are whole blocks")
        check_range(self, lba, len(data) // self._size)
        self._data[lba * self._size : lba * self._size + len(data)] = data

    def flush(self) -> None:
        self.flushes += 1

    def close(self) -> None:
        self.closed = True

    def snapshot(self) -> bytes:
        """The whole contents (tests)."""
        return bytes(self._data)


class FileBlockDevice:
    """An image file as a block device. Open with ``FileBlockDevice.open``."""

    def __init__(
        self, fd: int, path: Path, block_count: int, read_only: bool, *, durable: bool = True
    ) -> None:
        self._fd: int | None = fd
        self.path = path
        self.read_only = read_only
        self.durable = durable
        self._count = block_count

    @classmethod
    def open(cls, path: str | Path, read_only: bool, *, durable: bool = True) -> FileBlockDevice:
        """Open ``path`` (``O_RDONLY`` when ``read_only``); ``DeviceError`` if it can't.

        ``durable=False`` makes ``flush`` a no-op (scratch disks, and tests whose subject
        is not power-loss durability): writes still reach the file at once.
        """
        path = Path(path)
        flags = (os.O_RDONLY if read_only else os.O_RDWR) | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(path, flags | getattr(os, "O_NOFOLLOW", 0))
            size = os.fstat(fd).st_size
        except OSError as exc:
            raise DeviceError(f"cannot open image {path.name}: {exc.strerror}") from exc
        count = min(size // BLOCK_SIZE, MAX_BLOCK_COUNT)
        if count == 0:
            os.close(fd)
            raise DeviceError(f"image {path.name} is smaller than one {BLOCK_SIZE}-byte block")
        return cls(fd, path, count, read_only, durable=durable)

    @property
    def block_size(self) -> int:
        return BLOCK_SIZE

    @property
    def block_count(self) -> int:
        return self._count

    def _live_fd(self) -> int:
        if self._fd is None:
            raise DeviceError(f"image {self.path.name} is closed")
        return self._fd

    def read(self, lba: int, count: int) -> bytes:
        check_range(self, lba, count)
        want = count * BLOCK_SIZE
        try:
            data = os.pread(self._live_fd(), want, lba * BLOCK_SIZE)
        except OSError as exc:
            raise DeviceError(f"read error on {self.path.name}: {exc.strerror}") from exc
        # A file truncated behind our back reads short: the missing tail reads as zeros.
        return data.ljust(want, b"\0")

    def write(self, lba: int, data: bytes) -> None:
        if self.read_only:
            raise LocalProtocolError("write to a read-only block device")
        if len(data) % BLOCK_SIZE:
            raise LocalProtocolError("writes are whole blocks")
        check_range(self, lba, len(data) // BLOCK_SIZE)
        view = memoryview(data)
        offset = lba * BLOCK_SIZE
        try:
            while view:
                done = os.pwrite(self._live_fd(), view, offset)
                view, offset = view[done:], offset + done
        except OSError as exc:
            raise DeviceError(f"write error on {self.path.name}: {exc.strerror}") from exc

    def flush(self) -> None:
        if self.read_only or not self.durable or self._fd is None:
            return
        try:
            os.fsync(self._fd)
        except OSError as exc:
            raise DeviceError(f"flush error on {self.path.name}: {exc.strerror}") from exc

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)
