"""Byte streams under a serial endpoint: the pty we create, a tty line, a TCP client.

Each hands its bytes to a ``Stream`` (the adapter's session: a core plus its timer)
made by a ``StreamFactory``; none of them knows about dialects.

A ``PtyLink`` opens a pseudo-terminal in raw mode and symlinks its far end (the slave
device, ``/dev/pts/N``) at the configured path, so any terminal program or serial
library can open it. The far end may be opened and closed any number of times: while
nobody has it open the master reads EIO, and we poll for the next opener instead of
spinning on it. Each opener gets a fresh session (logged out).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import os
import tty
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import serial
import serial_asyncio_fast

from kvmswitchd.errors import DeviceError
from kvmswitchd.serial.channel import EventKind
from kvmswitchd.serial.endpoint import EndpointSpec

# How often to look for a terminal opening the pty's far end while nobody has it open.
PTY_REOPEN_POLL = 0.1
# Bytes queued for a peer that does not read. Stops a stalled terminal or TCP client from
# growing our memory without bound: further output is dropped (and reported once).
MAX_OUTPUT_BACKLOG = 64 * 1024
READ_SIZE = 4096


class Stream(Protocol):
    """What a link drives: one session (a core and its timer) per connected peer."""

    def start(self) -> None: ...

    def feed(self, data: bytes) -> None: ...

    def shutdown(self) -> None: ...


# open_stream(write, on_close, set_reading, peer) -> Stream. on_close(reason, rest) is
# called when the core ends; ``rest`` is input it did not read, for the next core on a
# local line. set_reading(False) asks the link to stop reading (the session holds enough
# unread input), set_reading(True) to read on. ``peer`` names a TCP client ("host:port")
# in the session's reports; "" on a line.
CloseHook = Callable[[str, bytes], None]
SetReading = Callable[[bool], None]
StreamFactory = Callable[[Callable[[bytes], None], CloseHook, SetReading, str], Stream]
EventSink = Callable[[str, str], None]


def open_raw_pty() -> tuple[int, int, str]:
    """A new pty in raw mode (no echo or line editing by the kernel): master, slave and
    the slave's path. The slave is made 0600: ``openpty`` leaves it 0620 for group tty, and
    whatever is written to it reaches a serial line or a CH9329 chip of ours."""
    master, slave = os.openpty()
    try:
        tty.setraw(slave)
        os.fchmod(slave, 0o600)
        return master, slave, os.ttyname(slave)
    except BaseException:
        os.close(master)
        os.close(slave)
        raise


def place_symlink(target: str, path: str) -> None:
    """Point ``path`` at ``target``, replacing a stale symlink but never a real file."""
    if os.path.lexists(path) and not os.path.islink(path):
        raise DeviceError(f"refusing to replace {path}: it exists and is not a symlink")
    temp = f"{path}.{os.getpid()}.tmp"
    with contextlib.suppress(FileNotFoundError):
        os.unlink(temp)
    try:
        os.symlink(target, temp)
        os.replace(temp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise DeviceError(f"cannot create symlink {path}: {exc.strerror}") from exc


class PtyLink:
    def __init__(self, path: str, open_stream: StreamFactory, event: EventSink) -> None:
        self.path = path
        self.device: str | None = None  # /dev/pts/N, the far end
        self._open_stream = open_stream
        self._event = event
        self._loop = asyncio.get_running_loop()
        self._master = -1
        self._stream: Stream | None = None
        self._poll: asyncio.Handle | None = None
        self._out = bytearray()
        self._dropping = False
        self._paused = False

    @property
    def connected(self) -> bool:
        return self._stream is not None

    def open(self) -> None:
        master, slave, self.device = open_raw_pty()  # the dialect does echo and editing
        try:
            place_symlink(self.device, self.path)
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(slave)  # settings stay with the pty while the master is open
        os.set_blocking(master, False)
        self._master = master
        self._poll = self._loop.call_soon(self._look_for_opener)

    def close(self) -> None:
        if self._master < 0:
            return
        self._drop_stream()
        if self._poll is not None:
            self._poll.cancel()
            self._poll = None
        os.close(self._master)
        self._master = -1
        with contextlib.suppress(OSError):
            if os.readlink(self.path) == self.device:
                os.unlink(self.path)

    def _look_for_opener(self) -> None:
        self._poll = None
        try:
            data = os.read(self._master, READ_SIZE)
        except BlockingIOError:
            data = b""  # opened, nothing typed yet
        except OSError as exc:
            if exc.errno != errno.EIO:
                self._event(EventKind.DEVICE_LOST, f"{self.path}: {exc.strerror}")
            self._poll = self._loop.call_later(PTY_REOPEN_POLL, self._look_for_opener)
            return
        self._event(EventKind.CONNECTED, f"{self.path}: far end opened")
        self._paused = False
        self._loop.add_reader(self._master, self._readable)
        self._new_stream()
        if data and self._stream is not None:
            self._stream.feed(data)

    def _readable(self) -> None:
        try:
            data = os.read(self._master, READ_SIZE)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:  # EIO: the last opener closed the far end
            self._event(EventKind.DISCONNECTED, f"{self.path}: far end closed")
            self._drop_stream()
            self._poll = self._loop.call_later(PTY_REOPEN_POLL, self._look_for_opener)
            return
        if self._stream is not None:
            self._stream.feed(data)

    def _new_stream(self) -> None:
        self._stream = self._open_stream(self._write, self._restart, self._set_reading, "")
        self._stream.start()

    def _set_reading(self, on: bool) -> None:
        if self._master < 0 or self._stream is None or on != self._paused:
            return  # closed, between openers (the poll reads), or already so
        self._paused = not on
        if on:
            self._loop.add_reader(self._master, self._readable)
        else:
            self._loop.remove_reader(self._master)

    def _restart(self, _reason: str, rest: bytes) -> None:
        """The core finished (quit, logout...): a local line just starts over."""
        self._stream = None
        self._new_stream()
        if rest and self._stream is not None:
            self._stream.feed(rest)

    def _drop_stream(self) -> None:
        self._loop.remove_reader(self._master)
        self._loop.remove_writer(self._master)
        self._out.clear()
        stream, self._stream = self._stream, None  # first: its shutdown must not read on
        if stream is not None:
            stream.shutdown()

    def _write(self, data: bytes) -> None:
        if not self._out:
            try:
                sent = os.write(self._master, data)
            except BlockingIOError:
                sent = 0
            except OSError:
                return  # far end gone; _readable notices
            data = data[sent:]
            if not data:
                return
            self._loop.add_writer(self._master, self._flush)
        if len(self._out) + len(data) > MAX_OUTPUT_BACKLOG:
            if not self._dropping:
                self._event(
                    EventKind.PROTOCOL, f"{self.path}: peer is not reading; dropping output"
                )
            self._dropping = True
            return
        self._out += data

    def _flush(self) -> None:
        try:
            sent = os.write(self._master, self._out)
        except BlockingIOError:
            return
        except OSError:
            sent = len(self._out)
        del self._out[:sent]
        if not self._out:
            self._dropping = False
            self._loop.remove_writer(self._master)


def capped_writer(transport: asyncio.WriteTransport) -> Callable[[bytes], None]:
    """``transport.write`` that drops output beyond MAX_OUTPUT_BACKLOG unread bytes."""

    def write(data: bytes) -> None:
        if transport.get_write_buffer_size() + len(data) <= MAX_OUTPUT_BACKLOG:
            transport.write(data)

    return write


def reading_switch(transport: asyncio.ReadTransport) -> SetReading:
    """``set_reading`` for a transport: pause/resume reading, unless it is closing."""

    def set_reading(on: bool) -> None:
        if transport.is_closing():
            return
        if on:
            transport.resume_reading()
        else:
            transport.pause_reading()

    return set_reading


class TtyLine(asyncio.Protocol):
    """A tty device opened through pyserial-asyncio-fast; ``lost`` resolves when it goes."""

    def __init__(self, open_stream: StreamFactory, lost: asyncio.Future[str]) -> None:
        self._open_stream = open_stream
        self._lost = lost
        self._stream: Stream | None = None
        self._write: Callable[[bytes], None] = lambda _data: None
        self._set_reading: SetReading = lambda _on: None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)  # serial transports are
        self._write = capped_writer(transport)
        self._set_reading = reading_switch(transport)
        self._restart("opened", b"")

    def _restart(self, _reason: str, rest: bytes) -> None:
        """A new core for the line (at open, and after quit/logout/idle)."""
        self._stream = self._open_stream(self._write, self._restart, self._set_reading, "")
        self._stream.start()
        if rest:
            self._stream.feed(rest)

    def data_received(self, data: bytes) -> None:
        if self._stream is not None:
            self._stream.feed(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._stream is not None:
            self._stream.shutdown()
            self._stream = None
        if not self._lost.done():
            self._lost.set_result(str(exc) if exc else "closed")


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a TCP client is not served. ``busy``: the endpoint is full, so the client is
    told ``reply`` and the connection closed in order; otherwise (a stranger) it is
    reset at once and told nothing."""

    reason: str
    busy: bool = False
    reply: bytes = b""


