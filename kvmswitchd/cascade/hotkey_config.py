"""``[ports.N.cascade]`` with ``kind = "hotkeys"``: a switch driven by typing its hotkey.

::

    [ports.3.cascade]
    kind = "hotkeys"
    ports = 4                  # channels of the downstream switch
    preset = "aten"            # or: sequence = "ScrollLock ScrollLock {port} Enter"
    delay = 0.15               # seconds after every key step (default: the preset's)
    hold = 0.05                # seconds a tapped key stays down
    confirm = "none"           # the result is assumed (the switch cannot be asked)
    names = ["web", "db"]      # optional: names of channels 1, 2, ...

The presets are the vendors' documented hotkeys (reference/protocols.md §1.1); a
``sequence`` overrides the preset's. Every error is a ConfigError naming its key.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from kvmswitchd.cascade.hotkey_notation import Step, parse_sequence, schedule
from kvmswitchd.core.ports import MAX_CASCADE_CHANNEL
from kvmswitchd.errors import ConfigError, InputError

KIND = "hotkeys"
KEYS = ("kind", "ports", "names", "preset", "sequence", "delay", "hold", "confirm")
CONFIRMS = ("none",)
# Seconds; a longer gap or hold is a typo (and keeps port N's keyboard busy).
MAX_DELAY = 2.0
MIN_HOLD, MAX_HOLD = 0.01, 2.0
DEFAULT_DELAY = 0.15
DEFAULT_HOLD = 0.05
# A downstream channel's name (as port names: shown in the UI and logs).
MAX_NAME_LEN = 64


@dataclass(frozen=True, slots=True)
class Preset:
    sequence: str
    max_ports: int  # channels its sequence can address (single-digit hotkeys: 9 or fewer)
    source: str  # where the sequence is documented


PRESETS: Mapping[str, Preset] = {
    # ATEN CS1922M/CS1924M manual: [Scroll Lock] [Scroll Lock] [n] [Enter]
    "aten": Preset("ScrollLock ScrollLock {port} Enter", 16, "ATEN CS1922M manual"),
    # ATEN's alternate invocation keys (selected on the unit; unverified)
    "aten-ctrl": Preset("LeftCtrl LeftCtrl {port} Enter", 16, "ATEN, alternate keys"),
    "tesmart": Preset("ScrollLock ScrollLock {port}", 8, "TESmart hotkeys"),
    "tesmart-ctrl": Preset("LeftCtrl LeftCtrl {port}", 8, "TESmart, alternate keys"),
    "belkin": Preset("ScrollLock ScrollLock {port}", 9, "Belkin manual"),
    "startech": Preset("LeftCtrl LeftCtrl {port}", 9, "StarTech SV831SUN manual"),
    "ugreen": Preset("LeftCtrl LeftCtrl {port}", 9, "UGREEN documentation"),
    "generic": Preset("ScrollLock ScrollLock {port}", 9, "generic 4x1 KVMs"),
    # Adder, Black Box ServSwitch, Lindy: hold Ctrl+Alt and press the (top-row) digit
    "adder": Preset("+LeftCtrl +LeftAlt {port} -LeftAlt -LeftCtrl", 9, "Adder hotkeys"),
    "blackbox": Preset("+LeftCtrl +LeftAlt {port} -LeftAlt -LeftCtrl", 9, "Black Box manual"),
    "lindy": Preset("+LeftCtrl +LeftAlt {port} -LeftAlt -LeftCtrl", 9, "Lindy manual"),
    # PiKVM kvmd magic keys: Left Alt tapped twice, then 1..8
    "pikvm": Preset("LeftAlt LeftAlt {port}", 8, "PiKVM kvmd"),
    # another kvmswitchd's console detector (profile scrolllock); Enter is added with 10+
    "kvmswitchd": Preset("ScrollLock ScrollLock {port}", MAX_CASCADE_CHANNEL, "SPEC §4"),
}


@dataclass(frozen=True, slots=True)
class HotkeyCascade:
    ports: int
    steps: tuple[Step, ...]
    sequence: str  # as configured (or the preset's), for display
    preset: str | None = None
    delay: float = DEFAULT_DELAY
    hold: float = DEFAULT_HOLD
    confirm: str = "none"
    names: tuple[str, ...] = ()  # channel 1's name first; the rest are "Port C"

    def name_of(self, channel: int) -> str:
        return self.names[channel - 1] if channel <= len(self.names) else f"Port {channel}"


def parse_hotkeys_cascade(table: Mapping[str, object], path: str) -> HotkeyCascade:
    """Validate one ``[ports.N.cascade]`` table of kind ``hotkeys``; ``path`` prefixes
    the key of every error (``ports.3.cascade.sequence``)."""
    check_table(table, KIND, KEYS, path)
    preset_name = table.get("preset")
    preset: Preset | None = None
    if preset_name is not None:
        if not isinstance(preset_name, str) or preset_name not in PRESETS:
            raise ConfigError(f"{path}.preset", f"expected one of {', '.join(PRESETS)}")
        preset = PRESETS[preset_name]
    ports = _ports(table, preset, path)
    text = table.get("sequence")
    if text is None:
        if preset is None:
            raise ConfigError(path, 'expected a preset (e.g. "aten") or a sequence')
        text = preset.sequence
        if preset_name == "kvmswitchd" and ports >= 10:
            text += " Enter"  # digits accumulate until Enter on a 10+ port kvmswitchd
    if not isinstance(text, str):
        raise ConfigError(
            f"{path}.sequence", 'expected a string like "ScrollLock ScrollLock {port}"'
        )
    try:
        steps = parse_sequence(text)
    except InputError as exc:
        raise ConfigError(f"{path}.sequence", str(exc)) from None
    delay = _milliseconds(table, "delay", DEFAULT_DELAY, 0.0, MAX_DELAY, path)
    hold = _milliseconds(table, "hold", DEFAULT_HOLD, MIN_HOLD, MAX_HOLD, path)
    try:
        schedule(steps, ports, hold=hold, delay=delay)  # the longest channel fits the caps
    except InputError as exc:
        raise ConfigError(f"{path}.sequence", f"for channel {ports}: {exc}") from None
    confirm = table.get("confirm", "none")
    if confirm not in CONFIRMS:
        raise ConfigError(
            f"{path}.confirm", 'expected "none" (a hotkey switch cannot be asked where it is)'
        )
    return HotkeyCascade(
        ports=ports,
        steps=steps,
        sequence=text,
        preset=str(preset_name) if preset_name is not None else None,
        delay=delay,
        hold=hold,
        names=parse_names(table, ports, path),
    )


def check_table(table: object, kind: str, keys: tuple[str, ...], path: str) -> None:
    """A table of kind ``kind`` with no key outside ``keys`` (shared with the serial kind)."""
    if not isinstance(table, Mapping):
        raise ConfigError(path, "expected a table")
    for key in table:
        if key not in keys:
            raise ConfigError(f"{path}.{key}", f"unknown key; expected one of {', '.join(keys)}")
    if table.get("kind", kind) != kind:
        raise ConfigError(f"{path}.kind", f'expected "{kind}"')


def _ports(table: Mapping[str, object], preset: Preset | None, path: str) -> int:
    high = preset.max_ports if preset is not None else MAX_CASCADE_CHANNEL
    value = table.get("ports")
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
        why = f" (the {table.get('preset')} hotkey addresses 1..{high})" if preset else ""
        raise ConfigError(f"{path}.ports", f"expected the number of channels 1..{high}{why}")
    return value


def parse_names(table: Mapping[str, object], ports: int, path: str) -> tuple[str, ...]:
    """``names = ["web", "db"]``: the first channels' names (shared with the serial kind)."""
    value = table.get("names", [])
    if not isinstance(value, list) or len(value) > ports:
        raise ConfigError(f"{path}.names", f"expected a list of at most {ports} names")
    for i, name in enumerate(value):
        if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME_LEN or not name.isprintable():
            raise ConfigError(
                f"{path}.names[{i}]", f"expected a printable name of 1..{MAX_NAME_LEN} characters"
            )
    return tuple(str(name) for name in value)


def parse_seconds(
    table: Mapping[str, object], key: str, default: float, low: float, high: float, path: str
) -> float:
    """``table[key]`` as seconds in ``low..high`` (shared with the serial kind)."""
    value = table.get(key, default)
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not low <= value <= high
    ):
        raise ConfigError(f"{path}.{key}", f"expected a number of seconds {low:g}..{high:g}")
    return float(value)


def _milliseconds(
    table: Mapping[str, object], key: str, default: float, low: float, high: float, path: str
) -> float:
    value = parse_seconds(table, key, default, low, high, path)
    if abs(round(value * 1000) - value * 1000) > 1e-6:
        raise ConfigError(f"{path}.{key}", "expected whole milliseconds (e.g. 0.15)")
    return value
