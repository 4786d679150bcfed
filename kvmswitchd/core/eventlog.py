"""The event-log model: entries and the query filter (SPEC §2 "Event log", §7 GET /log).

The append-only file lives in the journal adapter (``kvmswitchd.journal``); here are
only values and pure functions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kvmswitchd.errors import InputError

# The largest page of log entries one query returns (a bigger limit is clamped, not refused).
MAX_QUERY_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One event: when, what kind, which port(s), from which source, by whom, details."""

    time: float
    kind: str
    source: str
    ports: tuple[str, ...] = ()
    user: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)
    seq: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "time": self.time,
            "kind": self.kind,
            "source": self.source,
            "ports": list(self.ports),
            "user": self.user,
            "detail": dict(self.detail),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LogEntry:
        """Rebuild an entry from a journal line; raises ValueError/TypeError/KeyError."""
        ports = data.get("ports", [])
        detail = data.get("detail", {})
        user = data.get("user")
        if not isinstance(ports, list) or not all(isinstance(p, str) for p in ports):
            raise TypeError("ports must be a list of strings")
        if not isinstance(detail, dict):
            raise TypeError("detail must be an object")
        if user is not None and not isinstance(user, str):
            raise TypeError("user must be a string")
        return cls(
            time=float(data["time"]),
            kind=str(data["kind"]),
            source=str(data["source"]),
            ports=tuple(ports),
            user=user,
            detail=detail,
            seq=int(data.get("seq", 0)),
        )


@dataclass(frozen=True, slots=True)
class LogQuery:
    since: float | None = None
    kind: frozenset[str] = frozenset()
    port: str | None = None
    source: frozenset[str] = frozenset()
    user: str | None = None
    limit: int = 100

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> LogQuery:
        """Build a query from URL parameters; unknown or malformed values are InputError."""
        known = {"since", "kind", "port", "source", "user", "limit"}
        unknown = sorted(set(params) - known)
        if unknown:
            raise InputError(f"unknown log filter {unknown[0]!r}: use {', '.join(sorted(known))}")
        since = None
        if "since" in params:
            try:
                since = float(params["since"])
            except ValueError:
                raise InputError("since must be a UNIX time in seconds") from None
        limit = 100
        if "limit" in params:
            try:
                limit = int(params["limit"])
            except ValueError:
                raise InputError("limit must be an integer") from None
            if limit < 1:
                raise InputError("limit must be at least 1")
        return cls(
            since=since,
            kind=_split(params.get("kind")),
            port=params.get("port") or None,
            source=_split(params.get("source")),
            user=params.get("user") or None,
            limit=min(limit, MAX_QUERY_LIMIT),
        )

    def matches(self, entry: LogEntry) -> bool:
        return (
            (self.since is None or entry.time >= self.since)
            and (not self.kind or entry.kind in self.kind)
            and (self.port is None or self.port in entry.ports)
            and (not self.source or entry.source in self.source)
            and (self.user is None or entry.user == self.user)
        )

    def select(self, entries: Iterable[LogEntry]) -> list[LogEntry]:
        """The newest ``limit`` matching entries, oldest first."""
        picked = [e for e in entries if self.matches(e)]
        return picked[-self.limit :]


def _split(value: str | None) -> frozenset[str]:
    if not value:
        return frozenset()
    return frozenset(v.strip() for v in value.split(",") if v.strip())


def describe(entry: LogEntry) -> str:
    """A one-line human text for a log entry (serial ``log``, kvmctl)."""
    who = f" by {entry.user}" if entry.user else ""
    detail = entry.detail
    if entry.kind == "switch":
        chans = ",".join(detail.get("channels", []))
        via = f" ({detail['via']})" if detail.get("via") else ""
        return f"switch to {detail.get('to')} [{chans}] from {entry.source}{via}{who}"
    if entry.kind == "rename":
        ports = ",".join(entry.ports)
        return f"port {ports} renamed {detail.get('old')!r} -> {detail.get('new')!r}{who}"
    extra = " ".join(f"{k}={v}" for k, v in detail.items())
    return f"{entry.kind} from {entry.source}{who} {extra}".rstrip()
