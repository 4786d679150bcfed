"""Per-port EDIDs (SPEC §6): what each port presents, and whether the console can show it.

Every port always presents an EDID. Its default is the console monitor's: learned from
the DRM sysfs tree when a monitor is connected, else the ``1080p60`` preset. A port may
override it with a preset or a blob. A port's EDID advertises that port's audio
capability: a learned EDID whose audio support differs is rebuilt from the monitor's
preferred mode, name and the port's audio. Each target drives the preferred mode of the
EDID it is shown; when the console monitor can't show that mode the port carries a
"black screen risk" warning with the modes it could use instead.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from kvmswitchd.errors import InputError
from video import (
    DEFAULT_PRESET,
    PRESETS,
    Audio,
    DigitalInterface,
    EdidError,
    EdidInfo,
    Mode,
    build_edid,
    learn_console_edid,
    monitor_can_show,
    parse_blob,
    parse_edid,
    preferred_mode,
    read_connectors,
    suggest_modes,
)

INTERFACES = {
    "hdmi": DigitalInterface.HDMI_A,
    "dp": DigitalInterface.DISPLAYPORT,
    "dvi": DigitalInterface.DVI,
    "vga": DigitalInterface.UNDEFINED,
}


def checked_blob(data: str | bytes) -> bytes:
    """EDID bytes from user input, fully validated: framing, checksums, every descriptor,
    and at least one video mode (a target needs one to drive). Nothing that fails here is
    ever stored, so every read of a port's EDID can decode it."""
    blob = parse_blob(data)
    preferred_mode(parse_edid(blob))
    return blob


@dataclass(frozen=True, slots=True)
class Override:
    """A port's own EDID: a preset name, or a blob that ``checked_blob`` accepted."""

    preset: str | None = None
    blob: bytes | None = None

    def summary(self) -> str:
        """A short text for the event log (never the whole blob)."""
        if self.preset is not None:
            return f"preset {self.preset}"
        blob = self.blob or b""
        return f"blob of {len(blob)} bytes, sha256 {hashlib.sha256(blob).hexdigest()[:12]}"

    def to_json(self) -> dict[str, str]:
        if self.preset is not None:
            return {"preset": self.preset}
        return {"hex": (self.blob or b"").hex()}

    @classmethod
    def parse(cls, data: object) -> Override:
        """From ``{"preset": name}``, ``{"hex": ...}``, ``{"base64": ...}`` or a config string."""
        if isinstance(data, str):
            if data in PRESETS:
                return cls(preset=data)
            return cls(blob=checked_blob(data))
        if not isinstance(data, dict) or len(data) != 1:
            raise InputError('EDID must be {"preset": name}, {"hex": "..."} or {"base64": "..."}')
        ((kind, value),) = data.items()
        if not isinstance(value, str):
            raise InputError(f"EDID {kind} must be a string")
        if kind == "preset":
            if value not in PRESETS:
                raise InputError(f"unknown EDID preset {value!r}; presets: {', '.join(PRESETS)}")
            return cls(preset=value)
        if kind == "hex":
            return cls(blob=checked_blob(value))
        if kind == "base64":
            try:
                raw = base64.b64decode(value, validate=True)
            except ValueError:
                raise InputError("EDID base64 is not valid base64") from None
            return cls(blob=checked_blob(raw))
        raise InputError(f"unknown EDID field {kind!r}: use preset, hex or base64")


@dataclass(frozen=True, slots=True)
class EdidChange:
    """One PUT /ports/{id}/edid: a new override (or back to default), and/or idle monitor."""

    override: Override | None
    set_override: bool
    idle_monitor: bool | None

    @classmethod
    def parse(cls, body: Mapping[str, Any]) -> EdidChange:
        allowed = {"preset", "hex", "base64", "default", "idle_monitor"}
        unknown = sorted(set(body) - allowed)
        if unknown:
            raise InputError(f"unknown field {unknown[0]!r}; expected {', '.join(sorted(allowed))}")
        chosen = [k for k in ("preset", "hex", "base64") if k in body]
        default = body.get("default", False)
        if not isinstance(default, bool):
            raise InputError("default must be true or false")
        if len(chosen) > 1 or (chosen and default):
            raise InputError("give one of preset, hex, base64 or default")
        idle = body.get("idle_monitor")
        if idle is not None and not isinstance(idle, bool):
            raise InputError("idle_monitor must be true or false")
        if not chosen and not default and idle is None:
            raise InputError("nothing to change: send preset, hex, base64, default or idle_monitor")
        override = Override.parse({chosen[0]: body[chosen[0]]}) if chosen else None
        return cls(override, bool(chosen) or default, idle)


class PortSignals(Protocol):
    """What the book needs of a port's configuration (``config.PortConfig`` is one).

    A Protocol, not an import: the config validates its EDID values with ``Override``,
    so importing the config here would make the two modules a cycle.
    """

    @property
    def video(self) -> str:
        """The connector: hdmi, dvi, vga or dp."""
        ...

    @property
    def audio(self) -> str:
        """What the port's EDID advertises: none, stereo or multichannel."""
        ...


@dataclass(frozen=True, slots=True)
class PortVideo:
    """What one port presents and drives."""

    edid: bytes
    source: str  # "console", "console-rebuilt", "preset", "blob"
    mode: Mode
    warning: str | None
    alternatives: tuple[Mode, ...]


