"""SPEC §3.4 end to end: storage is never yanked mid-write.

A hand-over core, the SCSI/BOT device model over a real image file (through the
emulated LUN, as the daemon wires it) and one emulated host per port. Hypothesis
interleaves block writes (a transfer at a time), reads, focus moves (some forced), time,
locks and host ejects, and checks that:

- every acknowledged write is in the image file, intact, unless a later write to the same
  block was started (a forced move may cut that one short: its blocks hold old or new);
- the storage never changes port while I/O is in flight or the medium is locked, unless
  the move was forced — and a forced move says so;
- every held / moved / stayed answer is exactly what a plain model of the rules predicts.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from pathlib import Path

from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from kvmswitchd.core.ports import PortId
from kvmswitchd.core.storage import (
    AccessMode,
    HoldReason,
    StayReason,
    StorageEjected,
    StorageEvent,
    StorageHandover,
    StorageHeld,
    StorageMoved,
    StorageStayed,
)
from kvmswitchd.storage.blockdev import BlockDevice, FileBlockDevice
from kvmswitchd.storage.bot import BulkOnlyTransport, CswStatus
from kvmswitchd.storage.initiator import BotInitiator, CheckConditionError, Exchange, write10
from kvmswitchd.storage.lun import EmulatedLun
from kvmswitchd.storage.scsi import LogicalUnit

QUIET = 2.0
BLOCKS = 16
BS = 512
PORTS = [PortId(n) for n in (1, 2, 3)]


def open_unsynced(path: Path, read_only: bool) -> BlockDevice:
    """The image file without fsync: power-loss durability is not this test's subject (it
    reads the file back through the page cache), and fsync would dominate its runtime."""
    return FileBlockDevice.open(path, read_only, durable=False)


class Glue:
    """What the daemon does: forward device reports to the core with port and ``now``."""

    def __init__(self, machine: SwitchMachine) -> None:
        self.m = machine

    def _port(self) -> PortId:
        port = self.m.core.state().port
        assert port is not None
        return port

    def io_started(self, write: bool) -> None:
        self.m.core.io_started(self._port(), self.m.now, write=write)

    def io_finished(self, write: bool) -> None:
        self.m.core.io_finished(self._port(), self.m.now, write=write)

    def lock_changed(self, locked: bool) -> None:
        self.m.core.lock_changed(self._port(), locked, self.m.now)

    def host_ejected(self) -> None:
        # Applied after the current command (the daemon would call_soon it).
        self.m.queued.extend(self.m.core.host_ejected(self._port(), self.m.now))


class SwitchMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="kvm-storage-"))
        self.path = self.dir / "disk.img"
        self.path.write_bytes(bytes(BLOCKS * BS))
        self.now = 0.0
        self.queued: list[StorageEvent] = []
        self.core = StorageHandover(QUIET, focus=PORTS[0])
        self.core.attach("disk.img", AccessMode.READ_WRITE)
        self.unit = LogicalUnit(removable=True, listener=Glue(self))
        self.bus = EmulatedLun(self.unit, opener=open_unsynced)
        self.bus.set_file(str(self.path))
        self.transport = BulkOnlyTransport(self.unit)
        self.hosts = {p: BotInitiator(self.transport, transfer_size=BS) for p in PORTS}
        # The model.
        self.port = PORTS[0]
        self.pending: PortId | None = None
        self.locked = False
        self.ejected = False
        self.last = float("-inf")
        self.writing: tuple[Exchange, int, bytes] | None = None
        self.allowed: list[set[bytes]] = [{bytes(BS)} for _ in range(BLOCKS)]
        self.settle()

    def teardown(self) -> None:
        with contextlib.suppress(Exception):
            self.bus.forced_eject()
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- helpers ----------------------------------------------------------------------

    @property
    def host(self) -> BotInitiator:
        return self.hosts[self.port]

    def settle(self) -> None:
        """A freshly connected host clears its UNIT ATTENTION (TEST UNIT READY: no I/O)."""
        for _ in range(3):
            try:
                self.host.test_unit_ready()
            except CheckConditionError:
                continue
            return

    def reason(self) -> HoldReason | None:
        if self.writing is not None:
            return HoldReason.WRITE_IN_FLIGHT
        if self.locked:
            return HoldReason.MEDIUM_LOCKED
        if not self.ejected and self.now - self.last < QUIET:
            return HoldReason.RECENTLY_ACTIVE
        return None

    def move(self, moved: StorageMoved) -> None:
        """Apply a move as the daemon would: unplug, re-insert if ejected, plug in."""
        assert moved.from_port == self.port
        if not moved.forced:
            assert self.writing is None, "moved with a write in flight"
            assert not self.locked, "moved while the host held the lock"
        event(f"moved: forced={moved.forced} deferred={moved.deferred} overrode={moved.overrode}")
        self.transport.disconnect()
        self.writing = None  # an aborted write's blocks stay "old or new"
        if self.bus.file() == "":
            self.bus.set_file(str(self.path))
        self.port, self.pending = moved.to_port, None
        self.locked = self.ejected = False
        self.last = float("-inf")
        self.settle()

    def apply_queued(self) -> None:
        queued, self.queued = self.queued, []
        for item in queued:
            if isinstance(item, StorageEjected):
                assert item.port == self.port
            elif isinstance(item, StorageMoved):
                assert self.pending == item.to_port
                assert item.deferred
                event("held move released by the host's eject")
                self.move(item)

    # -- rules ------------------------------------------------------------------------

    @precondition(lambda self: self.writing is None and not self.ejected)
    @rule(lba=st.integers(0, BLOCKS - 1), count=st.integers(1, 4), fill=st.integers(1, 255))
    def begin_write(self, lba: int, count: int, fill: int) -> None:
        count = min(count, BLOCKS - lba)
        data = bytes([fill]) * (count * BS)
        exchange = self.host.exchange(write10(lba, count), data_out=data)
        exchange.step()  # the CBW: the write is now in flight
        self.last = self.now
        for block in range(lba, lba + count):
            self.allowed[block].add(data[:BS])
        self.writing = (exchange, lba, data)

    @precondition(lambda self: self.writing is not None)
    @rule()
    def write_progresses(self) -> None:
        assert self.writing is not None
        exchange, lba, data = self.writing
        exchange.step()
        if exchange.result is None:
            return
        self.writing = None
        self.last = self.now
        assert exchange.result.status is CswStatus.PASSED
        for block in range(lba, lba + len(data) // BS):
            self.allowed[block] = {data[:BS]}  # acknowledged

    @precondition(lambda self: self.writing is None and not self.ejected)
    @rule(lba=st.integers(0, BLOCKS - 1))
    def read_back(self, lba: int) -> None:
        assert self.host.read(lba, 1) in self.allowed[lba]
        self.last = self.now

    @precondition(lambda self: self.writing is None and not self.ejected)
    @rule(prevent=st.booleans())
    def host_locks(self, prevent: bool) -> None:
        self.host.prevent_removal(prevent)
        if prevent != self.locked:  # only a change of the lock is reported (and is activity)
            self.last = self.now
        self.locked = prevent

    @precondition(lambda self: self.writing is None and not self.ejected and not self.locked)
    @rule()
    def host_ejects(self) -> None:
        will_move = self.pending is not None
        self.host.eject()
        self.ejected = True
        self.last = self.now
        moved = [e for e in self.queued if isinstance(e, StorageMoved)]
        assert bool(moved) == will_move
        self.apply_queued()

    @rule(to=st.sampled_from(PORTS), force=st.sampled_from([False, False, False, True]))
    def switch(self, to: PortId, force: bool) -> None:
        result = self.core.focus_moved(to, self.now, force=force)
        reason = self.reason()
        if to == self.port:
            assert result == StorageStayed(self.port, StayReason.ALREADY_THERE)
            self.pending = None
        elif reason is None or force:
            assert result == StorageMoved(
                "disk.img", self.port, to, forced=reason is not None, overrode=reason
            )
            self.move(result)
        else:
            assert result == StorageHeld("disk.img", self.port, to, reason)
            self.pending = to

    @rule(dt=st.sampled_from([0.1, 0.5, 1.0, 2.5]))
    def time_passes(self, dt: float) -> None:
        self.now += dt
        deadline = self.core.next_deadline()
        result = self.core.handle_timer(self.now) if deadline is not None else None
        if self.pending is not None and self.reason() is None:
            assert isinstance(result, StorageMoved)
            assert result.deferred
            assert not result.forced
            assert result.to_port == self.pending
            self.move(result)
        else:
            assert result is None

    # -- invariants -------------------------------------------------------------------

    @invariant()
    def core_agrees(self) -> None:
        state = self.core.state()
        assert state.port == self.port
        assert state.pending == self.pending
        assert state.locked == self.locked == self.unit.locked
        assert state.in_flight == (1 if self.writing is not None else 0)

    @invariant()
    def image_file_holds_every_acknowledged_write(self) -> None:
        raw = self.path.read_bytes()
        for block in range(BLOCKS):
            assert raw[block * BS : (block + 1) * BS] in self.allowed[block], block


TestSwitchMachine = SwitchMachine.TestCase
TestSwitchMachine.settings = settings(max_examples=120, stateful_step_count=40, deadline=None)
