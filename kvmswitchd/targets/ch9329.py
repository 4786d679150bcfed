"""The ``ch9329`` target backend: a CH9329 serial-to-USB-HID cable (SPEC §8, reference §5).

The protocol lives in the sans-IO ``Ch9329Link`` (``ch9329_link``); this adapter opens
the serial device through pyserial-asyncio-fast (as ``kvmswitchd.serial.links`` does),
moves bytes between it and the link, and re-arms one timer at the link's deadline.

A device that cannot be opened, or that fails (the USB-serial adapter unplugged: its
node vanishes, reads fail), makes the port offline with the reason in its target view;
it is re-opened with back-off (``RETRY``, doubling up to ``RETRY_MAX``), and the link
sends the state at rest once the chip answers again. Other ports are not touched.

``device = "emulated"`` (``EMULATED``) runs an ``EmulatedChip`` with a virtual computer
behind it on a pty of our own (``ch9329_pty``): the same bytes cross a real pty as they
would a real cable, and the computer's view and screen are this port's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from typing import Any, Final

import serial
import serial_asyncio_fast

from kvmswitchd.targets.ch9329_chip import EmulatedChip
from kvmswitchd.targets.ch9329_link import (
    DEFAULT_BAUD,
    KINDS,
    Ch9329Link,
    LedsChanged,
    LinkState,
    StateChanged,
    reply_timeout_for,
)
from kvmswitchd.targets.ch9329_pty import ChipPty
from kvmswitchd.targets.computer import VirtualComputer
from kvmswitchd.targets.emulated import ScreenCache, show_edid
from kvmswitchd.targets.target import OutputListener

log = logging.getLogger(__name__)

EMULATED: Final = "emulated"
RETRY: Final = 0.5  # seconds before the first re-open of a device that failed
RETRY_MAX: Final = 8.0  # the longest wait between re-opens
# Seconds stop() lets the reports already queued (the release-all of a shutdown) reach a
# chip that is online, so no key stays down on the target after the daemon is gone.
STOP_DRAIN: Final = 0.5
# The emulated chip answers at once: a reply later than this means our own event loop was
# busy, not that the chip is gone, so it is not retried sooner (no duplicated report).
EMULATED_REPLY_TIMEOUT: Final = 1.0


class _Line(asyncio.Protocol):
    def __init__(self, target: Ch9329Target, lost: asyncio.Future[str]) -> None:
        self._target = target
        self._lost = lost

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)  # serial transports are
        self._target._opened(transport)

    def data_received(self, data: bytes) -> None:
        target = self._target
        target.link.receive_data(data, target._now())
        target._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._lost.done():
            self._lost.set_result(str(exc) if exc else "closed")


class Ch9329Target:
    kind = "ch9329"

    def __init__(
        self,
        device: str,
        *,
        baud: int = DEFAULT_BAUD,
        address: int = 0,
        keyboard: str = "usb",
        mouse: str = "relative",
        kinds: Iterable[str] = KINDS,
        name: str = "ch9329",
        reply_timeout: float | None = None,
        retry: tuple[float, float] = (RETRY, RETRY_MAX),
    ) -> None:
        self.device = device
        self.baud = baud
        self.name = name
        self.retry = retry
        timeout = reply_timeout
        if timeout is None:
            timeout = EMULATED_REPLY_TIMEOUT if device == EMULATED else reply_timeout_for(baud)
        self.link = Ch9329Link(address=address, mouse=mouse, kinds=kinds, reply_timeout=timeout)
        self.chip_pty: ChipPty | None = None  # the emulated chip's pty (device = "emulated")
        self.computer: VirtualComputer | None = None
        if device == EMULATED:
            self.computer = VirtualComputer(keyboard=keyboard, mouse=mouse)
            # A pty on a busy event loop may hand the chip one frame in pieces further
            # apart than a UART's 3 ms gap: this chip waits longer before saying E1.
            chip = EmulatedChip(self.computer, address=address, packet_gap=0.1)
            self.chip_pty = ChipPty(chip)
        self._listener: OutputListener | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None
        self._waiters: list[tuple[Callable[[], bool], asyncio.Future[None]]] = []
        self._screen: ScreenCache | None = None

    # -- TargetBackend ----------------------------------------------------------------

    def write_keyboard(self, report: bytes) -> None:
        self.link.push_keyboard(report, self._now())
        self._flush()

    def write_mouse(self, report: bytes) -> None:
        self.link.push_mouse(report, self._now())
        self._flush()

    def set_output_listener(self, listener: OutputListener) -> None:
        self._listener = listener

    def present_edid(self, edid: bytes | None) -> None:
        """A CH9329 carries no video; an emulated one's computer shows the EDID's mode."""
        if self.computer is not None:
            show_edid(self.computer, edid)

    def screen(self) -> bytes | None:
        if self.computer is None:
            return None
        if self._screen is None:
            self._screen = ScreenCache(self.computer)
        return self._screen.frame()

    def view(self) -> dict[str, Any]:
        view: dict[str, Any] = {}
        if self.computer is not None:
            view.update(self.computer.view())
        view.update(self.link.view(), device=self.device, baud=self.baud)
        if self.chip_pty is not None:
            view["pty"] = self.chip_pty.device
            view["chip_emulated"] = self.chip_pty.chip.view()
        return view

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        if self.chip_pty is not None:
            self.chip_pty.open()
        self._task = self._loop.create_task(self._run(), name=f"{self.name} serial")

    async def stop(self) -> None:
        if self._task is not None and self.link.online:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.drained(), STOP_DRAIN)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.chip_pty is not None:
            self.chip_pty.close()
        for _, waiter in self._waiters:
            waiter.cancel()
        self._waiters = []

    # -- for tests and the daemon -----------------------------------------------------

    async def wait_for(self, state: LinkState) -> None:
        """Return once the link is in ``state``."""
        await self.wait_until(lambda: self.link.state is state)

    async def drained(self) -> None:
        """Return once every queued report has been taken by the chip (and the LEDs read
        again after a lock key)."""
        await self.wait_until(lambda: self.link.settled)

    async def wait_until(self, done: Callable[[], bool]) -> None:
        """Return once ``done()`` holds (checked after every byte, timer and report)."""
        if done():
            return
        assert self._loop is not None, "start() first"
        waiter: asyncio.Future[None] = self._loop.create_future()
        self._waiters.append((done, waiter))
        await waiter

    # -- internals --------------------------------------------------------------------

    def _now(self) -> float:
        loop = self._loop
        return loop.time() if loop is not None else 0.0

    def _path(self) -> str:
        """The device to open (an emulated chip's pty moves when it is plugged again)."""
        pty = self.chip_pty
        return str(pty.path) if pty is not None and pty.plugged else self.device

    async def _run(self) -> None:
        """Keep the device open: back off while it fails, re-open after it is lost."""
        assert self._loop is not None
        delay, reported = self.retry[0], False
        while True:
            path = self._path()
            lost: asyncio.Future[str] = self._loop.create_future()
            try:
                transport, _ = await serial_asyncio_fast.create_serial_connection(
                    self._loop,
                    lambda: _Line(self, lost),  # noqa: B023  # each loop's own future
                    path,
                    baudrate=self.baud,
                    exclusive=True,
                )
            except (OSError, serial.SerialException) as exc:
                if not reported:
                    log.warning("%s: cannot open %s (%s); retrying", self.name, path, exc)
                    self._lost(f"cannot open {path}: {exc}")
                reported = True
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.retry[1])
                continue
            delay, reported = self.retry[0], False
            try:
                reason = await asyncio.shield(lost)
            finally:
                self._transport = None
                if not transport.is_closing():
                    transport.abort()
            log.warning("%s: lost %s (%s); re-opening", self.name, path, reason)
            self._lost(f"serial device lost: {reason}")

    def _opened(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self.link.connection_made(self._now())
        self._flush()

    def _lost(self, reason: str) -> None:
        self.link.connection_lost(reason)
        self._flush()

    def _flush(self) -> None:
        link = self.link
        data = link.data_to_send()
        if data and self._transport is not None:
            self._transport.write(data)
        for event in link.events():
            if isinstance(event, LedsChanged):
                if self._listener is not None:
                    self._listener(bytes((event.leds.to_usb(),)))
            elif isinstance(event, StateChanged):
                self._log_state(event)
        if self._waiters:
            done = [(c, w) for c, w in self._waiters if c()]
            for item in done:
                self._waiters.remove(item)
                if not item[1].done():
                    item[1].set_result(None)
        self._rearm()

    def _log_state(self, event: StateChanged) -> None:
        if event.state is LinkState.ONLINE:
            log.info("%s: the chip on %s answers; port online", self.name, self.device)
        elif event.state is not LinkState.PROBING:
            log.warning("%s: offline: %s", self.name, event.reason)

    def _rearm(self) -> None:
        loop = self._loop
        if loop is None:
            return
        deadline = self.link.next_deadline()
        timer = self._timer
        if timer is not None:
            if deadline is not None and timer.when() == deadline:
                return
            timer.cancel()
            self._timer = None
        if deadline is not None:
            self._timer = loop.call_at(deadline, self._tick)

    def _tick(self) -> None:
        self._timer = None
        self.link.handle_timer(self._now())
        self._flush()
