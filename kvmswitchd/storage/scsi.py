"""A sans-IO SCSI direct-access logical unit: the disk a mass-storage device presents.

``LogicalUnit.begin(cdb)`` starts one command and returns a ``ScsiCommand``
(``scsi_command``) that the transport (``kvmswitchd.storage.bot``) feeds or drains,
completes and releases. Blocks go through a ``BlockDevice``; the unit does no I/O itself.

LUN state follows the Linux mass-storage gadget (protocols.md §7.3): ``read_only``
changes only with no medium; loading a medium raises a UNIT ATTENTION (NOT READY TO
READY); the host's PREVENT ALLOW MEDIUM REMOVAL lock makes an operator eject fail with
``BusyError("host has the medium locked")`` unless forced; with ``removable`` the host's
START STOP UNIT eject unloads the medium by itself.

The ``MediumListener`` hears what the storage hand-over core
(``kvmswitchd.core.storage``) needs: I/O start/finish (READ, WRITE, SYNCHRONIZE CACHE;
polling such as TEST UNIT READY is not activity), lock changes and host ejects.
"""

from __future__ import annotations

from kvmswitchd.errors import BusyError, DeviceError
from kvmswitchd.storage.blockdev import BlockDevice
from kvmswitchd.storage.scsi_command import (
    DataDirection,
    MediumListener,
    NullListener,
    ReadCommand,
    ScsiCommand,
    WriteCommand,
)
from kvmswitchd.storage.scsi_wire import (
    InquiryIdentity,
    Opcode,
    ScsiStatus,
    Sense,
    fixed_sense,
    format_capacities,
    inquiry_data,
    mode_sense_data,
    read_capacity_data,
)

__all__ = ["DataDirection", "LogicalUnit", "MediumListener", "NullListener", "ScsiCommand"]


# Commands answered even with a UNIT ATTENTION pending (SPC; as the Linux gadget does).
_UA_EXEMPT = frozenset({Opcode.INQUIRY, Opcode.REQUEST_SENSE})
# Commands that need a medium loaded.
_NEEDS_MEDIUM = frozenset(
    {
        Opcode.TEST_UNIT_READY,
        Opcode.READ_FORMAT_CAPACITIES,
        Opcode.READ_CAPACITY_10,
        Opcode.READ_10,
        Opcode.WRITE_10,
        Opcode.SYNCHRONIZE_CACHE_10,
    }
)


