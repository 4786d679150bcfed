"""The websocket ``/api/v1/ws`` (SPEC §7, §9): live state and log out, keyboard/mouse in.

Server → client, as JSON text frames:

- ``{"type": "state", "state": {...}}`` — the full state, first on connect, then on change;
- ``{"type": "log", "entry": {...}}`` — each new event-log entry;
- ``{"type": "ack", "id": ..., ...}`` — a request that carried an ``id`` succeeded;
- ``{"type": "pong", "id": ...}`` — the answer to ``{"type": "ping"}``;
- ``{"type": "error", "error": code, "message": text, "id": ...}`` — a request failed;
  the connection stays open.

Client → server: ``{"type": "input", "text": "...", "events": [...]}`` (as ``POST /input``:
typed into the km-focused port), ``{"type": "release"}`` (let go of every key and button
this client holds: the UI sends it when the page loses focus or is hidden),
``{"type": "switch", "port": "2", "channels": [...], "force": false}`` (as
``POST /switch``) and ``{"type": "ping"}``; each may carry an ``id`` (a short string or an
integer) that the reply echoes.

Held keys: each connection is one holder (``kvmswitchd.core.holds``). When it goes away —
closed by the client, cut off, timed out by the heartbeat, dropped by the server, server
shutdown — every key and button it holds is released, except those another client, the
console or ``POST /input`` still holds.

Limits: a frame is at most ``max_message`` bytes (a bigger one closes the socket with
1009). Client messages are paced, never dropped: a token bucket per connection charges
each frame one token plus one per ``cost_bytes`` and one per ``cost_inputs`` inputs it
typed, and once it is empty the next frame is not read until the bucket allows it — TCP
then slows the client down, and a press is never split from its release. A client that
falls ``queue_size`` messages behind is closed with 1008 rather than buffered without
bound. A cross-site ``Origin`` is refused with 403 before the upgrade.

Permissions: ``app[AUTHORIZE]`` is called as ``authorize(request, message)`` on connect
(``{"type": "connect"}``) and for every client message; it raises ``PermissionDenied``
(or ``AuthError``) to refuse. The default allows everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from aiohttp import WSCloseCode, WSMessage, WSMsgType, web

from kvmswitchd.core.commands import SwitchTo
from kvmswitchd.core.holds import Holder
from kvmswitchd.core.permissions import Principal
from kvmswitchd.core.views import entry_json_visible, state_for
from kvmswitchd.errors import AuthError, InputError, KvmError, PermissionDenied
from web import client_json
from web.api import PREFIX, SERVICE, origin_of
from web.auth import USER
from web.errors import status_for_code
from web.service import KvmService

log = logging.getLogger(__name__)

# Largest client frame, in bytes: one message must not pin memory or CPU (bulk typing
# belongs in POST /input, whose body cap is the app's client_max_size).
MAX_MESSAGE = 64 * 1024
# Outgoing messages queued per client before it counts as too slow and is closed: bounds
# the memory one stalled browser can hold on to.
QUEUE_SIZE = 256
# Tokens per second sustained, and the burst above that, for client frames: a frame costs
# one token plus one per COST_BYTES and one per COST_INPUTS inputs it typed, so a 1,000 Hz
# mouse or fast typing runs at full speed, while a client sending faster (or pasting big
# texts) is slowed down by not reading its socket: one connection gets at most about
# RATE * COST_INPUTS inputs a second of the daemon's CPU.
RATE = 1000.0
BURST = 500.0
COST_BYTES = 1024
# The dearest frame (16 KiB of text: up to 65,536 key changes) owes ~8 s: the next frame,
# and the client's pong, are read within the heartbeat's 15 s pong window.
COST_INPUTS = 8
# An ``id`` echoed in replies is at most this long (it is copied into every reply).
MAX_ID_LEN = 64
# How long a close handshake may take before the transport is cut.
CLOSE_TIMEOUT = 5.0
# Seconds between pings; a client that doesn't answer within half of it is closed (its
# keys released): a vanished network peer is noticed without waiting for TCP.
HEARTBEAT = 30.0
# Broadcasts recheck a client's login at most this often (seconds).
RECHECK_INTERVAL = 1.0

Message = dict[str, Any]
Authorize = Callable[[web.Request, Mapping[str, Any]], Awaitable[None] | None]


def allow(request: web.Request, message: Mapping[str, Any]) -> None:
    """The default permission check: everything is allowed (auth replaces it)."""


@dataclass(frozen=True, slots=True)
class Limits:
    max_message: int = MAX_MESSAGE
    queue_size: int = QUEUE_SIZE
    rate: float = RATE
    burst: float = BURST
    cost_bytes: int = COST_BYTES
    cost_inputs: int = COST_INPUTS
    heartbeat: float = HEARTBEAT

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 0 or self.cost_bytes < 1 or self.cost_inputs < 1:
            raise ValueError("websocket limits: rate, cost_bytes and cost_inputs must be positive")

    def cost(self, frame: WSMessage, inputs: int = 0) -> int:
        """Tokens a client frame costs: one, plus one per ``cost_bytes`` of payload and one
        per ``cost_inputs`` key changes and moves it typed (a 16 KiB text is ~40k)."""
        data = frame.data
        size = len(data) if isinstance(data, str | bytes) else 0
        return 1 + size // self.cost_bytes + inputs // self.cost_inputs


LIMITS = web.AppKey("ws_limits", Limits)
AUTHORIZE: web.AppKey[Authorize] = web.AppKey("ws_authorize")
# Who a client reads as, looked up again with each login recheck: their pushes show only
# the ports they may view. Default: the user the request signed in as (None: auth off).
Viewer = Callable[[web.Request], Principal | None]
VIEWER: web.AppKey[Viewer] = web.AppKey("ws_viewer")


def signed_in(request: web.Request) -> Principal | None:
    return request.get(USER)


# -- sans-IO pieces -----------------------------------------------------------------------


class Throttle:
    """A token bucket that paces a client instead of refusing it. Time is passed in.

    ``delay(now, cost)`` spends ``cost`` tokens — into debt when the bucket is short — and
    answers how long to wait before reading the client's next frame: the time the refill
    takes to pay the debt back. Nothing is ever refused, so no key event of a sequence is
    lost; a client that sends too fast just finds its socket read more slowly.
    """

    def __init__(self, rate: float, burst: float, now: float) -> None:
        if rate <= 0 or burst < 0:
            raise ValueError("the rate must be positive and the burst not negative")
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.stamp = now

    def delay(self, now: float, cost: float = 1.0) -> float:
        self.tokens = min(self.burst, self.tokens + max(0.0, now - self.stamp) * self.rate)
        self.stamp = now
        self.tokens -= cost
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate


def _id_of(message: Mapping[str, Any]) -> str | int | None:
    value = message.get("id")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InputError("id must be a string or an integer")
    if isinstance(value, str) and len(value) > MAX_ID_LEN:
        raise InputError(f"id is longer than {MAX_ID_LEN} characters")
    return value


def parse(data: str) -> Message:
    """A client frame as a JSON object with a string ``type``; InputError otherwise."""
    try:
        message = client_json.loads(data)
    except ValueError as exc:
        raise InputError(f"malformed JSON: {exc}") from None
    if not isinstance(message, dict):
        raise InputError('a message must be a JSON object like {"type": "ping"}')
    if not isinstance(message.get("type"), str):
        raise InputError("type is required: input, release, switch or ping")
    return message


def _check_keys(message: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(message) - allowed - {"type", "id"})
    if unknown:
        raise InputError(f"unknown field {unknown[0]!r} in a {message['type']} message")


def input_args(message: Mapping[str, Any]) -> tuple[str | None, list[dict[str, Any]] | None]:
    _check_keys(message, {"text", "events"})
    text = message.get("text")
    if text is not None and not isinstance(text, str):
        raise InputError("text must be a string")
    events = message.get("events")
    if events is not None and (
        not isinstance(events, list) or not all(isinstance(e, dict) for e in events)
    ):
        raise InputError('events must be a list of {"type", "code", "value"} objects')
    if text is None and events is None:
        raise InputError("send text and/or events")
    return text, events


def switch_command(message: Mapping[str, Any]) -> SwitchTo:
    _check_keys(message, {"port", "channels", "force"})
    port = message.get("port")
    if isinstance(port, bool) or not isinstance(port, str | int):
        raise InputError('port is required: a string like "3" or "2.4"')
    channels = message.get("channels")
    if channels is not None and (
        not isinstance(channels, list) or not all(isinstance(c, str) for c in channels)
    ):
        raise InputError("channels must be a list of km, video, audio, usb")
    force = message.get("force", False)
    if not isinstance(force, bool):
        raise InputError("force must be true or false")
    return SwitchTo(str(port), tuple(channels) if channels else None, force)


def error_message(code: str, text: str, id_: str | int | None = None) -> Message:
    reply: Message = {"type": "error", "error": code, "message": text}
    if id_ is not None:
        reply["id"] = id_
    return reply


# -- the adapter --------------------------------------------------------------------------


class Hub:
    """One subscription to the service; each message is encoded once for every client."""

    def __init__(self, service: KvmService) -> None:
        self.service = service
        self.sessions: set[Session] = set()
        self._unsubscribe: Callable[[], None] | None = None

    def add(self, session: Session) -> None:
        self.sessions.add(session)
        if self._unsubscribe is None:
            self._unsubscribe = self.service.subscribe(self.publish)

    def remove(self, session: Session) -> None:
        self.sessions.discard(session)
        if not self.sessions and self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def publish(self, message: Message) -> None:
        """Send ``message`` to every client, as each may see it: encoded once per view
        (the ports a reader may view; core.views), so 200 admins cost one encoding."""
        texts: dict[frozenset[int] | None, str | None] = {}
        for session in list(self.sessions):
            if not session.still_allowed():
                continue
            key = session.visible
            if key not in texts:
                shown = view_of(message, key)
                texts[key] = json.dumps(shown) if shown is not None else None
            text = texts[key]
            if text is not None:
                session.offer(text)


def view_of(message: Message, visible: frozenset[int] | None) -> Message | None:
    """``message`` as a reader who sees ``visible`` may read it (None: not at all)."""
    if visible is None:
        return message
    match message.get("type"):
        case "state":
            return {**message, "state": state_for(message["state"], visible)}
        case "log":
            return message if entry_json_visible(message["entry"], visible) else None
    return message


HUB = web.AppKey("ws_hub", Hub)
# Numbers the websocket clients as key holders (never reused while the daemon runs).
_CLIENTS = itertools.count(1)


class Session:
    """One connected client: a bounded outgoing queue, a pump task, the message loop."""

    def __init__(self, request: web.Request, ws: web.WebSocketResponse) -> None:
        app = request.app
        self.request = request
        self.ws = ws
        self.service = app[SERVICE]
        self.limits = app.get(LIMITS, Limits())
        self.authorize = app.get(AUTHORIZE, allow)
        self.clock = asyncio.get_running_loop().time
        self.queue: asyncio.Queue[str] = asyncio.Queue(self.limits.queue_size)
        self.origin = replace(origin_of(request), detail=f"ws {request.remote or ''}".strip())
        self.throttle = Throttle(self.limits.rate, self.limits.burst, self.clock())
        self.holder = Holder("ws", next(_CLIENTS))  # what this client presses, it holds
        self.closing: asyncio.Task[None] | None = None
        self._pump: asyncio.Task[None] | None = None
        self._checked = self.clock()
        self.viewer_of = app.get(VIEWER, signed_in)
        self.viewer = self.viewer_of(request)
        self.visible = self.service.visible(self.viewer)

    def still_allowed(self) -> bool:
        """Recheck the client's login before a broadcast reaches it (at most once per
        RECHECK_INTERVAL): a logout, a password change or a revoked token elsewhere ends
        the stream too, not only the client's next message."""
        now = self.clock()
        if now - self._checked < RECHECK_INTERVAL:
            return True
        self._checked = now
        try:
            result = self.authorize(self.request, {"type": "ping"})
        except (AuthError, PermissionDenied) as exc:
            self.drop(f"not allowed any more: {exc}")
            return False
        if inspect.iscoroutine(result):  # an async authorizer: checked on messages only
            result.close()
        self.viewer = self.viewer_of(self.request)  # rights narrowed meanwhile apply now
        self.visible = self.service.visible(self.viewer)
        return True

    def offer(self, text: str) -> None:
        """Queue a message for this client; one that falls too far behind is dropped."""
        if self.closing is not None:
            return
        try:
            self.queue.put_nowait(text)
        except asyncio.QueueFull:
            self.drop(f"too slow: more than {self.limits.queue_size} messages behind")

    def send(self, message: Message) -> None:
        self.offer(json.dumps(message))

    def drop(
        self, reason: str, code: int = WSCloseCode.POLICY_VIOLATION, *, flush: bool = False
    ) -> None:
        """Close this connection with ``code`` and ``reason`` (once). With ``flush``, the
        messages already queued go out first (bounded by CLOSE_TIMEOUT); without, they are
        dropped (a client too slow to read them)."""
        if self.closing is not None:
            return
        log.info("websocket %s closed: %s", self.origin.detail, reason)
        self.release()  # its input ends now: nothing it holds stays down while it closes
        if not flush and self._pump is not None:
            self._pump.cancel()
        self.closing = asyncio.get_running_loop().create_task(self._close(code, reason, flush))

    async def _close(self, code: int, reason: str, flush: bool) -> None:
        if flush and self._pump is not None:
            flushed = asyncio.ensure_future(self.queue.join())
            # done when the queue is sent, the pump died (peer gone) or time is up
            await asyncio.wait(
                {flushed, self._pump}, timeout=CLOSE_TIMEOUT, return_when=asyncio.FIRST_COMPLETED
            )
            flushed.cancel()
        if self._pump is not None:
            self._pump.cancel()
        with contextlib.suppress(asyncio.TimeoutError, ConnectionError):
            # a timeout here makes aiohttp cut the transport (a peer that doesn't read)
            await asyncio.wait_for(
                self.ws.close(code=code, message=reason.encode()[:123]), CLOSE_TIMEOUT
            )

    def release(self) -> int:
        """Let go of everything this client holds (keys another holder holds stay down)."""
        try:
            return self.service.release_client(self.holder, self.origin)
        except Exception:  # a service bug must not keep the socket from closing
            log.exception("websocket %s: releasing its keys failed", self.origin.detail)
            return 0

    async def pump(self) -> None:
        with contextlib.suppress(ConnectionError):
            while True:
                text = await self.queue.get()
                try:
                    await self.ws.send_str(text)
                finally:
                    self.queue.task_done()

    async def run(self, hub: Hub) -> None:
        self.send({"type": "state", "state": self.service.state(self.viewer)})
        hub.add(self)
        self._pump = asyncio.get_running_loop().create_task(self.pump())
        try:
            async for frame in self.ws:
                if self.closing is not None:  # frames that arrive while closing are ignored
                    continue
                inputs = await self.receive(frame)
                wait = self.throttle.delay(self.clock(), self.limits.cost(frame, inputs))
                if wait > 0:  # backpressure: the next frame stays unread (in TCP) till then
                    await asyncio.sleep(wait)
        finally:
            self.release()  # closed, cut off or timed out: nothing it held stays down
            hub.remove(self)
            if self.closing is not None:
                await self.closing  # flushes (or not), then stops the pump
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump

    async def receive(self, frame: WSMessage) -> int:
        """Handle one client frame; returns how many inputs it typed (what pacing charges)."""
        if frame.type is not WSMsgType.TEXT:
            self.send(error_message("bad_request", "only JSON text messages are accepted"))
            return 0
        id_: str | int | None = None
        try:
            message = parse(frame.data)
            id_ = _id_of(message)
            reply = await self.handle(message)
        except KvmError as exc:
            self.send(error_message(exc.code, str(exc), id_))
            return 0
        except Exception:  # a service bug must not end the connection
            log.exception("websocket message failed")
            self.send(error_message("internal_error", "the request failed; see the log", id_))
            return 0
        if reply is not None and id_ is not None:
            reply["id"] = id_
        if reply is not None and (id_ is not None or reply["type"] != "ack"):
            self.send(reply)
        inputs = reply.get("inputs", 0) if reply is not None and message["type"] == "input" else 0
        return inputs if isinstance(inputs, int) else 0

    async def handle(self, message: Message) -> Message | None:
        result = self.authorize(self.request, message)
        if inspect.isawaitable(result):
            await result
        match message["type"]:
            case "ping":
                _check_keys(message, set())
                return {"type": "pong"}
            case "input":
                text, events = input_args(message)
                done = self.service.type_input(text, events, self.origin, self.holder)
                return dict(done, type="ack")
            case "release":
                _check_keys(message, set())
                return {"type": "ack", "released": self.release()}
            case "switch":
                outcome = await self.service.execute(switch_command(message), self.origin)
                if not outcome.ok:
                    code = outcome.error or "bad_request"
                    status = status_for_code(code)
                    return error_message(code, outcome.message or f"refused ({status})")
                return {"type": "ack", "message": outcome.message}
            case other:
                raise InputError(
                    f"unknown message type {other[:32]!r}: use input, release, switch, ping"
                )


async def websocket(request: web.Request) -> web.StreamResponse:
    result = request.app.get(AUTHORIZE, allow)(request, {"type": "connect"})
    if inspect.isawaitable(result):
        await result
    limits = request.app.get(LIMITS, Limits())
    ws = web.WebSocketResponse(max_msg_size=limits.max_message, heartbeat=limits.heartbeat)
    if not ws.can_prepare(request).ok:
        raise InputError("this is a websocket endpoint: connect with Upgrade: websocket")
    await ws.prepare(request)
    await Session(request, ws).run(request.app[HUB])
    return ws


async def _close_all(app: web.Application) -> None:
    sessions = list(app[HUB].sessions)
    for session in sessions:
        session.drop("server shutting down", WSCloseCode.GOING_AWAY, flush=True)
    await asyncio.gather(*(s.closing for s in sessions if s.closing is not None))


def client_count(app: web.Application) -> int:
    """Connected websocket clients (for /metrics)."""
    return len(app[HUB].sessions)


def setup(app: web.Application) -> None:
    """Register ``GET /api/v1/ws`` and close every socket on shutdown."""
    app[HUB] = Hub(app[SERVICE])
    app.router.add_get(PREFIX + "/ws", websocket)
    app.on_shutdown.append(_close_all)
