"""The ``serial`` downstream: a switch driven by its dialect over a tty or TCP (asyncio).

One connection per switch, kept open and reopened with back-off when it fails (the
switch's channels show offline meanwhile). Every command, a ``select``'s or the
poller's, goes out one at a time through the ``Pacer`` (the dialect's gap between
commands, on the injected clock) and waits for its reply (``timeout``). A switch is
confirmed by the active port the switch reports afterwards: its reply where it names
the port (tesmart), else a read-back query; a switch that does not confirm raises a
DeviceError naming the hop and what the switch reports instead. Between commands the
active port is polled (every ``poll`` seconds after the last command), and ports a
tesmart unit pushes by itself are taken too, so a change made at the switch's own
front panel shows up (``on_change``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import serial
import serial_asyncio_fast

from kvmswitchd.cascade.downstream import (
    DownstreamPort,
    DownstreamView,
    OnChange,
    OnEvent,
    UpstreamSide,
)
from kvmswitchd.cascade.serial_client import (
    AtenClient,
    ClientCore,
    Exchange,
    Reply,
    TesmartClient,
    TextClient,
)
from kvmswitchd.cascade.serial_config import SerialCascade
from kvmswitchd.cascade.serial_pacing import Pacer
from kvmswitchd.core.ports import Channel
from kvmswitchd.errors import AuthError, DeviceError, KvmError, PortError
from kvmswitchd.serial.endpoint import Dialect

Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]
Connect = Callable[[SerialCascade], Awaitable[Connection]]
READ_SIZE = 4096
RETRY = (1.0, 30.0)  # seconds: the first and the longest wait before reconnecting
# A password file's size. Stops a wrong path (a log, a disk image) from being read whole.
MAX_PASSWORD_FILE = 1024
DEPTH = {Dialect.TESMART: TesmartClient.max_depth, Dialect.ATEN: AtenClient.max_depth,
         Dialect.TEXT: TextClient.max_depth}  # fmt: skip


async def open_device(config: SerialCascade) -> Connection:
    if config.path is None:
        return await asyncio.open_connection(config.host, config.port)
    return await serial_asyncio_fast.open_serial_connection(url=config.path, baudrate=config.baud)


def build_client(config: SerialCascade) -> ClientCore:
    match config.dialect:
        case Dialect.TESMART:
            return TesmartClient()
        case Dialect.ATEN:
            return AtenClient()
        case Dialect.TEXT:
            if config.user is None or config.password_file is None:
                return TextClient()
            return TextClient(config.user, read_password(config.password_file))


def read_password(path: str) -> str:
    try:
        with Path(path).open("rb") as file:
            data = file.read(MAX_PASSWORD_FILE + 1)
    except OSError as exc:
        raise DeviceError(f"cannot read password_file {path}: {exc.strerror}") from exc
    if len(data) > MAX_PASSWORD_FILE:
        raise DeviceError(f"password_file {path} is over {MAX_PASSWORD_FILE} bytes")
    return data.decode("utf-8", "replace").strip("\r\n")


def path_text(path: tuple[int, ...]) -> str:
    return ".".join(map(str, path))


class SerialDownstream:
    kind = "serial"

    def __init__(
        self, config: SerialCascade, side: UpstreamSide, *, connect: Connect = open_device
    ) -> None:
        self.config = config
        self._side = side
        self._connect = connect
        self._pacer = Pacer(config.pacing, config.poll)
        self._lock = asyncio.Lock()
        self._core: ClientCore | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._waiter: asyncio.Future[Reply] | None = None
        self._reachable = False
        self._active: tuple[int, ...] | None = None
        self._detail = "connecting"
        self._names: dict[int, str] = {}
        self._task: asyncio.Task[None] | None = None
        self._on_change: OnChange | None = None
        self._told: DownstreamView | None = None

    @property
    def hop(self) -> str:
        return f"port {self._side.unit}'s {self.config.dialect} switch ({self.config.device})"

    def view(self) -> DownstreamView:
        cfg = self.config
        return DownstreamView(
            reachable=self._reachable,
            active=self._active if self._reachable else None,
            ports=tuple(
                DownstreamPort(c, self._names.get(c, cfg.name_of(c)), online=self._reachable)
                for c in range(1, cfg.ports + 1)
            ),
            detail=self._detail,
            extra={
                "dialect": cfg.dialect.value,
                "device": cfg.device,
                "pacing": cfg.pacing,
                "poll": cfg.poll,
            },
        )

    def _update(self, detail: str, *, reachable: bool = True, reply: Reply | None = None) -> None:
        self._reachable, self._detail = reachable, detail
        if reply is not None and reply.active is not None:
            self._active = reply.active
        if reply is not None:
            self._names.update((c, n) for c, n in reply.names if 1 <= c <= self.config.ports)
        view = self.view()
        if view != self._told and self._on_change is not None:
            self._told = view
            self._on_change(view)

    async def start(self, on_change: OnChange, on_event: OnEvent) -> None:  # noqa: ARG002 - a serial switch keeps no log we could read
        self._on_change = on_change
        self._task = asyncio.create_task(self._run(), name=f"cascade {self.hop}")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    # -- the connection -----------------------------------------------------------------

    async def _run(self) -> None:
        delay = RETRY[0]
        while True:
            try:
                await self._session()
                delay = RETRY[0]
            except AuthError as exc:  # retrying soon only adds to the failed logins there
                self._update(f"unreachable: {exc}", reachable=False)
                delay = RETRY[1]
            except (OSError, serial.SerialException, KvmError) as exc:
                self._update(f"unreachable: {exc}", reachable=False)
            await self._side.sleep(delay)
            delay = min(delay * 2, RETRY[1])

    async def _session(self) -> None:
        core = build_client(self.config)
        reader, writer = await self._connect(self.config)
        lost = asyncio.Event()
        self._core, self._writer = core, writer
        reading = asyncio.create_task(self._read(reader, core, lost))
        try:
            async with self._lock:
                if (opening := core.opening()) is not None:
                    reply = await self._exchange(opening)
                    if reply is None or not reply.ok:
                        why = reply.reason if reply is not None else "no reply"
                        raise AuthError(f"login refused: {why}")
                await self._read_back("read at connect")
            while not lost.is_set():
                await self._poll(lost)
        finally:
            self._core, self._writer = None, None
            writer.close()
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reading
        self._update("unreachable: the connection was lost", reachable=False)

    async def _poll(self, lost: asyncio.Event) -> None:
        now = self._side.monotonic()
        deadline = self._pacer.poll_deadline(now)
        waits: list[asyncio.Future[object]] = [asyncio.ensure_future(_until(lost))]
        if deadline is not None:
            waits.append(asyncio.ensure_future(_slept(self._side, max(0.0, deadline - now))))
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
        if lost.is_set():
            return
        async with self._lock:
            due = self._pacer.poll_deadline(self._side.monotonic())
            if due is not None and due <= self._side.monotonic():  # no select came first
                await self._read_back("polled")

    async def _read(
        self, reader: asyncio.StreamReader, core: ClientCore, lost: asyncio.Event
    ) -> None:
        try:
            while data := await reader.read(READ_SIZE):
                for reply in core.receive(data):
                    if self._waiter is not None and not self._waiter.done():
                        self._waiter.set_result(reply)
                    elif reply.active is not None:
                        self._update("pushed by the switch", reply=reply)
        except (OSError, serial.SerialException):
            pass  # the device went away: the same as its end of stream
        finally:
            lost.set()
            if self._waiter is not None and not self._waiter.done():
                self._waiter.set_exception(DeviceError(f"{self.hop}: the connection was lost"))

    # -- commands -----------------------------------------------------------------------

    async def _request(self, data: bytes) -> Reply | None:
        """Send one request (paced) and wait for its reply; None when none came in time."""
        wait = self._pacer.wait(self._side.monotonic())
        if wait > 0:
            await self._side.sleep(wait)
        if self._writer is None:
            raise DeviceError(f"{self.hop} is not connected")
        waiter: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._waiter = waiter
        timer: asyncio.Future[object] = asyncio.ensure_future(
            _slept(self._side, self.config.timeout)
        )
        try:
            self._writer.write(data)
            self._pacer.sent(self._side.monotonic())
            pending: list[asyncio.Future[Any]] = [waiter, timer]
            await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
            self._waiter = None
        if not waiter.done():
            waiter.cancel()
            return None
        return waiter.result()

    async def _exchange(self, exchange: Exchange) -> Reply | None:
        """The requests in order (a refusal or silence stops them), then the cleanup."""
        reply: Reply | None = None
        try:
            for request in exchange.requests:
                reply = await self._request(request)
                if reply is None or not reply.ok:
                    break
        finally:
            for request in exchange.cleanup:
                with contextlib.suppress(DeviceError):
                    await self._request(request)
        return reply

    async def _read_back(self, how: str) -> Reply:
        assert self._core is not None  # only called while connected
        reply = await self._exchange(self._core.query())
        if reply is None:
            raise DeviceError(f"{self.hop}: no reply to a query within {self.config.timeout:g} s")
        if not reply.ok or reply.active is None:
            raise DeviceError(f"{self.hop}: the query was not answered with the active port")
        self._update(f"{how}: channel {path_text(reply.active)} active", reply=reply)
        return reply

    async def select(
        self, path: tuple[int, ...], channels: frozenset[Channel], *, force: bool = False
    ) -> None:
        depth = DEPTH[self.config.dialect]
        if not 1 <= len(path) <= depth:
            raise PortError(f"{self.hop} addresses {depth} level(s), not {path_text(path)}")
        if not 1 <= path[0] <= self.config.ports:
            raise PortError(f"{self.hop} has channels 1..{self.config.ports}, not {path[0]}")
        async with self._lock:
            core = self._core
            if core is None or not self._reachable:
                raise DeviceError(f"{self.hop} is unreachable ({self._detail})")
            reply = await self._exchange(core.switch(path, channels, force))
            if reply is not None and not reply.ok:
                raise DeviceError(f"{self.hop} refused channel {path_text(path)}: {reply.reason}")
            if reply is None or not _confirms(reply, path, channels):
                reply = await self._read_back("read back after a switch")
                self._check(reply, path, channels)
            self._update(f"confirmed: channel {path_text(path)} active", reply=reply)

    async def confirm(self, path: tuple[int, ...], channels: frozenset[Channel]) -> None:
        """Ask the switch now (switched some other way, by hotkey); DeviceError naming
        the hop unless every channel in ``channels`` it reports is on ``path``."""
        async with self._lock:
            if self._core is None or not self._reachable:
                raise DeviceError(f"{self.hop} is unreachable ({self._detail})")
            self._check(await self._read_back("read back after a hotkey"), path, channels)

    def _check(self, reply: Reply, path: tuple[int, ...], channels: frozenset[Channel]) -> None:
        if not _confirms(reply, path, channels):
            shown = path_text(reply.active) if reply.active else "nothing"
            raise DeviceError(
                f"{self.hop} did not confirm channel {path_text(path)}: it reports {shown}"
            )


async def _until(event: asyncio.Event) -> object:
    return await event.wait()


async def _slept(side: UpstreamSide, seconds: float) -> object:
    await side.sleep(seconds)
    return None


def _confirms(reply: Reply, path: tuple[int, ...], channels: frozenset[Channel]) -> bool:
    """Whether ``reply`` says every asked channel (that it reports) is on ``path``."""
    focus = dict(reply.focus)
    told = [focus[ch] for ch in channels if ch in focus]
    return bool(told) and all(p == path for p in told)
