"""The ``aten`` dialect: ATEN-style ASCII control (reference §2.2), sans-IO.

Lines end in CR LF (CR or LF alone are accepted); words are case-insensitive. Every
command is answered ``Command OK`` or ``Command incorrect``. ``open`` starts a control
lease, ``close`` ends it, and so do two minutes without a command; ``sw`` commands need
the lease. Where a login is required, ``login u <user> p <password>`` (NetDirector form,
``p<password>`` also accepted) comes first.
"""

from __future__ import annotations

import math
import re

from kvmswitchd.core.commands import Command, Step, SwitchTo
from kvmswitchd.serial.channel import (
    Action,
    ChannelBase,
    EventKind,
    LoginResult,
    Notice,
    Result,
    emit,
    quote,
)
from kvmswitchd.serial.login import MAX_ATTEMPTS_PER_SESSION, MAX_USER_LEN, LoginThrottle

# One command line (``sw i02 o01`` is 10 bytes, a login line well under 100). Stops a
# peer that never ends a line from growing memory; the line is then answered incorrect.
MAX_LINE = 128
# The device closes the RS-232 control link after 2 minutes without a command.
LEASE_IDLE = 120.0

COMMAND_OK = b"Command OK\r\n"
COMMAND_INCORRECT = b"Command incorrect\r\n"
CR, LF = 0x0D, 0x0A

INPUT = re.compile(r"i(\d{1,2})")
OUTPUT = re.compile(r"o(\d{1,2}|\*)")  # one console: only output 01 (or all)
LOGIN = re.compile(r"login\s+u\s*(\S+)\s+p\s*(\S.*)", re.IGNORECASE)


def parse_sw(words: list[str]) -> Command | None:
    """``sw i02``, ``sw i02 o01``, ``sw o01 i02``, ``sw +``, ``sw o01 -`` → command."""
    port: str | None = None
    step: int | None = None
    for word in words:
        if (m := INPUT.fullmatch(word)) and port is None and step is None:
            port = str(int(m[1]))
        elif (m := OUTPUT.fullmatch(word)) and m[1] in ("*", "1", "01"):
            continue
        elif word in ("+", "-") and port is None and step is None:
            step = 1 if word == "+" else -1
        else:
            return None
    if port is not None and port != "0":
        return SwitchTo(port)
    if step is not None:
        return Step(step)
    return None


class AtenDialect(ChannelBase):
    def __init__(
        self,
        *,
        channel: str,
        throttle: LoginThrottle,
        login_required: bool = False,
        idle_timeout: float | None = None,
        lease_idle: float = LEASE_IDLE,
    ) -> None:
        super().__init__(channel=channel, idle_timeout=idle_timeout)
        self._throttle = throttle
        self._login_required = login_required
        self._lease_idle = lease_idle
        self._line = bytearray()
        self._bad = False  # the line holds a byte no command contains, or is too long
        self._after_cr = False
        self._failures = 0
        self.lease_open = False
        self._last_command = 0.0

    def _byte(self, byte: int, now: float, out: list[Action]) -> None:
        after_cr, self._after_cr = self._after_cr, False
        if byte == LF and after_cr:
            return
        if byte in (CR, LF):
            self._after_cr = byte == CR
            line, bad = bytes(self._line), self._bad
            self._line.clear()
            self._bad = False
            if line or bad:
                self._line_done(line.decode("ascii") if not bad else None, now, out)
        elif 0x20 <= byte < 0x7F and len(self._line) < MAX_LINE:
            self._line.append(byte)
        else:
            self._bad = True

    def _line_done(self, text: str | None, now: float, out: list[Action]) -> None:
        if self.lease_open:
            self._last_command = now
        words = text.lower().split() if text is not None else []
        verb = words[0] if words else ""
        if text is None or not words:
            emit(out, COMMAND_INCORRECT)
        elif verb == "login":
            self._login(text, now, out)
        elif verb == "logout":
            if self.user is not None:
                out.append(Notice(EventKind.LOGOUT, f"{quote(self.user)} logged out"))
            self.user = None
            self._end_lease("closed by logout", out)
            emit(out, COMMAND_OK)
            if self._login_required:
                self._close("logout", out)
        elif self._login_required and self.user is None:
            emit(out, COMMAND_INCORRECT)
        elif verb == "open" and len(words) == 1:
            if not self.lease_open:
                out.append(Notice(EventKind.LEASE, "control link opened"))
            self.lease_open = True
            self._last_command = now
            emit(out, COMMAND_OK)
        elif verb == "close" and len(words) == 1:
            self._end_lease("control link closed", out)
            emit(out, COMMAND_OK)
        elif verb == "sw" and self.lease_open and (command := parse_sw(words[1:])) is not None:
            self._request(command, out)
        else:
            emit(out, COMMAND_INCORRECT)

    def _login(self, text: str, now: float, out: list[Action]) -> None:
        match = LOGIN.fullmatch(text.strip())
        if match is None or len(match[1]) > MAX_USER_LEN or self._throttle.retry_after(now) > 0:
            emit(out, COMMAND_INCORRECT)
            return
        self._authenticate(match[1], match[2].strip(), out)

    def _completed(self, result: Result, now: float, out: list[Action]) -> None:
        if isinstance(result, LoginResult):
            if result.user is not None:
                self.user = result.user
                self._failures = 0
                self._throttle.success()
                out.append(Notice(EventKind.LOGIN, f"{quote(result.user)} logged in"))
                emit(out, COMMAND_OK)
                return
            self._throttle.failure(now)
            self._failures += 1
            # Not the name typed: a password may have landed in the user word.
            failures = f"{self._failures} this session"
            out.append(Notice(EventKind.LOGIN_FAILED, f"failed login ({failures})"))
            emit(out, COMMAND_INCORRECT)
            if self._failures >= MAX_ATTEMPTS_PER_SESSION:
                self._close("too many failed logins", out)
            return
        emit(out, COMMAND_OK if result.ok else COMMAND_INCORRECT)

    def _end_lease(self, why: str, out: list[Action]) -> None:
        if self.lease_open:
            out.append(Notice(EventKind.LEASE, why))
        self.lease_open = False

    def _deadline(self) -> float | None:
        if not self.lease_open or not math.isfinite(self._lease_idle):
            return None
        return self._last_command + self._lease_idle

    def _timer(self, now: float, out: list[Action]) -> None:
        deadline = self._deadline()
        if deadline is not None and now >= deadline:
            self._end_lease("control link closed after 2 minutes without a command", out)
