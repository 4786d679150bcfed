"""The asyncio side of syslog forwarding: one task that keeps a connection to the
collector and drains the outbox into it.

``offer(entry)`` is the journal's subscriber: it only queues the entry and returns at once
(formatting, ~45 µs a record, happens in the task, off the switch path that journals it);
nothing on the daemon's loop ever waits for the collector. The task connects (UDP: a
connected datagram socket; TCP/TLS: a stream, octet-counted frames), sends what is queued,
notices a collector that closes the stream (it reads the stream for EOF) and reconnects
with backoff. A message leaves the queue only once the transport took it, so what was
queued while the collector was away is sent when it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import ssl
from collections.abc import Callable
from typing import Any

from kvmswitchd.core.eventlog import LogEntry
from kvmswitchd.journal import Journal
from kvmswitchd.preflight import syslog_tls
from kvmswitchd.syslog.format import Formatter, octet_counted
from kvmswitchd.syslog.outbox import Backoff, Outbox
from kvmswitchd.syslog.settings import SyslogConfig, Transport

log = logging.getLogger(__name__)

# Seconds a connect (resolve, TCP handshake, TLS handshake) may take before it counts as
# failed: a collector that accepts but never answers can't hold the task forever.
CONNECT_TIMEOUT = 10.0
# Seconds ``close`` waits for the queue to drain at shutdown.
FLUSH_TIMEOUT = 2.0

Record = Callable[..., Any]  # Journal.record


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, on_error: Callable[[Exception], None]) -> None:
        self._on_error = on_error

    def error_received(self, exc: Exception) -> None:  # ICMP unreachable: nobody listens
        self._on_error(exc)


class SyslogForwarder:
    def __init__(
        self,
        config: SyslogConfig,
        formatter: Formatter,
        *,
        record: Record | None = None,
        tls: ssl.SSLContext | None = None,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.config = config
        self._formatter = formatter
        self._record = record  # journals a gap (syslog_dropped) once the collector is back
        self._jitter = jitter
        self._tls = tls  # the tls:// client context (preflight.syslog_tls)
        self._outbox: Outbox[LogEntry] = Outbox(config.queue)
        self._backoff = Backoff(config.retry_max)
        self._wake = asyncio.Event()  # something was queued (or the connection ended)
        self._progress = asyncio.Event()  # something was sent (or the connection ended)
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()  # set while a connection is up (tests await it)
        self.disconnected = asyncio.Event()
        self.disconnected.set()
        self.connections = 0
        self.reconnects = 0  # connections made after the first
        self.failures = 0  # connect attempts or connections that failed
        self.last_error: str | None = None

    # -- the journal's side ---------------------------------------------------------------

    def offer(self, entry: LogEntry) -> None:
        """Queue ``entry`` for the collector; never blocks, never raises."""
        self._outbox.put(entry)
        self._wake.set()

    def _next_message(self) -> bytes | None:
        """The next queued record as a message (None: nothing queued)."""
        while (entry := self._outbox.peek()) is not None:
            try:
                return self._formatter.message(entry)
            except Exception:  # a formatting bug costs that record, not the forwarding
                log.exception("cannot format event %s for syslog", entry.seq)
                self._outbox.discard()
        return None

    def view(self) -> dict[str, Any]:
        """``GET /state`` "syslog" and the figures of ``/metrics``."""
        return {
            "target": self.config.target,
            "connected": self.connected.is_set(),
            "queued": len(self._outbox),
            "sent": self._outbox.sent,
            "dropped": self._outbox.dropped,
            "reconnects": self.reconnects,
            "failures": self.failures,
            "last_error": self.last_error,
        }

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="syslog")

    async def close(self, flush: float = FLUSH_TIMEOUT) -> None:
        """Give what is queued ``flush`` seconds to leave (if connected), then stop. The
        task stops even if this is cancelled meanwhile (the daemon's stop budget)."""
        task, self._task = self._task, None
        if task is None:
            return
        try:
            if self.connected.is_set() and len(self._outbox):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._drained(), flush)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _drained(self) -> None:
        while len(self._outbox) and self.connected.is_set():
            self._progress.clear()
            await self._progress.wait()

    # -- the task -----------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            try:
                if self.config.transport is Transport.UDP:
                    await self._udp()
                else:
                    await self._stream()
            except (OSError, EOFError, TimeoutError) as exc:  # ssl.SSLError is an OSError
                self._failed(exc)
            except Exception as exc:  # a bug here must not end forwarding for good
                log.exception("syslog forwarding failed")
                self._failed(exc)
            finally:
                if self.connected.is_set():
                    self.connected.clear()
                    self.disconnected.set()
                    self._progress.set()  # a flush waiting in close() gives up
            await asyncio.sleep(self._backoff.delay(self._jitter()))

    def _failed(self, exc: BaseException) -> None:
        self.failures += 1
        text = str(exc) or type(exc).__name__
        if text != self.last_error:  # one line per new problem, not one per retry
            log.warning("syslog collector %s: %s", self.config.target, text)
        self.last_error = text

    def _up(self) -> None:
        self.connections += 1
        if self.connections > 1:
            self.reconnects += 1
        self.last_error = None
        self.disconnected.clear()
        self.connected.set()
        lost = self._outbox.take_unreported()
        if lost and self._record is not None:  # journaled, so forwarded too: the gap shows
            self._record(
                "syslog_dropped",
                "system",
                (),
                None,
                {"count": lost, "message": f"{lost} records dropped: the collector was away"},
            )

    async def _udp(self) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await asyncio.wait_for(
            loop.create_datagram_endpoint(
                lambda: _Datagrams(self._failed),
                remote_addr=(self.config.host, self.config.port),
            ),
            CONNECT_TIMEOUT,
        )
        try:
            self._up()
            while True:
                message = self._next_message()
                if message is None:
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                transport.sendto(message)  # buffered by asyncio if the socket is busy
                self._sent()
        finally:
            transport.close()

    async def _stream(self) -> None:
        tls = self._tls if self.config.transport is Transport.TLS else None
        if self.config.transport is Transport.TLS and tls is None:
            tls = self._tls = ssl.create_default_context()
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(
                self.config.host,
                self.config.port,
                ssl=tls,
                server_hostname=(self.config.tls_name or self.config.host) if tls else None,
            ),
            CONNECT_TIMEOUT,
        )
        watch = asyncio.ensure_future(_until_eof(reader))
        try:
            self._up()
            while True:
                if watch.done():
                    raise EOFError("the collector closed the connection")
                message = self._next_message()
                if message is None:
                    self._wake.clear()
                    wake = asyncio.ensure_future(self._wake.wait())
                    await asyncio.wait({wake, watch}, return_when=asyncio.FIRST_COMPLETED)
                    wake.cancel()
                    continue
                writer.write(octet_counted(message))
                # the transport has it now: out of the queue before the await, or a record
                # queued into a full outbox during drain() would drop this (already sent)
                # one and sent_one() would then take an unsent one with it
                self._sent()
                await writer.drain()
        finally:
            watch.cancel()
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1.0)

    def _sent(self) -> None:
        self._outbox.sent_one()
        self._progress.set()
        # the connection carries records: the next loss retries soon again. (Not on
        # connect: a collector that accepts and at once closes would be hammered.)
        self._backoff.reset()


async def _until_eof(reader: asyncio.StreamReader) -> None:
    """Read (and ignore: a collector sends nothing) until the collector closes or the
    connection fails (the writer then reports the error)."""
    with contextlib.suppress(OSError):
        while await reader.read(4096):
            pass


def start_forwarder(config: SyslogConfig, journal: Journal) -> SyslogForwarder:
    """Forward every entry ``journal`` records from now on (the daemon calls this)."""
    formatter = Formatter(
        facility=config.facility,
        hostname=config.hostname or socket.gethostname(),
        app_name=config.app_name,
        procid=str(os.getpid()),
        max_bytes=config.max_message,
    )
    tls = syslog_tls(config) if config.transport is Transport.TLS else None
    forwarder = SyslogForwarder(config, formatter, record=journal.record, tls=tls)
    journal.subscribe(forwarder.offer)
    forwarder.start()
    return forwarder
