"""Reading the state file back (SPEC §3.7): whatever it holds, the daemon starts.

``StateFile.load`` gives the saved JSON document (or ``{}``); :func:`read_saved_state`
checks every entry of it against this unit as it is configured now — a port beyond the
configured count, a name too long or not a string, a focus on an unknown channel, an
EDID that no longer validates, a wrong type, an unknown key — and drops each entry that
fails, with a :class:`Reset` saying what was dropped and why (the daemon logs each as a
``state_reset`` event). It never raises: a hand-edited, truncated or hostile state file
costs the entries it spoils, never the start.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from kvmswitchd.core.ports import Channel, PortId, parse_port_id
from kvmswitchd.core.switch import validate_name
from kvmswitchd.edids import Override
from kvmswitchd.errors import InputError, PortError
from kvmswitchd.serial.tesmart_unit import UnitSettings, read_settings
from kvmswitchd.state_values import kind, quote

# Top-level keys the daemon writes (``version`` is StateFile's own).
KNOWN_KEYS = frozenset({"version", "focus", "names", "edids", "tesmart"})
EDID_KEYS = frozenset({"overrides", "idle_monitor"})
# Resets reported one by one; past this, one summary counts the rest, so a state file
# with a million bad entries cannot flood (and rotate away) the event log at start.
MAX_RESETS = 32


@dataclass(frozen=True, slots=True)
class Reset:
    """One entry of the state file that was dropped: where (``names.3``) and why."""

    what: str
    why: str

    def detail(self) -> dict[str, str]:
        return {"what": self.what, "why": self.why}


@dataclass(frozen=True, slots=True)
class SavedState:
    """The entries of a state file that hold for this unit; anything absent is default."""

    focus: Mapping[Channel, PortId] = field(default_factory=dict)
    names: Mapping[int, str] = field(default_factory=dict)
    overrides: Mapping[int, Override] = field(default_factory=dict)
    idle_monitor: Mapping[int, bool] = field(default_factory=dict)
    tesmart: UnitSettings = field(default_factory=UnitSettings)  # the TESmart unit's settings


def read_saved_state(doc: object, ports: int) -> tuple[SavedState, tuple[Reset, ...]]:
    """The valid part of a state document for a unit of ``ports`` ports, and what was not."""
    resets: list[Reset] = []
    if not isinstance(doc, dict):
        return SavedState(), (Reset("state", f"expected an object, got {kind(doc)}"),)
    resets += (Reset(quote(k), "unknown key") for k in sorted(map(str, set(doc) - KNOWN_KEYS)))
    focus = _focus(_object(doc, "focus", resets), ports, resets)
    names = _names(_object(doc, "names", resets), ports, resets)
    edids = _object(doc, "edids", resets)
    resets += (
        Reset(f"edids.{quote(k)}", "unknown key") for k in sorted(map(str, set(edids) - EDID_KEYS))
    )
    overrides = _overrides(_object(edids, "overrides", resets, "edids."), ports, resets)
    idle = _idle(_object(edids, "idle_monitor", resets, "edids."), ports, resets)
    tesmart, bad = read_settings(doc.get("tesmart", {}))
    resets += (
        Reset(f"tesmart.{what}".rstrip("."), f"{why}; back to the factory value")
        for what, why in bad
    )
    if len(resets) > MAX_RESETS:
        more = len(resets) - MAX_RESETS + 1
        resets[MAX_RESETS - 1 :] = [Reset("state", f"{more} more bad entries dropped")]
    return SavedState(focus, names, overrides, idle, tesmart), tuple(resets)


def _object(
    doc: dict[str, object], key: str, resets: list[Reset], prefix: str = ""
) -> dict[str, object]:
    value = doc.get(key, {})
    if isinstance(value, dict):
        return value
    resets.append(Reset(prefix + key, f"expected an object, got {kind(value)}"))
    return {}


def _unit(key: str, ports: int) -> int:
    """The port of this unit a key names; InputError or PortError when it names none."""
    port = parse_port_id(key, ports)
    if port.channel is not None:
        raise InputError(f"{quote(key)} is a cascade channel, not a port of this unit")
    return port.unit


def _focus(saved: dict[str, object], ports: int, resets: list[Reset]) -> dict[Channel, PortId]:
    focus: dict[Channel, PortId] = {}
    for key, value in saved.items():
        what = f"focus.{quote(key)}"
        try:
            channel = Channel(key)
        except ValueError:
            resets.append(Reset(what, "unknown channel"))
            continue
        if not isinstance(value, str):
            resets.append(Reset(what, f"expected a port id string, got {kind(value)}"))
            continue
        try:
            focus[channel] = parse_port_id(value, ports)
        except (InputError, PortError) as exc:
            resets.append(Reset(what, f"{exc}; back to port 1"))
    return focus


def _names(saved: dict[str, object], ports: int, resets: list[Reset]) -> dict[int, str]:
    names: dict[int, str] = {}
    for key, value in saved.items():
        what = f"names.{quote(key)}"
        try:
            names[_unit(key, ports)] = validate_name(value)
        except (InputError, PortError) as exc:
            resets.append(Reset(what, f"{exc}; back to the configured name"))
    return names


def _overrides(saved: dict[str, object], ports: int, resets: list[Reset]) -> dict[int, Override]:
    overrides: dict[int, Override] = {}
    for key, value in saved.items():
        what = f"edids.overrides.{quote(key)}"
        try:
            overrides[_unit(key, ports)] = Override.parse(value)
        except (InputError, PortError) as exc:
            resets.append(Reset(what, f"{exc}; back to the default EDID"))
    return overrides


def _idle(saved: dict[str, object], ports: int, resets: list[Reset]) -> dict[int, bool]:
    idle: dict[int, bool] = {}
    for key, value in saved.items():
        what = f"edids.idle_monitor.{quote(key)}"
        try:
            unit = _unit(key, ports)
        except (InputError, PortError) as exc:
            resets.append(Reset(what, str(exc)))
            continue
        if isinstance(value, bool):
            idle[unit] = value
        else:
            resets.append(Reset(what, f"expected true or false, got {kind(value)}"))
    return idle
