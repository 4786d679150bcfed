"""Commands every control channel sends into the switch, and what comes back.

Hotkeys, front-panel buttons, serial dialects and HTTP all speak these values through
one command bus (``kvmswitchd.bus.CommandBus``), so a switch means the same thing from
every source.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field


class Source(enum.StrEnum):
    """Where a request came from (SPEC §2, event log)."""

    HOTKEY = "hotkey"
    BUTTON = "button"
    SERIAL = "serial"
    HTTP = "http"
    SCAN = "scan"
    SYSTEM = "system"


@dataclass(frozen=True, slots=True)
class Origin:
    """Who asked: the source, a detail (serial endpoint name, client address), the user;
    ``session`` tells one serial session from another on the same endpoint (the serial
    adapter stamps it; the control lease is held by one session)."""

    source: Source
    detail: str = ""
    user: str | None = None
    # not part of equality: two origins are the same asker whatever session carried them;
    # the lease compares sessions itself (core.lease.holds)
    session: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True)
class SwitchTo:
    """Move focus to ``port`` (``"3"`` or ``"2.4"``) for ``channels`` (None = all)."""

    port: str
    channels: tuple[str, ...] | None = None
    force: bool = False


@dataclass(frozen=True, slots=True)
class Step:
    """Move the km-focus group to the next (+1) or previous (-1) port, wrapping around."""

    direction: int


@dataclass(frozen=True, slots=True)
class SetScan:
    """Start or stop auto-scan (video focus only); ``dwell`` in seconds, None = configured."""

    on: bool
    dwell: float | None = None


@dataclass(frozen=True, slots=True)
class Rename:
    port: str
    name: str


class PowerAction(enum.StrEnum):
    """What a port's power path is asked to do (SPEC §8: ports with a power path)."""

    ON = "on"  # a paused or shut-down (not quit) machine runs again
    OFF = "off"  # ask the machine to shut down (ACPI power button)
    HARD_OFF = "hard-off"  # pull the plug at once
    RESET = "reset"  # the reset button
    PAUSE = "pause"  # freeze the machine where it is
    RESUME = "resume"  # let a paused machine go on


@dataclass(frozen=True, slots=True)
class Power:
    """Do ``action`` (a ``PowerAction`` value, validated by the guard) on ``port``."""

    port: str
    action: str


@dataclass(frozen=True, slots=True)
class GetStatus:
    pass


@dataclass(frozen=True, slots=True)
class GetLog:
    limit: int = 10


@dataclass(frozen=True, slots=True)
class HoldLease:
    """Take the control lease for this serial session, or renew it (core.lease):
    ``idle`` seconds without a command end it; ``locks`` are the sources it locks out
    besides the other serial sessions (``"button"``, ``"hotkey"``, ``"http"``)."""

    idle: float
    locks: tuple[str, ...] = ("button", "hotkey")


@dataclass(frozen=True, slots=True)
class ReleaseLease:
    """The holder ends its lease (``reason``: closed, expired, session ended, logout)."""

    reason: str = "closed"


@dataclass(frozen=True, slots=True)
class BreakLease:
    """An admin ends the lease, whoever holds it."""


Command = (
    SwitchTo
    | Step
    | SetScan
    | Rename
    | Power
    | GetStatus
    | GetLog
    | HoldLease
    | ReleaseLease
    | BreakLease
)


@dataclass(frozen=True, slots=True)
class PortView:
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class StatusView:
    """What a status reply shows: ports, focus per channel, scan and storage state."""

    ports: tuple[PortView, ...]
    focus: Mapping[str, str]
    scanning: bool = False
    storage_held_by: str | None = None
    storage_held_reason: str | None = None


@dataclass(frozen=True, slots=True)
class LogLine:
    """One event-log entry as a channel shows it."""

    time: float
    kind: str
    text: str


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of a command: success or a refusal with a reason, plus what it returns."""

    ok: bool
    message: str = ""
    error: str = ""
    status: StatusView | None = None
    log: tuple[LogLine, ...] = field(default=())
