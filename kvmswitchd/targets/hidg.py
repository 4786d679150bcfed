"""The ``gadget`` target backend: a Linux USB gadget's ``/dev/hidgN`` nodes (SPEC §8).

Each port has two HID function nodes, its keyboard and its mouse, and every report is
one ``write()`` to the node (reference §7.2). The same writer drives a FIFO or a pty,
which is how the benchmarks and the tests stand in for a real gadget.

Reports go through the node's ``hid.pacing.ReportQueue`` and are written in order, as
fast as the node takes them. ``EAGAIN`` is back-pressure, not loss: the node is there but
has not taken the previous report yet. The report stays at the head of the queue, the
writer waits for the node to become writable (``loop.add_writer``) and goes on in order.
Key and button reports are never dropped; only mouse motion is coalesced while waiting.
A node that takes nothing for ``STALL_AFTER`` seconds (or a backlog past the budget)
stalls the queue: the backlog is dropped and the next report written is the rest report
(release-all), never a stale replay. Stalls are logged once per transition.

When the target computer is off, unplugged or suspended the kernel refuses reports
(``ESHUTDOWN``, ``ENODEV``; a FIFO with no reader gives ``ENXIO``/``EPIPE``). That is
"host offline", not an error: it is logged once per transition, never per report. The
node is closed and re-opened every ``retry_interval`` seconds. The backlog is dropped on
an outage and only the latest state is kept while offline; once the node is back it gets
that state at rest (``settle``: keys held now stay held, a mouse report keeps its buttons
and position but not its motion), never a replay of what was typed before the outage, so
a key released meanwhile never stays stuck on the host. On a character
device (a real hidg node) the keyboard node is also read: the host's LED output reports
go to the port's output listener.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hid.pacing import ReportKind, ReportQueue
from kvmswitchd.targets.target import OutputListener

if TYPE_CHECKING:
    from kvmswitchd.gadget.lun import ConfigfsLun

log = logging.getLogger(__name__)

RETRY_INTERVAL = 1.0  # seconds between attempts to re-open a node that went away
# Bytes read per output report. A keyboard's OUT report is its LED byte (plus a report id
# with NKRO ids); the cap bounds what one read() of a misbehaving node can hand us.
MAX_OUTPUT_REPORT = 64

Settle = Callable[[bytes], bytes]


def keep(report: bytes) -> bytes:
    """A keyboard report is pure state: re-send it as it is."""
    return report


def still_relative(report: bytes) -> bytes:
    """A relative mouse report with its motion dropped: the buttons only."""
    return report[:1] + bytes(len(report) - 1)


def still_absolute(report: bytes) -> bytes:
    """An absolute pointer report with its wheel dropped: buttons and position."""
    return report[:5] + bytes(len(report) - 5)


class HidgNode:
    """One HID function node: one write per report, in order, paced by the node."""

    def __init__(
        self,
        path: str,
        *,
        name: str,
        settle: Settle = keep,
        kind: ReportKind = ReportKind.KEYS,
        retry_interval: float = RETRY_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self.name = name
        self.on_output: OutputListener | None = None
        self.last: bytes | None = None  # the latest report (sent, or waiting to be)
        self.queue = ReportQueue(kind)
        self.written = 0
        self.stalls = 0  # EAGAIN: the node had not taken the previous report
        self.outages = 0  # the node went away (or never came) and is retried
        self._settle = settle
        self._retry_interval = retry_interval
        self._clock = clock
        self._fd = -1  # open node
        self._live = -1  # the fd while reports can be written now, else -1
        self._readable = False
        self._logged_offline = False
        self._logged = (0, 0)  # the queue's stalls and recoveries logged so far
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None

    @property
    def online(self) -> bool:
        return self._live >= 0

    def write(self, report: bytes) -> None:
        """Queue one report and write what the node takes now; offline, keep it as the
        state to send when the node is back."""
        self.last = report
        fd = self._live
        if fd >= 0:  # online means nothing waits (_drain emptied the queue): straight out
            try:
                os.write(fd, report)
            except BlockingIOError:
                self.queue.push(report, self._clock())  # it stays at the head
                self._stalled()
                return
            except OSError as exc:
                self._lost(exc)
                return
            self.written += 1
        elif self._fd >= 0:  # the node is full: wait in order for it to be writable
            self.queue.push(report, self._clock())
            if self.queue.stalls != self._logged[0]:
                self._log_stall()

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.reopen()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._close()
        self._loop = None

    def reopen(self) -> bool:
        """Try to open the node now and send the latest state at rest; True once it is
        online. (The retry timer calls this; tests call it directly instead of waiting.)"""
        self._timer = None
        if self._fd < 0:
            try:
                self._open()
            except OSError as exc:
                self._offline(exc)
                return False
            if self.last is not None:
                self.queue.push(self._settle(self.last), self._clock())
        self._drain(lost=self._offline)
        return self.online

    def view(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "online": self.online,
            "reports": self.written,
            "stalls": self.stalls,
            "outages": self.outages,
            "pacing": self.queue.view(),
        }

    # -- internals ------------------------------------------------------------------------

    def _open(self) -> None:
        # A character device is a real hidg node (it also carries the host's OUT reports);
        # anything else (a FIFO, a file) is written only. Opening a FIFO's write side
        # non-blocking fails with ENXIO until someone reads it: "offline".
        readable = stat.S_ISCHR(os.stat(self.path).st_mode) and self.on_output is not None
        mode = os.O_RDWR if readable else os.O_WRONLY
        self._fd = os.open(self.path, mode | os.O_NONBLOCK | os.O_CLOEXEC)
        self._readable = readable
        if readable and self._loop is not None:
            self._loop.add_reader(self._fd, self._on_readable)

    def _close(self) -> None:
        fd, self._fd, self._live = self._fd, -1, -1
        if fd < 0:
            return
        if self._loop is not None:
            self._loop.remove_writer(fd)
            if self._readable:
                self._loop.remove_reader(fd)
        with contextlib.suppress(OSError):
            os.close(fd)

    def _back(self) -> None:
        self._live = self._fd
        if self._logged_offline:
            self._logged_offline = False
            log.info("%s: %s is back online", self.name, self.path)

    def _drain(self, *, lost: Callable[[OSError], None]) -> None:
        """Write queued reports in order until the queue is empty or the node is full."""
        queue, fd = self.queue, self._fd
        while (report := queue.peek(self._clock())) is not None:
            try:
                os.write(fd, report)
            except BlockingIOError:
                self._stalled()
                break
            except OSError as exc:
                lost(exc)
                return
            queue.take(self._clock())
            self.written += 1
        else:
            if self._live < 0:
                self._back()
        if (queue.stalls, queue.recoveries) != self._logged:
            self._log_stall()

    def _log_stall(self) -> None:
        """Log each stall and recovery once (not per report)."""
        stalls, recoveries = self.queue.stalls, self.queue.recoveries
        if stalls != self._logged[0]:
            log.warning(
                "%s: %s is not taking reports (none for %gs, or a backlog past the budget);"
                " dropped the backlog",
                self.name,
                self.path,
                self.queue.stall_after,
            )
        if recoveries != self._logged[1]:
            log.info("%s: %s takes reports again (release-all sent)", self.name, self.path)
        self._logged = (stalls, recoveries)

    def _stalled(self) -> None:
        """EAGAIN: the head stays queued; go on when the node is writable."""
        self.stalls += 1
        self._live = -1
        if self._loop is not None:
            self._loop.add_writer(self._fd, self._on_writable)

    def _on_writable(self) -> None:
        if self._loop is not None:
            self._loop.remove_writer(self._fd)
        self._drain(lost=self._lost)

    def _lost(self, exc: OSError) -> None:
        self.outages += 1
        self._offline(exc)

    def _offline(self, exc: OSError) -> None:
        """The node is gone or refuses reports: close it, drop the backlog (the node gets
        the state at rest when back), retry later, log once."""
        self._close()
        self.queue.clear()
        if not self._logged_offline:
            self._logged_offline = True
            log.warning(
                "%s: %s is offline (%s); retrying every %gs",
                self.name,
                self.path,
                exc.strerror or exc,
                self._retry_interval,
            )
        if self._loop is not None and self._timer is None:
            self._timer = self._loop.call_later(self._retry_interval, self.reopen)

    def _on_readable(self) -> None:
        try:
            data = os.read(self._fd, MAX_OUTPUT_REPORT)
        except BlockingIOError:
            return
        except OSError as exc:
            self._lost(exc)
            return
        if not data:
            self._lost(OSError(0, "end of file"))
            return
        if self.on_output is not None:
            self.on_output(data)


class GadgetTarget:
    """``TargetBackend`` of a port wired to a USB gadget: a keyboard and a mouse node."""

    kind = "gadget"

    def __init__(
        self,
        keyboard_path: str,
        mouse_path: str,
        *,
        mouse: str = "relative",
        name: str = "gadget",
        retry_interval: float = RETRY_INTERVAL,
        lun: ConfigfsLun | None = None,
    ) -> None:
        # The gadget's mass-storage LUN (the storage wiring loads images into it); None:
        # this port's gadget has none, so it cannot carry the storage.
        self.lun = lun
        self.keyboard = HidgNode(
            keyboard_path, name=f"{name} keyboard", retry_interval=retry_interval
        )
        absolute = mouse == "absolute"
        self.mouse = HidgNode(
            mouse_path,
            name=f"{name} mouse",
            settle=still_absolute if absolute else still_relative,
            kind=ReportKind.ABSOLUTE if absolute else ReportKind.RELATIVE,
            retry_interval=retry_interval,
        )
        # The port's writes go straight to the nodes (one call less per report).
        self.write_keyboard: Callable[[bytes], None] = self.keyboard.write
        self.write_mouse: Callable[[bytes], None] = self.mouse.write

    def set_output_listener(self, listener: OutputListener) -> None:
        self.keyboard.on_output = listener

    def present_edid(self, edid: bytes | None) -> None:
        """A USB gadget has no video input: nothing to show (SPEC §8: EDID —)."""

    def screen(self) -> bytes | None:
        return None

    def view(self) -> dict[str, Any]:
        return {"keyboard": self.keyboard.view(), "mouse": self.mouse.view()}

    async def start(self) -> None:
        await self.keyboard.start()
        await self.mouse.start()

    async def stop(self) -> None:
        self.keyboard.stop()
        self.mouse.stop()
