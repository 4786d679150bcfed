"""The control lease on the switchboard: the gate in the one guarded path, the lease
commands (take/renew, release, break), its expiry timer and its view in GET /state.

The rules are core.lease's; this is the glue: the clock, the event log, live updates.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from kvmswitchd.core.commands import (
    BreakLease,
    Command,
    HoldLease,
    Origin,
    Outcome,
    ReleaseLease,
)
from kvmswitchd.core.guard import Refusal
from kvmswitchd.core.lease import Lease, LeaseTable
from kvmswitchd.journal import Journal


class BoardLease:
    """The switchboard's lease (it sets these attributes and calls ``_init_lease``)."""

    journal: Journal
    _monotonic: Callable[[], float]
    extra_state: dict[str, Callable[[], Any]]

    def _state_changed(self, *, save: bool = True) -> None:
        raise NotImplementedError

    def _init_lease(self) -> None:
        self.leases = LeaseTable()
        self._lease_timer: asyncio.TimerHandle | None = None
        self.extra_state["lease"] = self.lease_view  # GET /state "lease" (None: not held)

    # -- the gate ------------------------------------------------------------------------

    def lease_gate(self, command: Command, origin: Origin) -> Refusal | None:
        """Before anything else in the guarded path: a refusal while another session
        holds the lease; a command of the holder renews it."""
        now = self._monotonic()
        self._expire(now)
        why = self.leases.refusal(command, origin, now)
        if why is not None:
            return Refusal("busy", why)
        self.leases.touch(origin, now)
        return None

    def run_lease(self, command: HoldLease | ReleaseLease | BreakLease, origin: Origin) -> Outcome:
        """Carry out a lease command the guard allowed."""
        now = self._monotonic()
        match command:
            case HoldLease():
                before = self.leases.current(now)
                lease, why = self.leases.hold(command, origin, now)
                if lease is None:
                    detail = {"reason": why, "command": "HoldLease", "via": origin.detail}
                    self.journal.record("refused", origin.source.value, (), origin.user, detail)
                    return Outcome(False, message=why, error="busy")
                if before is None:
                    self._log(lease, origin, "opened")
                message = f"control link held by {lease.holder()}"
            case ReleaseLease(reason=reason):
                released = self.leases.release(origin, now)
                if released is None:
                    return Outcome(True, message="no control link was held by this session")
                self._log(released, origin, reason)
                message = "control link closed"
            case BreakLease():
                broken = self.leases.break_(now)
                if broken is None:
                    return Outcome(False, message="no control link is held", error="not_found")
                self._log(broken, origin, "broken")
                message = f"broke the control link of {broken.holder()}"
        self._arm_lease()
        self._state_changed(save=False)
        return Outcome(True, message=message)

    def lease_view(self, *, who: bool = True) -> dict[str, Any] | None:
        now = self._monotonic()
        lease = self.leases.current(now)
        return lease.view(now, who=who) if lease is not None else None

    # -- expiry --------------------------------------------------------------------------

    def _expire(self, now: float) -> None:
        lease = self.leases.expired(now)
        if lease is not None:
            detail = {"action": "expired", "after": f"{lease.idle:g} s without a command"}
            self._record(lease, "system", None, detail)
            self._state_changed(save=False)

    def _arm_lease(self) -> None:
        if self._lease_timer is not None:
            self._lease_timer.cancel()
            self._lease_timer = None
        deadline = self.leases.next_deadline()
        if deadline is None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (synchronous tests): expiry is found on the next command
            return
        self._lease_timer = loop.call_at(deadline, self._lease_tick)

    def _lease_tick(self) -> None:
        self._lease_timer = None
        self._expire(self._monotonic())
        self._arm_lease()  # renewed since: wait for the new deadline

    def close_lease(self) -> None:
        if self._lease_timer is not None:
            self._lease_timer.cancel()
            self._lease_timer = None

    # -- the event log -------------------------------------------------------------------

    def _log(self, lease: Lease, origin: Origin, action: str) -> None:
        detail: dict[str, Any] = {"action": action}
        if origin.detail:
            detail["by"] = origin.detail
        self._record(lease, origin.source.value, origin.user, detail)

    def _record(self, lease: Lease, source: str, user: str | None, detail: dict[str, Any]) -> None:
        holder = {"holder": lease.holder(), "endpoint": lease.endpoint}
        self.journal.record("lease", source, (), user, {**detail, **holder})
