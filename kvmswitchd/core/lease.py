"""The control lease (ATEN ``open``/``close``, reference §2.2), sans-IO.

While a serial session holds the lease, the unit takes switching commands from that
session only: every other serial session is refused, and so are the sources the lease
locks (by default the front-panel buttons and the hotkeys, as on the units; HTTP and
the web console's hotkeys when configured). Reads (status, log) stay open to everyone,
and auto-scan ticks that were started before keep running. The lease ends when its
holder closes it, when its session ends, when it has been idle ``idle`` seconds (every
command of the holder renews it), or when an admin breaks it.

The switchboard owns one :class:`LeaseTable` and asks :func:`locked_out` about every
command in its one guarded path. Time is passed in as ``now``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from kvmswitchd.core.commands import (
    BreakLease,
    Command,
    GetLog,
    GetStatus,
    HoldLease,
    Origin,
    ReleaseLease,
    Source,
)

# The longest idle time a lease may be configured to (seconds). Stops a forgotten
# session from locking the front panel and the hotkeys for days.
MAX_LEASE_IDLE = 3600.0
# The sources a lease may lock besides the other serial sessions (always locked).
LOCKABLE = frozenset({Source.BUTTON, Source.HOTKEY, Source.HTTP})
# What the units lock: front-panel buttons and hotkeys.
DEFAULT_LOCKS = frozenset({Source.BUTTON, Source.HOTKEY})
# Sessions remembered after their lease was broken or ran out, so that their next
# switch is refused (their dialect still thinks it holds the lease) instead of going
# through on a unit nobody holds. Stops a stream of broken leases from growing memory:
# past it the oldest is forgotten.
MAX_LOST = 64
READS = (GetStatus, GetLog)
LEASE_COMMANDS = (HoldLease, ReleaseLease, BreakLease)


@dataclass(frozen=True, slots=True)
class Lease:
    """Who holds the unit: a serial session (``session`` is the adapter's stamp)."""

    session: str
    endpoint: str  # the endpoint's name (``Origin.detail``)
    user: str | None
    opened: float
    renewed: float
    idle: float
    locks: frozenset[Source]

    @property
    def expires(self) -> float:
        return self.renewed + self.idle

    def holder(self) -> str:
        """The holder in words, for refusals and the event log."""
        who = f"serial session {self.session} on {self.endpoint}"
        return f"{who} (user {self.user})" if self.user else who

    def view(self, now: float, *, who: bool = True) -> dict[str, object]:
        """JSON for GET /state; ``who=False`` leaves out the session and the user."""
        doc: dict[str, object] = {
            "endpoint": self.endpoint,
            "held_for": round(max(0.0, now - self.opened), 1),
            "expires_in": round(max(0.0, self.expires - now), 1),
            "idle": self.idle,
            "locks": sorted(["serial", *(s.value for s in self.locks)]),
        }
        if who:
            doc["session"] = self.session
            doc["user"] = self.user
        return doc


def holds(lease: Lease | None, origin: Origin) -> bool:
    """Whether ``origin`` comes from the session holding ``lease``."""
    return (
        lease is not None
        and origin.source is Source.SERIAL
        and bool(origin.session)
        and origin.session == lease.session
    )


def locked_out(lease: Lease | None, command: Command, origin: Origin) -> str | None:
    """Why ``command`` from ``origin`` is refused while ``lease`` is held (None: it may
    run). Lease commands themselves are decided by :class:`LeaseTable`."""
    if lease is None or isinstance(command, READS + LEASE_COMMANDS) or holds(lease, origin):
        return None
    if origin.source is Source.SERIAL or origin.source in lease.locks:
        return f"the unit is locked by the control link of {lease.holder()}"
    return None  # auto-scan, the daemon itself, and sources the lease does not lock


class LeaseTable:
    """The one lease of the unit. ``current(now)`` is the lease in force."""

    def __init__(self) -> None:
        self._lease: Lease | None = None
        self._lost: dict[str, str] = {}  # session -> how its lease ended

    def refusal(self, command: Command, origin: Origin, now: float) -> str | None:
        """Why ``command`` may not run now (None: it may): another session holds the
        lease, or this session's lease was taken from it and it has not opened again."""
        lost = self._lost.get(origin.session) if origin.session else None
        if lost is not None and not isinstance(command, READS + LEASE_COMMANDS):
            return f"the control link of this session was {lost}; open it again"
        return locked_out(self.current(now), command, origin)

    def _lose(self, lease: Lease, how: str) -> None:
        self._lost.pop(lease.session, None)
        self._lost[lease.session] = how
        while len(self._lost) > MAX_LOST:
            del self._lost[next(iter(self._lost))]

    def current(self, now: float) -> Lease | None:
        lease = self._lease
        return lease if lease is not None and now < lease.expires else None

    def expired(self, now: float) -> Lease | None:
        """The lease if it ran out by ``now`` (then it is gone), else None."""
        lease = self._lease
        if lease is not None and now >= lease.expires:
            self._lease = None
            self._lose(lease, "closed after its idle time")
            return lease
        return None

    def next_deadline(self) -> float | None:
        return self._lease.expires if self._lease is not None else None

    def hold(self, command: HoldLease, origin: Origin, now: float) -> tuple[Lease | None, str]:
        """Take or renew the lease for ``origin``: (the lease, "") or (None, why not)."""
        held = self.current(now)
        if held is not None and not holds(held, origin):
            return None, f"the unit is locked by the control link of {held.holder()}"
        if origin.source is not Source.SERIAL or not origin.session:
            return None, "only a serial session can hold the control link"
        if not (0 < command.idle <= MAX_LEASE_IDLE and math.isfinite(command.idle)):
            return None, f"the lease idle time must be 0..{MAX_LEASE_IDLE:g} seconds"
        locks = frozenset(Source(s) for s in command.locks if s in {x.value for x in LOCKABLE})
        self._lost.pop(origin.session, None)
        if held is not None:
            lease = replace(held, renewed=now, idle=command.idle, locks=locks)
        else:
            lease = Lease(origin.session, origin.detail, origin.user, now, now, command.idle, locks)
        self._lease = lease
        return lease, ""

    def touch(self, origin: Origin, now: float) -> None:
        """A command of the holder renews the lease."""
        if holds(lease := self.current(now), origin):
            assert lease is not None  # holds() said so
            self._lease = replace(lease, renewed=now)

    def release(self, origin: Origin, now: float) -> Lease | None:
        """The holder ends the lease; returns it (None: ``origin`` held none)."""
        self._lost.pop(origin.session, None)
        lease = self.current(now)
        if not holds(lease, origin):
            return None
        self._lease = None
        return lease

    def break_(self, now: float) -> Lease | None:
        """An admin ends the lease, whoever holds it; returns it (None: there was none)."""
        lease = self.current(now)
        self._lease = None
        if lease is not None:
            self._lose(lease, "broken by an admin")
        return lease


__all__ = [
    "DEFAULT_LOCKS",
    "LOCKABLE",
    "MAX_LEASE_IDLE",
    "Lease",
    "LeaseTable",
    "holds",
    "locked_out",
]
