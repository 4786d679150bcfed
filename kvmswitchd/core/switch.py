"""The switch state machine (SPEC §3): focus per channel, atomic transitions.

Every request is one transition that either happens completely and returns the effects
it caused, or is rejected with a reason and changes nothing. The caller (the daemon)
carries the effects out in order: release-all reports to the port losing ``km`` focus
first, then the focus change, then the log entry and client notification.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from kvmswitchd.core.ports import ALL_CHANNELS, MAX_PORTS, MIN_PORTS, Channel, PortId
from kvmswitchd.errors import InputError

# A port name longer than this is refused: it must fit a front-panel/OSD line and a log line.
MAX_NAME_LEN = 64


@dataclass(frozen=True, slots=True)
class ReleaseAll:
    """Effect: send release-all reports (keyboard and mouse) to ``port`` now."""

    port: PortId


@dataclass(frozen=True, slots=True)
class FocusMoved:
    """Effect: ``channel`` now routes to ``to`` (it was on ``from_``)."""

    channel: Channel
    from_: PortId
    to: PortId


@dataclass(frozen=True, slots=True)
class Renamed:
    port: PortId
    old: str
    new: str


Effect = ReleaseAll | FocusMoved | Renamed


@dataclass(frozen=True, slots=True)
class Transition:
    """The result of one request: ``ok`` with effects, or a rejection with a reason."""

    ok: bool
    effects: tuple[Effect, ...] = ()
    reason: str = ""

    @property
    def changed(self) -> bool:
        return bool(self.effects)

    @property
    def moves(self) -> tuple[FocusMoved, ...]:
        return tuple(e for e in self.effects if isinstance(e, FocusMoved))


def default_name(unit: int) -> str:
    return f"Port {unit}"


def validate_name(name: object) -> str:
    if not isinstance(name, str):
        raise InputError("name must be a string")
    cleaned = name.strip()
    if not cleaned:
        raise InputError("name must not be empty")
    if len(cleaned) > MAX_NAME_LEN:
        raise InputError(f"name is longer than {MAX_NAME_LEN} characters")
    if any(not ch.isprintable() for ch in cleaned):
        raise InputError("name must contain printable characters only")
    return cleaned


@dataclass(slots=True)
class SwitchCore:
    """Focus and names of an N-port switch. No I/O, no clock."""

    ports: int
    names: dict[int, str] = field(default_factory=dict)
    focus: dict[Channel, PortId] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not MIN_PORTS <= self.ports <= MAX_PORTS:
            raise InputError(f"ports must be {MIN_PORTS}..{MAX_PORTS}, got {self.ports}")
        for unit in range(1, self.ports + 1):
            self.names.setdefault(unit, default_name(unit))
        for unit in [u for u in self.names if not 1 <= u <= self.ports]:
            del self.names[unit]
        for channel in Channel:
            current = self.focus.get(channel)
            if current is None or not 1 <= current.unit <= self.ports:
                self.focus[channel] = PortId(1)

    # -- queries ---------------------------------------------------------------------

    def name(self, unit: int) -> str:
        return self.names[unit]

    def focus_of(self, channel: Channel) -> PortId:
        return self.focus[channel]

    def focus_view(self) -> Mapping[str, str]:
        return {channel.value: str(port) for channel, port in self.focus.items()}

    # -- transitions -----------------------------------------------------------------

    def switch(self, port: PortId, channels: frozenset[Channel] = ALL_CHANNELS) -> Transition:
        """Move ``channels`` to ``port``. Switching to the active port is a no-op success."""
        if not 1 <= port.unit <= self.ports:
            return Transition(False, reason=f"no port {port.unit}: ports are 1..{self.ports}")
        if not channels:
            return Transition(False, reason="no channel named")
        effects: list[Effect] = []
        old_km = self.focus[Channel.KM]
        if Channel.KM in channels and old_km != port:
            effects.append(ReleaseAll(old_km))
        for channel in Channel:  # a fixed order keeps the effects deterministic
            if channel in channels and self.focus[channel] != port:
                effects.append(FocusMoved(channel, self.focus[channel], port))
                self.focus[channel] = port
        return Transition(True, tuple(effects))

    def step(self, direction: int) -> Transition:
        """Move the km-focus group (channels sharing km's port) to the next/previous port."""
        if direction not in (1, -1):
            return Transition(False, reason="direction must be +1 or -1")
        current = self.focus[Channel.KM]
        group = frozenset(c for c, p in self.focus.items() if p == current)
        unit = (current.unit - 1 + direction) % self.ports + 1
        return self.switch(PortId(unit), group)

    def rename(self, port: PortId, name: str) -> Transition:
        if port.channel is not None or not 1 <= port.unit <= self.ports:
            return Transition(False, reason=f"no port {port} to rename")
        new = validate_name(name)
        old = self.names[port.unit]
        if old == new:
            return Transition(True)
        self.names[port.unit] = new
        return Transition(True, (Renamed(port, old, new),))


def switch_message(moves: Sequence[FocusMoved]) -> str:
    """``switched to 3``, or ``switched video,audio to 2`` for a subset."""
    if not moves:
        return "renamed"
    targets = sorted({str(m.to) for m in moves})
    channels = [m.channel.value for m in moves]
    what = "" if len(channels) == len(Channel) else " " + ",".join(channels)
    return f"switched{what} to {', '.join(targets)}"
