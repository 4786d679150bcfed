"""Fakes for the accounts adapter: a settable wall clock, an event-log recorder, and an
``Accounts`` with cheap argon2 parameters (the real ones cost ~64 MiB and tens of ms)."""

from __future__ import annotations

import errno
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from argon2.profiles import CHEAPEST

from kvmswitchd.accounts import Accounts
from kvmswitchd.core.commands import Origin, Source
from kvmswitchd.statefile import write_atomic

T0 = 1_700_000_000.0
PASSWORD = "correct horse battery"
HTTP = Origin(Source.HTTP, "192.0.2.7")


@dataclass
class Clock:
    now: float = T0

    def __call__(self) -> float:
        return self.now


@dataclass(frozen=True)
class Record:
    kind: str
    source: str
    ports: tuple[str, ...]
    user: str | None
    detail: dict[str, Any]


@dataclass
class Journal:
    records: list[Record] = field(default_factory=list)

    def __call__(
        self,
        kind: str,
        source: str,
        ports: tuple[str, ...] = (),
        user: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        self.records.append(Record(kind, source, ports, user, dict(detail or {})))

    def kinds(self) -> list[str]:
        return [r.kind for r in self.records]

    def last(self, kind: str) -> Record:
        return [r for r in self.records if r.kind == kind][-1]


def cheap_hasher() -> PasswordHasher:
    return PasswordHasher.from_parameters(CHEAPEST)


class Secrets:
    """Distinct, recognisable secrets, so tests can look for them in logs and files."""

    def __init__(self) -> None:
        self.made: list[str] = []

    def __call__(self) -> str:
        secret = f"SECRET{len(self.made):04d}xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
        self.made.append(secret)
        return secret


@dataclass
class Disk:
    """The users file's writer, failing on demand as a full disk would (ENOSPC)."""

    full: bool = False
    writes: int = 0

    def __call__(self, path: Path, data: bytes, mode: int) -> None:
        if self.full:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.writes += 1
        write_atomic(path, data, mode)


def make_accounts(
    state_dir: Path,
    clock: Clock,
    journal: Journal,
    secrets: Secrets | None = None,
    disk: Disk | None = None,
) -> Accounts:
    accounts = Accounts(
        state_dir,
        journal,
        clock=clock,
        hasher=cheap_hasher(),
        secret=secrets or Secrets(),
        writer=disk or Disk(),
    )
    accounts.load()
    return accounts