class TcpClient(asyncio.Protocol):
    """One TCP connection; ``admit(host)`` returns a Refusal or None."""

    def __init__(
        self,
        open_stream: StreamFactory,
        admit: Callable[[str], Refusal | None],
        clients: set[asyncio.Transport],
        event: EventSink,
    ) -> None:
        self._open_stream = open_stream
        self._admit = admit
        self._clients = clients
        self._event = event
        self._stream: Stream | None = None
        self._transport: asyncio.Transport | None = None
        self._peer = "?"

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)  # TCP transports are
        peer = transport.get_extra_info("peername") or ("?", 0)
        self._peer = f"{peer[0]}:{peer[1]}"
        refusal = self._admit(str(peer[0]))
        if refusal is not None:
            self._event(EventKind.REFUSED, f"{self._peer}: {refusal.reason}")
            if refusal.busy:
                transport.write(refusal.reply)
                transport.close()  # after the reply is sent
            else:
                transport.abort()
            return
        self._transport = transport
        self._clients.add(transport)
        self._event(EventKind.CONNECTED, self._peer)
        self._stream = self._open_stream(
            capped_writer(transport),
            lambda _reason, _rest: transport.close(),
            reading_switch(transport),
            self._peer,
        )
        self._stream.start()

    def data_received(self, data: bytes) -> None:
        if self._stream is not None:
            self._stream.feed(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._stream is None or self._transport is None:
            return
        self._stream.shutdown()
        self._stream = None
        self._clients.discard(self._transport)
        self._event(EventKind.DISCONNECTED, f"{self._peer}{f': {exc}' if exc else ''}")


async def serve_tty(
    spec: EndpointSpec,
    open_stream: StreamFactory,
    event: EventSink,
    retry: tuple[float, float],
) -> None:
    """Keep the tty of ``spec`` open: retry with back-off (``retry`` = first and longest
    wait) while it is missing, and again after it disappears. Runs until cancelled."""
    assert spec.path is not None  # the parser sets it for tty endpoints
    loop = asyncio.get_running_loop()
    delay, reported = retry[0], False
    while True:
        lost: asyncio.Future[str] = loop.create_future()
        try:
            transport, _ = await serial_asyncio_fast.create_serial_connection(
                loop,
                functools.partial(TtyLine, open_stream, lost),
                spec.path,
                baudrate=spec.baud,
                bytesize=spec.bytesize,
                parity=spec.parity,
                stopbits=spec.stopbits,
                exclusive=True,
            )
        except (OSError, serial.SerialException) as exc:
            if not reported:
                event(EventKind.DEVICE_MISSING, f"{spec.path}: {exc}; retrying")
            reported = True
            await asyncio.sleep(delay)
            delay = min(delay * 2, retry[1])
            continue
        delay, reported = retry[0], False
        event(EventKind.DEVICE_OPEN, spec.path)
        try:
            reason = await asyncio.shield(lost)  # being cancelled must not cancel ``lost``
        finally:
            if not transport.is_closing():
                transport.abort()  # we are being stopped
            await lost  # connection_lost always resolves it, after closing the device
        event(EventKind.DEVICE_LOST, f"{spec.path}: {reason}")
