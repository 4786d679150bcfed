"""What the web edge needs from the daemon: a small Protocol (HOUSE-STYLE: web never
imports target or console backends)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from kvmswitchd.core.commands import Command, Origin, Outcome
from kvmswitchd.core.holds import Holder
from kvmswitchd.core.permissions import Principal

JsonObject = dict[str, Any]


class KvmService(Protocol):
    def health(self) -> JsonObject: ...

    def visible(self, viewer: Principal | None) -> frozenset[int] | None:
        """The ports ``viewer`` may view; None: every port (nothing to filter)."""
        ...

    # ``viewer``: who reads; the result shows only the ports they may view (None: all)
    def state(self, viewer: Principal | None = None) -> JsonObject: ...

    def ports(self, viewer: Principal | None = None) -> list[JsonObject]: ...

    def port(self, port_id: str) -> JsonObject:
        """One port's view; raises PortError/InputError for a bad id."""
        ...

    def target(self, port_id: str) -> JsonObject: ...

    async def execute(self, command: Command, origin: Origin) -> Outcome: ...

    def switch(
        self, port_id: str, channels: Sequence[str] | None, force: bool, origin: Origin
    ) -> Outcome: ...

    def inject_console(self, events: Sequence[Mapping[str, Any]], origin: Origin) -> int:
        """Feed events through the console path (hotkeys included); returns how many."""
        ...

    def type_input(
        self,
        text: str | None,
        events: Sequence[Mapping[str, Any]] | None,
        origin: Origin,
        client: Holder | None = None,
    ) -> JsonObject:
        """Type/move into the km-focused port directly, no hotkey detection. What it
        presses is held by ``client`` (one websocket client) or, when None, by HTTP."""
        ...

    def release_client(self, client: Holder, origin: Origin) -> int:
        """Release what ``client`` holds on any port and nobody else holds (it went away
        or asked); returns how many keys and buttons were lifted (logged when any)."""
        ...

    def screen(self, port_id: str) -> bytes:
        """The port's current frame as PNG (NotFoundError when it has none)."""
        ...

    def edid(self, port_id: str, fmt: str) -> bytes | JsonObject:
        """The EDID presented: bytes for ``binary``, a JSON object for ``hex``/``json``."""
        ...

    def set_edid(self, port_id: str, body: Mapping[str, Any], origin: Origin) -> JsonObject:
        """Set a port's EDID by preset or blob, back to ``default``, or its idle monitor."""
        ...

    def log(
        self, params: Mapping[str, str], viewer: Principal | None = None
    ) -> list[JsonObject]: ...

    def metrics(self, viewer: Principal | None = None) -> JsonObject:
        """Figures for /metrics: switches (by source), events_routed, errors, focus,
        serial_sessions, ports (websocket clients are counted by the web edge)."""
        ...

    def subscribe(self, listener: Callable[[JsonObject], None]) -> Callable[[], None]:
        """Live messages (state changes, log entries); returns an unsubscribe function."""
        ...
