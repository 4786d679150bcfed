"""The input side of the switchboard: keyboard and mouse from the web consoles, HTTP and
scripts into the ports, each event authorized on the port it actually reaches.

``POST /console/events`` goes through the console path (hotkeys included, acting with the
sender's rights); ``POST /input`` and the websocket type straight into the km-focused
port. What a websocket client presses is held by that client (core.holds) and released
when it goes, without lifting a key someone else still holds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from kvmswitchd.console.events import ConsoleAssembler
from kvmswitchd.core.commands import Origin
from kvmswitchd.core.guard import Actor, Actors, may_type
from kvmswitchd.core.holds import HTTP, Holder, Holds
from kvmswitchd.core.ports import Channel
from kvmswitchd.core.switch import SwitchCore
from kvmswitchd.errors import AuthError, PermissionDenied
from kvmswitchd.inputs import assemble, parse_events, text_strokes
from kvmswitchd.journal import Journal
from kvmswitchd.port import Port
from kvmswitchd.router import Router


class BoardInput:
    """Input into the ports (the switchboard sets these attributes)."""

    core: SwitchCore
    links: Mapping[int, Port]
    journal: Journal
    router: Router
    actors: Actors
    holds: Holds
    _monotonic: Callable[[], float]
    _http_assembler: ConsoleAssembler
    _input_assembler: ConsoleAssembler
    _client_assemblers: dict[Holder, ConsoleAssembler]

    def inject_console(self, events: Sequence[Mapping[str, Any]], origin: Origin) -> int:
        """Events through the console path (hotkeys included), as ``origin``'s actor."""
        actor = self.actors.of(origin)
        if actor is None:
            raise AuthError("log in first")
        parsed = parse_events(events)
        batch = assemble(self._http_assembler, parsed)
        self.router.console_input(f"http:{origin.detail}", batch, self._monotonic(), actor)
        return len(parsed)

    def type_input(
        self,
        text: str | None,
        events: Sequence[Mapping[str, Any]] | None,
        origin: Origin,
        client: Holder | None = None,
    ) -> dict[str, Any]:
        """Type/move into the km-focused port, checked against the port it reaches now;
        what it presses is held by ``client`` (a websocket client), or by ``POST /input``
        when None."""
        actor = self.actors.of(origin)
        if actor is None:
            raise AuthError("log in first")
        batch = text_strokes(text) if text else []
        if events:
            batch.extend(assemble(self._assembler_of(client), parse_events(events)))
        unit = self.router.km
        if not self.router.deliver(unit, batch, actor, HTTP if client is None else client):
            reason = f"{origin.user or actor.name} may not type on port {unit}"
            self.journal.record(
                "refused", origin.source.value, (str(unit),), origin.user, {"reason": reason}
            )
            raise PermissionDenied(reason)
        return {"port": str(self.core.focus_of(Channel.KM)), "inputs": len(batch)}

    def typing(self, actor: Actor | None) -> frozenset[int] | None:
        """The router's per-batch lookup: the ports ``actor``'s input may reach."""
        if actor is None:
            actor = self.actors.console
        if actor.unrestricted:
            return None
        return may_type(actor, self.core.ports)

    def release_client(self, client: Holder, origin: Origin) -> int:
        """``client`` went away (or asked): release what it holds that nobody else holds,
        on every port; returns how many keys and buttons were lifted. Lifting something
        is logged (``keys_released``: how many, never which — no keystrokes in the log)."""
        self._client_assemblers.pop(client, None)  # its next press starts from nothing held
        lifted = self.holds.release_holder(client)
        for unit, code in lifted:
            self.links[unit].lift(code)
        if lifted:
            detail: dict[str, Any] = {"released": len(lifted), "holder": str(client)}
            if origin.detail:
                detail["via"] = origin.detail
            ports = tuple(str(u) for u in sorted({u for u, _ in lifted}))
            self.journal.record("keys_released", origin.source.value, ports, origin.user, detail)
        return len(lifted)

    def _assembler_of(self, client: Holder | None) -> ConsoleAssembler:
        """Each client's events are assembled on their own: an assembler drops a press of
        a key it saw pressed, so a shared one would hide one client's press of a key
        another holds, and that client would not be counted as holding it."""
        if client is None:
            return self._input_assembler
        assembler = self._client_assemblers.get(client)
        if assembler is None:
            assembler = self._client_assemblers[client] = ConsoleAssembler()
        return assembler
