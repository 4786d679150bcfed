"""What the accounts adapter hands the web edge, and how it writes the event log.

A :class:`Credential` says what authenticated a request (a session or a bearer token);
:class:`AccountLog` writes account events (logins, refusals, changes) to the event log
with the client's address. Nothing here ever holds a secret.
"""

from __future__ import annotations

import enum
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from kvmswitchd.core.commands import Origin

# Makes a leaked bearer token recognisable to secret scanners.
TOKEN_PREFIX = "kvmt_"  # noqa: S105  # a public prefix, not a secret


class JournalRecord(Protocol):
    """``Journal.record``."""

    def __call__(
        self,
        kind: str,
        source: str,
        ports: tuple[str, ...] = (),
        user: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> object: ...


class Via(enum.StrEnum):
    SESSION = "session"
    BEARER = "bearer"


@dataclass(frozen=True, slots=True)
class Credential:
    """What authenticated a request: a session (``key`` = its digest) or a token (its
    id). ``expires``: when it stops working (None: a token without expiry)."""

    user: str
    via: Via
    key: str
    expires: float | None = None


def new_secret() -> str:
    return secrets.token_urlsafe(32)


class AccountLog:
    """Account events for the event log, tagged with the channel and client address."""

    def __init__(self, record: JournalRecord) -> None:
        self._record = record

    def __call__(
        self,
        kind: str,
        origin: Origin,
        user: str | None,
        ports: tuple[str, ...] = (),
        **detail: Any,
    ) -> None:
        self._record(
            kind,
            str(origin.source),
            ports,
            user,
            {"remote": origin.detail, **detail} if origin.detail else detail,
        )
