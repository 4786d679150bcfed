"""The ``aten`` dialect: ATEN-style ASCII control (reference §2.2), sans-IO.

Lines end in CR LF (CR or LF alone are accepted); words are case-insensitive and the
commands are those of ``aten_commands``. Every command is answered ``Command OK`` or
``Command incorrect`` (``status`` puts its lines before the verdict). ``open`` takes
the unit's control lease (core.lease: the other serial sessions, and by default the
front-panel buttons and hotkeys, are locked out), ``close`` ends it, and so does
``lease_idle`` seconds (two minutes, as on the units) without a command; everything
but ``open``, ``close``, ``status``, ``login`` and ``logout`` needs the lease. While it
is held every command renews it on the bus first, so the lease there and here end
together, and a lease an admin broke is noticed at the next command. Where a login is
required, ``login u <user> p <password>`` (NetDirector form, ``p<password>`` too) comes
first.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from kvmswitchd.core.commands import (
    Command,
    GetStatus,
    HoldLease,
    Outcome,
    ReleaseLease,
)
from kvmswitchd.core.ports import Channel
from kvmswitchd.serial.aten_commands import (
    DEFAULT_SETTINGS,
    Set,
    Setting,
    Simple,
    Switch,
    parse,
)
from kvmswitchd.serial.channel import (
    Action,
    ChannelBase,
    EventKind,
    Execute,
    LoginResult,
    Notice,
    Result,
    emit,
    quote,
)
from kvmswitchd.serial.login import MAX_ATTEMPTS_PER_SESSION, MAX_USER_LEN, LoginThrottle

# One command line (``sw i02 o01 kvm`` is 14 bytes, a login line well under 100). Stops
# a peer that never ends a line from growing memory; the line is then answered incorrect.
MAX_LINE = 128
# The device closes the RS-232 control link after 2 minutes without a command.
LEASE_IDLE = 120.0
DEFAULT_LOCKS = ("button", "hotkey")

COMMAND_OK = b"Command OK\r\n"
COMMAND_INCORRECT = b"Command incorrect\r\n"
CR, LF, TAB = 0x0D, 0x0A, 0x09

LOGIN = re.compile(r"login\s+u\s*(\S+)\s+p\s*(\S.*)", re.IGNORECASE)
# ``status`` shows each channel word with the port it is on, in this order.
STATUS_CHANNELS = (
    ("kvm", Channel.KM),
    ("video", Channel.VIDEO),
    ("usb", Channel.USB),
    ("audio", Channel.AUDIO),
)


@dataclass(frozen=True, slots=True)
class Pending:
    """What to do when the request out completes: ``verb`` names the reply; a setting
    change is applied only once the lease was renewed."""

    verb: str
    setting: Setting | None = None
    value: str = ""


def port_word(port: str) -> str:
    """``"2"`` → ``i02``, ``"2.4"`` → ``i02.04`` (the units' two-digit form)."""
    return "i" + ".".join(p.zfill(2) for p in port.split("."))


class AtenDialect(ChannelBase):
    def __init__(
        self,
        *,
        channel: str,
        throttle: LoginThrottle,
        login_required: bool = False,
        idle_timeout: float | None = None,
        lease_idle: float = LEASE_IDLE,
        lease_locks: tuple[str, ...] = DEFAULT_LOCKS,
    ) -> None:
        super().__init__(channel=channel, idle_timeout=idle_timeout)
        self._throttle = throttle
        self._login_required = login_required
        self._lease_idle = lease_idle
        self._lease_locks = lease_locks
        self._line = bytearray()
        self._bad = False  # the line holds a byte no command contains, or is too long
        self._after_cr = False
        self._failures = 0
        self.lease_open = False
        self.settings = dict(DEFAULT_SETTINGS)
        self._last_command = 0.0
        self._pending = Pending("")

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
        elif (0x20 <= byte < 0x7F or byte == TAB) and len(self._line) < MAX_LINE:
            self._line.append(byte)
        else:
            self._bad = True

    def _line_done(self, text: str | None, now: float, out: list[Action]) -> None:
        words = text.lower().split() if text is not None else []
        if text is None or not words:
            emit(out, COMMAND_INCORRECT)
            return
        if words[0] == "login":
            self._login(text, now, out)
            return
        request = parse(text)
        if isinstance(request, Simple) and request.verb == "logout":
            self._logout(now, out)
        elif (self._login_required and self.user is None) or request is None:
            emit(out, COMMAND_INCORRECT)
        elif isinstance(request, Simple) and request.verb == "open":
            self._send(Pending("open"), self._hold(), now, out)
        elif isinstance(request, Simple) and request.verb == "close":
            if self.lease_open:
                self._send(Pending("close"), ReleaseLease("closed"), now, out)
            else:
                emit(out, COMMAND_OK)
        elif isinstance(request, Simple) and request.verb == "status":
            self._send(Pending("status"), GetStatus(), now, out)
        elif not self.lease_open:
            emit(out, COMMAND_INCORRECT)  # everything else needs the control link
        elif isinstance(request, Switch):
            self._send(Pending("switch"), request.command, now, out)
        elif isinstance(request, Set):
            self._send(Pending("set", request.setting, request.value), self._hold(), now, out)
        else:  # reset
            self._send(Pending("reset"), self._hold(), now, out)

    def _hold(self) -> HoldLease:
        return HoldLease(self._lease_idle, self._lease_locks)

    def _send(self, pending: Pending, command: Command, now: float, out: list[Action]) -> None:
        self._pending = pending
        if self.lease_open:
            self._last_command = now  # a command renews the lease (here and on the bus)
        self._request(command, out)

    def _login(self, text: str, now: float, out: list[Action]) -> None:
        match = LOGIN.fullmatch(text.strip())
        if match is None or len(match[1]) > MAX_USER_LEN or self._throttle.retry_after(now) > 0:
            emit(out, COMMAND_INCORRECT)
            return
        self._authenticate(match[1], match[2].strip(), out)

    def _logout(self, now: float, out: list[Action]) -> None:
        if self.user is not None:
            out.append(Notice(EventKind.LOGOUT, f"{quote(self.user)} logged out"))
        self.user = None
        if self.lease_open:
            self._send(Pending("logout"), ReleaseLease("logout"), now, out)
            return
        self._logged_out(out)

    def _logged_out(self, out: list[Action]) -> None:
        emit(out, COMMAND_OK)
        if self._login_required:
            self._close("logout", out)

    def _completed(self, result: Result, now: float, out: list[Action]) -> None:
        if isinstance(result, LoginResult):
            self._login_done(result, now, out)
            return
        pending, self._pending = self._pending, Pending("")
        match pending.verb:
            case "open":
                if result.ok and not self.lease_open:
                    out.append(Notice(EventKind.LEASE, "control link opened"))
                    self._last_command = now
                self.lease_open = self.lease_open or result.ok
                emit(out, COMMAND_OK if result.ok else COMMAND_INCORRECT)
            case "close":
                self._end_lease("control link closed", out)
                emit(out, COMMAND_OK)
            case "logout":
                self._end_lease("closed by logout", out)
                self._logged_out(out)
            case "status" if result.ok:
                emit(out, self._status(result) + COMMAND_OK)
            case "set" | "reset" if result.ok:
                if pending.setting is not None:
                    self.settings[pending.setting] = pending.value
                else:
                    self.settings = dict(DEFAULT_SETTINGS)
                emit(out, COMMAND_OK)
            case "expired":
                pass  # the lease was already given up; nothing to answer
            case _:
                if not result.ok and result.error == "busy" and self.lease_open:
                    # we held the lease, and the bus says someone else does, or nobody
                    self._end_lease(f"control link lost: {quote(result.message, 120)}", out)
                emit(out, COMMAND_OK if result.ok else COMMAND_INCORRECT)

    def _status(self, result: Outcome) -> bytes:
        lines = []
        focus = result.status.focus if result.status is not None else {}
        for word, channel in STATUS_CHANNELS:
            if (port := focus.get(channel.value)) is not None:
                lines.append(f"{word} {port_word(port)}")
        scanning = result.status is not None and result.status.scanning
        lines.append("scan on" if scanning else "scan off")
        lines += [f"{setting.value} {value}" for setting, value in self.settings.items()]
        lines.append("link open" if self.lease_open else "link closed")
        return "".join(f"{line}\r\n" for line in lines).encode("ascii", "replace")

    def _login_done(self, result: LoginResult, now: float, out: list[Action]) -> None:
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
        if deadline is None or now < deadline or self._waiting is not None:
            return  # a command is out: it renews the lease when it completes
        self._end_lease(f"control link closed after {self._idle_words()} without a command", out)
        self._send(Pending("expired"), ReleaseLease("expired"), now, out)

    def _idle_words(self) -> str:
        idle = self._lease_idle
        return f"{idle / 60:g} minutes" if idle >= 60 and idle % 60 == 0 else f"{idle:g} s"

    def hang_up(self, now: float) -> list[Action]:  # noqa: ARG002 - the ChannelCore signature
        """The stream is gone: give the lease back at once."""
        if not self.lease_open:
            return []
        self.lease_open = False
        self._next_id += 1
        return [Execute(self._next_id, ReleaseLease("session ended"), self._origin())]