class EdidBook:
    def __init__(self, ports: Mapping[int, PortSignals], drm_root: Path | None) -> None:
        self._ports = ports
        self.drm_root = drm_root
        self.console_edid = build_edid(DEFAULT_PRESET, name="KVM console")
        self.console_source = f"preset {DEFAULT_PRESET} (no monitor learned)"
        self.learn_notes: list[str] = []
        self.overrides: dict[int, Override] = {}
        self.idle_monitor: dict[int, bool] = dict.fromkeys(ports, True)
        self._cache: dict[int, PortVideo] = {}

    # -- the console monitor -------------------------------------------------------------

    def learn(self) -> None:
        """Learn the console monitor's EDID from the DRM tree; keep the preset if none."""
        self.learn_notes = []
        if self.drm_root is not None:
            learned = learn_console_edid(self.drm_root)
            if learned is not None:
                self.console_edid = learned.blob
                self.console_source = f"learned from {learned.connector}"
            else:
                self.learn_notes = [
                    f"{r.connector}: {r.reason}" for r in read_connectors(self.drm_root) if r.reason
                ]
        self._cache.clear()

    @property
    def console_info(self) -> EdidInfo:
        return parse_edid(self.console_edid)

    # -- per port ------------------------------------------------------------------------

    def set_override(self, unit: int, override: Override | None) -> None:
        """Give ``unit`` its own EDID (None: back to the default); validated first: the
        port's video is built from it before anything is stored (InputError otherwise)."""
        video = self._compute(unit, override)
        if override is None:
            self.overrides.pop(unit, None)
        else:
            self.overrides[unit] = override
        self._cache[unit] = video

    def apply(self, unit: int, change: EdidChange) -> dict[str, Any]:
        """Carry out a change; returns the event-log detail (never the whole blob).

        The whole change is checked before any of it is made: a refused change leaves
        the port exactly as it was."""
        detail: dict[str, Any] = {}
        if change.set_override:  # first: the one step that can be refused
            self.set_override(unit, change.override)
            detail["edid"] = change.override.summary() if change.override else "default"
        if change.idle_monitor is not None:
            self.idle_monitor[unit] = change.idle_monitor
            detail["idle_monitor"] = change.idle_monitor
        detail["mode"] = str(self.video(unit).mode)
        return detail

    def video(self, unit: int) -> PortVideo:
        cached = self._cache.get(unit)
        if cached is None:
            cached = self._cache[unit] = self._compute(unit, self.overrides.get(unit))
        return cached

    def _compute(self, unit: int, override: Override | None) -> PortVideo:
        config = self._ports[unit]
        audio = Audio(config.audio)
        interface = INTERFACES[config.video]
        if override is not None and override.preset is not None:
            edid = build_edid(override.preset, audio=audio, digital_interface=interface)
            source = "preset"
        elif override is not None and override.blob is not None:
            edid, source = override.blob, "blob"
        else:
            edid, source = self._console_for(audio, interface)
        mode = preferred_mode(edid)
        console = self.console_info
        warning: str | None = None
        alternatives: tuple[Mode, ...] = ()
        if not monitor_can_show(console, mode):
            alternatives = suggest_modes(console, edid)
            could = ", ".join(str(m) for m in alternatives[:4]) or "none of its modes"
            warning = (
                f"black screen risk: port {unit} drives {mode}, which the console monitor "
                f"can't show; it could use {could}"
            )
        return PortVideo(edid, source, mode, warning, alternatives)

    def _console_for(self, audio: Audio, interface: DigitalInterface) -> tuple[bytes, str]:
        info = self.console_info
        has_audio = bool(info.cta is not None and info.cta.basic_audio)
        if has_audio == (audio is not Audio.NONE):
            return self.console_edid, "console"
        try:
            mode = preferred_mode(info)
            name = (info.name or "KVM console")[:13]
            return build_edid(mode, name=name, audio=audio, digital_interface=interface), (
                "console-rebuilt"
            )
        except (InputError, EdidError):
            return self.console_edid, "console"

    def view(self, unit: int, *, video_focus: bool) -> dict[str, Any]:
        video = self.video(unit)
        override = self.overrides.get(unit)
        return {
            "source": video.source,
            "override": override.to_json() if override else None,
            "mode": str(video.mode),
            "idle_monitor": self.idle_monitor.get(unit, True),
            "present": video_focus or self.idle_monitor.get(unit, True),
            "warning": video.warning,
            "alternatives": [str(m) for m in video.alternatives],
        }

    def detail(self, unit: int, *, video_focus: bool) -> dict[str, Any]:
        """The decoded EDID for ``?format=json``."""
        video = self.video(unit)
        info = parse_edid(video.edid)
        return dict(
            self.view(unit, video_focus=video_focus),
            hex=video.edid.hex(),
            manufacturer=info.manufacturer,
            product=info.product,
            name=info.name,
            serial=info.serial_text or info.serial,
            version=info.version,
            preferred=str(info.preferred) if info.preferred else None,
            audio=bool(info.cta is not None and info.cta.basic_audio),
            extensions=info.extensions,
        )

    # -- persistence ---------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        return {
            "overrides": {str(u): o.to_json() for u, o in self.overrides.items()},
            "idle_monitor": {str(u): v for u, v in self.idle_monitor.items() if not v},
        }

    def restore(
        self, overrides: Mapping[int, Override], idle_monitor: Mapping[int, bool]
    ) -> dict[int, str]:
        """Apply saved overrides and idle-monitor flags (``kvmswitchd.savedstate`` checked
        them); returns why each port whose override still could not be used kept its own."""
        problems: dict[int, str] = {}
        for unit, override in overrides.items():
            try:
                self.set_override(unit, override)
            except InputError as exc:
                problems[unit] = str(exc)
        for unit, idle in idle_monitor.items():
            self.idle_monitor[unit] = idle
        return problems
