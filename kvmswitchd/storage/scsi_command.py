"""SCSI commands in progress: what the BOT transport drains, feeds, completes and releases.

A command that moves blocks reports ``io_started`` when it begins and ``io_finished`` when
it is released (its status delivered or the command aborted), so the hand-over core sees
I/O as in flight for exactly as long as the host is waiting on it.
"""

from __future__ import annotations

import enum
from typing import Protocol

from kvmswitchd.errors import DeviceError, LocalProtocolError
from kvmswitchd.storage.blockdev import BlockDevice
from kvmswitchd.storage.scsi_wire import ScsiStatus, Sense


class _Unit(Protocol):
    """What a command needs from its logical unit."""

    listener: MediumListener

    def fail_sense(self, sense: Sense, info: int | None = None) -> ScsiStatus: ...


class DataDirection(enum.Enum):
    NONE = "none"
    IN = "in"  # device to host
    OUT = "out"  # host to device


class MediumListener(Protocol):
    def io_started(self, write: bool) -> None: ...
    def io_finished(self, write: bool) -> None: ...
    def lock_changed(self, locked: bool) -> None: ...
    def host_ejected(self) -> None: ...


class NullListener:
    """A listener that ignores everything (a unit nobody watches)."""

    def io_started(self, write: bool) -> None:
        pass

    def io_finished(self, write: bool) -> None:
        pass

    def lock_changed(self, locked: bool) -> None:
        pass

    def host_ejected(self) -> None:
        pass


class ScsiCommand:
    """One command in progress. The base class is a reply fixed at ``begin`` time."""

    def __init__(
        self,
        status: ScsiStatus = ScsiStatus.GOOD,
        data: bytes = b"",
        *,
        io: MediumListener | None = None,
        write: bool = False,
    ) -> None:
        self.direction = DataDirection.IN if data else DataDirection.NONE
        self.length = len(data)  # bytes the device intends to move
        self._status = status
        self._data = data
        self._pos = 0
        self._io = io  # set while an I/O is reported started and not yet finished
        self._write = write
        if io is not None:
            io.io_started(write)

    def read(self, size: int) -> bytes:
        """The next ``size`` bytes of a data-in phase."""
        chunk = self._data[self._pos : self._pos + size]
        self._pos += len(chunk)
        return chunk

    def write(self, data: bytes) -> None:
        """Data-out bytes from the host (any chunking)."""
        raise LocalProtocolError(f"this command takes no data-out ({len(data)} bytes sent)")

    def complete(self) -> ScsiStatus:
        """The data phase is over: finish the command and return its status."""
        return self._status

    def release(self, *, report: bool = True) -> None:
        """The status reached the host (or the command was aborted): I/O is over.

        ``report=False`` when the host was unplugged: the hand-over core already forgot it.
        """
        io, self._io = self._io, None
        if io is not None and report:
            io.io_finished(self._write)


class ReadCommand(ScsiCommand):
    def __init__(self, unit: _Unit, device: BlockDevice, lba: int, count: int) -> None:
        super().__init__(io=unit.listener, write=False)
        self.direction = DataDirection.IN
        self.length = count * device.block_size
        self._unit, self._device, self._lba = unit, device, lba
        self._failed = False

    def read(self, size: int) -> bytes:
        size = min(size, self.length - self._pos)
        if size <= 0:
            return b""
        bs = self._device.block_size
        first, last = self._pos // bs, (self._pos + size - 1) // bs
        chunk = bytes(size)  # after a failure the promised length still goes out, zeroed
        if not self._failed:
            try:
                blocks = self._device.read(self._lba + first, last - first + 1)
            except DeviceError:
                self._failed = True
            else:
                start = self._pos - first * bs
                chunk = blocks[start : start + size]
        self._pos += size
        return chunk

    def complete(self) -> ScsiStatus:
        if self._failed:
            return self._unit.fail_sense(Sense.UNRECOVERED_READ_ERROR, self._lba)
        return ScsiStatus.GOOD


class WriteCommand(ScsiCommand):
    """Writes whole blocks as they arrive, so an aborted transfer leaves a prefix."""

    def __init__(self, unit: _Unit, device: BlockDevice, lba: int, count: int, fua: bool) -> None:
        super().__init__(io=unit.listener, write=True)
        self.direction = DataDirection.OUT
        self.length = count * device.block_size
        self._unit, self._device, self._lba, self._fua = unit, device, lba, fua
        self._pending = bytearray()
        self._received = 0
        self._written = 0  # blocks
        self._failed = False

    def write(self, data: bytes) -> None:
        if self._received + len(data) > self.length:
            raise LocalProtocolError("more data-out than the WRITE announced")
        self._received += len(data)
        if self._failed:
            return
        self._pending += data
        bs = self._device.block_size
        whole = len(self._pending) // bs * bs
        if not whole:
            return
        try:
            self._device.write(self._lba + self._written, bytes(self._pending[:whole]))
        except DeviceError:
            self._failed = True
            return
        del self._pending[:whole]
        self._written += whole // bs

    def complete(self) -> ScsiStatus:
        if not self._failed and self._received == self.length and self._fua:
            try:
                self._device.flush()
            except DeviceError:
                self._failed = True
        if self._failed or self._received != self.length:
            return self._unit.fail_sense(Sense.WRITE_ERROR, self._lba + self._written)
        return ScsiStatus.GOOD
