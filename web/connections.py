"""The HTTP connection budget, sans-IO: which connections to drop, and when.

A connection is IDLE (no request on it: just opened, or between keep-alive requests),
READING (the first bytes of a request arrived, its headers are not complete) or BUSY
(a handler runs: a request, an upload, a websocket). Deadlines: an idle connection is
closed ``idle_timeout`` after it became idle, one still reading its headers
``header_timeout`` after the first byte (a slowloris client trickling a header never
completes one); a busy connection has none here (its handler owns its timeouts).

At capacity a new connection sheds the longest-idle one; with none idle it is refused.
Time is passed in; the asyncio adapter is ``web.listener``.
"""

from __future__ import annotations

import enum
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

Key = TypeVar("Key", bound=Hashable)

# Defaults (the [http] keys of the same names override them).
HEADER_TIMEOUT = 10.0
IDLE_TIMEOUT = 60.0
MAX_CONNECTIONS = 256


class Phase(enum.Enum):
    IDLE = "idle"
    READING = "reading"
    BUSY = "busy"


@dataclass(frozen=True, slots=True)
class Limits:
    header_timeout: float = HEADER_TIMEOUT
    idle_timeout: float = IDLE_TIMEOUT
    max_connections: int = MAX_CONNECTIONS


@dataclass(frozen=True, slots=True)
class Admission(Generic[Key]):
    """What ``opened`` decided: close the ``shed`` connections; refuse the new one unless
    ``admitted``."""

    admitted: bool
    shed: tuple[Key, ...] = ()


@dataclass(slots=True)
class _Entry:
    phase: Phase
    since: float  # when it entered the phase
    deadline: float | None
    busy: int = 0  # handlers running (pipelined requests overlap briefly)


class Budget(Generic[Key]):
    """Open connections, keyed by whatever the adapter uses (its protocol objects)."""

    def __init__(self, limits: Limits = Limits()) -> None:
        self.limits = limits
        self._open: dict[Key, _Entry] = {}

    def __len__(self) -> int:
        return len(self._open)

    def phase(self, key: Key) -> Phase | None:
        entry = self._open.get(key)
        return entry.phase if entry is not None else None

    def opened(self, key: Key, now: float) -> Admission[Key]:
        shed: tuple[Key, ...] = ()
        if len(self._open) >= self.limits.max_connections:
            idle = [(e.since, i, k) for i, (k, e) in enumerate(self._open.items()) if _idle(e)]
            if not idle:
                return Admission(admitted=False)
            excess = len(self._open) - self.limits.max_connections + 1
            shed = tuple(k for _, _, k in sorted(idle)[:excess])
            for k in shed:
                del self._open[k]
        self._open[key] = _Entry(Phase.IDLE, now, now + self.limits.idle_timeout)
        return Admission(admitted=True, shed=shed)

    def received(self, key: Key, now: float) -> None:
        """Bytes arrived: an idle connection starts reading a request's headers."""
        entry = self._open.get(key)
        if entry is not None and entry.phase is Phase.IDLE:
            entry.phase, entry.since = Phase.READING, now
            entry.deadline = now + self.limits.header_timeout

    def started(self, key: Key, now: float) -> None:
        """A request's headers are complete and its handler runs."""
        entry = self._open.get(key)
        if entry is not None:
            entry.busy += 1
            entry.phase, entry.since, entry.deadline = Phase.BUSY, now, None

    def finished(self, key: Key, now: float) -> None:
        """A handler returned; with none left the connection is idle (keep-alive)."""
        entry = self._open.get(key)
        if entry is None:
            return
        entry.busy = max(0, entry.busy - 1)
        if entry.busy == 0:
            entry.phase, entry.since = Phase.IDLE, now
            entry.deadline = now + self.limits.idle_timeout

    def closed(self, key: Key) -> None:
        self._open.pop(key, None)

    def next_deadline(self) -> float | None:
        deadlines = [e.deadline for e in self._open.values() if e.deadline is not None]
        return min(deadlines, default=None)

    def expired(self, now: float) -> list[Key]:
        """The connections whose deadline has passed; they leave the budget."""
        gone = [k for k, e in self._open.items() if e.deadline is not None and e.deadline <= now]
        for key in gone:
            del self._open[key]
        return gone


def _idle(entry: _Entry) -> bool:
    return entry.phase is Phase.IDLE
