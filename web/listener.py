"""The HTTP listener: aiohttp's server behind the connection budget (``web.connections``).

``serve(app, host, port, ...)`` raises the process's soft open-file limit, puts every
connection's protocol behind a thin wrapper that tells the budget when bytes arrive and
when the connection goes, adds a middleware that tells it when a handler starts and
ends, and re-arms one timer for the budget's next deadline. aiohttp's own keep-alive
timeout is set to the idle timeout as well.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import resource
import ssl
from collections.abc import Awaitable, Callable
from typing import cast

from aiohttp import web
from aiohttp.typedefs import Middleware

from web.connections import Budget, Limits

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# File descriptors kept free of HTTP connections: state files, serial lines, devices.
RESERVED_FDS = 64
# Seconds the rest of a body is read (and dropped) after an early answer (413, 408)
# before the connection closes: long enough for the client to see the answer, short
# enough that a client who never stops sending cannot keep the slot (aiohttp: 10 s).
LINGER = 2.0
# When the hard limit is unlimited, the soft one is raised to this.
UNLIMITED_SOFT = 65536

_BODY = json.dumps({"error": "busy", "message": "too many connections; try again shortly"}).encode()
REFUSAL = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    b"Retry-After: 1\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(_BODY), _BODY)
)


def raise_open_file_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit; the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = UNLIMITED_SOFT if hard == resource.RLIM_INFINITY else hard
    if target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as exc:
            log.warning("cannot raise the open-file limit from %d to %d: %s", soft, target, exc)
            return soft
        return target
    return soft


class ConnectionKeeper:
    """The budget's asyncio side: the open connections' protocols and one timer."""

    def __init__(self, limits: Limits) -> None:
        self.budget: Budget[GuardedProtocol] = Budget(limits)
        self._loop = asyncio.get_running_loop()
        self._by_transport: dict[asyncio.BaseTransport, GuardedProtocol] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._armed: float | None = None

    def protocol(self, inner: asyncio.Protocol) -> GuardedProtocol:
        return GuardedProtocol(inner, self)

    def opened(self, protocol: GuardedProtocol, transport: asyncio.BaseTransport) -> bool:
        admission = self.budget.opened(protocol, self._loop.time())
        for shed in admission.shed:
            shed.cut("idle, shed to make room")
        if admission.admitted:
            self._by_transport[transport] = protocol
            self._rearm()
        return admission.admitted

    def received(self, protocol: GuardedProtocol) -> None:
        self.budget.received(protocol, self._loop.time())
        self._rearm()

    def closed(self, protocol: GuardedProtocol) -> None:
        self.budget.closed(protocol)
        if protocol.transport is not None:
            self._by_transport.pop(protocol.transport, None)

    @property
    def middleware(self) -> Middleware:
        @web.middleware
        async def track(request: web.Request, handler: Handler) -> web.StreamResponse:
            protocol = self._by_transport.get(request.transport) if request.transport else None
            if protocol is None:
                return await handler(request)
            self.budget.started(protocol, self._loop.time())
            try:
                return await handler(request)
            finally:
                self.budget.finished(protocol, self._loop.time())
                self._rearm()

        return track

    def _rearm(self) -> None:
        deadline = self.budget.next_deadline()
        if deadline is None or (self._armed is not None and self._armed <= deadline):
            return
        if self._timer is not None:
            self._timer.cancel()
        self._armed = deadline
        self._timer = self._loop.call_at(deadline, self._fire)

    def _fire(self) -> None:
        self._timer = self._armed = None
        for protocol in self.budget.expired(self._loop.time()):
            protocol.cut("timed out")
        self._rearm()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = self._armed = None


class GuardedProtocol(asyncio.Protocol):
    """aiohttp's per-connection protocol, wrapped: every call goes through unchanged."""

    def __init__(self, inner: asyncio.Protocol, guard: ConnectionKeeper) -> None:
        self.inner = inner
        self.guard = guard
        self.transport: asyncio.BaseTransport | None = None
        self.admitted = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.admitted = self.guard.opened(self, transport)
        if not self.admitted:
            log.warning("HTTP connection refused: %d open", len(self.guard.budget))
            cast(asyncio.WriteTransport, transport).write(REFUSAL)
            transport.close()
            return
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if not self.admitted:
            return
        self.guard.received(self)
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received() if self.admitted else None

    def pause_writing(self) -> None:
        if self.admitted:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self.admitted:
            self.inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self.guard.closed(self)
        if self.admitted:
            self.admitted = False
            self.inner.connection_lost(exc)

    def cut(self, reason: str) -> None:
        """Close the connection now (timed out, or shed at capacity)."""
        log.debug("HTTP connection closed: %s", reason)
        self.guard.closed(self)
        if self.transport is not None:
            self.transport.close()


class GuardedSite(web.BaseSite):
    """A TCP site whose connections go through ``guard``."""

    __slots__ = ("_guard", "_host", "_port")

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        guard: ConnectionKeeper,
        *,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(runner, ssl_context=ssl_context)
        self._host, self._port, self._guard = host, port, guard

    @property
    def name(self) -> str:
        scheme = "https" if self._ssl_context else "http"
        return f"{scheme}://{self._host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        if server is None:
            raise RuntimeError("the runner is not set up")
        guard = self._guard

        def factory() -> asyncio.Protocol:
            return guard.protocol(server())

        self._server = await asyncio.get_running_loop().create_server(
            factory, self._host, self._port, ssl=self._ssl_context, backlog=self._backlog
        )

    async def stop(self) -> None:
        self._guard.close()
        await super().stop()


async def serve(
    app: web.Application,
    host: str,
    port: int,
    *,
    limits: Limits | None = None,
    ssl_context: ssl.SSLContext | None = None,
    shutdown_timeout: float = 60.0,
) -> web.AppRunner:
    """Listen on ``host:port``; the runner's ``cleanup()`` stops everything."""
    limits = limits or Limits()
    fds = raise_open_file_limit()
    if limits.max_connections > fds - RESERVED_FDS:
        log.warning(
            "max_connections %d does not fit the open-file limit %d; using %d",
            limits.max_connections,
            fds,
            max(1, fds - RESERVED_FDS),
        )
        limits = Limits(limits.header_timeout, limits.idle_timeout, max(1, fds - RESERVED_FDS))
    guard = ConnectionKeeper(limits)
    app.middlewares.insert(0, guard.middleware)
    runner = web.AppRunner(
        app,
        access_log=None,
        handle_signals=False,
        keepalive_timeout=limits.idle_timeout,
        lingering_time=LINGER,
        shutdown_timeout=shutdown_timeout,  # requests still running at stop get this long
    )
    await runner.setup()
    site = GuardedSite(runner, host, port, guard, ssl_context=ssl_context)
    try:
        await site.start()
    except BaseException:
        with contextlib.suppress(Exception):
            await runner.cleanup()
        raise
    return runner
