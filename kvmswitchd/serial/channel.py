"""What a serial core asks its adapter to do, and the sequencing every dialect shares.

Cores are sans-IO (HOUSE-STYLE §1): ``receive_data(bytes, now)`` and ``complete(...)``
return a list of actions; the adapter performs them (write bytes, run a command on the
bus, check a login, close the stream) and feeds results back. Time comes in as ``now``;
``next_deadline()`` / ``handle_timer(now)`` drive idle timeouts, leases and guard times.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from kvmswitchd.core.commands import Command, Origin, Outcome, Source

# Input held while a request is out (commands are carried out one at a time, in order).
# Stops a peer that streams faster than the switch answers from growing our memory: the
# excess is dropped and reported. (The adapter never gets here: it holds input in its own
# inbox while a request is out and pauses the link instead.)
MAX_BACKLOG = 4096
# Characters of peer-supplied text (an unknown command, a user name) quoted back in a
# reply or an event; stops a peer from making us echo or log long strings.
MAX_QUOTE = 32


class EventKind(enum.StrEnum):
    """Kinds of ``on_event(kind, detail)`` reports (cores' Notices and the adapter's own)."""

    LOGIN = "login"
    LOGIN_FAILED = "login_failed"
    LOGOUT = "logout"
    PROTOCOL = "protocol"  # garbage skipped, over-long input, dropped backlog
    LEASE = "lease"  # ATEN link opened / closed / expired
    MODEM = "modem"  # modem initialised, not answering, result errors
    CALL = "call"  # ring, connect, hang-up
    DEVICE_OPEN = "device_open"
    DEVICE_MISSING = "device_missing"
    DEVICE_LOST = "device_lost"
    CONNECTED = "connected"  # a TCP client or a terminal on the pty's far end
    DISCONNECTED = "disconnected"
    REFUSED = "refused"  # TCP peer outside the allow-list, or too many clients
    ERROR = "error"  # the bus raised; the channel carries on


@dataclass(frozen=True, slots=True)
class Send:
    """Write these bytes to the peer."""

    data: bytes


@dataclass(frozen=True, slots=True)
class Execute:
    """Run ``command`` on the bus; call ``complete(request_id, outcome, now)`` after."""

    request_id: int
    command: Command
    origin: Origin


@dataclass(frozen=True, slots=True)
class Authenticate:
    """Check a login on the bus; call ``complete(request_id, LoginResult(user), now)``."""

    request_id: int
    user: str
    password: str = field(repr=False)
    origin: Origin


@dataclass(frozen=True, slots=True)
class Close:
    """This core is finished (quit, logout, idle, too many failed logins).

    A TCP adapter closes the connection; a local line starts a fresh core and feeds it
    ``rest``, the input that arrived after the closing command (so how the input was
    chunked never changes what happens to it).
    """

    reason: str
    rest: bytes = b""


@dataclass(frozen=True, slots=True)
class Notice:
    """Something worth logging; the adapter passes it to ``on_event``."""

    kind: EventKind
    detail: str


Action = Send | Execute | Authenticate | Close | Notice


@dataclass(frozen=True, slots=True)
class LoginResult:
    """What ``CommandBus.authenticate`` said: the user name, or None for a refusal."""

    user: str | None


Result = Outcome | LoginResult


class ChannelCore(Protocol):
    """A dialect core, or the modem core wrapping one."""

    def start(self, now: float) -> list[Action]:
        """The stream is up: greeting, login prompt, modem initialisation."""
        ...

    def receive_data(self, data: bytes, now: float) -> list[Action]: ...

    def complete(self, request_id: int, result: Result, now: float) -> list[Action]: ...

    def next_deadline(self) -> float | None: ...

    def handle_timer(self, now: float) -> list[Action]: ...

    def hang_up(self, now: float) -> list[Action]:
        """The stream is gone (peer left, line lost, call ended): the last requests to
        make, answered to nobody (an ATEN session gives its control lease back)."""
        ...


@runtime_checkable
class FocusWatcher(Protocol):
    """A core that tells its peer when the input changes from another channel (tesmart)."""

    def focus_changed(self, now: float) -> list[Action]: ...


def quote(text: str, limit: int = MAX_QUOTE) -> str:
    """Peer or config text made safe to print on a terminal line: no controls, capped."""
    clean = "".join(ch if ch.isprintable() else "?" for ch in text[:limit])
    return clean + ("..." if len(text) > limit else "")


def emit(out: list[Action], data: bytes) -> None:
    """Append ``data`` to ``out``, joining it onto a directly preceding Send."""
    if not data:
        return
    if out and isinstance(out[-1], Send):
        out[-1] = Send(out[-1].data + data)
    else:
        out.append(Send(data))


class ChannelBase:
    """Sequencing shared by the dialects: one request out at a time, a capped backlog,
    request ids, the logged-in user, and an optional idle timeout.

    Subclasses implement ``_byte`` (parse one input byte), ``_completed`` (format the
    reply to a finished request) and may add a deadline of their own.
    """

    def __init__(self, *, channel: str, idle_timeout: float | None = None) -> None:
        self.channel = channel
        self.user: str | None = None
        self.closed = False
        self._idle_timeout = idle_timeout
        self._backlog = bytearray()
        self._waiting: int | None = None
        self._next_id = 0
        self._engaged = False  # idle timing starts with the first byte from the peer
        self._last_input = 0.0

    # -- the ChannelCore interface ------------------------------------------------------

    def start(self, now: float) -> list[Action]:
        self._last_input = now
        out: list[Action] = []
        self._greet(out)
        return out

    def receive_data(self, data: bytes, now: float) -> list[Action]:
        if self.closed or not data:
            return []
        self._last_input = now
        self._engaged = True
        self._backlog += data
        out = self._drain(now)
        if len(self._backlog) > MAX_BACKLOG:
            dropped = len(self._backlog) - MAX_BACKLOG
            del self._backlog[MAX_BACKLOG:]
            out.append(Notice(EventKind.PROTOCOL, f"input backlog full, dropped {dropped} bytes"))
        return out

    def complete(self, request_id: int, result: Result, now: float) -> list[Action]:
        if self.closed or request_id != self._waiting:
            return []  # stale: not the request this core is waiting for
        self._waiting = None
        out: list[Action] = []
        self._completed(result, now, out)
        out += self._drain(now)
        return out

    def next_deadline(self) -> float | None:
        if self.closed:
            return None
        own = self._deadline()
        idle = self._idle_deadline()
        if own is None or idle is None:
            return own if idle is None else idle
        return min(own, idle)

    def handle_timer(self, now: float) -> list[Action]:
        out: list[Action] = []
        if self.closed:
            return out
        idle = self._idle_deadline()
        if idle is not None and now >= idle:
            self._idle_expired(out)
            self._close("idle timeout", out)
            return out
        self._timer(now, out)
        return out

    def hang_up(self, now: float) -> list[Action]:  # noqa: ARG002 - the ChannelCore signature
        return []

    # -- for subclasses -----------------------------------------------------------------

    def _byte(self, byte: int, now: float, out: list[Action]) -> None:
        raise NotImplementedError

    def _bytes(self, buf: bytearray, start: int, now: float, out: list[Action]) -> int:
        """Parse input from ``buf[start]`` on; return how many bytes were used (at least
        one). A subclass may take a run of bytes at once where it ends no command."""
        self._byte(buf[start], now, out)
        return 1

    def _completed(self, result: Result, now: float, out: list[Action]) -> None:
        raise NotImplementedError

    def _greet(self, out: list[Action]) -> None:
        """What to send when the stream comes up (nothing by default)."""

    def _deadline(self) -> float | None:
        return None

    def _timer(self, now: float, out: list[Action]) -> None:
        """A deadline of the subclass may have passed."""

    def _idle_expired(self, out: list[Action]) -> None:
        """Say goodbye before an idle close (nothing by default)."""

    def _origin(self) -> Origin:
        return Origin(Source.SERIAL, detail=self.channel, user=self.user)

    def _request(self, command: Command, out: list[Action]) -> None:
        self._next_id += 1
        self._waiting = self._next_id
        out.append(Execute(self._next_id, command, self._origin()))

    def _authenticate(self, user: str, password: str, out: list[Action]) -> None:
        self._next_id += 1
        self._waiting = self._next_id
        out.append(Authenticate(self._next_id, user, password, self._origin()))

    def _close(self, reason: str, out: list[Action]) -> None:
        self.closed = True
        out.append(Close(reason))  # _drain adds the unread input as ``rest``

    # -- internals ----------------------------------------------------------------------

    def _idle_deadline(self) -> float | None:
        if self._idle_timeout is None or not self._engaged or self._waiting is not None:
            return None
        return self._last_input + self._idle_timeout

    def _drain(self, now: float) -> list[Action]:
        out: list[Action] = []
        buf = self._backlog
        used = 0
        while used < len(buf) and self._waiting is None and not self.closed:
            used += self._bytes(buf, used, now, out)
        if self.closed and used < len(buf):
            for i in range(len(out) - 1, -1, -1):
                if isinstance(action := out[i], Close):
                    out[i] = Close(action.reason, bytes(buf[used:]))
                    break
            used = len(buf)
        del buf[:used]
        return out
