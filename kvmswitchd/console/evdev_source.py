"""evdev console source: physical keyboards and mice, grabbed, hotplugged.

Devices are reached through two small Protocols, ``ConsoleDevice`` and
``DeviceOpener``; ``EvdevOpener`` implements them with python-evdev (imported only
when it is used). Records are read raw from the device fd and parsed by the same code
as ``fifo:`` sources. Hotplug is a poll (``rescan`` every ``rescan_interval`` seconds):
a device that vanishes (``ENODEV``) releases everything it held, and is opened and
grabbed again when it comes back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kvmswitchd.console.device import ConsoleDevice, DeviceOpener, classify
from kvmswitchd.console.events import ConsoleSink
from kvmswitchd.console.records import ABS_X, ABS_Y, EV_ABS, EV_LED, EV_SYN, PORT_LEDS, RECORD_SIZE
from kvmswitchd.console.stream import InputStream, Warn

if TYPE_CHECKING:
    import evdev

log = logging.getLogger(__name__)

# Bytes read per wakeup: bounds one device's work per event-loop turn.
READ_SIZE = RECORD_SIZE * 128


class EvdevDevice:
    """``ConsoleDevice`` over a python-evdev ``InputDevice``."""

    def __init__(self, device: evdev.InputDevice[str]) -> None:
        self._dev = device
        self.path = str(device.path)
        self.name = device.name

    def fileno(self) -> int:
        return self._dev.fd

    def read_raw(self, size: int) -> bytes:
        return os.read(self._dev.fd, size)

    def capabilities(self) -> Mapping[int, Collection[int]]:
        return self._dev.capabilities(absinfo=False)

    def abs_range(self, axis: int) -> tuple[int, int]:
        info = self._dev.absinfo(axis)
        return info.min, info.max

    def active_keys(self) -> Collection[int]:
        keys: list[int] = self._dev.active_keys()
        return keys

    def grab(self) -> None:
        self._dev.grab()

    def ungrab(self) -> None:
        self._dev.ungrab()

    def set_led(self, led: int, on: bool) -> None:
        self._dev.set_led(led, int(on))

    def close(self) -> None:
        self._dev.close()


class EvdevOpener:
    """``DeviceOpener`` for the real ``/dev/input``."""

    def __init__(self, directory: str = "/dev/input") -> None:
        self.directory = directory

    def list_paths(self) -> Collection[str]:
        import evdev  # Linux-only: imported only by the real backend

        return evdev.list_devices(self.directory, writable=False)

    def open(self, path: str) -> ConsoleDevice:
        import evdev  # Linux-only: imported only by the real backend

        return EvdevDevice(evdev.InputDevice(path))


@dataclass(slots=True)
class _Attached:
    device: ConsoleDevice
    stream: InputStream
    keyboard: bool
    has_leds: bool


class EvdevSource:
    """Configured device ``paths`` and/or (``auto``) every keyboard and mouse."""

    def __init__(
        self,
        sink: ConsoleSink,
        *,
        paths: Sequence[str] = (),
        auto: bool = False,
        opener: DeviceOpener | None = None,
        rescan_interval: float = 2.0,
        grab: bool = True,
        clock: Callable[[], float] | None = None,
        warn: Warn | None = None,
    ) -> None:
        self._sink = sink
        self._paths = tuple(paths)
        self._auto = auto
        self._opener = opener or EvdevOpener()
        self._interval = rescan_interval
        self._grab = grab
        self._clock = clock
        self._warn = warn or log.warning
        self._attached: dict[str, _Attached] = {}
        self._skipped: set[str] = set()  # auto: nodes that are neither keyboard nor mouse
        self._warned: set[str] = set()  # paths already warned about (until they work)
        self._leds: frozenset[int] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None

    @property
    def devices(self) -> tuple[str, ...]:
        """Paths of the devices open now."""
        return tuple(self._attached)

    def start(self) -> None:
        """Open what is there now and poll for hotplug (inside the running loop)."""
        self._loop = asyncio.get_running_loop()
        self._tick()

    def close(self) -> None:
        """Stop polling; release, ungrab and close every device."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for path in list(self._attached):
            self._detach(path)
        self._loop = None

    def set_leds(self, leds: Collection[int]) -> None:
        """Show ``leds`` (evdev LED codes that are on) on every console keyboard."""
        self._leds = frozenset(leds)
        for entry in self._attached.values():
            self._show_leds(entry)

    def rescan(self) -> None:
        """Open configured paths and (auto) new keyboards and mice; called by the timer."""
        for path in self._paths:
            if path not in self._attached:
                self._try_attach(path, require_kind=False)
        if not self._auto:
            return
        present = set(self._opener.list_paths())
        self._skipped &= present
        # A configured by-id link and its event node are one device: open it once.
        open_nodes = {os.path.realpath(p) for p in self._attached}
        for path in sorted(present - self._skipped - set(self._attached)):
            if os.path.realpath(path) not in open_nodes:
                self._try_attach(path, require_kind=True)

    def _tick(self) -> None:
        assert self._loop is not None  # started
        self.rescan()
        self._timer = self._loop.call_later(self._interval, self._tick)

    def _try_attach(self, path: str, *, require_kind: bool) -> None:
        assert self._loop is not None  # started
        try:
            device = self._opener.open(path)
        except OSError as exc:
            if path not in self._warned and not isinstance(exc, FileNotFoundError):
                self._warned.add(path)
                self._warn(f"console device {path}: cannot open ({exc.strerror}); will retry")
            return
        try:
            caps = device.capabilities()
            keyboard, pointer = classify(caps)
            if require_kind and not (keyboard or pointer):
                self._skipped.add(path)
                device.close()
                return
            if self._grab:
                device.grab()
            abs_range = {
                axis: device.abs_range(axis)
                for axis in caps.get(EV_ABS, ())
                if axis in (ABS_X, ABS_Y)
            }
        except OSError as exc:
            with contextlib.suppress(OSError):
                device.close()
            if path not in self._warned:
                self._warned.add(path)
                self._warn(f"console device {path}: cannot grab ({exc.strerror}); will retry")
            return
        self._warned.discard(path)
        stream = InputStream(
            path, self._sink, self._clock or self._loop.time, self._warn,
            syn=EV_SYN in caps, abs_range=abs_range,
        )  # fmt: skip
        entry = _Attached(device, stream, keyboard, bool(caps.get(EV_LED)))
        self._attached[path] = entry
        self._loop.add_reader(device.fileno(), self._on_readable, path)
        log.info("console device %s (%s) attached", path, device.name)
        self._show_leds(entry)

    def _on_readable(self, path: str) -> None:
        entry = self._attached.get(path)
        if entry is None:
            return
        try:
            data = entry.device.read_raw(READ_SIZE)
        except BlockingIOError:
            return
        except OSError as exc:
            self._detach(path, f"lost ({exc.strerror})")
            return
        if not data:
            self._detach(path, "lost (end of file)")
            return
        failed: list[OSError] = []

        def active_keys() -> Iterable[int]:  # after SYN_DROPPED: the keys really held
            try:
                return entry.device.active_keys()
            except OSError as exc:
                failed.append(exc)
                return ()

        entry.stream.data(data, active_keys)
        if failed:
            self._detach(path, f"lost ({failed[0].strerror})")

    def _detach(self, path: str, why: str = "") -> None:
        entry = self._attached.pop(path)
        if self._loop is not None:
            self._loop.remove_reader(entry.device.fileno())
        with contextlib.suppress(OSError):
            if self._grab and not why:
                entry.device.ungrab()
        with contextlib.suppress(OSError):
            entry.device.close()
        if why:
            self._warn(f"console device {path} {why}; releasing its keys, will reopen it")
        entry.stream.lost()

    def _show_leds(self, entry: _Attached) -> None:
        if self._leds is None or not (entry.keyboard and entry.has_leds):
            return
        try:
            for led in PORT_LEDS:
                entry.device.set_led(led, led in self._leds)
        except OSError as exc:
            self._warn(f"console device {entry.device.path}: LED write failed ({exc.strerror})")
