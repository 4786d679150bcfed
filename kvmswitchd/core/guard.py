"""The one guarded path (SPEC §7 "One guarded path", §9): resolve, authorize, validate.

Every channel — HTTP, websocket, serial dialects, modem, hotkeys from the physical and
the web consoles, front-panel buttons, auto-scan, storage follow — turns a request into a
command and an :class:`Actor`, and this module answers, in one place, "what does this
resolve to, and may this actor do it":

1. **resolve**: ``next``/``prev`` → the next port *this actor may switch to*; a switch
   with no channels named → every channel, less ``usb`` where the actor has no storage
   right (the storage stays where it is); auto-scan → the ring of ports the actor may view;
2. **authorize** the actor on each resolved (port, permission);
3. **validate** the whole change (names, channels, dwell);

and only then hands back a :class:`Plan` the switchboard commits (persisting first).
A refusal is a :class:`Refusal` with an error code and a reason; nothing has changed.

Reads go through the same rules: :func:`visible_units` is what a reader may see
(``GET /state``, websocket pushes, serial ``status``/``log``, metrics labels).

Pure: no I/O, no clock.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace

from kvmswitchd.core.commands import (
    BreakLease,
    Command,
    GetLog,
    GetStatus,
    HoldLease,
    Origin,
    Power,
    PowerAction,
    ReleaseLease,
    Rename,
    SetScan,
    Source,
    Step,
    SwitchTo,
)
from kvmswitchd.core.eventlog import LogEntry
from kvmswitchd.core.permissions import (
    Permission,
    PortRestrictions,
    Principal,
    Role,
    allows,
    refusal,
)
from kvmswitchd.core.ports import Channel, PortId, next_in_ring, parse_channels, parse_port_id
from kvmswitchd.core.scan import MAX_DWELL, MIN_DWELL
from kvmswitchd.core.switch import validate_name
from kvmswitchd.errors import KvmError

P = Permission


class ActorKind(enum.StrEnum):
    """Who an actor is: a logged-in account, the physical console (keyboard, front panel),
    a serial line nobody logged in on, the daemon itself, or anyone (``auth = false``)."""

    USER = "user"
    CONSOLE = "console"
    LINE = "line"
    SYSTEM = "system"
    ANONYMOUS = "anonymous"


@dataclass(frozen=True, slots=True)
class Actor:
    """The rights a command runs with; satisfies :class:`Principal`."""

    name: str
    role: Role
    ports: PortRestrictions = field(default_factory=dict)
    kind: ActorKind = ActorKind.USER

    @property
    def user(self) -> str | None:
        """The account name for log entries (None for the console, a line, the system)."""
        return self.name if self.kind is ActorKind.USER else None

    @property
    def unrestricted(self) -> bool:
        """An admin with no per-port narrowing: every check passes (the hot-path shortcut)."""
        return self.role is Role.ADMIN and not self.ports

    @classmethod
    def of(cls, principal: Principal, kind: ActorKind = ActorKind.USER) -> Actor:
        return cls(principal.name, principal.role, dict(principal.ports), kind)


SYSTEM = Actor("system", Role.ADMIN, kind=ActorKind.SYSTEM)
ANYONE = Actor("anyone", Role.ADMIN, kind=ActorKind.ANONYMOUS)
CONSOLE = Actor("console", Role.ADMIN, kind=ActorKind.CONSOLE)


@dataclass(slots=True)
class Actors:
    """Who an :class:`Origin` acts as — the one table every channel's requests go through.

    - a named user (``origin.user``): that account's current rights, looked up on every
      command (a role change or a deletion applies at once); a name with no account → None;
    - the physical console (hotkeys, front-panel buttons): ``console``, configurable
      (``[console] role`` / ``ports``; default: everything, as on every hardware switch);
    - a serial line nobody is logged in on: ``lines[endpoint name]`` (``[[serial]] role`` /
      ``ports``), the console's rights when not configured; logging out returns to it;
    - auto-scan and the daemon itself: ``SYSTEM``;
    - HTTP with nobody logged in: ``ANYONE`` when accounts are off (``auth = false``,
      loopback only), else None (refused: log in first).
    """

    accounts: Callable[[str], Principal | None] | None = None  # None: auth is off
    console: Actor = CONSOLE
    lines: dict[str, Actor] = field(default_factory=dict)

    def of(self, origin: Origin) -> Actor | None:
        if origin.user is not None:
            if self.accounts is None:
                return ANYONE
            principal = self.accounts(origin.user)
            return Actor.of(principal) if principal is not None else None
        match origin.source:
            case Source.HOTKEY | Source.BUTTON:
                return self.console
            case Source.SERIAL:
                line = origin.detail.partition(":")[0]
                return self.lines.get(line, replace(self.console, name=line, kind=ActorKind.LINE))
            case Source.SCAN | Source.SYSTEM:
                return SYSTEM
        return ANYONE if self.accounts is None else None


@dataclass(frozen=True, slots=True)
class Refusal:
    """The command is refused: ``code`` is an error code (``forbidden``, ``bad_request``,
    ``not_found``), ``reason`` says why in words a user understands."""

    code: str
    reason: str
    port: str | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    """A command resolved, authorized and validated, ready to commit."""

    command: Command
    port: PortId | None = None  # the concrete port (switch, next/prev, rename)
    channels: frozenset[Channel] = frozenset()
    ring: tuple[int, ...] = ()  # auto-scan: the ports it cycles through
    name: str = ""  # rename: the validated name
    power: PowerAction | None = None  # power: the validated action
    notes: tuple[str, ...] = ()  # what was narrowed ("usb stays on port 1: ...")


Decision = Plan | Refusal


@dataclass(frozen=True, slots=True)
class World:
    """What resolution needs to know of the running switch."""

    ports: int
    focus: Mapping[Channel, PortId]
    powered: frozenset[int] = frozenset()  # the ports with a power path (a qemu VM)


def permitted_units(actor: Principal, permission: P, ports: int) -> tuple[int, ...]:
    """The local ports (in order) ``actor`` may do ``permission`` on."""
    return tuple(u for u in range(1, ports + 1) if allows(actor, permission, str(u)))


def visible_units(actor: Principal, ports: int) -> frozenset[int] | None:
    """The ports ``actor`` may view, or None when it may view every port (no filtering)."""
    seen = permitted_units(actor, P.VIEW, ports)
    return None if len(seen) == ports else frozenset(seen)


def decide(command: Command, actor: Principal, world: World) -> Decision:
    """Resolve ``command`` to concrete ports, authorize ``actor`` on each, validate."""
    try:
        match command:
            case SwitchTo(port=raw, channels=channels):
                port = parse_port_id(raw, world.ports)
                wanted = parse_channels(list(channels) if channels is not None else None)
                return _switch(command, actor, world, port, wanted, explicit=channels is not None)
            case Step(direction=direction):
                return _step(command, actor, world, direction)
            case SetScan(on=on, dwell=dwell):
                return _scan(command, actor, world, on, dwell)
            case Rename(port=raw, name=name):
                port = parse_port_id(raw, world.ports)
                denied = _deny(actor, P.CONFIGURE, port)
                if denied is not None:
                    return denied
                return Plan(command, port=port, name=validate_name(name))
            case Power(port=raw, action=action):
                return _power(command, actor, world, parse_port_id(raw, world.ports), action)
            case GetStatus() | GetLog():
                if not permitted_units(actor, P.VIEW, world.ports):
                    return Refusal("forbidden", f"{_who(actor)} may not view any port")
                return Plan(command)
            case HoldLease():
                # locking the unit is a way of switching: not for a viewer
                if not permitted_units(actor, P.SWITCH, world.ports):
                    return Refusal("forbidden", f"{_who(actor)} may not switch to any port")
                return Plan(command)
            case ReleaseLease():
                return Plan(command)  # the lease table lets only the holder release
            case BreakLease():
                if actor.role is not Role.ADMIN:
                    reason = f"{_who(actor)} may not break the control lease (admins only)"
                    return Refusal("forbidden", reason)
                return Plan(command)
    except KvmError as exc:
        return Refusal(exc.code, str(exc))
    return Refusal("bad_request", f"unknown command {type(command).__name__}")


def _who(actor: Principal) -> str:
    kind = actor.kind if isinstance(actor, Actor) else ActorKind.USER
    match kind:
        case ActorKind.USER:
            return f"user {actor.name}"
        case ActorKind.LINE:
            return f"serial line {actor.name}"
        case _:
            return f"the {actor.name}"


def _deny(actor: Principal, permission: P, port: PortId) -> Refusal | None:
    reason = refusal(actor, permission, str(port))
    if reason is None:
        return None
    return Refusal("forbidden", reason, str(port))


def _switch(
    command: Command,
    actor: Principal,
    world: World,
    port: PortId,
    wanted: frozenset[Channel],
    *,
    explicit: bool,
) -> Decision:
    denied = _deny(actor, P.SWITCH, port)
    if denied is not None:
        return denied
    notes: tuple[str, ...] = ()
    # any move of the usb focus moves the storage (behind a cascade too: "1" → "1.2")
    moves_usb = Channel.USB in wanted and world.focus[Channel.USB] != port
    if moves_usb and not allows(actor, P.STORAGE, str(port)):
        if explicit:
            # named on purpose: refuse the whole switch rather than do a part of it
            return _deny(actor, P.STORAGE, port) or Refusal("forbidden", "storage")
        wanted = wanted - {Channel.USB}
        notes = (
            f"usb stays on port {world.focus[Channel.USB]}: "
            f"{_who(actor)} has no storage right on port {port}",
        )
        if not wanted:
            return Refusal("forbidden", notes[0], str(port))
    return Plan(command, port=port, channels=wanted, notes=notes)


POWER_ACTIONS = ", ".join(a.value for a in PowerAction)


def _power(command: Command, actor: Principal, world: World, port: PortId, action: str) -> Decision:
    """Authorize first (an actor without the right learns nothing about the port), then
    check the port has a power path and the action is one we know."""
    denied = _deny(actor, P.POWER, port)
    if denied is not None:
        return denied
    if port.channel is not None:
        return Refusal("bad_request", f"port {port} is behind a cascade: power is per local port")
    try:
        wanted = PowerAction(action)
    except ValueError:
        shown = str(action)[:16]
        return Refusal("bad_request", f"unknown power action {shown!r} (expected {POWER_ACTIONS})")
    if port.unit not in world.powered:
        return Refusal("bad_request", f"port {port} has no power control", str(port))
    return Plan(command, port=port, power=wanted)


def _step(command: Command, actor: Principal, world: World, direction: int) -> Decision:
    if direction not in (1, -1):
        return Refusal("bad_request", "direction must be +1 or -1")
    ring = permitted_units(actor, P.SWITCH, world.ports)
    if not ring:
        return Refusal("forbidden", f"{_who(actor)} may not switch to any port")
    current = world.focus[Channel.KM]
    group = frozenset(c for c, p in world.focus.items() if p == current)
    target = next_in_ring(ring, current.unit, direction)
    return _switch(command, actor, world, PortId(target), group, explicit=False)


def _scan(
    command: Command, actor: Principal, world: World, on: bool, dwell: float | None
) -> Decision:
    if not permitted_units(actor, P.SWITCH, world.ports):
        return Refusal("forbidden", f"{_who(actor)} may not switch to any port")
    if not on:
        return Plan(command)
    if dwell is not None and not MIN_DWELL <= dwell <= MAX_DWELL:
        return Refusal("bad_request", f"dwell must be {MIN_DWELL}..{MAX_DWELL} seconds")
    ring = permitted_units(actor, P.VIEW, world.ports)
    if len(ring) < 2:
        return Refusal("forbidden", f"{_who(actor)} may view fewer than two ports: nothing to scan")
    return Plan(command, ring=ring)


def may_type(actor: Principal, ports: int) -> frozenset[int] | None:
    """The ports ``actor``'s keyboard/mouse input may reach, or None for every port (the
    router checks each routed event against this: the port it actually reaches)."""
    if isinstance(actor, Actor) and actor.unrestricted:
        return None
    typed = permitted_units(actor, P.TYPE, ports)
    return None if len(typed) == ports else frozenset(typed)


# Unit-wide log entries a reader restricted to some ports still sees; the rest (logins,
# refusals, account changes of other people) tell "who did what" and stay hidden.
PUBLIC_KINDS = frozenset({"startup", "shutdown", "scan"})


def ports_visible(ports: Iterable[str], visible: frozenset[int] | None) -> bool:
    """True when every port id in ``ports`` (``"3"``, ``"2.4"``) is visible."""
    if visible is None:
        return True
    for text in ports:
        unit = text.partition(".")[0]
        if not unit.isdigit() or int(unit) not in visible:
            return False
    return True


def entry_visible(entry: LogEntry, visible: frozenset[int] | None) -> bool:
    """May a reader who sees ``visible`` (None: every port) read this log entry?"""
    if visible is None:
        return True
    if not entry.ports:
        return entry.kind in PUBLIC_KINDS
    return ports_visible(entry.ports, visible)


__all__ = [
    "ANYONE",
    "CONSOLE",
    "SYSTEM",
    "Actor",
    "ActorKind",
    "Actors",
    "Decision",
    "Plan",
    "Refusal",
    "World",
    "decide",
    "entry_visible",
    "may_type",
    "permitted_units",
    "ports_visible",
    "visible_units",
]
