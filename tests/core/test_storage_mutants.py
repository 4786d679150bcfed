"""Edges of the storage hand-over core that mutation testing showed the other tests leave
open: the reasons a request is refused with, what a detach or an eject leaves behind,
pinning when the usb focus is unknown, and the quiet-period bounds."""

from __future__ import annotations

import math

import pytest

from kvmswitchd.core.ports import PortId
from kvmswitchd.core.storage import (
    AccessMode,
    HoldReason,
    StayReason,
    StorageHandover,
    StorageMoved,
    StorageState,
    StorageStayed,
)
from kvmswitchd.errors import BusyError, ConfigError, LocalProtocolError, NotFoundError

P1, P2, P3 = PortId(1), PortId(2), PortId(3)
QUIET = 2.0


def attached(focus: PortId | None = P1, pin: PortId | None = None) -> StorageHandover:
    core = StorageHandover(QUIET, focus=focus)
    core.attach("disk.img", AccessMode.READ_WRITE, pin=pin)
    return core


@pytest.mark.parametrize(
    ("write", "message"),
    [(True, "write in flight on port 1"), (False, "read in flight on port 1")],
)
def test_an_eject_refused_for_io_in_flight_names_the_io_and_the_port(
    write: bool, message: str
) -> None:
    core = attached()
    core.io_started(P1, 0.0, write=write)
    with pytest.raises(BusyError) as caught:
        core.detach()
    assert str(caught.value) == message
    assert core.state().image == "disk.img"


def test_an_eject_refused_for_a_locked_medium_says_so() -> None:
    core = attached()
    core.lock_changed(P1, True, 0.0)
    with pytest.raises(BusyError) as caught:
        core.detach()
    assert str(caught.value) == "host has the medium locked on port 1"


def test_without_an_image_detach_and_pin_say_nothing_is_attached() -> None:
    core = StorageHandover(QUIET, focus=P1)
    for action in (core.detach, lambda: core.pin(P2, 0.0)):
        with pytest.raises(NotFoundError) as caught:
            action()
        assert str(caught.value) == "no image is attached"


def test_a_detached_pinned_image_leaves_nothing_pinned() -> None:
    core = attached(pin=P3)
    core.detach()
    assert core.state().pinned is False


def test_pin_with_force_takes_the_storage_from_a_busy_host() -> None:
    core = attached()
    core.io_started(P1, 0.0, write=True)
    moved = core.pin(P3, 0.5, force=True)
    assert moved == StorageMoved(
        "disk.img", P1, P3, forced=True, overrode=HoldReason.WRITE_IN_FLIGHT
    )
    assert core.state().port == P3


def test_unpinning_with_the_usb_focus_unknown_leaves_the_storage_where_it_is() -> None:
    core = attached(focus=None, pin=P2)
    assert core.pin(None, 0.0) == StorageStayed(P2, StayReason.ALREADY_THERE)
    state = core.state()
    assert state.port == P2
    assert state.pinned is False


def test_a_host_eject_clears_the_medium_lock() -> None:
    core = attached()
    core.lock_changed(P1, True, 0.0)
    core.host_ejected(P1, 1.0)
    assert core.state().locked is False
    assert core.state().ejected is True


def test_hold_reason_is_none_without_an_image_and_the_worst_reason_with_one() -> None:
    core = StorageHandover(QUIET, focus=P1)
    assert core.hold_reason(0.0) is None
    core.attach("disk.img", AccessMode.READ_ONLY)
    assert core.hold_reason(0.0) is None  # never active: nothing holds it
    core.io_started(P1, 1.0, write=False)
    core.lock_changed(P1, True, 1.0)
    assert core.hold_reason(1.0) is HoldReason.READ_IN_FLIGHT
    core.io_finished(P1, 2.0, write=False)
    assert core.hold_reason(2.0) is HoldReason.MEDIUM_LOCKED
    core.lock_changed(P1, False, 3.0)
    assert core.hold_reason(3.0 + QUIET / 2) is HoldReason.RECENTLY_ACTIVE
    assert core.hold_reason(3.0 + QUIET) is None


@pytest.mark.parametrize("quiet", [0.0, 0.5])
def test_a_quiet_period_of_zero_or_under_a_second_is_accepted(quiet: float) -> None:
    core = StorageHandover(quiet, focus=P1)
    core.attach("disk.img", AccessMode.READ_WRITE)
    core.io_started(P1, 10.0, write=False)
    core.io_finished(P1, 10.0, write=False)
    assert core.hold_reason(10.0 + quiet) is None


@pytest.mark.parametrize("quiet", [-0.1, math.nan, math.inf])
def test_a_bad_quiet_period_is_refused_naming_the_key(quiet: float) -> None:
    with pytest.raises(ConfigError) as caught:
        StorageHandover(quiet)
    assert str(caught.value) == "storage.quiet_period: must be a number of seconds >= 0"


def test_before_any_attach_the_state_shows_no_storage_anywhere() -> None:
    state = StorageHandover(QUIET, focus=P2).state()
    assert state == StorageState(
        image=None,
        mode=None,
        port=None,
        pinned=False,
        focus=P2,
        held=False,
        reason=None,
        pending=None,
        locked=False,
        in_flight=0,
        ejected=False,
    )
    assert state.pinned is False
    assert state.ejected is False


def test_an_attach_starts_with_a_medium_the_host_has_not_ejected() -> None:
    core = attached()
    core.host_ejected(P1, 0.0)
    core.detach()
    core.attach("other.img", AccessMode.READ_ONLY)
    assert core.state().ejected is False


def test_a_refused_attach_says_why() -> None:
    core = attached()
    with pytest.raises(BusyError) as busy:
        core.attach("other.img", AccessMode.READ_ONLY)
    assert str(busy.value) == "image 'disk.img' is attached; detach it first"
    with pytest.raises(LocalProtocolError) as unknown:
        StorageHandover(QUIET).attach("disk.img", AccessMode.READ_ONLY)
    assert str(unknown.value) == "usb focus unknown: report focus_moved() or pass pin"


def test_an_early_timer_keeps_showing_why_the_storage_is_held() -> None:
    core = attached()
    core.io_started(P1, 0.0, write=True)
    core.focus_moved(P2, 0.5)
    core.io_finished(P1, 1.0, write=True)
    assert core.handle_timer(1.0 + QUIET / 2) is None
    state = core.state()
    assert state.held
    assert state.reason is HoldReason.RECENTLY_ACTIVE
