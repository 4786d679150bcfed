"""The storage hand-over core (SPEC §3.4): held while busy, follows when quiet, forced on demand."""

from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from kvmswitchd.core.ports import PortId
from kvmswitchd.core.storage import (
    AccessMode,
    HoldReason,
    StayReason,
    StorageAttached,
    StorageDetached,
    StorageEjected,
    StorageHandover,
    StorageHeld,
    StorageMoved,
    StorageStayed,
)
from kvmswitchd.errors import BusyError, ConfigError, LocalProtocolError, NotFoundError

P1, P2, P3 = PortId(1), PortId(2), PortId(3)
QUIET = 2.0


def attached(focus: PortId = P1, mode: AccessMode = AccessMode.READ_WRITE) -> StorageHandover:
    core = StorageHandover(QUIET, focus=focus)
    core.attach("disk.img", mode)
    return core


def test_attach_goes_to_the_usb_focus_port() -> None:
    core = StorageHandover(QUIET, focus=P2)
    event = core.attach("disk.img", AccessMode.READ_ONLY)
    assert event == StorageAttached("disk.img", P2, AccessMode.READ_ONLY, pinned=False)
    state = core.state()
    assert (state.image, state.port, state.mode, state.pinned) == (
        "disk.img",
        P2,
        AccessMode.READ_ONLY,
        False,
    )


def test_attach_with_unknown_focus_and_no_pin_is_a_local_error() -> None:
    with pytest.raises(LocalProtocolError):
        StorageHandover(QUIET).attach("disk.img", AccessMode.READ_WRITE)


def test_second_attach_is_busy_one_image_per_switch() -> None:
    core = attached()
    with pytest.raises(BusyError):
        core.attach("other.img", AccessMode.READ_WRITE)


def test_negative_quiet_period_is_a_config_error_naming_the_key() -> None:
    with pytest.raises(ConfigError) as info:
        StorageHandover(-1)
    assert info.value.path == "storage.quiet_period"


def test_idle_storage_moves_with_focus_at_once() -> None:
    core = attached()
    assert core.focus_moved(P2, now=100.0) == StorageMoved("disk.img", P1, P2)
    assert core.state().port == P2


def test_focus_move_with_no_image_only_records_focus() -> None:
    core = StorageHandover(QUIET)
    assert core.focus_moved(P3, 0.0) == StorageStayed(None, StayReason.NO_IMAGE)
    assert core.attach("x", AccessMode.READ_WRITE).port == P3


def test_switching_to_the_storage_port_is_a_noop() -> None:
    core = attached()
    assert core.focus_moved(P1, 0.0) == StorageStayed(P1, StayReason.ALREADY_THERE)


@pytest.mark.parametrize(
    ("write", "reason"),
    [(True, HoldReason.WRITE_IN_FLIGHT), (False, HoldReason.READ_IN_FLIGHT)],
)
def test_io_in_flight_holds_the_storage(write: bool, reason: HoldReason) -> None:
    core = attached()
    core.io_started(P1, 10.0, write=write)
    assert core.focus_moved(P2, 10.5) == StorageHeld("disk.img", P1, P2, reason)
    state = core.state()
    assert state.held
    assert state.port == P1
    assert state.pending == P2
    assert state.reason is reason
    assert core.next_deadline() is None  # nothing to wait for until the I/O finishes


def test_held_storage_follows_after_the_quiet_period() -> None:
    core = attached()
    core.io_started(P1, 10.0, write=True)
    core.focus_moved(P2, 10.5)
    core.io_finished(P1, 11.0, write=True)
    assert core.state().reason is HoldReason.RECENTLY_ACTIVE
    assert core.next_deadline() == 11.0 + QUIET
    assert core.handle_timer(12.9) is None
    assert core.handle_timer(13.0) == StorageMoved("disk.img", P1, P2, deferred=True)
    assert core.state().port == P2
    assert not core.state().held


def test_activity_during_the_quiet_period_pushes_the_deadline() -> None:
    core = attached()
    core.io_started(P1, 0.0, write=True)
    core.io_finished(P1, 0.1, write=True)
    assert isinstance(core.focus_moved(P2, 1.0), StorageHeld)
    core.io_started(P1, 1.5, write=False)
    core.io_finished(P1, 1.6, write=False)
    assert core.handle_timer(2.1) is None
    assert core.next_deadline() == pytest.approx(3.6)
    assert isinstance(core.handle_timer(3.6), StorageMoved)


def test_recent_activity_holds_even_with_nothing_in_flight() -> None:
    core = attached()
    core.io_started(P1, 5.0, write=True)
    core.io_finished(P1, 5.0, write=True)
    result = core.focus_moved(P2, 6.0)
    assert result == StorageHeld("disk.img", P1, P2, HoldReason.RECENTLY_ACTIVE)


