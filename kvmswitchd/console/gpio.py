"""Front-panel buttons on GPIO lines (libgpiod v2 through the ``gpiod`` package).

One input line per button: ``"1"``..``"N"`` select a port, ``"next"``/``"prev"`` cycle.
Lines are requested with edge detection on the *active* edge, a pull-up bias and
debouncing in the kernel; a wired-to-ground button is ``active_low`` (the default).
Only this module imports ``gpiod`` (Linux only); tests use a fake line request.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

from kvmswitchd.errors import ConfigError, DeviceError

log = logging.getLogger(__name__)

MAX_DEBOUNCE_MS = 1000
MAX_LINE = 4095


@dataclass(frozen=True, slots=True)
class GpioSpec:
    """``[buttons]``: the chip, and button name → line offset."""

    chip: str
    lines: Mapping[str, int] = field(default_factory=dict)
    active_low: bool = True
    debounce_ms: int = 20


def parse_gpio(table: Mapping[str, Any], ports: int, path: str = "buttons") -> GpioSpec:
    allowed = {"chip", "lines", "active_low", "debounce_ms"}
    for key in table:
        if key not in allowed:
            raise ConfigError(
                f"{path}.{key}", f"unknown key; expected one of {', '.join(sorted(allowed))}"
            )
    chip = table.get("chip")
    if not isinstance(chip, str) or not chip.startswith("/dev/"):
        raise ConfigError(f"{path}.chip", 'expected a GPIO chip device like "/dev/gpiochip0"')
    lines = table.get("lines", {})
    if not isinstance(lines, dict) or not lines:
        raise ConfigError(f"{path}.lines", 'expected a table like {"1" = 17, "next" = 22}')
    names = {str(u) for u in range(1, ports + 1)} | {"next", "prev"}
    out: dict[str, int] = {}
    for name, offset in lines.items():
        if name not in names:
            raise ConfigError(f"{path}.lines.{name}", f"expected a port 1..{ports}, next or prev")
        if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset <= MAX_LINE:
            raise ConfigError(f"{path}.lines.{name}", f"expected a line offset 0..{MAX_LINE}")
        if offset in out.values():
            raise ConfigError(f"{path}.lines.{name}", f"line {offset} is used twice")
        out[name] = offset
    active_low = table.get("active_low", True)
    if not isinstance(active_low, bool):
        raise ConfigError(f"{path}.active_low", "expected true or false")
    debounce = table.get("debounce_ms", 20)
    if (
        isinstance(debounce, bool)
        or not isinstance(debounce, int)
        or not 0 <= debounce <= MAX_DEBOUNCE_MS
    ):
        raise ConfigError(f"{path}.debounce_ms", f"expected 0..{MAX_DEBOUNCE_MS} milliseconds")
    return GpioSpec(chip, out, active_low, debounce)


class EdgeEvent(Protocol):
    line_offset: int


class LineRequest(Protocol):
    def fileno(self) -> int: ...

    def read_edge_events(self) -> list[Any]: ...

    def release(self) -> None: ...


Opener = Callable[[GpioSpec], LineRequest]


def open_lines(spec: GpioSpec) -> LineRequest:
    import gpiod
    from gpiod.line import Bias, Direction, Edge

    settings = gpiod.LineSettings(
        direction=Direction.INPUT,
        edge_detection=Edge.RISING,  # the active edge: a press (active_low inverts the pin)
        bias=Bias.PULL_UP if spec.active_low else Bias.PULL_DOWN,
        active_low=spec.active_low,
        debounce_period=timedelta(milliseconds=spec.debounce_ms),
    )
    try:
        request: LineRequest = gpiod.request_lines(
            spec.chip, consumer="kvmswitchd", config={tuple(spec.lines.values()): settings}
        )
    except OSError as exc:
        raise DeviceError(
            f"cannot request GPIO lines on {spec.chip}: {exc.strerror or exc}"
        ) from None
    return request


class GpioButtons:
    """Reads button presses and calls ``press(name)`` for each."""

    def __init__(
        self, spec: GpioSpec, press: Callable[[str], None], opener: Opener = open_lines
    ) -> None:
        self.spec = spec
        self._press = press
        self._opener = opener
        self._names = {offset: name for name, offset in spec.lines.items()}
        self._request: LineRequest | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._request = self._opener(self.spec)
        self._loop.add_reader(self._request.fileno(), self._readable)

    def close(self) -> None:
        if self._request is not None and self._loop is not None:
            self._loop.remove_reader(self._request.fileno())
            self._request.release()
        self._request = None

    def _readable(self) -> None:
        if self._request is None:
            return
        try:
            events = self._request.read_edge_events()
        except OSError as exc:
            log.warning("GPIO buttons on %s stopped: %s", self.spec.chip, exc)
            self.close()
            return
        for event in events:
            name = self._names.get(event.line_offset)
            if name is not None:
                self._press(name)
