"""The host side of Bulk-Only Transport: what an emulated computer uses to drive a disk.

``BotInitiator`` sends SCSI commands through any ``BulkOnlyPeer`` (the in-process
``BulkOnlyTransport``, or a USB/IP client) and presents the result as a ``BlockDevice``,
so ``volume.FlatVolume`` can store files through the whole SCSI/BOT path. ``Exchange``
runs one command a transfer at a time, for tests that interleave a write with switching.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from kvmswitchd.errors import DeviceError, RemoteProtocolError
from kvmswitchd.storage.bot import (
    CSW_LENGTH,
    REQUEST_GET_MAX_LUN,
    REQUEST_RESET,
    CommandBlockWrapper,
    CommandStatusWrapper,
    CswStatus,
)
from kvmswitchd.storage.scsi_wire import FIXED_SENSE_LENGTH, Opcode, Sense, parse_fixed_sense

# The largest READ/WRITE the initiator issues (Linux usb-storage's default is 240 sectors).
MAX_BLOCKS_PER_COMMAND = 128


class BulkOnlyPeer(Protocol):
    def bulk_out(self, data: bytes) -> None: ...
    def bulk_in(self, max_length: int) -> bytes | None: ...
    def control(
        self, request_type: int, request: int, value: int, index: int, length: int
    ) -> bytes: ...


class CheckConditionError(DeviceError):
    """The device failed a command; ``sense`` is the packed 0xKKAAQQ it reported."""

    def __init__(self, opcode: int, sense: int, info: int | None) -> None:
        try:
            name = Sense(sense).name
        except ValueError:
            name = f"0x{sense:06x}"
        super().__init__(f"SCSI command 0x{opcode:02x} failed: {name}")
        self.opcode, self.sense, self.info = opcode, sense, info


@dataclass(frozen=True, slots=True)
class CommandResult:
    status: CswStatus
    data: bytes
    residue: int


def read10(lba: int, count: int, *, fua: bool = False) -> bytes:
    return _rw10(Opcode.READ_10, lba, count, fua)


def write10(lba: int, count: int, *, fua: bool = False) -> bytes:
    return _rw10(Opcode.WRITE_10, lba, count, fua)


def _rw10(opcode: Opcode, lba: int, count: int, fua: bool) -> bytes:
    flags = 0x08 if fua else 0
    return bytes([opcode, flags]) + lba.to_bytes(4) + b"\0" + count.to_bytes(2) + b"\0"


def prevent_allow(prevent: bool) -> bytes:
    return bytes([Opcode.PREVENT_ALLOW_MEDIUM_REMOVAL, 0, 0, 0, int(prevent), 0])


def start_stop(*, start: bool, load_eject: bool) -> bytes:
    return bytes([Opcode.START_STOP_UNIT, 0, 0, 0, int(start) | (load_eject << 1), 0])


class Exchange:
    """One command: CBW, data stage, CSW, advanced one transfer per ``step()``."""

    def __init__(
        self, peer: BulkOnlyPeer, cbw: CommandBlockWrapper, data_out: bytes, transfer_size: int
    ) -> None:
        self._peer, self._cbw, self._out = peer, cbw, data_out
        self._size = transfer_size
        self._data = bytearray()
        self._stage = "command"
        self.result: CommandResult | None = None

    @property
    def done(self) -> bool:
        return self.result is not None

    @property
    def stage(self) -> str:
        return self._stage

    def step(self) -> None:
        """Do the next transfer. Device errors propagate (``RemoteProtocolError``: stall)."""
        if self._stage == "command":
            self._peer.bulk_out(self._cbw.encode())
            length = self._cbw.data_length
            self._stage = "status" if not length else "in" if self._cbw.data_in else "out"
        elif self._stage == "in":
            ask = min(self._size, self._cbw.data_length - len(self._data))
            chunk = self._expect(ask)
            self._data += chunk
            if len(chunk) < ask or len(self._data) == self._cbw.data_length:
                self._stage = "status"
        elif self._stage == "out":
            sent = self._cbw.data_length - len(self._out)
            self._peer.bulk_out(self._out[: self._size])
            self._out = self._out[self._size :]
            if sent + self._size >= self._cbw.data_length:
                self._stage = "status"
        elif self._stage == "status":
            csw = CommandStatusWrapper.decode(self._expect(CSW_LENGTH))
            if csw.tag != self._cbw.tag:
                raise RemoteProtocolError(f"CSW tag {csw.tag} for CBW tag {self._cbw.tag}")
            self.result = CommandResult(csw.status, bytes(self._data), csw.residue)
            self._stage = "done"

    def run(self) -> CommandResult:
        while self.result is None:
            self.step()
        return self.result

    def _expect(self, length: int) -> bytes:
        chunk = self._peer.bulk_in(length)
        if chunk is None:
            raise DeviceError("device has nothing to send where BOT says it must")
        return chunk


class BotInitiator:
    """A SCSI initiator over BOT; also a ``BlockDevice`` once ``probe()`` has run."""

    def __init__(self, peer: BulkOnlyPeer, *, transfer_size: int = 16 * 1024) -> None:
        if transfer_size < CSW_LENGTH:
            raise ValueError("transfer_size must hold a CSW")
        self.peer = peer
        self.transfer_size = transfer_size
        self._tag = 0
        self._geometry: tuple[int, int] | None = None

    def exchange(self, cdb: bytes, *, data_in: int = 0, data_out: bytes = b"") -> Exchange:
        """Prepare one command without running it (see ``Exchange.step``)."""
        self._tag = (self._tag + 1) & 0xFFFFFFFF
        length = data_in or len(data_out)
        cbw = CommandBlockWrapper(self._tag, length, bool(data_in), 0, cdb)
        return Exchange(self.peer, cbw, data_out, self.transfer_size)

    def command(self, cdb: bytes, *, data_in: int = 0, data_out: bytes = b"") -> bytes:
        """Run a command; ``CheckConditionError`` (after REQUEST SENSE) if it failed."""
        result = self.exchange(cdb, data_in=data_in, data_out=data_out).run()
        if result.status is CswStatus.PASSED:
            return result.data
        if result.status is CswStatus.PHASE_ERROR:
            self.reset_recovery()
            raise DeviceError(f"phase error on SCSI command 0x{cdb[0]:02x}")
        sense, info = self.request_sense()
        raise CheckConditionError(cdb[0], sense, info)

    def request_sense(self) -> tuple[int, int | None]:
        cdb = bytes([Opcode.REQUEST_SENSE, 0, 0, 0, FIXED_SENSE_LENGTH, 0])
        result = self.exchange(cdb, data_in=FIXED_SENSE_LENGTH).run()
        return parse_fixed_sense(result.data)

    def reset_recovery(self) -> None:
        """Bulk-Only Mass Storage Reset (clearing both halts is implicit here)."""
        self.peer.control(0x21, REQUEST_RESET, 0, 0, 0)

    def max_lun(self) -> int:
        return self.peer.control(0xA1, REQUEST_GET_MAX_LUN, 0, 0, 1)[0]

    def test_unit_ready(self) -> None:
        self.command(bytes(6))

    def inquiry(self) -> bytes:
        return self.command(bytes([Opcode.INQUIRY, 0, 0, 0, 36, 0]), data_in=36)

    def mode_sense6(self) -> bytes:
        return self.command(bytes([Opcode.MODE_SENSE_6, 0, 0x3F, 0, 192, 0]), data_in=192)

    def probe(self) -> tuple[int, int]:
        """READ CAPACITY(10): ``(block_count, block_size)``, remembered for I/O."""
        data = self.command(bytes([Opcode.READ_CAPACITY_10]) + bytes(9), data_in=8)
        geometry = int.from_bytes(data[0:4]) + 1, int.from_bytes(data[4:8])
        self._geometry = geometry
        return geometry

    @property
    def block_count(self) -> int:
        return (self._geometry or self.probe())[0]

    @property
    def block_size(self) -> int:
        return (self._geometry or self.probe())[1]

    def read(self, lba: int, count: int) -> bytes:
        out = bytearray()
        while count > 0:
            n = min(count, MAX_BLOCKS_PER_COMMAND)
            out += self.command(read10(lba, n), data_in=n * self.block_size)
            lba, count = lba + n, count - n
        return bytes(out)

    def write(self, lba: int, data: bytes) -> None:
        size = self.block_size
        step = MAX_BLOCKS_PER_COMMAND * size
        for offset in range(0, len(data), step):
            piece = data[offset : offset + step]
            self.command(write10(lba + offset // size, len(piece) // size), data_out=piece)

    def flush(self) -> None:
        self.command(bytes([Opcode.SYNCHRONIZE_CACHE_10]) + bytes(9))

    def close(self) -> None:
        """Nothing to release: the device, not the initiator, owns the medium."""

    def prevent_removal(self, prevent: bool) -> None:
        self.command(prevent_allow(prevent))

    def eject(self) -> None:
        """ "Safely remove": flush, allow removal, START STOP UNIT with LoEj."""
        self.flush()
        self.prevent_removal(False)
        self.command(start_stop(start=False, load_eject=True))
        self._geometry = None
