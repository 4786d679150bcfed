"""Fakes for the serial tests: an in-memory switch behind the CommandBus protocol, a
synchronous driver for sans-IO cores, and an async peer on a pty master."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections import deque
from collections.abc import Callable

from kvmswitchd.core.commands import (
    Command,
    GetLog,
    GetStatus,
    HoldLease,
    LogLine,
    Origin,
    Outcome,
    PortView,
    ReleaseLease,
    Rename,
    SetScan,
    StatusView,
    Step,
    SwitchTo,
)
from kvmswitchd.serial.channel import (
    Action,
    Authenticate,
    ChannelCore,
    Close,
    Execute,
    LoginResult,
    Notice,
    Send,
)

CHANNELS = ("km", "video", "audio", "usb")
USERS = {"alice": "secret", "bob": "hunter2"}
WAIT = 5.0  # a safety net for awaits on real I/O, never an assertion on timing


class FakeSwitch:
    """A CommandBus over an in-memory port list."""

    def __init__(self, ports: int = 4) -> None:
        self.names = {str(i): f"Port {i}" for i in range(1, ports + 1)}
        self.focus = dict.fromkeys(CHANNELS, "1")
        self.scanning = False
        self.log: list[LogLine] = []
        self.calls: list[tuple[Command, Origin]] = []
        self.logins: list[tuple[str, Origin]] = []

    def run(self, command: Command, origin: Origin) -> Outcome:
        self.calls.append((command, origin))
        match command:
            case SwitchTo(port, channels, _force):
                if port.partition(".")[0] not in self.names:
                    return Outcome(ok=False, error="unknown_port", message=f"no port {port}")
                for ch in channels or CHANNELS:
                    self.focus[ch] = port
                self.log.append(LogLine(1_700_000_000.0 + len(self.log), "switch", f"to {port}"))
                return Outcome(ok=True, message=f"switched to {port}")
            case Step(direction):
                ids = list(self.names)
                here = ids.index(self.focus["km"].partition(".")[0])
                port = ids[(here + direction) % len(ids)]
                for ch in CHANNELS:
                    self.focus[ch] = port
                return Outcome(ok=True, message=f"switched to {port}")
            case SetScan(on, _dwell):
                self.scanning = on
                return Outcome(ok=True)
            case Rename(port, name):
                if port not in self.names:
                    return Outcome(ok=False, error="unknown_port", message=f"no port {port}")
                self.names[port] = name
                return Outcome(ok=True)
            case GetStatus():
                return Outcome(ok=True, status=self.status())
            case GetLog(limit):
                return Outcome(ok=True, log=tuple(self.log[-limit:]))
            case HoldLease() | ReleaseLease():
                return Outcome(ok=True)  # one session: the switchboard's table is tested apart
        return Outcome(ok=False, error="bad_request")

    def status(self) -> StatusView:
        ports = tuple(PortView(i, n) for i, n in self.names.items())
        return StatusView(ports=ports, focus=dict(self.focus), scanning=self.scanning)

    def check(self, user: str, password: str, origin: Origin) -> str | None:
        self.logins.append((user, origin))
        return user if USERS.get(user) == password else None

    async def execute(self, command: Command, origin: Origin) -> Outcome:
        return self.run(command, origin)

    async def authenticate(self, user: str, password: str, origin: Origin) -> str | None:
        return self.check(user, password, origin)

    def executed(self) -> list[Command]:
        """The switching commands run (not reads, not lease renewals)."""
        skipped = GetStatus | GetLog | HoldLease | ReleaseLease
        return [c for c, _ in self.calls if not isinstance(c, skipped)]


class Driver:
    """Runs a sans-IO core against a FakeSwitch synchronously, as the adapter would.

    A Close starts a fresh core (like a local line). With ``auto=False`` requests wait
    in ``pending`` until ``finish()``.
    """

    def __init__(
        self,
        make: Callable[[], ChannelCore],
        switch: FakeSwitch | None = None,
        *,
        now: float = 1000.0,
        auto: bool = True,
    ) -> None:
        self.make = make
        self.core = make()
        self.switch = switch or FakeSwitch()
        self.now = now
        self.auto = auto
        self.closes: list[str] = []
        self.notices: list[Notice] = []
        self.requests: list[Execute | Authenticate] = []
        self.pending: deque[Execute | Authenticate] = deque()

    def start(self) -> bytes:
        return self._run(self.core.start(self.now))

    def feed(self, data: bytes) -> bytes:
        return self._run(self.core.receive_data(data, self.now))

    def feed_chunks(self, chunks: list[bytes]) -> bytes:
        return b"".join(self.feed(c) for c in chunks)

    def tick(self, now: float) -> bytes:
        self.now = now
        return self._run(self.core.handle_timer(now))

    def finish(self) -> bytes:
        request = self.pending.popleft()
        return self._run(self.core.complete(request.request_id, self._answer(request), self.now))

    def run(self, actions: list[Action]) -> bytes:
        """Carry out actions the test got from the core directly (its own hooks)."""
        return self._run(actions)

    def complete(self, result: Outcome | LoginResult) -> bytes:
        """Finish the oldest pending request with ``result`` (not the switch's answer)."""
        request = self.pending.popleft()
        return self._run(self.core.complete(request.request_id, result, self.now))

    def _answer(self, request: Execute | Authenticate) -> Outcome | LoginResult:
        if isinstance(request, Execute):
            return self.switch.run(request.command, request.origin)
        return LoginResult(self.switch.check(request.user, request.password, request.origin))

    def _run(self, actions: list[Action]) -> bytes:
        out = bytearray()
        queue = deque(actions)
        while queue:
            action = queue.popleft()
            match action:
                case Send(data):
                    out += data
                case Execute() | Authenticate():
                    self.requests.append(action)
                    if self.auto:
                        result = self._answer(action)
                        queue.extend(self.core.complete(action.request_id, result, self.now))
                    else:
                        self.pending.append(action)
                case Notice():
                    self.notices.append(action)
                case Close(reason, rest):
                    self.closes.append(reason)
                    for last in self.core.hang_up(self.now):  # as the adapter does
                        if isinstance(last, Execute):
                            self.requests.append(last)
                            self.switch.run(last.command, last.origin)
                    self.core = self.make()
                    queue.clear()
                    queue.extend(self.core.start(self.now))
                    if rest:
                        queue.extend(self.core.receive_data(rest, self.now))
        return bytes(out)


class PtyPeer:
    """The far side of a pty master, read asynchronously: a terminal, or a modem."""

    def __init__(self, master: int, on_data: Callable[[bytes], None] | None = None) -> None:
        self.master = master
        self.buffer = bytearray()
        self._on_data = on_data
        self._changed = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        os.set_blocking(master, False)
        self._loop.add_reader(master, self._readable)

    def _readable(self) -> None:
        try:
            data = os.read(self.master, 4096)
        except OSError:
            return
        if self._on_data is not None:
            self._on_data(data)
        else:
            self.buffer += data
        self._changed.set()

    def notify(self) -> None:
        self._changed.set()

    def write(self, data: bytes) -> None:
        os.write(self.master, data)

    async def wait_for(self, check: Callable[[], bool]) -> None:
        async with asyncio.timeout(WAIT):
            while not check():
                self._changed.clear()
                await self._changed.wait()

    async def expect(self, pattern: bytes) -> bytes:
        """Wait until ``pattern`` arrived; return (and consume) everything up to its end."""
        await self.wait_for(lambda: pattern in self.buffer)
        end = self.buffer.index(pattern) + len(pattern)
        seen = bytes(self.buffer[:end])
        del self.buffer[:end]
        return seen

    def close(self) -> None:
        self._loop.remove_reader(self.master)
        with contextlib.suppress(OSError):
            os.close(self.master)


async def assert_nothing_left_running() -> None:
    """Fail a test that leaves a task or a timer of ours behind after stop()."""
    await asyncio.sleep(0)  # let done-callbacks run
    current = asyncio.current_task()
    left = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
    assert left == [], left
    loop = asyncio.get_running_loop()
    timers = [h for h in getattr(loop, "_scheduled", []) if not h.cancelled()]
    assert timers == []


class Events:
    """An on_event sink that tests can await."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []
        self._changed = asyncio.Event()

    def __call__(self, kind: str, detail: str) -> None:
        self.seen.append((kind, detail))
        self._changed.set()

    def count(self, kind: str) -> int:
        return sum(1 for k, _ in self.seen if k == kind)

    def details(self, kind: str) -> list[str]:
        return [d for k, d in self.seen if k == kind]

    async def wait(self, kind: str, count: int = 1) -> None:
        await self.wait_for(lambda: self.count(kind) >= count)

    async def wait_for(self, check: Callable[[], bool]) -> None:
        async with asyncio.timeout(WAIT):
            while not check():
                self._changed.clear()
                await self._changed.wait()
