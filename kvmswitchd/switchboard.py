"""The switchboard: the running switch behind every control channel.

It owns the switch core, the ports, the router, the event log and the state file, and
carries out each transition completely: release-all to the port losing ``km``, focus
moved, LEDs shown, event logged, clients notified, state saved. It implements the
command bus (serial, hotkeys, buttons) and the web service Protocol (HTTP, websocket).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from hid.leds import Leds
from kvmswitchd.board_input import BoardInput
from kvmswitchd.board_lease import BoardLease
from kvmswitchd.board_power import BoardPower
from kvmswitchd.board_reads import ALL_ENTRIES, BoardReads
from kvmswitchd.config import Config
from kvmswitchd.console.events import ConsoleAssembler
from kvmswitchd.core.commands import (
    BreakLease,
    Command,
    GetLog,
    GetStatus,
    HoldLease,
    LogLine,
    Origin,
    Outcome,
    Power,
    ReleaseLease,
    Rename,
    SetScan,
    Source,
    Step,
    SwitchTo,
)
from kvmswitchd.core.eventlog import LogEntry, describe
from kvmswitchd.core.guard import (
    Actor,
    ActorKind,
    Actors,
    Plan,
    Refusal,
    World,
    decide,
    entry_visible,
    visible_units,
)
from kvmswitchd.core.holds import Holder, Holds
from kvmswitchd.core.hotkeys import (
    HotkeyAction,
    InvalidCommand,
    SelectPort,
    StartScan,
    StepPort,
)
from kvmswitchd.core.ports import Channel, PortId, parse_port_id
from kvmswitchd.core.scan import AutoScan
from kvmswitchd.core.switch import (
    FocusMoved,
    ReleaseAll,
    Renamed,
    SwitchCore,
    Transition,
    switch_message,
)
from kvmswitchd.edids import EdidBook, EdidChange
from kvmswitchd.errors import InputError, KvmError
from kvmswitchd.journal import Journal
from kvmswitchd.port import Port
from kvmswitchd.router import Router
from kvmswitchd.serial.tesmart_unit import TesmartUnit
from kvmswitchd.storage.service import StorageService, switch_detail
from kvmswitchd.targets.target import PowerControl

log = logging.getLogger(__name__)

Listener = Callable[[dict[str, Any]], None]


def shared_holds(ports: Mapping[int, Port]) -> Holds:
    """The one holder table every port records in (the daemon builds them with one), so
    a leaving client's keys are found on all ports at once."""
    tables = {id(port.holds): port.holds for port in ports.values()}
    if len(tables) != 1:
        raise ValueError("the ports must share one Holds (pass the same one to each Port)")
    return next(iter(tables.values()))


