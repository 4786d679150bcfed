"""The ``usbip`` target backend: each port is a USB device exported over USB/IP (SPEC §8).

``UsbipServer`` is one TCP listener (default 127.0.0.1:3240) for every ``usbip`` port;
``add_port(unit)`` gives the port's ``UsbipTarget``, exported as busid ``1-<unit>``: a
keyboard, a mouse and a mass-storage interface (``usbip_device``). OP_REQ_DEVLIST lists
the ports whose target has started; one client at a time imports a device (a second
import gets status 1). A client that detaches or disconnects releases everything it held
(URBs, storage lock) and nothing else: other ports keep serving.

Access: USB/IP has no login or encryption, so the listener admits only peers in its
allow-list (default loopback only); any other peer is closed before a byte of it is read,
so it does not even learn the busids. Every import, detach and refusal (not allowed, port
busy, unknown busid) goes to the event journal with the peer's address; refusals are a
noise kind (``core.noise``), so a scanner cannot rotate the audit log away.

Why not the PyPI ``usbip`` package's device side: it serves each connection on a blocking
thread (our reports come from the event loop, and would be written under its locks), it
keeps listeners in a process-wide registry that can neither report an ephemeral port nor
close accepted connections, lets any number of clients import one device at once, and
queues IN data without a bound. So this is asyncio streams over the sans-IO
``usbip_wire`` and ``usbip_device``; the tests drive it with that package's host side.

Storage I/O (``FileBlockDevice``) runs on the loop, as for the emulated target.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Callable, Mapping
from typing import Any, Final

from kvmswitchd.allowlist import admits
from kvmswitchd.errors import DeviceError, KvmError, LocalProtocolError
from kvmswitchd.storage.bot import BulkOnlyTransport
from kvmswitchd.targets import usbip_wire as wire
from kvmswitchd.targets.target import OutputListener
from kvmswitchd.targets.usbip_device import UsbipDevice
from kvmswitchd.targets.usbip_wire import Completion

log = logging.getLogger(__name__)

DEFAULT_HOST: Final = "127.0.0.1"
LOOPBACK: Final = ("127.0.0.0/8", "::1/128")
SOURCE: Final = "usbip"  # the journal's source of this listener's entries
# Replies waiting to be sent to one client that stopped reading. Past this it is dropped,
# so a stuck peer cannot grow our memory without bound.
MAX_WRITE_BUFFER: Final = 4 << 20

# A client whose network vanished silently (no RST) would keep its port "imported" and
# every re-attach of the target refused as busy. TCP keepalive (probe after 10 s idle,
# every 5 s, 3 misses) and a 30 s limit on unacknowledged data drop it within ~30 s.
KEEPALIVE: Final = (("TCP_KEEPIDLE", 10), ("TCP_KEEPINTVL", 5), ("TCP_KEEPCNT", 3))
USER_TIMEOUT_MS: Final = 30_000

# The event journal's ``record`` (kind, source, ports, user, detail).
Record = Callable[[str, str, tuple[str, ...], str | None, Mapping[str, Any]], object]


def _tune(sock: socket.socket) -> None:
    """Replies are small: no Nagle. A dead peer is noticed: keepalive (where the
    platform has the options; Linux does)."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in (*KEEPALIVE, ("TCP_USER_TIMEOUT", USER_TIMEOUT_MS)):
        option = getattr(socket, name, None)
        if option is not None:
            sock.setsockopt(socket.IPPROTO_TCP, option, value)


def _journal_nothing(*_entry: object) -> None:
    """The ``record`` of a server built without a journal (tests of the wire alone)."""


