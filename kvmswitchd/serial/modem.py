"""The Hayes modem dialogue (reference §2.5), sans-IO, wrapping a dialect core per call.

Toward the modem the line is in one of the Hayes states: command mode (initialising,
idle, hanging up), ringing, online data, online command (after the ``+++`` escape). On
``CONNECT`` a fresh dialect core is made for the caller (so every call starts logged out);
in online data every byte goes to it, except that ``NO CARRIER`` ends the call. Logout,
quit, an idle caller or a lost carrier hang up: guard time, ``+++``, guard time, ``ATH``;
then the init strings run again, leaving a clean modem for the next caller.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence

from kvmswitchd.serial.channel import (
    Action,
    Authenticate,
    ChannelCore,
    Close,
    EventKind,
    Execute,
    Notice,
    Result,
    Send,
    quote,
)

DEFAULT_INIT = ("ATZ", "ATE0", "ATS0=1")
# One result line from the modem (``CONNECT 115200/ARQ/V34/LAPM/V42BIS`` is 34 bytes).
# Stops a noisy line in command mode from growing memory; longer lines are dropped.
MAX_RESULT_LINE = 64
INIT_TIMEOUT = 3.0  # seconds to wait for the reply to one init string
INIT_RETRY = 10.0  # then wait this long before initialising again
RING_TIMEOUT = 30.0  # RING without CONNECT: back to idle
# After "+++" the modem waits one guard time, then says OK: wait that, plus this much.
ESCAPE_SLACK = 0.25
HANGUP_TIMEOUT = 5.0  # how long to wait for OK to ATH
NO_CARRIER = b"NO CARRIER"
CR, LF = 0x0D, 0x0A
NUMERIC = {"0": "OK", "1": "CONNECT", "2": "RING", "3": "NO CARRIER", "4": "ERROR"}


class ModemState(enum.Enum):
    INIT = "init"  # command mode: sending the init strings
    RETRY = "retry"  # command mode: the modem did not answer; waiting to retry
    IDLE = "idle"  # command mode: waiting for RING
    RINGING = "ringing"  # RING seen, CONNECT expected (auto-answer, ATS0=n)
    ONLINE_DATA = "online_data"  # a caller is connected to the dialect
    GUARD = "guard"  # hanging up: silence before "+++"
    ONLINE_COMMAND = "online_command"  # "+++" sent, waiting for OK
    HANGING_UP = "hanging_up"  # ATH sent, waiting for OK


class ModemLine:
    """A ChannelCore for a line with a Hayes modem on it; ``dialect`` makes one per call."""

    def __init__(
        self,
        dialect: Callable[[], ChannelCore],
        *,
        init: Sequence[str] = DEFAULT_INIT,
        guard: float = 1.0,
        idle_timeout: float | None = 300.0,
    ) -> None:
        self.state = ModemState.INIT
        self.rate = ""
        self._factory = dialect
        self._init = tuple(init)
        self._guard = guard
        self._idle_timeout = idle_timeout
        self._init_index = 0
        self._deadline: float | None = None
        self._line = bytearray()
        self._overflow = False
        self._skip_lf = False  # the LF after the CR that ended the CONNECT line
        self._dialect: ChannelCore | None = None
        self._generation = 0
        self._requests: dict[int, tuple[int, int]] = {}  # our id -> (generation, dialect's id)
        self._next_id = 0
        self._tail = b""  # the end of the last data chunk, to find NO CARRIER across chunks
        self._last_data = 0.0

    @property
    def dialect(self) -> ChannelCore | None:
        """The current caller's dialect core (None between calls)."""
        return self._dialect

    # -- ChannelCore --------------------------------------------------------------------

    def start(self, now: float) -> list[Action]:
        return self._begin_init(now)

    def receive_data(self, data: bytes, now: float) -> list[Action]:
        out: list[Action] = []
        i = 0
        while i < len(data):
            if self.state is ModemState.ONLINE_DATA:
                out += self._data(data[i:], now)
                break
            self._command_byte(data[i], now, out)
            i += 1
        return out

    def complete(self, request_id: int, result: Result, now: float) -> list[Action]:
        generation, inner = self._requests.pop(request_id, (-1, 0))
        if generation != self._generation or self._dialect is None:
            return []  # the call it belonged to is over
        return self._from_dialect(self._dialect.complete(inner, result, now), now)

    def next_deadline(self) -> float | None:
        candidates = [self._deadline]
        if self.state is ModemState.ONLINE_DATA and self._dialect is not None:
            candidates.append(self._dialect.next_deadline())
            if self._idle_timeout is not None:
                candidates.append(self._last_data + self._idle_timeout)
        present = [c for c in candidates if c is not None]
        return min(present) if present else None

    def handle_timer(self, now: float) -> list[Action]:
        out: list[Action] = []
        if self.state is ModemState.ONLINE_DATA and self._dialect is not None:
            if self._idle_timeout is not None and now >= self._last_data + self._idle_timeout:
                out.append(Send(b"\r\nidle timeout\r\n"))
                return out + self._hang_up("idle caller", now)
            due = self._dialect.next_deadline()
            if due is not None and now >= due:
                out += self._from_dialect(self._dialect.handle_timer(now), now)
        if self._deadline is None or now < self._deadline:
            return out
        self._deadline = None
        match self.state:
            case ModemState.INIT:
                command = quote(self._init[self._init_index])
                out.append(Notice(EventKind.MODEM, f"no answer to {command}; retrying"))
                self.state = ModemState.RETRY
                self._deadline = now + INIT_RETRY
            case ModemState.RETRY:
                out += self._begin_init(now)
            case ModemState.RINGING:
                self.state = ModemState.IDLE
            case ModemState.GUARD:
                out.append(Send(b"+++"))
                self.state = ModemState.ONLINE_COMMAND
                self._deadline = now + 2 * self._guard + ESCAPE_SLACK
            case ModemState.ONLINE_COMMAND:
                # No OK: the modem was already in command mode (carrier lost). End the
                # "+++" it may hold as a line of its own, then hang up anyway.
                out += self._send_hangup(b"\rATH\r", now)
            case ModemState.HANGING_UP:
                out.append(Notice(EventKind.MODEM, "no answer to ATH; reinitialising"))
                out += self._begin_init(now)
        return out

    # -- command mode -------------------------------------------------------------------

    def _command_byte(self, byte: int, now: float, out: list[Action]) -> None:
        if byte in (CR, LF):
            line, overflow = bytes(self._line), self._overflow
            self._line.clear()
            self._overflow = False
            if line and not overflow:
                self._result(line.decode("ascii", "replace").strip(), now, out)
                self._skip_lf = byte == CR and self.state is ModemState.ONLINE_DATA
        elif len(self._line) < MAX_RESULT_LINE:
            self._line.append(byte)
        else:
            self._overflow = True

    def _result(self, line: str, now: float, out: list[Action]) -> None:
        text = NUMERIC.get(line, line.upper())
        if text.startswith("AT") or not text:
            return  # our own command echoed (before ATE0 took effect)
        state = self.state
        if text.startswith("CONNECT") and state in (
            ModemState.INIT,
            ModemState.RETRY,
            ModemState.IDLE,
            ModemState.RINGING,
        ):
            out += self._online(text.removeprefix("CONNECT").strip(), now)
        elif state is ModemState.INIT and text in ("OK", "ERROR"):
            if text == "ERROR":
                command = quote(self._init[self._init_index])
                out.append(Notice(EventKind.MODEM, f"modem rejected {command}"))
            self._init_index += 1
            out += self._next_init(now)
        elif state in (ModemState.IDLE, ModemState.RINGING) and text == "RING":
            if state is ModemState.IDLE:
                out.append(Notice(EventKind.CALL, "ring"))
            self.state = ModemState.RINGING
            self._deadline = now + RING_TIMEOUT
        elif state is ModemState.RINGING and text == "NO CARRIER":
            self.state = ModemState.IDLE
            self._deadline = None
        elif state is ModemState.ONLINE_COMMAND and text in ("OK", "NO CARRIER"):
            out += self._send_hangup(b"ATH\r", now)
        elif state is ModemState.HANGING_UP and text == "OK":
            out.append(Notice(EventKind.CALL, "hung up"))
            out += self._begin_init(now)

    def _begin_init(self, now: float) -> list[Action]:
        self.state = ModemState.INIT
        self._init_index = 0
        return self._next_init(now)

    def _next_init(self, now: float) -> list[Action]:
        if self._init_index >= len(self._init):
            self.state = ModemState.IDLE
            self._deadline = None
            return [Notice(EventKind.MODEM, "ready")]
        self._deadline = now + INIT_TIMEOUT
        return [Send(self._init[self._init_index].encode("ascii") + b"\r")]

    def _send_hangup(self, command: bytes, now: float) -> list[Action]:
        self.state = ModemState.HANGING_UP
        self._deadline = now + HANGUP_TIMEOUT
        return [Send(command)]

    # -- online -------------------------------------------------------------------------

    def _online(self, rate: str, now: float) -> list[Action]:
        self.state = ModemState.ONLINE_DATA
        self.rate = quote(rate)
        self._deadline = None
        self._tail = b""
        self._last_data = now
        self._generation += 1
        self._requests.clear()
        self._dialect = self._factory()
        out: list[Action] = [Notice(EventKind.CALL, f"connected at {self.rate or 'unknown rate'}")]
        return out + self._from_dialect(self._dialect.start(now), now)

    def _data(self, data: bytes, now: float) -> list[Action]:
        if self._skip_lf:
            self._skip_lf = False
            if data[:1] == b"\n":
                data = data[1:]
        self._last_data = now
        joined = self._tail + data
        found = joined.find(NO_CARRIER)
        if found < 0:
            self._tail = joined[-(len(NO_CARRIER) - 1) :]
            return self._to_dialect(data, now)
        out = self._to_dialect(data[: max(0, found - len(self._tail))], now)
        if self.state is ModemState.ONLINE_DATA:
            out += self._hang_up("carrier lost", now)
        return out

    def _to_dialect(self, data: bytes, now: float) -> list[Action]:
        if not data or self._dialect is None:
            return []
        return self._from_dialect(self._dialect.receive_data(data, now), now)

    def _from_dialect(self, actions: list[Action], now: float) -> list[Action]:
        out: list[Action] = []
        for action in actions:
            if self.state is not ModemState.ONLINE_DATA:
                break  # the call ended; the rest was meant for a caller who is gone
            match action:
                case Execute(request_id, command, origin):
                    out.append(Execute(self._wrap(request_id), command, origin))
                case Authenticate(request_id, user, password, origin):
                    out.append(Authenticate(self._wrap(request_id), user, password, origin))
                case Close(reason):
                    out += self._hang_up(reason, now)
                case _:
                    out.append(action)
        return out

    def _wrap(self, inner: int) -> int:
        self._next_id += 1
        self._requests[self._next_id] = (self._generation, inner)
        return self._next_id

    def hang_up(self, now: float) -> list[Action]:
        """The line is gone: the caller's last requests (its dialect's hang_up)."""
        return self._last_requests(now)

    def _last_requests(self, now: float) -> list[Action]:
        if self._dialect is None:
            return []
        out: list[Action] = []
        for action in self._dialect.hang_up(now):
            if isinstance(action, Execute):  # answered to nobody: an id we never match
                self._next_id += 1
                out.append(Execute(self._next_id, action.command, action.origin))
        return out

    def _hang_up(self, reason: str, now: float) -> list[Action]:
        last = self._last_requests(now)
        self._dialect = None
        self._generation += 1
        self._requests.clear()
        self.state = ModemState.GUARD
        self._deadline = now + self._guard
        self._line.clear()
        self._overflow = False
        return [*last, Notice(EventKind.CALL, f"hanging up: {reason}")]
