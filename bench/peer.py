"""The bench's peer processes: ``python -m bench.peer ROLE JSON-ARGS``.

- ``writer`` plays a console keyboard: it writes ``struct input_event`` records (a key
  change and its ``SYN_REPORT``; the record's timestamp is its ``CLOCK_MONOTONIC`` send
  time) into a FIFO, paced at ``rate`` events/s, or as fast as the pipe takes them.
- ``reader`` plays the target computers: it creates FIFOs, keeps them open (read and
  write, so they never see end-of-file), and records when each report arrives.
- ``ws`` plays websocket clients (raw sockets, no client library in the way) and
  records when each receives a switch event.
- ``chip`` plays a CH9329 cable: the emulated chip (sans-IO) on a pty whose far end is
  symlinked at ``link``; it records when each keyboard report is decoded.
- ``flood`` plays a hostile serial client: ``size`` bytes of over-long lines into a TCP
  serial endpoint's login prompt as fast as the daemon takes them (reading every reply,
  so none is dropped), then one short line whose ``password:`` prompt marks the end.

Each prints ``ready`` when set up; readers stop when their stdin closes. Results go to
the JSON file named by ``out``. These processes are kept lean (no asyncio) so their own
cost stays in the floor.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import select
import socket
import sys
import time
import zlib
from pathlib import Path
from typing import Any

from kvmswitchd.console.records import EV_KEY, EV_SYN, RECORD, SYN_REPORT

# KEY_A..KEY_Z (evdev codes): the writer cycles through them, press then release.
KEYS = (30, 48, 46, 32, 18, 33, 34, 35, 23, 36, 37, 38, 50, 49, 24, 25, 16, 19, 31, 20, 22, 47)
EVENT_SIZE = 2 * RECORD.size  # a key change plus its SYN_REPORT
BLAST_EVENTS = 1364  # events per write when saturating (≈ 64 KiB, one pipe buffer)
SWITCH_MARK = (b'"kind": "switch"', b'"kind":"switch"')


def event(index: int, t_ns: int = 0) -> bytes:
    """Event ``index`` of the writer's sequence: press or release of a cycling key."""
    code = KEYS[(index >> 1) % len(KEYS)]
    sec, usec = divmod(t_ns // 1000, 1_000_000)
    return RECORD.pack(sec, usec, EV_KEY, code, (index & 1) ^ 1) + RECORD.pack(
        sec, usec, EV_SYN, SYN_REPORT, 0
    )


def sent_ns(record_pair: bytes) -> int:
    """The send time a writer put in an event's timestamp (microsecond resolution)."""
    sec, usec, *_ = RECORD.unpack_from(record_pair)
    return int(sec) * 1_000_000_000 + int(usec) * 1000


def ready() -> None:
    sys.stdout.write("ready\n")
    sys.stdout.flush()


def save(out: str, data: Any) -> None:
    Path(out).write_text(json.dumps(data))


# -- writer -------------------------------------------------------------------------------


def writer(args: dict[str, Any]) -> None:
    """Paced (``rate`` > 0): ``count`` events into each of ``paths``, taking turns (so
    every path sees the same moments of a noisy machine), ``rate`` events/s per path, one
    event per write at fixed deadlines; the send times are saved per path.
    Saturating (``rate`` 0): ``count`` events into the first path in pre-built 64 KiB
    writes; the start and end times are saved."""
    count: int = args["count"]
    rate: float = args["rate"]
    fds = [os.open(path, os.O_WRONLY) for path in args["paths"]]
    ready()
    if rate <= 0:
        chunk = b"".join(event(i) for i in range(BLAST_EVENTS))
        start = time.monotonic_ns()
        left = count
        while left > 0:
            n = min(left, BLAST_EVENTS)
            os.write(fds[0], chunk if n == BLAST_EVENTS else chunk[: n * EVENT_SIZE])
            left -= n
        save(args["out"], {"start": start, "end": time.monotonic_ns()})
        return
    interval = 1e9 / rate / len(fds)
    sends: list[list[int]] = [[] for _ in fds]
    begin = time.monotonic_ns() + 2_000_000
    for i in range(count * len(fds)):
        due = begin + int(i * interval)
        wait = due - time.monotonic_ns()
        if wait > 0:
            time.sleep(wait / 1e9)
        which, k = i % len(fds), i // len(fds)
        t = time.monotonic_ns()
        os.write(fds[which], event(k, t))
        sends[which].append(t)
    save(args["out"], {"sends": sends})


# -- reader -------------------------------------------------------------------------------


def reader(args: dict[str, Any]) -> None:
    """Record arrivals on ``fifos`` (each with its report ``sizes``) until stdin closes.
    With ``count_only`` just the bytes per FIFO and the first and last arrival. With
    ``probe``, a report on a FIFO listed in ``probe_on`` makes the reader write the
    ``probe`` bytes into the ``probe_to`` FIFO at once (before recording anything)."""
    paths = [Path(p) for p in args["fifos"]]
    sizes: list[int] = args["sizes"]
    count_only: bool = args.get("count_only", False)
    probe = bytes.fromhex(args.get("probe", ""))
    probe_on = set(args.get("probe_on", ()))
    # read-write, so it opens before the daemon reads it (we only ever write to it)
    probe_fd = os.open(args["probe_to"], os.O_RDWR) if probe else -1
    fds = []
    for path in paths:
        if not path.exists():
            os.mkfifo(path)
        # read-write: the FIFO always has a writer (us), so it never reports end-of-file,
        # and a writer opening it non-blocking always finds a reader
        fds.append(os.open(path, os.O_RDWR | os.O_NONBLOCK))
    index = {fd: i for i, fd in enumerate(fds)}
    poller = select.epoll()
    for fd in fds:
        poller.register(fd, select.EPOLLIN)
    poller.register(0, select.EPOLLIN)
    times: list[int] = []
    which: list[int] = []
    reports: list[str] = []
    totals = [0] * len(fds)
    probes: list[int] = []
    first = last = 0
    ready()
    running = True
    while running:
        for fd, _mask in poller.poll():
            t = time.monotonic_ns()
            if fd == 0:
                running = False
                continue
            i = index[fd]
            if i in probe_on:
                os.write(probe_fd, probe)
                probes.append(t)
            with contextlib.suppress(BlockingIOError):
                while data := os.read(fd, 1 << 16):
                    totals[i] += len(data)
                    if count_only:
                        first = first or t
                        last = t
                        continue
                    size = sizes[i]
                    for offset in range(0, len(data), size):
                        times.append(t)
                        which.append(i)
                        reports.append(data[offset : offset + size].hex())
    save(
        args["out"],
        {
            "times": times,
            "which": which,
            "reports": reports,
            "probes": probes,
            "bytes": totals,
            "first": first,
            "last": last,
        },
    )


# -- websocket clients --------------------------------------------------------------------


class WsClient:
    """A minimal websocket client: handshake, unmasked server frames, pongs. It offers
    permessage-deflate as browsers do, and inflates what the server compressed."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET /api/v1/ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n"
                "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n"
            ).encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("websocket handshake: connection closed")
            head += chunk
        status, _, rest = head.partition(b"\r\n\r\n")
        if b" 101 " not in status.split(b"\r\n", 1)[0]:
            raise ConnectionError(f"websocket handshake refused: {status[:80]!r}")
        self.buf = bytearray(rest)
        self.inflate = zlib.decompressobj(-zlib.MAX_WBITS)  # the server keeps its context
        self.messages = 0
        self.switches: list[int] = []
        self.sock.setblocking(False)

    def receive(self, t: int) -> None:
        with contextlib.suppress(BlockingIOError):
            while chunk := self.sock.recv(1 << 16):
                self.buf += chunk
        self._frames(t)

    def _frames(self, t: int) -> None:
        buf = self.buf
        while len(buf) >= 2:
            opcode, length, start = buf[0] & 0x0F, buf[1] & 0x7F, 2
            if length == 126:
                if len(buf) < 4:
                    return
                length, start = int.from_bytes(buf[2:4], "big"), 4
            elif length == 127:
                if len(buf) < 10:
                    return
                length, start = int.from_bytes(buf[2:10], "big"), 10
            if len(buf) < start + length:
                return
            payload = bytes(buf[start : start + length])
            compressed = buf[0] & 0x40  # RSV1: permessage-deflate
            del buf[: start + length]
            if compressed:
                payload = self.inflate.decompress(payload + b"\x00\x00\xff\xff")
            if opcode == 0x9:  # ping: answer with a masked pong
                mask = os.urandom(4)
                masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
                self.sock.sendall(bytes((0x8A, 0x80 | len(payload))) + mask + masked)
            elif opcode == 0x1:
                self.messages += 1
                if any(mark in payload for mark in SWITCH_MARK):
                    self.switches.append(t)


def ws(args: dict[str, Any]) -> None:
    """``clients`` websocket connections; ready once each has its first state message."""
    clients = [WsClient(args["port"]) for _ in range(args["clients"])]
    by_fd = {c.sock.fileno(): c for c in clients}
    poller = select.epoll()
    for fd in by_fd:
        poller.register(fd, select.EPOLLIN)
    while any(c.messages == 0 for c in clients):
        for fd, _mask in poller.poll(5.0):
            by_fd[fd].receive(time.monotonic_ns())
    poller.register(0, select.EPOLLIN)
    ready()
    running = True
    while running:
        for fd, _mask in poller.poll():
            t = time.monotonic_ns()
            if fd == 0:
                running = False
            else:
                by_fd[fd].receive(t)
    save(args["out"], {"switches": [c.switches for c in clients]})
    for c in clients:
        c.sock.close()


# -- flood --------------------------------------------------------------------------------

FLOOD_LINE = b"x" * 300 + b"\r\n"  # longer than a text command line may be: ERR, no login
FLOOD_END, FLOOD_MARK = b"bench\r\n", b"password: "


def flood(args: dict[str, Any]) -> None:
    """Send ``size`` bytes of FLOOD_LINE, then FLOOD_END; save when the daemon's answer
    to FLOOD_END (FLOOD_MARK) arrived, i.e. when it had parsed all of it."""
    sock = socket.create_connection(("127.0.0.1", args["port"]))
    replies = bytearray()
    while b"login: " not in replies:
        replies += sock.recv(65536)
    lines = args["size"] // len(FLOOD_LINE)
    data = memoryview(FLOOD_LINE * lines + FLOOD_END)
    sock.setblocking(False)
    ready()
    start = time.monotonic_ns()
    sent, tail = 0, b""
    while True:
        want_write = [sock] if sent < len(data) else []
        readable, writable, _ = select.select([sock], want_write, [], 30.0)
        if not readable and not writable:
            raise RuntimeError(f"flood: the daemon stopped answering after {sent} bytes")
        if writable:
            sent += sock.send(data[sent : sent + 65536])
        if readable:
            chunk = sock.recv(262144)
            if not chunk:
                raise RuntimeError(f"flood: the daemon closed the connection after {sent} bytes")
            tail = (tail + chunk)[-64:]
            if sent == len(data) and FLOOD_MARK in tail:
                break
    save(args["out"], {"start": start, "end": time.monotonic_ns(), "bytes": len(data)})
    sock.close()


# -- CH9329 chip --------------------------------------------------------------------------


def chip(args: dict[str, Any]) -> None:
    """An emulated CH9329 on a pty at ``link`` until stdin closes or ``expect`` keyboard
    reports have come (no asyncio: a poll loop whose timeout is the chip's packet-gap
    deadline)."""
    import tty

    from kvmswitchd.serial.links import place_symlink
    from kvmswitchd.targets.ch9329_chip import EmulatedChip

    emulated = EmulatedChip(packet_gap=0.05)
    computer = emulated.computer
    master, slave = os.openpty()
    tty.setraw(slave)
    place_symlink(os.ttyname(slave), args["link"])
    os.set_blocking(master, False)
    poller = select.epoll()
    poller.register(master, select.EPOLLIN)
    poller.register(0, select.EPOLLIN)
    times: list[int] = []
    expect: int = args.get("expect", 0)
    ready()
    running = True
    while running and not (expect and len(times) >= expect):
        deadline = emulated.next_deadline()
        timeout = -1.0 if deadline is None else max(0.0, deadline - time.monotonic())
        events = poller.poll(timeout)
        t = time.monotonic_ns()
        if not events:
            os.write(master, emulated.handle_timer(t / 1e9))
        for fd, _mask in events:
            if fd == 0:
                running = False
                continue
            with contextlib.suppress(BlockingIOError):
                data = os.read(master, 1 << 16)
                before = computer.keyboard_reports
                reply = emulated.receive_data(data, t / 1e9)
                times += [t] * (computer.keyboard_reports - before)
                if reply:
                    os.write(master, reply)
    save(args["out"], {"times": times, "text": computer.screen.text[-200:]})
    os.close(master)
    os.close(slave)


def main() -> None:
    role, raw = sys.argv[1], sys.argv[2]
    roles = {"writer": writer, "reader": reader, "ws": ws, "flood": flood, "chip": chip}
    roles[role](json.loads(raw))


if __name__ == "__main__":
    main()
