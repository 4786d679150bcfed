"""The command bus: the one way control channels reach the switch (daemon implements it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from kvmswitchd.core.commands import Command, Origin, Outcome


class CommandBus(Protocol):
    async def execute(self, command: Command, origin: Origin) -> Outcome:
        """Carry out ``command`` atomically; never raises for bad input (ok=False instead)."""
        ...

    async def authenticate(self, user: str, password: str, origin: Origin) -> str | None:
        """Check a login; return the user name on success, None on failure.

        Throttling of failed attempts is the caller's (the channel's) job as well as the
        bus's: the bus may refuse quickly while a source is throttled.
        """
        ...


class FocusFeed(Protocol):
    """The switch's change events: what a channel subscribes to instead of each channel
    telling it (the daemon's switchboard implements it)."""

    def on_focus_change(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call ``listener()`` after every focus change, from any channel (HTTP, hotkey,
        button, serial, scan), inside the commit; returns the unsubscribe function."""
        ...