class LogicalUnit:
    """LUN 0 of a mass-storage device; the medium is a ``BlockDevice`` or nothing."""

    def __init__(
        self,
        *,
        identity: InquiryIdentity | None = None,
        removable: bool = True,
        read_only: bool = False,
        listener: MediumListener | None = None,
    ) -> None:
        self.identity = identity or InquiryIdentity()
        self.removable = removable
        self.listener: MediumListener = listener or NullListener()
        self._read_only = read_only
        self._medium: BlockDevice | None = None
        self._locked = False
        self._sense = Sense.NO_SENSE
        self._sense_info: int | None = None
        self._attention = Sense.NO_SENSE

    # -- configfs-like attributes -------------------------------------------------------

    @property
    def medium(self) -> BlockDevice | None:
        return self._medium

    @property
    def read_only(self) -> bool:
        return self._read_only

    def set_read_only(self, read_only: bool) -> None:
        if self._medium is not None:
            raise BusyError("read-only status change prevented: unload the medium first")
        self._read_only = read_only

    @property
    def locked(self) -> bool:
        """The host's PREVENT ALLOW MEDIUM REMOVAL lock."""
        return self._locked

    @property
    def sense(self) -> Sense:
        """The sense data REQUEST SENSE would return now."""
        return self._sense

    def load(self, device: BlockDevice) -> None:
        """Insert ``device`` (replacing any medium). Sets UNIT ATTENTION: medium changed."""
        if self._medium is not None and self._locked:
            raise BusyError("host has the medium locked")
        self._close_medium()
        self._medium = device
        self._attention = Sense.NOT_READY_TO_READY

    def unload(self, *, force: bool = False) -> None:
        """Eject by the operator. ``force`` is ``forced_eject``: it breaks the host's lock."""
        if self._medium is None:
            return
        if self._locked and not force:
            raise BusyError("host has the medium locked")
        self._locked = False
        self._close_medium()
        self._attention = Sense.MEDIUM_NOT_PRESENT

    def host_changed(self) -> None:
        """The device was unplugged from one host and plugged into another: the new host
        holds no lock and sees a reset. Reports nothing (the core forgets the old host)."""
        self._locked = False
        self._sense, self._sense_info = Sense.NO_SENSE, None
        self._attention = Sense.RESET_OCCURRED

    def _close_medium(self) -> None:
        medium, self._medium = self._medium, None
        if medium is None:
            return
        try:
            medium.flush()
        finally:
            medium.close()

    # -- commands ---------------------------------------------------------------------

    def fail_sense(self, sense: Sense, info: int | None = None) -> ScsiStatus:
        """Record ``sense`` for the next REQUEST SENSE; return CHECK CONDITION."""
        self._sense, self._sense_info = sense, info
        return ScsiStatus.CHECK_CONDITION

    def _fail(self, sense: Sense, info: int | None = None) -> ScsiCommand:
        return ScsiCommand(self.fail_sense(sense, info))

    def begin(self, cdb: bytes, lun: int = 0) -> ScsiCommand:
        """Start the command in ``cdb`` addressed to ``lun``. Never raises for bad input."""
        if not cdb:
            return self._fail(Sense.INVALID_COMMAND)
        op = cdb[0]
        if op != Opcode.REQUEST_SENSE:
            self._sense, self._sense_info = Sense.NO_SENSE, None
        if lun != 0:
            if op == Opcode.INQUIRY and len(cdb) >= 6:
                return ScsiCommand(
                    data=inquiry_data(self.identity, cdb, present=False, removable=self.removable)
                )
            if op == Opcode.REQUEST_SENSE and len(cdb) >= 6:
                return ScsiCommand(data=fixed_sense(Sense.LUN_NOT_SUPPORTED)[: cdb[4]])
            return self._fail(Sense.LUN_NOT_SUPPORTED)
        try:
            opcode = Opcode(op)
        except ValueError:
            return self._fail(Sense.INVALID_COMMAND)
        if len(cdb) < opcode.cdb_length:
            return self._fail(Sense.INVALID_COMMAND)
        if self._attention is not Sense.NO_SENSE and opcode not in _UA_EXEMPT:
            attention, self._attention = self._attention, Sense.NO_SENSE
            return self._fail(attention)
        if opcode in _NEEDS_MEDIUM and self._medium is None:
            return self._fail(Sense.MEDIUM_NOT_PRESENT)
        return self._dispatch(opcode, cdb)

    def _dispatch(self, opcode: Opcode, cdb: bytes) -> ScsiCommand:
        medium = self._medium
        match opcode:
            case Opcode.TEST_UNIT_READY:
                return ScsiCommand()
            case Opcode.REQUEST_SENSE:
                data = fixed_sense(self._sense, self._sense_info)[: cdb[4]]
                self._sense, self._sense_info = Sense.NO_SENSE, None
                return ScsiCommand(data=data)
            case Opcode.INQUIRY:
                if cdb[1] & 0x01:  # EVPD: no vital product data pages
                    return self._fail(Sense.INVALID_FIELD_IN_CDB)
                return ScsiCommand(
                    data=inquiry_data(self.identity, cdb, present=True, removable=self.removable)
                )
            case Opcode.MODE_SENSE_6 | Opcode.MODE_SENSE_10:
                page = mode_sense_data(cdb, write_protected=self._read_only)
                if page is None:
                    return self._fail(Sense.INVALID_FIELD_IN_CDB)
                return ScsiCommand(data=page)
            case Opcode.START_STOP_UNIT:
                return self._start_stop(cdb)
            case Opcode.PREVENT_ALLOW_MEDIUM_REMOVAL:
                return self._prevent_allow(cdb)
            case Opcode.READ_FORMAT_CAPACITIES:
                assert medium is not None  # _NEEDS_MEDIUM checked
                alloc = int.from_bytes(cdb[7:9])
                return ScsiCommand(data=format_capacities(medium)[:alloc])
            case Opcode.READ_CAPACITY_10:
                assert medium is not None
                return ScsiCommand(data=read_capacity_data(medium))
            case Opcode.READ_10 | Opcode.WRITE_10:
                assert medium is not None
                return self._read_write(opcode, cdb, medium)
            case Opcode.SYNCHRONIZE_CACHE_10:
                assert medium is not None
                command = ScsiCommand(io=self.listener, write=True)
                try:
                    medium.flush()
                except DeviceError:
                    command.release()
                    return self._fail(Sense.WRITE_ERROR)
                return command

    def _read_write(self, opcode: Opcode, cdb: bytes, medium: BlockDevice) -> ScsiCommand:
        if cdb[1] & ~0x18:  # only DPO (0x10) and FUA (0x08) are understood
            return self._fail(Sense.INVALID_FIELD_IN_CDB)
        lba, count = int.from_bytes(cdb[2:6]), int.from_bytes(cdb[7:9])
        if lba + count > medium.block_count:
            return self._fail(Sense.LBA_OUT_OF_RANGE, lba)
        if opcode is Opcode.WRITE_10 and self._read_only:
            return self._fail(Sense.WRITE_PROTECTED)
        if count == 0:
            return ScsiCommand()
        if opcode is Opcode.READ_10:
            return ReadCommand(self, medium, lba, count)
        return WriteCommand(self, medium, lba, count, fua=bool(cdb[1] & 0x08))

    def _prevent_allow(self, cdb: bytes) -> ScsiCommand:
        if not self.removable:
            return self._fail(Sense.INVALID_COMMAND)
        if cdb[4] & ~0x01:
            return self._fail(Sense.INVALID_FIELD_IN_CDB)
        prevent = bool(cdb[4] & 0x01)
        if self._locked and not prevent and self._medium is not None:
            try:
                self._medium.flush()
            except DeviceError:
                return self._fail(Sense.WRITE_ERROR)
        if prevent != self._locked:
            self._locked = prevent
            self.listener.lock_changed(prevent)
        return ScsiCommand()

    def _start_stop(self, cdb: bytes) -> ScsiCommand:
        if not self.removable:
            return self._fail(Sense.INVALID_COMMAND)
        if cdb[1] & ~0x01 or cdb[4] & ~0x03:  # only IMMED, LOEJ and START
            return self._fail(Sense.INVALID_FIELD_IN_CDB)
        load_eject, start = bool(cdb[4] & 0x02), bool(cdb[4] & 0x01)
        if start:
            return ScsiCommand() if self._medium else self._fail(Sense.MEDIUM_NOT_PRESENT)
        if self._locked:
            return self._fail(Sense.MEDIUM_REMOVAL_PREVENTED)
        if not load_eject or self._medium is None:
            return ScsiCommand()
        try:
            self._close_medium()  # closes even when the final flush fails
        except DeviceError:
            self.listener.host_ejected()
            return self._fail(Sense.WRITE_ERROR)
        self.listener.host_ejected()
        return ScsiCommand()
