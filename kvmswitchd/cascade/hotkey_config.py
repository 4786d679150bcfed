"""``[ports.N.cascade]`` with ``kind = "hotkeys"``: a switch driven by typing its hotkey.

::

    [ports.3.cascade]
    kind = "hotkeys"
    ports = 4                  # channels of the downstream switch
    preset = "aten"            # or: sequence = "ScrollLock ScrollLock {port} Enter"
    delay = 0.15               # seconds after every key step (default: the preset's)
    hold = 0.05                # seconds a tapped key stays down
    confirm = "none"           # the result is assumed; "serial": asked over readback
    # readback = { dialect = "tesmart", device = "tcp:10.0.0.9:5000" }  # a serial table
    # settle = 0.5             # seconds after the last key before the read-back
    names = ["web", "db"]      # optional: names of channels 1, 2, ...

The presets are the vendors' documented hotkeys (reference/protocols.md §1.1); a
``sequence`` overrides the preset's. Every error is a ConfigError naming its key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from kvmswitchd.cascade.hotkey_notation import Step, parse_sequence, schedule
from kvmswitchd.cascade.serial_config import (
    SerialCascade,
    check_table,
    parse_names,
    parse_seconds,
    parse_serial_cascade,
)
from kvmswitchd.core.ports import MAX_CASCADE_CHANNEL
from kvmswitchd.errors import ConfigError, InputError

KIND = "hotkeys"
KEYS = (
    "kind", "ports", "names", "preset", "sequence", "delay", "hold", "confirm", "readback",
    "settle",
)  # fmt: skip
CONFIRMS = ("none", "serial")
# Seconds; a longer gap or hold is a typo (and keeps port N's keyboard busy).
MAX_DELAY = 2.0
MIN_HOLD, MAX_HOLD = 0.01, 2.0
DEFAULT_DELAY = 0.15
DEFAULT_HOLD = 0.05
# Seconds between the last key and the read-back (the switch acts on the hotkey first).
DEFAULT_SETTLE = 0.5
MAX_SETTLE = 10.0


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
    readback: SerialCascade | None = None  # confirm = "serial": the line that asks it
    settle: float = DEFAULT_SETTLE

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
            f"{path}.confirm",
            'expected "none" (the result is assumed) or "serial" (asked over a readback line)',
        )
    readback = _readback(table, confirm == "serial", ports, path)
    return HotkeyCascade(
        ports=ports,
        steps=steps,
        sequence=text,
        preset=str(preset_name) if preset_name is not None else None,
        delay=delay,
        hold=hold,
        names=parse_names(table, ports, path),
        confirm=str(confirm),
        readback=readback,
        settle=parse_seconds(table, "settle", DEFAULT_SETTLE, 0.0, MAX_SETTLE, path),
    )


def _readback(
    table: Mapping[str, object], wanted: bool, ports: int, path: str
) -> SerialCascade | None:
    """``readback = { dialect = "tesmart", device = "..." }``: the serial line a switch
    that is switched by hotkey can still be asked over (its ``ports`` are ours)."""
    raw = table.get("readback")
    if raw is None:
        if wanted:
            raise ConfigError(f"{path}.readback", 'expected a serial table for confirm = "serial"')
        return None
    if not wanted:
        raise ConfigError(f"{path}.readback", 'expected confirm = "serial" to use it')
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{path}.readback", "expected a table")
    if "ports" in raw or "kind" in raw:
        raise ConfigError(f"{path}.readback", "expected no kind or ports: they are the hotkeys'")
    return parse_serial_cascade({**raw, "ports": ports}, f"{path}.readback")


def _ports(table: Mapping[str, object], preset: Preset | None, path: str) -> int:
    high = preset.max_ports if preset is not None else MAX_CASCADE_CHANNEL
    value = table.get("ports")
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
        why = f" (the {table.get('preset')} hotkey addresses 1..{high})" if preset else ""
        raise ConfigError(f"{path}.ports", f"expected the number of channels 1..{high}{why}")
    return value


def _milliseconds(
    table: Mapping[str, object], key: str, default: float, low: float, high: float, path: str
) -> float:
    value = parse_seconds(table, key, default, low, high, path)
    if abs(round(value * 1000) - value * 1000) > 1e-6:
        raise ConfigError(f"{path}.{key}", "expected whole milliseconds (e.g. 0.15)")
    return value
