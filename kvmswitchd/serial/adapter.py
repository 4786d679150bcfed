"""The one asyncio adapter of the serial channels: moves bytes between a stream and a
sans-IO core, runs the core's requests on the command bus, re-arms one timer per core.

``SerialEndpoint(spec, bus, on_event)`` serves one configured endpoint: a pty it creates
(``links.PtyLink``), a tty device (``links.serve_tty``: retried with back-off while it is
missing or after it disappears) or a TCP listener (one core per connection, peers checked
against the allow-list).

Input is parsed in bounded slices: a session keeps what its link delivered in an inbox,
hands the core at most ``SLICE`` bytes at a time and at most ``MAX_TURN_BYTES`` (or
``TURN_BUDGET`` seconds) per loop turn, then yields; while a bus call is out the input
waits in the inbox (in order, none dropped), and past ``INBOX_HIGH`` unread bytes the
link stops reading until the inbox is down to ``INBOX_LOW``; a session that used a whole
turn's budget rests ``FLOOD_REST`` before its next turn. A flood on one link thus delays
other clients by one turn's slices at most, takes about half a CPU, and is parsed
completely.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
from collections.abc import Callable, Coroutine
from dataclasses import replace

from kvmswitchd.bus import CommandBus, FocusFeed
from kvmswitchd.core.commands import Outcome
from kvmswitchd.errors import KvmError
from kvmswitchd.serial.channel import (
    Action,
    Authenticate,
    ChannelCore,
    Close,
    EventKind,
    Execute,
    FocusWatcher,
    LoginResult,
    Notice,
    Result,
    Send,
)
from kvmswitchd.serial.endpoint import EndpointSpec, LinkKind, build_core, busy_reply
from kvmswitchd.serial.links import (
    CloseHook,
    EventSink,
    PtyLink,
    Refusal,
    SetReading,
    TcpClient,
    serve_tty,
)
from kvmswitchd.serial.login import LoginThrottle
from kvmswitchd.serial.tesmart_unit import TesmartUnit

# On stop, how long bus calls already running may take to finish before being cancelled.
STOP_GRACE = 5.0
# Bytes handed to a core in one receive_data call (the cores cost a few µs per byte).
SLICE = 256
# What one loop turn may spend on one session's input before it yields to other clients:
# a byte count (deterministic) and a time budget (for slow, echoing or erroring input).
MAX_TURN_BYTES = 16 * 1024
TURN_BUDGET = 0.002
# After a turn that used its whole budget, the session's next slices wait this long, so
# a flood leaves the event loop idle about half the time: other clients, and the HID
# path, get the CPU at once instead of queueing behind a CPU-bound process.
FLOOD_REST = 0.002
# Unparsed input held per session. Past INBOX_HIGH the link stops reading (a TCP peer's
# window fills and it waits); reading resumes at INBOX_LOW. Stops a flood from growing
# our memory; one read of the link (at most 256 KiB on TCP) may overshoot the mark.
INBOX_HIGH = 64 * 1024
INBOX_LOW = 16 * 1024
# Numbers the sessions of this process: a session's stamp on its commands (Origin.session)
# is never reused, even when a TCP peer's address and port come back.
SESSION_NUMBERS = itertools.count(1)


def _ignore(kind: str, detail: str) -> None:
    """The default event sink."""


class Session:
    """One core bound to one byte stream (a line, or one TCP connection)."""

    def __init__(
        self,
        endpoint: SerialEndpoint,
        write: Callable[[bytes], None],
        on_close: CloseHook,
        set_reading: SetReading,
        peer: str = "",
    ) -> None:
        self._endpoint = endpoint
        self._peer = peer  # a TCP client's "host:port": its reports name it
        # stamped on every command of this session (the control lease is held by one)
        self.id = f"{peer or endpoint.spec.name}#{next(SESSION_NUMBERS)}"
        self.core: ChannelCore = endpoint.make_core(endpoint.spec, endpoint.throttle)
        self._write = write
        self._on_close = on_close
        self._set_reading = set_reading
        self._loop = asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = None
        self._inbox = bytearray()  # input from the link; the core has had _taken bytes
        self._taken = 0
        self._pump_handle: asyncio.Handle | None = None
        self._calls_out = 0  # bus calls running for the core; it holds input meanwhile
        self._paused = False  # we told the link to stop reading
        self.closed = False
        endpoint.sessions.add(self)

    def start(self) -> None:
        self._run(self.core.start)

    def focus_changed(self) -> None:
        """The input changed from some channel: a core that tells its peer does so."""
        if isinstance(self.core, FocusWatcher):
            self._run(self.core.focus_changed)

    def feed(self, data: bytes) -> None:
        if self.closed or not data:
            return
        self._inbox += data
        if len(self._inbox) > INBOX_HIGH and not self._paused:
            self._paused = True
            self._set_reading(False)
        self._schedule_pump()

    def shutdown(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._endpoint.sessions.discard(self)
        try:
            last = self.core.hang_up(self._loop.time())
        except Exception as exc:  # noqa: BLE001 - a core bug must not stop the shutdown; reported
            self._endpoint.event(EventKind.ERROR, f"core failed: {type(exc).__name__}: {exc}")
            last = []
        for action in last:  # answered to nobody: the core is done
            if isinstance(action, Execute):
                self._calls_out += 1
                self._endpoint.spawn(self._call(action))
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._pump_handle is not None:
            self._pump_handle.cancel()
            self._pump_handle = None
        if self._paused:  # a local line's next session reads on
            self._paused = False
            self._set_reading(True)
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
                    self._calls_out += 1
                    self._endpoint.spawn(self._call(action))
                case Notice(kind, detail):
                    self._endpoint.event(kind, f"{self._peer}: {detail}" if self._peer else detail)
                case Close(reason, rest):
                    # in order: what the core did not read, then what it never had
                    unread = rest + bytes(self._inbox[self._taken :])
                    self._inbox.clear()
                    self._taken = 0
                    self.shutdown()
                    self._on_close(reason, unread)
                    return
        self._rearm()

    def _schedule_pump(self) -> None:
        if self._pump_handle is None and self._inbox and not self._calls_out and not self.closed:
            self._pump_handle = self._loop.call_soon(self._pump)

    def _pump(self) -> None:
        """Hand the core bounded slices of the inbox for one loop turn, then yield: at
        once if the inbox ran dry or a bus call went out; after a rest of FLOOD_REST if
        the turn's budget ran out (a flood then costs at most about half a CPU)."""
        self._pump_handle = None
        turn_end = self._loop.time() + TURN_BUDGET
        spent = False
        while self._taken < len(self._inbox) and not self.closed and not self._calls_out:
            chunk = bytes(self._inbox[self._taken : self._taken + SLICE])
            self._taken += len(chunk)
            self._run(functools.partial(self.core.receive_data, chunk))
            if self._taken >= MAX_TURN_BYTES or self._loop.time() >= turn_end:
                spent = True
                break
        if self.closed:
            return
        del self._inbox[: self._taken]  # once per turn: the inbox may hold a few hundred KiB
        self._taken = 0
        if self._paused and len(self._inbox) <= INBOX_LOW:
            self._paused = False
            self._set_reading(True)
        if spent and self._inbox and not self._calls_out:
            self._pump_handle = self._loop.call_later(FLOOD_REST, self._pump)
        else:
            self._schedule_pump()

    async def _call(self, action: Execute | Authenticate) -> None:
        bus = self._endpoint.bus
        result: Result
        origin = replace(action.origin, session=self.id)
        try:
            if isinstance(action, Execute):
                result = await bus.execute(action.command, origin)
            else:
                user = await bus.authenticate(action.user, action.password, origin)
                result = LoginResult(user)
        except KvmError as exc:
            result = LoginResult(None) if isinstance(action, Authenticate) else _refusal(exc)
        except Exception as exc:  # noqa: BLE001 - a failing bus must not take the channel (or any other) down; reported below
            self._endpoint.event(EventKind.ERROR, f"bus raised {type(exc).__name__}: {exc}")
            if isinstance(action, Authenticate):
                result = LoginResult(None)
            else:
                result = Outcome(ok=False, error="internal error")
        finally:
            self._calls_out -= 1
        self._run(lambda now: self.core.complete(action.request_id, result, now))
        self._schedule_pump()

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
        make_core: Callable[[EndpointSpec, LoginThrottle], ChannelCore] | None = None,
        tesmart: TesmartUnit | None = None,
        focus: FocusFeed | None = None,
    ) -> None:
        self.spec = spec
        # tesmart: the unit-wide settings, shared by every connection (and endpoint)
        self.tesmart = tesmart or TesmartUnit()
        self.make_core = make_core or functools.partial(build_core, tesmart=self.tesmart)
        self._focus = focus  # told of every input change, from any channel
        self._unsubscribe: Callable[[], None] | None = None
        self._focus_pending = False
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
        if self._focus is not None:
            self._unsubscribe = self._focus.on_focus_change(self._focus_changed)
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
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
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
            "clients": len(self._clients) if self.spec.kind is LinkKind.TCP else None,
            "max_clients": self.spec.max_clients if self.spec.kind is LinkKind.TCP else None,
        }

    def _open_session(
        self,
        write: Callable[[bytes], None],
        on_close: CloseHook,
        set_reading: SetReading,
        peer: str,
    ) -> Session:
        return Session(self, write, on_close, set_reading, peer)

    def _focus_changed(self) -> None:
        """Called inside the switch's commit: tell the sessions after it, once per turn."""
        if not self._focus_pending:
            self._focus_pending = True
            asyncio.get_running_loop().call_soon(self._tell_focus)

    def _tell_focus(self) -> None:
        self._focus_pending = False
        for session in list(self.sessions):
            session.focus_changed()

    def _admit(self, host: str) -> Refusal | None:
        if not self.spec.admits(host):
            return Refusal("not in the allow-list")
        if len(self._clients) >= self.spec.max_clients:
            reason = f"too many clients (max {self.spec.max_clients})"
            return Refusal(reason, busy=True, reply=busy_reply(self.spec))
        return None