def test_medium_lock_holds_until_unlocked_and_quiet() -> None:
    core = attached()
    core.lock_changed(P1, True, 0.0)
    assert core.focus_moved(P2, 100.0) == StorageHeld("disk.img", P1, P2, HoldReason.MEDIUM_LOCKED)
    assert core.next_deadline() is None
    assert core.handle_timer(1000.0) is None
    core.lock_changed(P1, False, 1000.0)
    assert core.next_deadline() == 1000.0 + QUIET
    assert isinstance(core.handle_timer(1002.0), StorageMoved)


def test_host_eject_releases_a_held_storage_at_once() -> None:
    core = attached()
    core.io_started(P1, 0.0, write=True)
    core.io_finished(P1, 0.5, write=True)
    core.focus_moved(P2, 1.0)
    events = core.host_ejected(P1, 1.1)
    assert events == (
        StorageEjected("disk.img", P1),
        StorageMoved("disk.img", P1, P2, deferred=True),
    )
    assert core.state().port == P2
    assert not core.state().ejected  # the new port sees the medium afresh


def test_host_eject_without_pending_move_marks_ejected_and_frees_the_next_move() -> None:
    core = attached()
    core.io_started(P1, 0.0, write=True)
    core.io_finished(P1, 0.1, write=True)
    assert core.host_ejected(P1, 0.2) == (StorageEjected("disk.img", P1),)
    assert core.state().ejected
    assert core.focus_moved(P2, 0.3) == StorageMoved("disk.img", P1, P2)


def test_force_moves_a_busy_storage_and_says_so() -> None:
    core = attached()
    core.io_started(P1, 0.0, write=True)
    core.lock_changed(P1, True, 0.0)
    result = core.focus_moved(P2, 0.1, force=True)
    assert result == StorageMoved(
        "disk.img", P1, P2, forced=True, overrode=HoldReason.WRITE_IN_FLIGHT
    )
    state = core.state()
    assert state.port == P2
    assert state.in_flight == 0
    assert not state.locked


def test_force_on_an_idle_storage_is_not_flagged_forced() -> None:
    core = attached()
    assert core.focus_moved(P2, 0.0, force=True) == StorageMoved("disk.img", P1, P2)


def test_force_completes_an_already_held_move() -> None:
    core = attached()
    core.lock_changed(P1, True, 0.0)
    core.focus_moved(P2, 1.0)
    moved = core.focus_moved(P2, 2.0, force=True)
    assert isinstance(moved, StorageMoved)
    assert moved.forced
    assert not core.state().held


def test_focus_back_to_the_holding_port_cancels_the_pending_move() -> None:
    core = attached()
    core.lock_changed(P1, True, 0.0)
    core.focus_moved(P2, 1.0)
    assert core.focus_moved(P1, 2.0) == StorageStayed(P1, StayReason.ALREADY_THERE)
    core.lock_changed(P1, False, 3.0)
    assert core.next_deadline() is None
    assert core.handle_timer(100.0) is None
    assert core.state().port == P1


def test_later_focus_move_retargets_a_held_move() -> None:
    core = attached()
    core.lock_changed(P1, True, 0.0)
    core.focus_moved(P2, 1.0)
    assert core.focus_moved(P3, 2.0) == StorageHeld("disk.img", P1, P3, HoldReason.MEDIUM_LOCKED)
    core.lock_changed(P1, False, 3.0)
    assert core.handle_timer(5.0) == StorageMoved("disk.img", P1, P3, deferred=True)


def test_reports_from_a_port_without_the_storage_are_ignored() -> None:
    core = attached()
    core.io_started(P2, 0.0, write=True)
    core.lock_changed(P2, True, 0.0)
    assert core.host_ejected(P2, 0.0) == ()
    assert core.focus_moved(P3, 10.0) == StorageMoved("disk.img", P1, P3)


def test_a_move_forgets_the_old_hosts_io_and_lock() -> None:
    core = attached()
    core.io_started(P1, 0.0, write=True)
    core.focus_moved(P2, 0.0, force=True)
    core.io_finished(P1, 0.5, write=True)  # late report from the old host: stale
    core.io_finished(P2, 0.5, write=True)  # never below zero
    assert core.state().in_flight == 0
    assert core.focus_moved(P3, 0.5) == StorageHeld("disk.img", P2, P3, HoldReason.RECENTLY_ACTIVE)


def test_pinned_storage_never_follows_focus() -> None:
    core = StorageHandover(QUIET, focus=P1)
    event = core.attach("disk.img", AccessMode.READ_WRITE, pin=P3)
    assert event.port == P3
    assert event.pinned
    assert core.focus_moved(P2, 0.0) == StorageStayed(P3, StayReason.PINNED)
    assert core.state().port == P3
    assert core.state().focus == P2


def test_unpin_moves_to_the_focus_under_the_hold_rules() -> None:
    core = StorageHandover(QUIET, focus=P1)
    core.attach("disk.img", AccessMode.READ_WRITE, pin=P3)
    core.focus_moved(P2, 0.0)
    core.lock_changed(P3, True, 1.0)
    assert core.pin(None, 2.0) == StorageHeld("disk.img", P3, P2, HoldReason.MEDIUM_LOCKED)
    assert not core.state().pinned
    core.lock_changed(P3, False, 3.0)
    assert core.handle_timer(5.0) == StorageMoved("disk.img", P3, P2, deferred=True)


