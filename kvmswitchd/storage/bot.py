"""USB Mass Storage Bulk-Only Transport (BOT), device side, sans-IO.

The host talks in *transfers* (one USB/IP URB each): ``bulk_out(data)`` delivers one OUT
transfer, ``bulk_in(max_length)`` asks for one IN transfer and gets at most
``max_length`` bytes (``None``: nothing to send yet, the URB stays pending). A data-in
stage ends with a transfer shorter than asked for (a zero-length one if needed), then the
13-byte CSW comes in its own transfer.

Host/device disagreements about the data stage follow BOT 1.0 §6.7 ("the thirteen
cases"): the status is a phase error when the directions differ or the host allowed less
than the command needs; surplus host data-out is accepted and discarded; missing data-in
ends early; the CSW residue says how much of ``dCBWDataTransferLength`` went unused.

Errors: an invalid CBW (wrong length, signature or reserved bits) or traffic out of
sequence raises ``RemoteProtocolError`` and *halts* the transport, as a device stalls
both bulk endpoints; every bulk call then raises until the host's Bulk-Only Mass Storage
Reset (``control`` request 0xFF, or ``reset()``). A USB/IP adapter answers those raises
with a stall (``-EPIPE``). Nothing a host sends makes this module raise anything else.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from kvmswitchd.errors import RemoteProtocolError
from kvmswitchd.storage.scsi import DataDirection, LogicalUnit, ScsiCommand
from kvmswitchd.storage.scsi_wire import ScsiStatus

CBW_SIGNATURE = 0x43425355  # "USBC" little-endian
CSW_SIGNATURE = 0x53425355  # "USBS"
CBW_LENGTH = 31
CSW_LENGTH = 13
# A CB longer than 16 bytes is invalid by spec; refusing it bounds what we pass to SCSI.
MAX_CB_LENGTH = 16
FLAG_DATA_IN = 0x80

_CBW = struct.Struct("<IIIBBB16s")
_CSW = struct.Struct("<IIIB")

# Class-specific requests (bRequest) on the interface.
REQUEST_GET_MAX_LUN = 0xFE
REQUEST_RESET = 0xFF
_TYPE_CLASS_INTERFACE_IN = 0xA1
_TYPE_CLASS_INTERFACE_OUT = 0x21


class CswStatus(enum.IntEnum):
    PASSED = 0
    FAILED = 1
    PHASE_ERROR = 2


@dataclass(frozen=True, slots=True)
class CommandBlockWrapper:
    """A CBW: ``cb`` is the SCSI CDB (1-16 bytes)."""

    tag: int
    data_length: int
    data_in: bool
    lun: int
    cb: bytes

    def encode(self) -> bytes:
        if not 1 <= len(self.cb) <= MAX_CB_LENGTH:
            raise ValueError("a CB is 1..16 bytes")
        flags = FLAG_DATA_IN if self.data_in else 0
        return _CBW.pack(
            CBW_SIGNATURE, self.tag, self.data_length, flags, self.lun, len(self.cb), self.cb
        )

    @classmethod
    def decode(cls, data: bytes) -> CommandBlockWrapper:
        """Parse exactly one CBW; ``RemoteProtocolError`` if it is not valid and meaningful."""
        if len(data) != CBW_LENGTH:
            raise RemoteProtocolError(f"CBW must be {CBW_LENGTH} bytes, got {len(data)}")
        signature, tag, length, flags, lun, cb_length, cb = _CBW.unpack(data)
        if signature != CBW_SIGNATURE:
            raise RemoteProtocolError(f"bad CBW signature 0x{signature:08x}")
        if flags & ~FLAG_DATA_IN:
            raise RemoteProtocolError(f"reserved CBW flag bits set: 0x{flags:02x}")
        if lun > 0x0F:
            raise RemoteProtocolError(f"reserved CBW LUN bits set: 0x{lun:02x}")
        if not 1 <= cb_length <= MAX_CB_LENGTH:
            raise RemoteProtocolError(f"CB length must be 1..16, got {cb_length}")
        return cls(tag, length, bool(flags & FLAG_DATA_IN), lun, cb[:cb_length])


@dataclass(frozen=True, slots=True)
class CommandStatusWrapper:
    tag: int
    residue: int
    status: CswStatus

    def encode(self) -> bytes:
        return _CSW.pack(CSW_SIGNATURE, self.tag, self.residue, self.status)

    @classmethod
    def decode(cls, data: bytes) -> CommandStatusWrapper:
        if len(data) != CSW_LENGTH:
            raise RemoteProtocolError(f"CSW must be {CSW_LENGTH} bytes, got {len(data)}")
        signature, tag, residue, status = _CSW.unpack(data)
        if signature != CSW_SIGNATURE:
            raise RemoteProtocolError(f"bad CSW signature 0x{signature:08x}")
        try:
            return cls(tag, residue, CswStatus(status))
        except ValueError:
            raise RemoteProtocolError(f"bad CSW status {status}") from None


class Phase(enum.Enum):
    COMMAND = "command"
    DATA_IN = "data-in"
    DATA_OUT = "data-out"
    STATUS = "status"
    HALTED = "halted"  # stalled until Bulk-Only Mass Storage Reset


class BulkOnlyTransport:
    """The bulk endpoints and class requests of a one-LUN mass-storage interface."""

    def __init__(self, unit: LogicalUnit, *, interface: int = 0) -> None:
        self.unit = unit
        self.interface = interface
        self._phase = Phase.COMMAND
        self._command: ScsiCommand | None = None
        self._tag = 0
        self._host_length = 0
        self._device_length = 0  # bytes the device will actually move in the data stage
        self._moved = 0  # data-in bytes sent / data-out bytes received from the host
        self._phase_error = False
        self._csw: CommandStatusWrapper | None = None

    @property
    def phase(self) -> Phase:
        return self._phase

    # -- bulk endpoints ---------------------------------------------------------------

    def bulk_out(self, data: bytes) -> None:
        """One OUT transfer from the host: a CBW, or data-out."""
        if self._phase is Phase.COMMAND:
            try:
                cbw = CommandBlockWrapper.decode(data)
            except RemoteProtocolError:
                self._halt()
                raise
            self._start(cbw)
        elif self._phase is Phase.DATA_OUT:
            self._data_out(data)
        else:
            state = self._phase.value
            self._halt()
            raise RemoteProtocolError(f"bulk-out transfer during the {state} phase")

    def bulk_in(self, max_length: int) -> bytes | None:
        """One IN transfer of at most ``max_length`` bytes; None: nothing to send yet."""
        if self._phase is Phase.HALTED:
            raise RemoteProtocolError("bulk-in endpoint halted: Bulk-Only reset required")
        if max_length <= 0:
            raise RemoteProtocolError("a bulk-in transfer must ask for at least one byte")
        if self._phase is Phase.DATA_IN:
            return self._data_in(max_length)
        if self._phase is Phase.STATUS:
            if max_length < CSW_LENGTH:
                self._halt()
                raise RemoteProtocolError(f"CSW needs a {CSW_LENGTH}-byte transfer")
            assert self._csw is not None  # set when entering STATUS
            csw = self._csw
            self._end_command(report=True)
            self._phase = Phase.COMMAND
            return csw.encode()
        return None

    # -- class requests and resets ----------------------------------------------------

    def control(
        self, request_type: int, request: int, value: int, index: int, length: int
    ) -> bytes:
        """A class request on the interface; anything unknown stalls (RemoteProtocolError)."""
        if index != self.interface or value != 0:
            raise RemoteProtocolError("class request for another interface or with wValue")
        if request_type == _TYPE_CLASS_INTERFACE_IN and request == REQUEST_GET_MAX_LUN:
            if length < 1:
                raise RemoteProtocolError("GET MAX LUN needs wLength >= 1")
            return b"\x00"  # one LUN
        if request_type == _TYPE_CLASS_INTERFACE_OUT and request == REQUEST_RESET:
            if length != 0:
                raise RemoteProtocolError("Bulk-Only reset carries no data")
            self.reset()
            return b""
        raise RemoteProtocolError(f"unsupported class request 0x{request_type:02x}/0x{request:02x}")

    def reset(self) -> None:
        """Bulk-Only Mass Storage Reset: abort any command, ready for the next CBW.
        The unit keeps its lock and sense (the host reset the transport, not the LUN)."""
        self._end_command(report=True)
        self._phase = Phase.COMMAND

    def disconnect(self) -> None:
        """The device is unplugged from its host (storage moving to another port).

        Aborts any command without reporting it and resets the unit's host state (lock,
        sense; a UNIT ATTENTION for the next host): the hand-over core has already
        forgotten the old host's I/O and lock.
        """
        self._end_command(report=False)
        self._phase = Phase.COMMAND
        self.unit.host_changed()

    # -- internals --------------------------------------------------------------------

    def _halt(self) -> None:
        self._end_command(report=True)
        self._phase = Phase.HALTED

    def _end_command(self, *, report: bool) -> None:
        command, self._command = self._command, None
        self._csw = None
        if command is not None:
            command.release(report=report)

    def _start(self, cbw: CommandBlockWrapper) -> None:
        command = self.unit.begin(cbw.cb, cbw.lun)
        self._command, self._tag = command, cbw.tag
        self._host_length, self._moved = cbw.data_length, 0
        wants = command.length if command.direction is not DataDirection.NONE else 0
        host_direction = (
            DataDirection.NONE
            if cbw.data_length == 0
            else DataDirection.IN
            if cbw.data_in
            else DataDirection.OUT
        )
        # Phase error: the device wants data the host didn't offer (cases 2, 3, 8, 10,
        # 13) or more than the host allows (case 7: send what the host allows).
        wrong_way = wants > 0 and command.direction is not host_direction
        too_little = wants > cbw.data_length
        self._phase_error = wrong_way or too_little
        if wrong_way:
            self._device_length = 0
        elif host_direction is DataDirection.IN:
            self._device_length = min(wants, cbw.data_length)
        else:
            self._device_length = 0 if too_little else wants  # never write a short WRITE
        if host_direction is DataDirection.NONE:
            self._finish()
        else:
            self._phase = Phase.DATA_IN if host_direction is DataDirection.IN else Phase.DATA_OUT

    def _data_in(self, max_length: int) -> bytes:
        assert self._command is not None  # set for the whole data phase
        left = self._device_length - self._moved
        if left <= 0:  # nothing (more) to send: a zero-length transfer ends the stage
            self._finish()
            return b""
        size = min(max_length, left)
        chunk = self._command.read(size)
        self._moved += size
        if self._moved == self._device_length and (
            self._moved == self._host_length or size < max_length
        ):
            self._finish()  # full length, or a short transfer: the host knows it's over
        return chunk

    def _data_out(self, data: bytes) -> None:
        assert self._command is not None
        if len(data) > self._host_length - self._moved:
            self._halt()
            raise RemoteProtocolError("more data-out than the CBW announced")
        take = max(0, min(len(data), self._device_length - self._moved))
        if take:
            self._command.write(data[:take])
        self._moved += len(data)
        if self._moved == self._host_length:
            self._finish()

    def _finish(self) -> None:
        assert self._command is not None
        if self._phase_error:
            status = CswStatus.PHASE_ERROR
        elif self._command.complete() is ScsiStatus.GOOD:
            status = CswStatus.PASSED
        else:
            status = CswStatus.FAILED
        used = min(self._moved, self._device_length)
        self._csw = CommandStatusWrapper(self._tag, self._host_length - used, status)
        self._phase = Phase.STATUS