class UsbipTarget:
    """``TargetBackend`` of one port: its device, and the client that imported it."""

    kind = "usbip"

    def __init__(
        self,
        server: UsbipServer,
        unit: int,
        *,
        keyboard: str = "usb",
        mouse: str = "relative",
        allow: tuple[str, ...] | None = None,
    ) -> None:
        self.unit = unit
        # who may see and import this port, within the listener's list (None: all of it)
        self.allow = allow
        self.device = UsbipDevice(unit, keyboard=keyboard, mouse=mouse)
        self.busid = self.device.record.busid
        self.exported = False
        self._server = server
        self._writer: asyncio.StreamWriter | None = None
        self._client: str | None = None
        self._on_attach: Callable[[bool], None] = lambda _attached: None
        self._logged_stalls = (0, 0)  # the device's queue stalls and recoveries logged

    @property
    def attached(self) -> bool:
        return self._writer is not None

    def admits(self, host: str) -> bool:
        return self.allow is None or admits(self.allow, host)

    def write_keyboard(self, report: bytes) -> None:
        self._send(self.device.push_keyboard(report, time.monotonic()))

    def write_mouse(self, report: bytes) -> None:
        self._send(self.device.push_mouse(report, time.monotonic()))

    def set_output_listener(self, listener: OutputListener) -> None:
        self.device.keyboard.on_output = listener

    def present_edid(self, edid: bytes | None) -> None:
        """A USB device has no video input: nothing to show (SPEC §8: EDID —)."""

    def screen(self) -> bytes | None:
        return None

    def set_attach_listener(self, listener: Callable[[bool], None]) -> None:
        """Hear a client import (True) and detach (False), e.g. to push the port's state."""
        self._on_attach = listener

    def set_storage(self, transport: BulkOnlyTransport | None) -> None:
        """Plug the switch's storage (a disconnected ``BulkOnlyTransport``) into this
        port's mass-storage interface, or take it away (None: an empty card reader)."""
        self._send(self.device.set_storage(transport))

    def view(self) -> dict[str, Any]:
        return {
            "busid": self.busid,
            "exported": self.exported,
            "attached": self.attached,
            "client": self._client,
            **self.device.view(),
        }

    async def start(self) -> None:
        await self._server.start()
        self.exported = True

    async def stop(self) -> None:
        self.exported = False
        writer = self._writer
        self._detach(writer)
        if writer is not None:
            writer.close()
        await self._server.stop_if_idle()

    # -- the session ----------------------------------------------------------------------

    def _attach(self, writer: asyncio.StreamWriter, client: str) -> None:
        self._writer, self._client = writer, client
        self.device.plug()
        log.info("port %d: USB/IP client %s imported %s", self.unit, client, self.busid)
        self._server.journal("usbip_import", client, self.busid, self.unit)
        self._on_attach(True)

    def _detach(self, writer: asyncio.StreamWriter | None) -> None:
        if writer is None or writer is not self._writer:
            return
        client = self._client or ""
        log.info("port %d: USB/IP client %s detached", self.unit, client)
        self._server.journal("usbip_detach", client, self.busid, self.unit)
        self._writer = self._client = None
        self.device.unplug()
        self._on_attach(False)

    def _send(self, completions: list[Completion]) -> None:
        stalls = self.device.stall_counts
        if stalls != self._logged_stalls:  # once per transition, not per report
            if stalls[0] != self._logged_stalls[0]:
                log.warning("port %d: USB/IP host is not polling; dropped its backlog", self.unit)
            if stalls[1] != self._logged_stalls[1]:
                log.info("port %d: USB/IP host polls again (release-all sent)", self.unit)
            self._logged_stalls = stalls
        self._write(b"".join(done.encode() for done in completions))

    def _write(self, data: bytes) -> None:
        writer = self._writer
        if writer is None or not data or writer.is_closing():
            return
        writer.write(data)
        if writer.transport.get_write_buffer_size() > MAX_WRITE_BUFFER:
            log.warning(
                "port %d: USB/IP client %s is not reading; dropped", self.unit, self._client
            )
            writer.transport.abort()

    async def _serve_urbs(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while writer is self._writer:
            cmd = wire.decode_urb_header(await reader.readexactly(wire.URB_HEADER_LENGTH))
            if isinstance(cmd, wire.Unlink):
                unlinked = self.device.unlink(cmd.victim)
                self._write(wire.ret_unlink(cmd.seqnum, wire.ECONNRESET if unlinked else 0))
            else:
                size = cmd.payload_length
                data = await reader.readexactly(size) if size else b""
                if writer is not self._writer:
                    return
                self._send(self.device.submit(cmd, data, time.monotonic()))
            await writer.drain()


class UsbipServer:
    """One USB/IP listener exporting every ``usbip`` port of the daemon."""

    def __init__(
        self,
        host: str = DEFAULT_HOST,
        port: int = wire.DEFAULT_PORT,
        *,
        allow: tuple[str, ...] = LOOPBACK,
        record: Record = _journal_nothing,
    ) -> None:
        self.host, self.port = host, port
        self.allow = allow
        self._record = record
        self._targets: dict[str, UsbipTarget] = {}
        self._server: asyncio.Server | None = None
        self._clients: dict[asyncio.Task[Any], asyncio.StreamWriter] = {}
        self._starting = asyncio.Lock()

    def add_port(
        self,
        unit: int,
        *,
        keyboard: str = "usb",
        mouse: str = "relative",
        allow: tuple[str, ...] | None = None,
    ) -> UsbipTarget:
        """Export port ``unit``; ``allow`` narrows who may see and import it."""
        target = UsbipTarget(self, unit, keyboard=keyboard, mouse=mouse, allow=allow)
        if target.busid in self._targets:
            raise LocalProtocolError(f"port {unit} is already exported over USB/IP")
        self._targets[target.busid] = target
        return target

    @property
    def address(self) -> tuple[str, int]:
        """Where it listens (the real port when configured with port 0)."""
        if self._server is None or not self._server.sockets:
            return self.host, self.port
        host, port = self._server.sockets[0].getsockname()[:2]
        return str(host), int(port)

    async def start(self) -> None:
        """Listen (idempotent: every target's ``start`` calls it)."""
        async with self._starting:
            if self._server is None:
                try:
                    self._server = await asyncio.start_server(self._serve, self.host, self.port)
                except OSError as exc:
                    where = f"{self.host}:{self.port}"
                    raise DeviceError(f"USB/IP cannot listen on {where}: {exc.strerror}") from exc
                log.info("USB/IP server listening on %s:%d", *self.address)

    async def stop_if_idle(self) -> None:
        if not any(target.exported for target in self._targets.values()):
            await self.stop()

    async def stop(self) -> None:
        """Close the listener and every client connection."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in self._clients.values():
            writer.transport.abort()  # their tasks end on the lost connection
        await asyncio.gather(*self._clients, return_exceptions=True)
        if server is not None:
            await server.wait_closed()

    def journal(
        self, kind: str, client: str, busid: str | None, unit: int | None, **detail: str
    ) -> None:
        """One journal entry about ``client`` (``host:port``). ``peer`` is the host alone:
        the noise budget counts refusals per peer, and a scanner must not get a fresh
        budget from each source port it connects from."""
        host, _, port = client.rpartition(":")
        entry: dict[str, Any] = {"peer": host or client, "peer_port": port, **detail}
        if busid is not None:
            entry["busid"] = busid
        ports = (str(unit),) if unit is not None else ()
        try:
            self._record(kind, SOURCE, ports, None, entry)
        except Exception:  # the journal failing must not take the listener down
            log.exception("cannot journal USB/IP %s of %s", kind, client)

    def _refuse(self, client: str, reason: str, busid: str | None = None) -> None:
        found = self._targets.get(busid) if busid is not None else None
        log.info("USB/IP client %s refused: %s", client, reason)
        self.journal("usbip_refused", client, busid, found.unit if found else None, reason=reason)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None  # a connection callback runs in its own task
        peer = writer.get_extra_info("peername")
        client = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        if not isinstance(peer, tuple) or not admits(self.allow, str(peer[0])):
            # before reading anything: an outsider learns nothing, not even the busids
            writer.transport.abort()
            self._refuse(client, "not allowed")
            return
        self._clients[task] = writer
        sock = writer.get_extra_info("socket")
        if sock is not None:
            _tune(sock)
        target: UsbipTarget | None = None
        try:
            code = wire.decode_op_request(await reader.readexactly(wire.OP_HEADER_LENGTH))
            host = str(peer[0])
            if code is wire.OpCode.REQ_DEVLIST:  # only the ports this peer may import
                exported = [
                    t.device.record for t in self._targets.values() if t.exported and t.admits(host)
                ]
                writer.write(wire.devlist_reply(exported))
            else:
                busid = wire.decode_busid(await reader.readexactly(wire.BUSID_LENGTH))
                found = self._targets.get(busid)
                if found is None or not found.exported:
                    self._refuse(client, "unknown busid", busid)
                    writer.write(wire.import_reply(None))
                elif not found.admits(host):  # the same answer: it learns nothing
                    self._refuse(client, "not allowed", busid)
                    writer.write(wire.import_reply(None))
                elif found.attached:
                    self._refuse(client, "port busy", busid)
                    writer.write(wire.import_reply(None))
                else:
                    target = found
                    writer.write(wire.import_reply(target.device.record))
                    target._attach(writer, client)
                    await writer.drain()
                    await target._serve_urbs(reader, writer)
            await writer.drain()
        except (EOFError, OSError, KvmError) as exc:
            log.info("USB/IP client %s: %s", client, exc or type(exc).__name__)
        finally:
            if target is not None:
                target._detach(writer)
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            del self._clients[task]
