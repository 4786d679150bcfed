"""The ``qemu`` target backend: a QEMU/KVM virtual machine over QMP (SPEC §8).

One QMP connection per port (``qemu.qmp.QMPClient``, a unix or TCP socket), kept up for
the VM's whole life and re-made with backoff when the VM restarts. A VM that is not
running (socket absent or refused) is a port that is *offline*, not an error: its input
is dropped (there is nobody to type to), its screen says so, its power actions are
refused with the reason.

* Input: the port's USB reports go through ``hid.pacing.ReportQueue`` (never dropped,
  only motion coalesced) and become ``input-send-event`` events (``hid.qcodes``); the
  reply to each is the pacing signal, so a busy VM gets back-pressure, not loss.
* Screen: ``screendump`` (PNG) into the state dir, read back and removed, refreshed every
  ``SCREEN_INTERVAL`` while someone fetched it within ``WATCHED_FOR`` seconds.
* Run state: ``query-status`` on connect and after every run-state event (STOP, RESUME,
  SHUTDOWN, RESET, POWERDOWN, SUSPEND, WAKEUP); shown in the port's ``power`` view.
* Power: ``kvmswitchd.core.commands.PowerAction`` → QMP (``power``); QEMU cannot start
  a VM whose process has quit, so "on" then is refused with that reason.
* Storage: the switch's image as a USB disk (``kvmswitchd.targets.qemu_disk``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from qemu.qmp import ConnectError, ExecuteError, QMPClient, QMPError, Runstate

from hid.pacing import ReportKind, ReportQueue
from hid.qcodes import KeyboardEvents, PointerEvents
from kvmswitchd.core.commands import PowerAction
from kvmswitchd.errors import BusyError, DeviceError
from kvmswitchd.targets.qemu_disk import QmpDisk
from kvmswitchd.targets.qemu_screen import card, screendump
from kvmswitchd.targets.target import OutputListener

log = logging.getLogger(__name__)
# qemu.qmp logs every failed connect as an ERROR (a VM that is off is no error here: this
# module logs each outage once itself), and a connect cancelled at shutdown as CRITICAL.
# Everything it reports reaches us as an exception too, so its own log is silenced.
logging.getLogger("qemu.qmp").setLevel(logging.CRITICAL + 1)

Address = str | tuple[str, int]  # a unix socket path, or (host, port)
ClientFactory = Callable[[str], QMPClient]

RETRY_MIN = 0.5  # seconds before the first reconnect; doubled up to RETRY_MAX
RETRY_MAX = 5.0
# Seconds a QMP command may take. A VM under load answers in milliseconds; past this the
# connection is taken as dead (a stuck QEMU must not stall the port's input forever).
COMMAND_TIMEOUT = 10.0
# Seconds between two input commands of one interface (keyboard, mouse): a USB keyboard's
# 10 ms polling interval. QEMU's PS/2 and USB HID devices queue 16 events and drop what
# does not fit while the guest is slow to read them, so the reply alone is not enough.
INPUT_INTERVAL = 0.01
SCREEN_INTERVAL = 0.5  # seconds between screendumps while the screen is watched
WATCHED_FOR = 5.0  # a fetch keeps the screen refreshing this long
RUN_EVENTS = frozenset({"STOP", "RESUME", "SHUTDOWN", "RESET", "POWERDOWN", "SUSPEND", "WAKEUP"})
# Run states (query-status) in which "on" means cont.
STOPPED = frozenset({"paused", "prelaunch", "debug", "io-error", "watchdog", "postmigrate"})


def qmp_address(text: str) -> Address:
    """``unix:/run/vm1.qmp`` → the path, ``tcp:127.0.0.1:4444`` → (host, port); the
    config checks the shape (``port_config``), so this only splits it."""
    kind, _, rest = text.partition(":")
    if kind == "tcp":
        host, _, port = rest.rpartition(":")
        return host.strip("[]"), int(port)
    return rest


class RejectedCommand(DeviceError):
    """QEMU answered a command with an error: the command failed, the connection is fine."""


class QemuTarget:
    kind = "qemu"

    def __init__(
        self,
        address: Address,
        *,
        mouse: str,
        name: str,
        screens: Path,
        vm_name: str | None = None,
        input_interval: float = INPUT_INTERVAL,
        retry_min: float = RETRY_MIN,
        retry_max: float = RETRY_MAX,
        clock: Callable[[], float] = time.monotonic,
        client: ClientFactory = QMPClient,
    ) -> None:
        self.address = address
        self.name = name
        self.vm_name = vm_name
        self.screens = screens
        self.retry_min, self.retry_max = retry_min, retry_max
        self.input_interval = input_interval
        self._clock = clock
        self._client = client
        absolute = mouse == "absolute"
        self.keyboard_queue = ReportQueue(ReportKind.KEYS)
        self.mouse_queue = ReportQueue(
            ReportKind.ABSOLUTE if absolute else ReportKind.RELATIVE, 7 if absolute else 5
        )
        self.keys = KeyboardEvents()
        self.pointer = PointerEvents(absolute=absolute)
        self.disk = QmpDisk(name)
        self.on_change: Callable[[], None] = lambda: None  # the board pushes /state
        self.status = "offline"  # query-status's, or "offline": no QMP connection
        self.last_event: str | None = None
        self.connects = 0
        self.sent = 0  # input-send-event commands answered
        self.rejected = 0  # input-send-event commands QEMU answered with an error
        self.dropped = 0  # reports that arrived while the VM was offline
        self.connected = asyncio.Event()  # set while a session is up
        self._qmp: QMPClient | None = None
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()  # set while nothing waits to be sent
        self._task: asyncio.Task[None] | None = None
        self._frame: bytes | None = None
        self._frame_task: asyncio.Task[None] | None = None
        self._watched = -WATCHED_FOR
        self._shots = 0
        self._logged_offline = False

    # -- TargetBackend -------------------------------------------------------------------

    @property
    def online(self) -> bool:
        return self._qmp is not None

    def write_keyboard(self, report: bytes) -> None:
        self._push(self.keyboard_queue, report)

    def write_mouse(self, report: bytes) -> None:
        self._push(self.mouse_queue, report)

    def _push(self, queue: ReportQueue, report: bytes) -> None:
        if self._qmp is None:
            self.dropped += 1  # nobody to type to; a VM that comes back holds nothing
            return
        queue.push(report, self._clock())
        self._idle.clear()
        self._wake.set()

    def set_output_listener(self, listener: OutputListener) -> None:
        """QMP does not tell us the guest's keyboard LEDs: none are reported."""

    def present_edid(self, edid: bytes | None) -> None:
        """A VM's display is QEMU's: it has no EDID to be shown."""

    def screen(self) -> bytes:
        """The last screendump, refreshed while it is fetched; a card saying why there
        is none (offline, not taken yet)."""
        self._watched = self._clock()
        if self._qmp is None:
            return card(f"{self.vm_name or self.name}: VM offline")
        if self._frame_task is None:
            self._frame_task = asyncio.get_running_loop().create_task(self._refresh_screen())
        return self._frame or card(f"{self.vm_name or self.name}: {self.status}")

    def view(self) -> dict[str, Any]:
        pacing = {"keyboard": self.keyboard_queue.view(), "mouse": self.mouse_queue.view()}
        return {
            "kind": self.kind,
            **self.power_view(),
            "input_commands": self.sent,
            "dropped_offline": self.dropped,
            "unsent_keys": self.keys.unsent,
            "rejected_inputs": self.rejected,
            "pacing": pacing,
            "disk": self.disk.view(),
        }

    def power_view(self) -> dict[str, Any]:
        return {
            "online": self.online,
            "status": self.status,
            "vm_name": self.vm_name,
            "qmp": self.address if isinstance(self.address, str) else "{}:{}".format(*self.address),
            "last_event": self.last_event,
            "actions": [a.value for a in PowerAction],
        }

    async def start(self) -> None:
        self.screens.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        for task in (self._task, self._frame_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = self._frame_task = None

    # -- power -----------------------------------------------------------------------------

    async def power(self, action: PowerAction) -> str:
        done = await self._power(action)
        qmp = self._qmp
        if qmp is not None and action is not PowerAction.HARD_OFF:
            # the reply shows the state the action left (its events may still be on the way)
            with contextlib.suppress(DeviceError):
                status = await self._command(qmp, "query-status")
                self.status = str(status.get("status", self.status))
        return done

    async def _power(self, action: PowerAction) -> str:
        qmp = self._qmp
        if qmp is None:
            if action is PowerAction.ON:
                raise BusyError(
                    f"{self.name}: no VM is running (nothing answers QMP at "
                    f"{self.power_view()['qmp']}); QEMU cannot start a VM whose process has "
                    "quit: start QEMU again (systemd, libvirt, your script)"
                )
            raise BusyError(f"{self.name}: the VM is not running (offline)")
        status = self.status
        match action:
            case PowerAction.ON | PowerAction.RESUME:
                if status == "running":
                    return "already running"
                if status == "suspended":
                    await self._command(qmp, "system_wakeup")
                    return "woken up"
                if status in ("shutdown", "guest-panicked"):
                    if action is PowerAction.RESUME:
                        raise BusyError(f"{self.name}: the VM is shut down: use on")
                    await self._command(qmp, "system_reset")
                await self._command(qmp, "cont")
                return "running"
            case PowerAction.OFF:
                await self._command(qmp, "system_powerdown")
                return "ACPI power button pressed (the guest shuts down if it listens)"
            case PowerAction.HARD_OFF:
                with contextlib.suppress(DeviceError):  # QEMU may close before it answers
                    await self._command(qmp, "quit")
                return "QEMU quit (hard off)"
            case PowerAction.RESET:
                await self._command(qmp, "system_reset")
                return "reset"
            case PowerAction.PAUSE:
                if status == "paused":
                    return "already paused"
                await self._command(qmp, "stop")
                return "paused"
        raise BusyError(f"unknown power action {action}")  # pragma: no cover

    async def _command(
        self, qmp: QMPClient, command: str, args: dict[str, Any] | None = None
    ) -> Any:
        """One QMP command; its failure as a DeviceError."""
        try:
            async with asyncio.timeout(COMMAND_TIMEOUT):
                return await qmp.execute(command, args)
        except ExecuteError as exc:
            raise RejectedCommand(f"{self.name}: {command}: {exc}") from None
        except (QMPError, OSError, EOFError, TimeoutError) as exc:
            raise DeviceError(f"{self.name}: {command}: connection lost ({exc!r})") from None

    # -- the connection --------------------------------------------------------------------

    async def _run(self) -> None:
        backoff = self.retry_min
        while True:
            qmp = self._client(self.name)
            try:
                async with asyncio.timeout(COMMAND_TIMEOUT):
                    await qmp.connect(self.address)
            except (ConnectError, OSError, TimeoutError) as exc:
                with contextlib.suppress(Exception):
                    await qmp.disconnect()
                if not self._logged_offline:
                    self._logged_offline = True
                    log.info("%s: VM offline (%s): retrying", self.name, exc)
                await asyncio.sleep(backoff)  # the reconnect's backoff, not a test's timing
                backoff = min(backoff * 2, self.retry_max)
                continue
            backoff = self.retry_min
            try:
                await self._session(qmp)
            except (QMPError, OSError, EOFError, TimeoutError, DeviceError) as exc:
                log.warning("%s: QMP session ended: %r", self.name, exc)
            finally:
                self._gone()
                with contextlib.suppress(Exception):
                    await qmp.disconnect()

    async def _session(self, qmp: QMPClient) -> None:
        status = await self._command(qmp, "query-status")
        self._qmp = qmp
        self.status = str(status.get("status", "unknown"))
        self.connects += 1
        self._logged_offline = False
        self.keys.forget()
        self.pointer.forget()
        self.connected.set()
        log.info("%s: VM connected (%s)", self.name, self.status)
        self.on_change()
        tasks = [
            asyncio.create_task(self._until_closed(qmp)),
            asyncio.create_task(self._events(qmp)),
            asyncio.create_task(self._send(qmp)),
            asyncio.create_task(self.disk.session(lambda c, a=None: self._command(qmp, c, a))),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for task in done:
            if not task.cancelled() and (exc := task.exception()) is not None:
                raise exc

    @staticmethod
    async def _until_closed(qmp: QMPClient) -> None:
        while qmp.runstate is Runstate.RUNNING:
            await qmp.runstate_changed()

    def _gone(self) -> None:
        was = self._qmp is not None
        self._qmp = None
        self.connected.clear()
        self.status = "offline"
        self.keyboard_queue.clear()
        self.mouse_queue.clear()
        self.disk.gone()
        if was:
            log.info("%s: VM went away: offline", self.name)
            self.on_change()

    async def _events(self, qmp: QMPClient) -> None:
        async for event in qmp.events:
            name = str(event.get("event", ""))
            data = event.get("data")
            self.disk.event(name, data if isinstance(data, dict) else {})
            if name not in RUN_EVENTS:
                continue
            self.last_event = name
            if name != "SHUTDOWN":  # after a SHUTDOWN QEMU exits (or stops: STOP follows)
                with contextlib.suppress(DeviceError):
                    status = await self._command(qmp, "query-status")
                    self.status = str(status.get("status", self.status))
            else:
                self.status = "shutdown"
            log.info("%s: %s (%s)", self.name, name, self.status)
            self.on_change()

    async def _send(self, qmp: QMPClient) -> None:
        """Reports to the VM in order, one command at a time per interface: the reply, and
        then ``input_interval``, pace the next (QEMU's PS/2 and USB HID devices queue only
        16 events and drop what a slow guest has not read yet)."""
        lanes = ((self.keyboard_queue, self.keys.report), (self.mouse_queue, self.pointer.report))
        due = [0.0, 0.0]
        while True:
            self._wake.clear()
            waits: list[float] = []
            for lane, (queue, translate) in enumerate(lanes):
                report = queue.peek(now := self._clock())
                if report is None:
                    continue
                if now < due[lane]:
                    waits.append(due[lane] - now)
                    continue
                events = translate(report)
                if events:
                    try:
                        await self._command(qmp, "input-send-event", {"events": events})
                        self.sent += 1
                    except RejectedCommand as exc:  # an error reply: the link is fine
                        self.rejected += 1  # this report, not the session and its backlog
                        log.debug("%s", exc)
                    due[lane] = self._clock() + self.input_interval
                queue.take(self._clock())
                waits.append(0.0)
            if not waits:
                self._idle.set()
                await self._wake.wait()
            elif (wait := min(waits)) > 0:
                await asyncio.sleep(wait)  # the pacing interval, not a test's timing

    async def drained(self) -> None:
        """Return once every queued report was answered (tests, benchmarks)."""
        if len(self.keyboard_queue) or len(self.mouse_queue):
            self._idle.clear()
            self._wake.set()
            await self._idle.wait()

    # -- the screen ------------------------------------------------------------------------

    async def refresh_screen(self) -> bytes | None:
        """Take one screendump now; the new frame (None: offline or it failed)."""
        qmp = self._qmp
        if qmp is None:
            return None
        self._shots += 1
        path = self.screens / f"{self.name.replace(' ', '-')}-{self._shots}.png"
        data = await screendump(lambda c, a: self._command(qmp, c, a), path)
        if data is None:
            return None
        self._frame = data
        return data

    async def _refresh_screen(self) -> None:
        try:
            while self._qmp is not None and self._clock() - self._watched < WATCHED_FOR:
                await self.refresh_screen()
                await asyncio.sleep(SCREEN_INTERVAL)  # the refresh rate, not a test's timing
        finally:
            self._frame_task = None