class Switchboard(BoardReads, BoardInput, BoardLease, BoardPower):
    def __init__(
        self,
        config: Config,
        core: SwitchCore,
        ports: Mapping[int, Port],
        journal: Journal,
        router: Router,
        edids: EdidBook,
        *,
        monotonic: Callable[[], float],
    ) -> None:
        self.config = config
        self.core = core
        self.links = ports
        self.journal = journal
        self.router = router
        self.edids = edids
        self.holds = shared_holds(ports)
        # the ports whose target has a power path (core.guard validates Power against it)
        self.powered = frozenset(u for u, p in ports.items() if isinstance(p.target, PowerControl))
        self.backends: Any = None  # shared backend resources (the daemon's Backends)
        self.storage: StorageService | None = None  # USB storage routing (set by the daemon)
        self.scan = AutoScan(dwell=config.scan_dwell)
        self.console_leds = ports[core.focus_of(Channel.KM).unit].leds
        self.extra_state: dict[str, Callable[[], Any]] = {}
        self.on_console_leds: Callable[[Leds], None] | None = None
        self.authenticator: Callable[[str, str, Origin], Any] | None = None
        # who each origin acts as (core.guard.Actors): accounts, console, serial lines
        self.actors = Actors()
        # persist-first writes of the state document (set by the daemon; None in tests)
        self.persist: Callable[[dict[str, Any]], None] | None = None
        self._monotonic = monotonic
        self._listeners: list[Listener] = []
        self._focus_listeners: list[Callable[[], None]] = []  # bus.FocusFeed's
        # the emulated TESmart unit's settings, shared by its connections (saved with state)
        self.tesmart = TesmartUnit(on_change=self._state_changed)
        self._state_pending = False
        self.on_dirty: Callable[[], None] = lambda: None  # the daemon saves state (debounced)
        self._scan_timer: asyncio.TimerHandle | None = None
        self._http_assembler = ConsoleAssembler()
        self._input_assembler = ConsoleAssembler()  # POST /input's
        # one per websocket client while it is connected (dropped by release_client)
        self._client_assemblers: dict[Holder, ConsoleAssembler] = {}
        self.switch_count: dict[str, int] = {}
        self.error_count = 0
        # gauges other components keep up to date (websocket clients, serial sessions)
        self.counters: dict[str, int] = {}
        self._init_lease()
        journal.subscribe(self._on_log_entry)

    # -- the one guarded path -------------------------------------------------------------
    #
    # Every channel ends here: ``run`` finds the command's actor, refuses it while another
    # serial session holds the control lease (core.lease), asks core.guard.decide to
    # resolve it to concrete ports, authorize the actor on each and validate it, and
    # only then commits the plan. A refusal changes nothing.

    def switch(
        self, port_id: str, channels: Sequence[str] | None, force: bool, origin: Origin
    ) -> Outcome:
        command = SwitchTo(port_id, tuple(channels) if channels is not None else None, force)
        return self.run(command, origin)

    def world(self) -> World:
        return World(self.core.ports, self.core.focus, self.powered)

    def run(self, command: Command, origin: Origin) -> Outcome:
        """Carry out ``command`` for ``origin``: resolve, authorize, validate, commit."""
        decided = self._decide(command, origin)
        if isinstance(decided, Outcome):
            return decided
        plan, actor = decided
        if isinstance(command, HoldLease | ReleaseLease | BreakLease):
            return self.run_lease(command, origin)
        try:
            return self._commit(plan, actor, origin)
        except KvmError as exc:
            return Outcome(False, message=str(exc), error=exc.code)

    def _decide(self, command: Command, origin: Origin) -> tuple[Plan, Actor] | Outcome:
        """The actor and its plan, or the refusal's outcome (logged)."""
        actor = self.actors.of(origin)
        if actor is None:
            return self._refuse(command, origin, Refusal("unauthorized", "log in first"))
        locked = self.lease_gate(command, origin)
        if locked is not None:
            return self._refuse(command, origin, locked)
        decision = decide(command, actor, self.world())
        if isinstance(decision, Refusal):
            return self._refuse(command, origin, decision)
        return decision, actor

    def _refuse(self, command: Command, origin: Origin, refusal: Refusal) -> Outcome:
        if refusal.code in ("forbidden", "unauthorized", "busy"):
            detail: dict[str, Any] = {"reason": refusal.reason, "command": type(command).__name__}
            if origin.detail:
                detail["via"] = origin.detail
            ports = (refusal.port,) if refusal.port else ()
            self.journal.record("refused", origin.source.value, ports, origin.user, detail)
        return Outcome(False, message=refusal.reason, error=refusal.code)

    def _commit(self, plan: Plan, actor: Actor, origin: Origin) -> Outcome:
        command = plan.command
        match command:
            case SwitchTo(force=force):
                assert plan.port is not None  # decide() resolved it
                outcome = self.apply(
                    self.core.switch(plan.port, plan.channels), origin, force=force
                )
            case Step():
                assert plan.port is not None
                outcome = self.apply(self.core.switch(plan.port, plan.channels), origin)
            case SetScan(on=on, dwell=dwell):
                outcome = self.set_scan(on, dwell, origin, ring=plan.ring)
            case Rename():
                assert plan.port is not None
                self._persist_names({**self.core.names, plan.port.unit: plan.name})
                outcome = self.apply(self.core.rename(plan.port, plan.name), origin)
            case Power():  # pragma: no cover  # awaited: execute() sends it to power()
                return Outcome(
                    False, message="power actions go through execute()", error="bad_request"
                )
            case GetStatus():
                return Outcome(True, status=self.status_view(actor))
            case GetLog(limit=limit):
                visible = visible_units(actor, self.core.ports)
                seen = self.journal.recent(ALL_ENTRIES if visible is not None else limit)
                entries = [e for e in seen if entry_visible(e, visible)][-limit:]
                lines = tuple(LogLine(e.time, e.kind, describe(e)) for e in entries)
                return Outcome(True, log=lines)
            case _:  # pragma: no cover  # decide() refuses unknown commands
                return Outcome(False, message="unknown command", error="bad_request")
        if plan.notes and outcome.ok:
            outcome = replace(outcome, message="; ".join((outcome.message, *plan.notes)))
        if outcome.status is not None:  # what this actor may see of the result
            outcome = replace(outcome, status=self.status_view(actor))
        return outcome

    def _persist_names(self, names: Mapping[int, str]) -> None:
        """Persist first, then commit: a name change reaches the state file before memory
        (an error here leaves both as they were)."""
        if self.persist is None:
            return
        doc = self.snapshot()
        doc["names"] = {str(u): n for u, n in names.items()}
        self.persist(doc)

    def apply(self, transition: Transition, origin: Origin, *, force: bool = False) -> Outcome:
        """Carry out a transition's effects in order; log, notify, save."""
        if not transition.ok:
            return Outcome(False, message=transition.reason, error="bad_request")
        if not transition.changed:
            return Outcome(True, message="already there", status=self.status_view())
        moves: list[FocusMoved] = []
        storage_note: dict[str, Any] = {}
        for effect in transition.effects:
            if isinstance(effect, ReleaseAll):
                self.links[effect.port.unit].release_all()
            elif isinstance(effect, FocusMoved):
                moves.append(effect)
                if effect.channel is Channel.VIDEO:
                    self._present(effect.from_.unit)
                    self._present(effect.to.unit)
                elif effect.channel is Channel.USB and self.storage is not None:
                    result = self.storage.focus_moved(
                        effect.to.local, self._monotonic(), force, origin=origin
                    )
                    storage_note = switch_detail(result)
                if effect.channel is Channel.KM:
                    self.router.set_km(effect.to.unit)
                    self._show_console_leds(self.links[effect.to.unit].leds)
            elif isinstance(effect, Renamed):
                self.journal.record(
                    "rename",
                    origin.source.value,
                    (str(effect.port),),
                    origin.user,
                    {"old": effect.old, "new": effect.new, "via": origin.detail},
                )
        if moves:
            self._log_switch(moves, origin, force, storage_note)
            self._focus_moved()
        self._state_changed()
        message = switch_message(moves)
        if storage_note.get("usb") == "held":
            message += (
                f"; usb: held by port {storage_note.get('held_by')} "
                f"({storage_note.get('reason')}); use force to move it now"
            )
        return Outcome(True, message=message, status=self.status_view())

    def _log_switch(
        self, moves: list[FocusMoved], origin: Origin, force: bool, storage: dict[str, Any]
    ) -> None:
        targets = sorted({str(m.to) for m in moves})
        sources = sorted({str(m.from_) for m in moves})
        ports = tuple(dict.fromkeys([*targets, *sources]))
        detail: dict[str, Any] = {
            "to": targets[0] if len(targets) == 1 else targets,
            "channels": [m.channel.value for m in moves],
            "from": {m.channel.value: str(m.from_) for m in moves},
        }
        if origin.detail:
            detail["via"] = origin.detail
        if force:
            detail["force"] = True
        if storage:
            detail["storage"] = storage
        self.switch_count[origin.source.value] = self.switch_count.get(origin.source.value, 0) + 1
        self.journal.record("switch", origin.source.value, ports, origin.user, detail)

    def _show_console_leds(self, leds: Leds) -> None:
        self.console_leds = leds
        if self.on_console_leds is not None:
            self.on_console_leds(leds)

    def port_leds_changed(self, unit: int, leds: Leds) -> None:
        """A port's host sent an LED report; mirror it if that port has the console."""
        if unit == self.router.km:
            self._show_console_leds(leds)
        self._state_changed(save=False)

    # -- video / EDID --------------------------------------------------------------------

    def _present(self, unit: int) -> None:
        """Show port ``unit``'s target its EDID, or no monitor when idle without one."""
        focused = self.core.focus_of(Channel.VIDEO).unit == unit
        present = focused or self.edids.idle_monitor.get(unit, True)
        self.links[unit].target.present_edid(self.edids.video(unit).edid if present else None)

    def present_all(self) -> None:
        """Present every port's EDID and log the ports that carry a mode warning."""
        for unit in self.links:
            self._present(unit)
            self._log_warning(unit, None)

    def _log_warning(self, unit: int, before: str | None) -> None:
        warning = self.edids.video(unit).warning
        if warning and warning != before:
            self.journal.record("mode_warning", "system", (str(unit),), None, {"warning": warning})

    def set_edid(self, port_id: str, body: Mapping[str, Any], origin: Origin) -> dict[str, Any]:
        """Set a port's EDID (preset or blob), clear it (``default``), or its idle monitor."""
        unit = parse_port_id(port_id, self.core.ports).unit
        change = EdidChange.parse(body)
        before = self.edids.video(unit).warning
        detail = self.edids.apply(unit, change)
        self._present(unit)
        self.journal.record("edid", origin.source.value, (str(unit),), origin.user, detail)
        self._log_warning(unit, before)
        self._state_changed()
        return self.edids.view(unit, video_focus=self.core.focus_of(Channel.VIDEO).unit == unit)

    # -- the command bus -------------------------------------------------------------------

    async def execute(self, command: Command, origin: Origin) -> Outcome:
        if isinstance(command, Power):
            return await self.power(command, origin)
        return self.run(command, origin)

    async def authenticate(self, user: str, password: str, origin: Origin) -> str | None:
        if self.authenticator is None:
            return None
        result: str | None = await self.authenticator(user, password, origin)
        return result

    # -- auto-scan -----------------------------------------------------------------------

    def set_scan(
        self, on: bool, dwell: float | None, origin: Origin, *, ring: tuple[int, ...] = ()
    ) -> Outcome:
        if on:
            try:
                self.scan.start(self._monotonic(), dwell, ring)
            except ValueError as exc:
                raise InputError(str(exc)) from None
            self.journal.record(
                "scan", origin.source.value, (), origin.user, {"on": True, "dwell": self.scan.dwell}
            )
        elif self.scan.stop():
            self.journal.record("scan", origin.source.value, (), origin.user, {"on": False})
        self._arm_scan()
        self._state_changed(save=False)
        return Outcome(
            True, message="scanning" if on else "scan stopped", status=self.status_view()
        )

    def stop_scan_on_activity(self) -> None:
        if self.scan.on:
            self.set_scan(False, None, Origin(Source.HOTKEY, detail="console key"))

    def _arm_scan(self) -> None:
        if self._scan_timer is not None:
            self._scan_timer.cancel()
            self._scan_timer = None
        deadline = self.scan.next_deadline()
        if deadline is not None:
            loop = asyncio.get_running_loop()
            self._scan_timer = loop.call_at(deadline, self._scan_tick)

    def _scan_tick(self) -> None:
        self._scan_timer = None
        if self.scan.handle_timer(self._monotonic()):
            # the ring was resolved and authorized when the scan started (core.guard)
            unit = self.scan.next_port(self.core.focus_of(Channel.VIDEO).unit, self.core.ports)
            self.apply(
                self.core.switch(PortId(unit), frozenset({Channel.VIDEO})), Origin(Source.SCAN)
            )
        self._arm_scan()

    # -- hotkeys ---------------------------------------------------------------------------

    def hotkey_action(self, action: HotkeyAction, actor: Actor | None = None) -> None:
        """A hotkey completed; ``actor`` typed it (None: the physical console). It runs
        through the guarded path with that actor's rights."""
        if actor is None or actor.kind is not ActorKind.USER:
            origin = Origin(Source.HOTKEY, detail="console")
        else:
            origin = Origin(Source.HOTKEY, detail="web console", user=actor.name)
        command: Command | None = None
        match action:
            case SelectPort(port):
                command = SwitchTo(port)
            case StepPort(direction):
                command = Step(direction)
            case StartScan():
                command = SetScan(True)
            case InvalidCommand(reason):
                self.journal.record("hotkey_invalid", "hotkey", (), origin.user, {"reason": reason})
            case _:
                pass
        if command is None:
            return
        outcome = self.run(command, origin)
        if not outcome.ok and isinstance(command, SwitchTo):
            self.journal.record(
                "hotkey_invalid", "hotkey", (), origin.user, {"reason": outcome.message}
            )

    # -- live updates and persistence -----------------------------------------------------

    def on_focus_change(self, listener: Callable[[], None]) -> Callable[[], None]:
        """bus.FocusFeed: ``listener()`` after every focus move, whichever channel made it."""
        self._focus_listeners.append(listener)
        return lambda: self._focus_listeners.remove(listener)

    def _focus_moved(self) -> None:
        for listener in list(self._focus_listeners):
            try:
                listener()
            except Exception:  # one bad listener must not stop the others, nor the switch
                log.exception("focus listener failed")

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def _notify(self, message: dict[str, Any]) -> None:
        for listener in list(self._listeners):
            try:
                listener(message)
            except Exception:  # one bad client must not stop the others
                log.exception("state listener failed")

    def _on_log_entry(self, entry: LogEntry) -> None:
        if entry.kind.endswith("error") or entry.kind in ("hotkey_invalid", "state_reset"):
            self.error_count += 1
        if self._listeners:
            self._notify({"type": "log", "entry": entry.to_json()})

    def push_state(self) -> None:
        """Something outside the switch changed (storage): tell the clients."""
        self._state_changed(save=False)

    def _state_changed(self, *, save: bool = True) -> None:
        if self._listeners and not self._state_pending:
            # The full state is rebuilt once, after the current work (the reply to the
            # request, the rest of the input batch) is done; changes in between coalesce.
            try:
                asyncio.get_running_loop().call_soon(self._broadcast_state)
                self._state_pending = True
            except RuntimeError:  # no loop (synchronous tests): send it now
                self._broadcast_state()
        if save:
            self.on_dirty()

    def _broadcast_state(self) -> None:
        self._state_pending = False
        if self._listeners:
            self._notify({"type": "state", "state": self.state()})

    def snapshot(self) -> dict[str, Any]:
        return {
            "focus": dict(self.core.focus_view()),
            "names": {str(u): n for u, n in self.core.names.items()},
            "edids": self.edids.snapshot(),
            "tesmart": self.tesmart.view(),
        }

    def release_everything(self) -> None:
        for port in self.links.values():
            port.release_all()

    def close(self) -> None:
        self.close_lease()
        if self._scan_timer is not None:
            self._scan_timer.cancel()
            self._scan_timer = None
