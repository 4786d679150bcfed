"""The ``emulated`` target backend: a virtual computer inside the daemon (SPEC §8).

Reports reach the virtual computer through the same ``hid.pacing.ReportQueue`` as a real
device's, so a test cannot pass here where hardware would lose reports. With
``poll_interval`` 0 the virtual host takes each report as soon as it is pushed; above 0 an
asyncio timer takes one report per interface every ``poll_interval`` seconds, like a USB
host polling its interrupt endpoints.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from hid.pacing import ReportKind, ReportQueue
from kvmswitchd.targets.computer import Mode, VirtualComputer
from kvmswitchd.targets.screen import render
from kvmswitchd.targets.target import OutputListener
from video import preferred_mode


def show_edid(computer: VirtualComputer, edid: bytes | None) -> None:
    """A virtual computer drives the preferred timing of the EDID it is shown."""
    if edid is None:
        computer.monitor = False
        return
    mode = preferred_mode(edid)
    computer.monitor = True
    computer.set_mode(Mode(mode.width, mode.height, mode.refresh_hz))


class ScreenCache:
    """A virtual computer's screen as PNG, drawn again only when something on it changed."""

    def __init__(self, computer: VirtualComputer) -> None:
        self.computer = computer
        self._frame = b""
        self._key: object = None

    def frame(self) -> bytes:
        computer = self.computer
        key = (
            computer.screen.version,
            computer.pointer_x,
            computer.pointer_y,
            computer.mode,
            computer.monitor,
        )
        if key != self._key:
            self._frame = render(computer)
            self._key = key
        return self._frame


class EmulatedTarget:
    kind = "emulated"

    def __init__(
        self,
        keyboard: str,
        mouse: str,
        *,
        poll_interval: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.computer = VirtualComputer(keyboard=keyboard, mouse=mouse)
        self.poll_interval = poll_interval
        self._clock = clock
        motion = ReportKind.ABSOLUTE if mouse == "absolute" else ReportKind.RELATIVE
        self.keyboard_queue = ReportQueue(ReportKind.KEYS)
        self.mouse_queue = ReportQueue(motion, 6 if mouse == "absolute" else 4)
        self._screen = ScreenCache(self.computer)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._drained: list[asyncio.Future[None]] = []

    async def drained(self) -> None:
        """Return once the virtual host has taken every queued report."""
        if self._timer is None:
            return
        assert self._loop is not None  # a timer runs only on a started target
        waiter: asyncio.Future[None] = self._loop.create_future()
        self._drained.append(waiter)
        await waiter

    def write_keyboard(self, report: bytes) -> None:
        self._push(self.keyboard_queue, report)

    def write_mouse(self, report: bytes) -> None:
        self._push(self.mouse_queue, report)

    def _push(self, queue: ReportQueue, report: bytes) -> None:
        now = self._clock()
        queue.push(report, now)
        if self._loop is None or self.poll_interval <= 0:
            self._take(now)  # a device that takes each report at once
        elif self._timer is None:
            self._timer = self._loop.call_later(self.poll_interval, self._poll)

    def _poll(self) -> None:
        """One poll of each interrupt endpoint: at most one report each."""
        self._timer = None
        self._take(self._clock(), once=True)
        if (len(self.keyboard_queue) or len(self.mouse_queue)) and self._loop is not None:
            self._timer = self._loop.call_later(self.poll_interval, self._poll)
            return
        waiters, self._drained = self._drained, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def _take(self, now: float, *, once: bool = False) -> None:
        computer = self.computer
        while (report := self.keyboard_queue.pop(now)) is not None:
            computer.receive_keyboard(report)
            if once:
                break
        while (report := self.mouse_queue.pop(now)) is not None:
            computer.receive_mouse(report)
            if once:
                break

    def set_output_listener(self, listener: OutputListener) -> None:
        self.computer.set_output(listener)

    def present_edid(self, edid: bytes | None) -> None:
        show_edid(self.computer, edid)

    def screen(self) -> bytes:
        return self._screen.frame()

    def view(self) -> dict[str, Any]:
        pacing = {"keyboard": self.keyboard_queue.view(), "mouse": self.mouse_queue.view()}
        return {**self.computer.view(), "poll_interval": self.poll_interval, "pacing": pacing}

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()

    async def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._take(self._clock())  # what was queued still reaches the virtual host
        for waiter in self._drained:
            waiter.cancel()
        self._drained = []
        self._loop = None
