"""The interface every downstream kind implements (``kvmswitchd``, ``serial``, ``hotkeys``).

A downstream is the switch cascaded on upstream port N. The upstream switchboard asks it to
focus a path below N (``select``), and it reports what it sees (``view``/``on_change``) and,
for the kvmswitchd kind, the downstream's own log entries (``on_event``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from kvmswitchd.core.ports import Channel


@dataclass(frozen=True, slots=True)
class DownstreamPort:
    """One port of the downstream switch, as the upstream shows it."""

    channel: int  # 1..M on the downstream switch
    name: str
    online: bool
    children: int = 0  # ports behind this one when it cascades further (0: a leaf)


@dataclass(frozen=True, slots=True)
class DownstreamView:
    """What the upstream knows about a downstream right now."""

    reachable: bool
    active: tuple[int, ...] | None  # focused path below this hop, None: unknown
    ports: tuple[DownstreamPort, ...]
    detail: str = ""  # why unreachable / how the active port was learnt
    extra: dict[str, Any] | None = None  # kind-specific view for GET /state


OnChange = Callable[[DownstreamView], None]  # the view changed (polled or pushed)
OnEvent = Callable[[dict[str, Any]], None]  # a downstream log entry (kvmswitchd kind)


class Downstream(Protocol):
    """A downstream switch driver."""

    kind: str  # "kvmswitchd" | "serial" | "hotkeys"

    def view(self) -> DownstreamView: ...

    async def start(self, on_change: OnChange, on_event: OnEvent) -> None: ...

    async def select(
        self, path: tuple[int, ...], channels: frozenset[Channel], *, force: bool = False
    ) -> None:
        """Focus ``path`` (one or more channel numbers below this hop). Raises a
        kvmswitchd.errors KvmError (DeviceError when the downstream is unreachable or did
        not confirm) whose message names the hop; never leaves a half-sent sequence
        without saying so."""
        ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class UpstreamSide:
    """What a downstream needs from the upstream unit (the cascade helper passes it in)."""

    unit: int  # the upstream port N this hangs off
    # press/release evdev key code on port N (Port.key with holder CASCADE: a holder of
    # its own, so the console's keys are not disturbed)
    key: Callable[[int, bool], None]
    sleep: Callable[[float], Awaitable[None]]  # injected (tests pass a fake clock)
    monotonic: Callable[[], float]
