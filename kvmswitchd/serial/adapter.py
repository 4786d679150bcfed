"""The one asyncio adapter of the serial channels: moves bytes between a stream and a
sans-IO core, runs the core's requests on the command bus, re-arms one timer per core.

``SerialEndpoint(spec, bus, on_event)`` serves one configured endpoint: a pty it creates
(``links.PtyLink``), a tty device (``links.serve_tty``: retried with back-off while it is
missing or after it disappears) or a TCP listener (one core per connection, peers checked
against the allow-list).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine

from kvmswitchd.bus import CommandBus
from kvmswitchd.core.commands import Outcome
from kvmswitchd.errors import KvmError
from kvmswitchd.serial.channel import (
    Action,
    Authenticate,
    ChannelCore,
    Close,
    EventKind,
    Execute,
    LoginResult,
    Notice,
    Result,
    Send,
)
from kvmswitchd.serial.endpoint import EndpointSpec, LinkKind, build_core
from kvmswitchd.serial.links import CloseHook, EventSink, PtyLink, TcpClient, serve_tty
from kvmswitchd.serial.login import LoginThrottle

# Concurrent TCP clients per endpoint. Stops a connection flood from exhausting file
# descriptors; further clients are refused (and reported).
MAX_TCP_CLIENTS = 8
# On stop, how long bus calls already running may take to finish before being cancelled.
STOP_GRACE = 5.0


def _ignore(kind: str, detail: str) -> None:
    """The default event sink."""


class Session:
    """One core bound to one byte stream (a line, or one TCP connection)."""

    def __init__(
        self,
        endpoint: SerialEndpoint,
        write: Callable[[bytes], None],
        on_close: CloseHook,
    ) -> None:
        self._endpoint = endpoint
        self.core: ChannelCore = endpoint.make_core(endpoint.spec, endpoint.throttle)
        self._write = write
        self._on_close = on_close
        self._loop = asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = None
        self.closed = False
        endpoint.sessions.add(self)

    def start(self) -> None:
        self._run(self.core.start)

    def feed(self, data: bytes) -> None:
        self._run(lambda now: self.core.receive_data(data, now))

    def shutdown(self) -> None:
        self.closed = True
        self._endpoint.sessions.discard(self)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        # A bus call already running is left to finish (a switch is one atomic
        # transition, never cut in half because the peer went away); its reply is dropped.

    def _apply(self, actions: list[Action]) -> None:
        for action in actions:
            if self.closed:
                return
            match action:
                case Send(data):
                    self._write(data)
                case Execute() | Authenticate():
                    self._endpoint.spawn(self._call(action))
                case Notice(kind, detail):
                    self._endpoint.event(kind, detail)
                case Close(reason, rest):
                    self.shutdown()
                    self._on_close(reason, rest)
                    return
        self._rearm()

    async def _call(self, action: Execute | Authenticate) -> None:
        bus = self._endpoint.bus
        result: Result
        try:
            if isinstance(action, Execute):
                result = await bus.execute(action.command, action.origin)
            else:
                user = await bus.authenticate(action.user, action.password, action.origin)
                result = LoginResult(user)
        except KvmError as exc:
            result = LoginResult(None) if isinstance(action, Authenticate) else _refusal(exc)
        except Exception as exc:  # noqa: BLE001 - a failing bus must not take the channel (or any other) down; reported below
            self._endpoint.event(EventKind.ERROR, f"bus raised {type(exc).__name__}: {exc}")
            if isinstance(action, Authenticate):
                result = LoginResult(None)
            else:
                result = Outcome(ok=False, error="internal error")
        self._run(lambda now: self.core.complete(action.request_id, result, now))

    def _rearm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        deadline = self.core.next_deadline()
        if deadline is not None and not self.closed:
            self._timer = self._loop.call_at(deadline, self._fire)

    def _fire(self) -> None:
        self._timer = None
        self._run(self.core.handle_timer)

    def _run(self, step: Callable[[float], list[Action]]) -> None:
        if self.closed:
            return
        try:
            actions = step(self._loop.time())
        except Exception as exc:  # noqa: BLE001 - a core bug costs this session only (reported); other channels and the daemon go on
            self._endpoint.event(EventKind.ERROR, f"core failed: {type(exc).__name__}: {exc}")
            self.shutdown()
            self._on_close("internal error", b"")
            return
        self._apply(actions)


def _refusal(exc: KvmError) -> Outcome:
    return Outcome(ok=False, error=exc.code, message=str(exc))


class SerialEndpoint:
    """Serve one configured serial endpoint; ``start()`` never blocks on a missing device."""

    def __init__(
        self,
        spec: EndpointSpec,
        bus: CommandBus,
        on_event: EventSink | None = None,
        *,
        retry_initial: float = 1.0,
        retry_max: float = 30.0,
        make_core: Callable[[EndpointSpec, LoginThrottle], ChannelCore] = build_core,
    ) -> None:
        self.spec = spec
        self.make_core = make_core
        self.bus = bus
        self.throttle = LoginThrottle()  # shared by every call/connection of this endpoint
        self.sessions: set[Session] = set()
        self._calls: set[asyncio.Task[None]] = set()
        self._on_event = on_event or _ignore
        self._retry = (retry_initial, retry_max)
        self._pty: PtyLink | None = None
        self._server: asyncio.Server | None = None
        self._tty_task: asyncio.Task[None] | None = None
        self._clients: set[asyncio.Transport] = set()
        self.address: tuple[str, int] | None = None  # tcp: where we actually listen

    @property
    def warning(self) -> str | None:
        """Log this at start if set (tesmart on TCP: no login, allow-list only)."""
        return self.spec.warning

    @property
    def path(self) -> str | None:
        """pty: the symlink clients open; tty: the device path."""
        return self.spec.path

    @property
    def device(self) -> str | None:
        """pty: the far-end device (``/dev/pts/N``) the symlink points at."""
        return self._pty.device if self._pty is not None else None

    @property
    def connected(self) -> bool:
        """A peer is attached: the tty is open, a terminal has the pty, a TCP client is in."""
        return bool(self.sessions)

    def event(self, kind: str, detail: str) -> None:
        try:
            self._on_event(str(kind), f"{self.spec.name}: {detail}")
        except Exception:  # noqa: BLE001 - a failing log hook must not break serving
            return

    async def start(self) -> None:
        """Open the endpoint. Raises DeviceError/OSError for a pty path or TCP port we can't use."""
        loop = asyncio.get_running_loop()
        match self.spec.kind:
            case LinkKind.PTY:
                assert self.spec.path is not None  # the parser sets it for pty endpoints
                self._pty = PtyLink(self.spec.path, self._open_session, self.event)
                self._pty.open()
            case LinkKind.TTY:
                self._tty_task = loop.create_task(
                    serve_tty(self.spec, self._open_session, self.event, self._retry)
                )
            case LinkKind.TCP:
                self._server = await loop.create_server(
                    lambda: TcpClient(self._open_session, self._admit, self._clients, self.event),
                    self.spec.host,
                    self.spec.port,
                )
                self.address = self._server.sockets[0].getsockname()[:2]

    async def stop(self) -> None:
        if self._pty is not None:
            self._pty.close()
        if self._server is not None:
            self._server.close()
        for transport in list(self._clients):
            transport.abort()
        if self._tty_task is not None:
            self._tty_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._tty_task
        for session in list(self.sessions):
            session.shutdown()
        if self._calls:
            _, late = await asyncio.wait(self._calls, timeout=STOP_GRACE)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    def spawn(self, call: Coroutine[object, object, None]) -> None:
        """Run a session's bus call; stop() waits for it."""
        task = asyncio.get_running_loop().create_task(call)
        self._calls.add(task)
        task.add_done_callback(self._calls.discard)

    def describe(self) -> dict[str, object]:
        """What GET /api/v1/state can show about this endpoint (JSON-ready)."""
        return {
            "name": self.spec.name,
            "endpoint": self.spec.endpoint,
            "dialect": self.spec.dialect.value,
            "modem": self.spec.modem,
            "path": self.path,
            "device": self.device,
            "address": f"{self.address[0]}:{self.address[1]}" if self.address else None,
            "connected": self.connected,
        }

    def _open_session(self, write: Callable[[bytes], None], on_close: CloseHook) -> Session:
        return Session(self, write, on_close)

    def _admit(self, host: str) -> str | None:
        if not self.spec.admits(host):
            return "not in the allow-list"
        if len(self._clients) >= MAX_TCP_CLIENTS:
            return f"too many clients (max {MAX_TCP_CLIENTS})"
        return None