def test_pin_to_another_port_moves_there() -> None:
    core = attached()
    assert core.pin(P3, 0.0) == StorageMoved("disk.img", P1, P3)
    assert core.state().pinned
    assert core.focus_moved(P2, 1.0) == StorageStayed(P3, StayReason.PINNED)


def test_pin_without_an_image_is_not_found() -> None:
    with pytest.raises(NotFoundError):
        StorageHandover(QUIET, focus=P1).pin(P2, 0.0)


def test_detach_while_locked_is_busy_unless_forced() -> None:
    core = attached()
    core.lock_changed(P1, True, 0.0)
    with pytest.raises(BusyError, match="host has the medium locked"):
        core.detach()
    assert core.detach(force=True) == StorageDetached(
        "disk.img", P1, forced=True, reason=HoldReason.MEDIUM_LOCKED
    )
    assert core.state().image is None


def test_detach_of_a_quiet_medium_clears_everything_including_a_pending_move() -> None:
    core = attached()
    core.io_started(P1, 0.0, write=False)
    core.io_finished(P1, 0.1, write=False)
    core.focus_moved(P2, 0.2)
    assert core.detach() == StorageDetached("disk.img", P1, forced=False)
    state = core.state()
    assert state.image is None
    assert state.pending is None
    assert state.port is None
    assert core.next_deadline() is None
    with pytest.raises(NotFoundError):
        core.detach()


# -- property: the core alone, against a reference model --------------------------------

PORTS = [PortId(n) for n in range(1, 5)]


class HandoverMachine(RuleBasedStateMachine):
    """Random reports, moves and time: the core's answers match a plain model."""

    def __init__(self) -> None:
        super().__init__()
        self.core = StorageHandover(QUIET, focus=PORTS[0])
        self.core.attach("disk.img", AccessMode.READ_WRITE)
        self.now = 0.0
        self.port = PORTS[0]
        self.writes = self.reads = 0
        self.locked = False
        self.last = float("-inf")
        self.pending: PortId | None = None

    def busy(self) -> HoldReason | None:
        if self.writes:
            return HoldReason.WRITE_IN_FLIGHT
        if self.reads:
            return HoldReason.READ_IN_FLIGHT
        if self.locked:
            return HoldReason.MEDIUM_LOCKED
        if self.now - self.last < QUIET:
            return HoldReason.RECENTLY_ACTIVE
        return None

    def moved(self, target: PortId) -> None:
        self.port, self.pending = target, None
        self.writes = self.reads = 0
        self.locked = False
        self.last = float("-inf")

    @rule(dt=st.floats(0, 3))
    def time_passes(self, dt: float) -> None:
        self.now += dt
        result = self.core.handle_timer(self.now)
        if self.pending is not None and self.busy() is None:
            assert result == StorageMoved("disk.img", self.port, self.pending, deferred=True)
            self.moved(self.pending)
        else:
            assert result is None

    @rule(write=st.booleans())
    def io_starts(self, write: bool) -> None:
        self.core.io_started(self.port, self.now, write=write)
        if write:
            self.writes += 1
        else:
            self.reads += 1
        self.last = self.now

    @precondition(lambda self: self.writes or self.reads)
    @rule()
    def io_finishes(self) -> None:
        write = bool(self.writes)
        self.core.io_finished(self.port, self.now, write=write)
        if write:
            self.writes -= 1
        else:
            self.reads -= 1
        self.last = self.now

    @rule(locked=st.booleans())
    def lock(self, locked: bool) -> None:
        self.core.lock_changed(self.port, locked, self.now)
        self.locked = locked
        self.last = self.now

    @rule(to=st.sampled_from(PORTS), force=st.booleans())
    def focus(self, to: PortId, force: bool) -> None:
        target = to
        result = self.core.focus_moved(target, self.now, force=force)
        reason = self.busy()
        if target == self.port:
            assert result == StorageStayed(self.port, StayReason.ALREADY_THERE)
            self.pending = None
        elif reason is None or force:
            assert result == StorageMoved(
                "disk.img", self.port, target, forced=reason is not None, overrode=reason
            )
            self.moved(target)
        else:
            assert result == StorageHeld("disk.img", self.port, target, reason)
            self.pending = target

    @invariant()
    def state_matches(self) -> None:
        state = self.core.state()
        assert state.port == self.port
        assert state.pending == self.pending
        assert state.in_flight == self.writes + self.reads
        assert state.locked == self.locked
        deadline = self.core.next_deadline()
        if self.pending is None or self.writes or self.reads or self.locked:
            assert deadline is None
        else:
            assert deadline == self.last + QUIET


TestHandoverMachine = HandoverMachine.TestCase
TestHandoverMachine.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
