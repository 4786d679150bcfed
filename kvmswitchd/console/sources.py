"""Console sources from config: ``evdev:auto``, ``evdev:PATH``, ``fifo:PATH`` (SPEC §5)."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Literal, Protocol

from kvmswitchd.console.events import ConsoleSink
from kvmswitchd.console.stream import Warn
from kvmswitchd.errors import ConfigError

# Longest path accepted in a device entry (Linux PATH_MAX).
MAX_PATH_LEN = 4096


class ConsoleSource(Protocol):
    """A running console input source; the daemon starts and closes it."""

    def start(self) -> None:
        """Begin delivering input (call inside the running loop)."""

    def close(self) -> None:
        """Stop; everything the source's devices held is released through the sink."""

    def set_leds(self, leds: Collection[int]) -> None:
        """Show ``leds`` (evdev LED codes that are on) on the source's keyboards."""


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    """One ``console.devices`` entry; ``path`` None means ``evdev:auto``."""

    kind: Literal["evdev", "fifo"]
    path: str | None

    def __str__(self) -> str:
        return f"{self.kind}:{self.path or 'auto'}"


def parse_device_spec(value: object, path: str) -> DeviceSpec:
    """Parse ``"evdev:auto"``, ``"evdev:/dev/input/by-id/..."`` or ``"fifo:/run/x"``."""
    expected = 'expected "evdev:auto", "evdev:/dev/input/..." or "fifo:PATH"'
    if not isinstance(value, str):
        raise ConfigError(path, f"{expected}, got {type(value).__name__}")
    kind, colon, rest = value.partition(":")
    if not colon or kind not in ("evdev", "fifo"):
        raise ConfigError(path, f"{expected}, got {value[:80]!r}")
    if not rest or len(rest) > MAX_PATH_LEN or "\0" in rest:
        raise ConfigError(path, f"{expected}: the path is empty, too long or has a NUL byte")
    if kind == "evdev":
        if rest == "auto":
            return DeviceSpec("evdev", None)
        if not rest.startswith("/"):
            raise ConfigError(path, f'an evdev device must be "auto" or an absolute path: {rest!r}')
        return DeviceSpec("evdev", rest)
    return DeviceSpec("fifo", rest)


def parse_device_specs(values: object, path: str) -> tuple[DeviceSpec, ...]:
    """Parse the ``console.devices`` list; errors name the entry (``console.devices[1]``)."""
    if not isinstance(values, list):
        raise ConfigError(path, f"expected a list of device entries, got {type(values).__name__}")
    specs = tuple(parse_device_spec(v, f"{path}[{i}]") for i, v in enumerate(values))
    if len(set(specs)) != len(specs):
        raise ConfigError(path, "a device is listed twice")
    return specs


def build_sources(
    specs: Collection[DeviceSpec],
    sink: ConsoleSink,
    *,
    clock: Callable[[], float] | None = None,
    warn: Warn | None = None,
    rescan_interval: float = 2.0,
) -> list[ConsoleSource]:
    """One source per fifo, and one evdev source for every evdev entry together."""
    sources: list[ConsoleSource] = []
    fifo_paths = [spec.path for spec in specs if spec.kind == "fifo" and spec.path]
    evdev_paths = [spec.path for spec in specs if spec.kind == "evdev" and spec.path]
    evdev_auto = any(spec.kind == "evdev" and spec.path is None for spec in specs)
    if fifo_paths:
        from kvmswitchd.console.fifo import FifoSource  # backends chosen here

        sources += [FifoSource(p, sink, clock=clock, warn=warn) for p in fifo_paths]
    if evdev_paths or evdev_auto:
        from kvmswitchd.console.evdev_source import EvdevSource  # Linux backend

        sources.append(
            EvdevSource(
                sink,
                paths=evdev_paths,
                auto=evdev_auto,
                rescan_interval=rescan_interval,
                clock=clock,
                warn=warn,
            )
        )
    return sources
