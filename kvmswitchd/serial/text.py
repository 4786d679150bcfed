"""The ``text`` dialect: a human line protocol for terminals (SPEC §7 Serial), sans-IO.

Lines end in CR, LF or CRLF (NUL is ignored, so telnet's CR NUL works; with ``telnet``,
set on TCP endpoints, option negotiation is skipped too). Every reply ends in ``OK`` or
``ERR <reason>`` on a line of its own. With ``echo`` on (interactive use) typed
characters are echoed, backspace/DEL erase, Ctrl-C/Ctrl-U drop the line, arrow-key
escape sequences are ignored, and a ``> `` prompt follows each reply. ``quit``, Ctrl-D
on an empty line, and Ctrl-C or Ctrl-D at a ``login:``/``password:`` prompt that the
line requires end the session (a TCP client is disconnected, a modem hangs up). A line
longer than ``MAX_LINE`` is announced with ``ERR line too long`` the moment it gets
there, and the rest of it, up to its line end, is discarded. Passwords are
never echoed: not at the ``password:`` prompt, and not as the third word of a one-line
``login user password`` (its characters are swallowed as they are typed). A failed login
is reported without the name typed: people type passwords into ``login:`` prompts.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Callable

from kvmswitchd.core.commands import (
    Command,
    GetLog,
    GetStatus,
    Outcome,
    Power,
    Rename,
    SetScan,
    Step,
    SwitchTo,
)
from kvmswitchd.core.ports import Channel
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
from kvmswitchd.serial.escapes import IAC, Escape, EscapeSkipper
from kvmswitchd.serial.login import MAX_ATTEMPTS_PER_SESSION, MAX_USER_LEN, LoginThrottle
from kvmswitchd.serial.replies import (
    HELP,
    USAGE,
    log_reply,
    message_lines,
    reason_of,
    status_reply,
)

# One command line. Stops a peer that never sends a line end from growing memory: past
# it the line is answered with ERR line too long at once and the rest of it skipped.
MAX_LINE = 256
# Upper bound of ``log N``; keeps one reply a bounded size.
MAX_LOG_LINES = 100

CR, LF, BS, DEL, ESC, TAB, SPACE = 0x0D, 0x0A, 0x08, 0x7F, 0x1B, 0x09, 0x20
CTRL_C, CTRL_D, CTRL_U = 0x03, 0x04, 0x15
BANNER = b"kvmswitchd serial console\r\n"
TOO_LONG = f"line too long (max {MAX_LINE} bytes), line discarded"
PROMPT = b"> "
LOGIN_PROMPT = b"login: "
PASSWORD_PROMPT = b"password: "
CHANNEL_NAMES = frozenset(ch.value for ch in Channel)
# A command line typed up to the start of its password: ``login USER `` (the words split
# as ``_login_command`` splits them). What follows is not echoed.
LOGIN_UP_TO_PASSWORD = re.compile(r"\s*login\s+\S+\s", re.IGNORECASE)
# Runs of bytes that only join the current line (no line end, control, escape or, with
# telnet, IAC): taken (and echoed) at once, so a flood costs per line, not per byte.
PLAIN = re.compile(rb"[\x20-\x7e\x80-\xff]+")
PLAIN_TELNET = re.compile(rb"[\x20-\x7e\x80-\xfe]+")


class Mode(enum.Enum):
    COMMAND = enum.auto()
    USER = enum.auto()  # reading a login name
    PASSWORD = enum.auto()  # reading a password (never echoed)


Formatter = Callable[[Outcome], list[str]]


class TextDialect(ChannelBase):
    def __init__(
        self,
        *,
        channel: str,
        throttle: LoginThrottle,
        login_required: bool = False,
        echo: bool = True,
        telnet: bool = False,
        idle_timeout: float | None = None,
    ) -> None:
        super().__init__(channel=channel, idle_timeout=idle_timeout)
        self._telnet = telnet
        self._plain = PLAIN_TELNET if telnet else PLAIN
        self._throttle = throttle
        self._login_required = login_required
        self._echo = echo
        self._mode = Mode.USER if login_required else Mode.COMMAND
        self._line = bytearray()
        self._discarding = False  # the line went past MAX_LINE: skip to its end
        self._after_cr = False
        self._escapes = EscapeSkipper()
        self._login_user = ""
        self._failures = 0
        self._formatter: Formatter = message_lines

    @property
    def mode(self) -> Mode:
        return self._mode

    # -- input --------------------------------------------------------------------------

    def _greet(self, out: list[Action]) -> None:
        if self._login_required:
            emit(out, BANNER + LOGIN_PROMPT)
        elif self._echo:
            emit(out, BANNER + PROMPT)

    def _bytes(self, buf: bytearray, start: int, now: float, out: list[Action]) -> int:
        """A run of plain bytes at once, exactly as ``_byte`` would take each of them."""
        run = self._plain.match(buf, start) if not self._escapes.active else None
        if run is None:
            self._byte(buf[start], now, out)
            return 1
        size = run.end() - start
        if self._discarding:
            self._after_cr = False
            return size
        room = MAX_LINE - len(self._line)
        taken = bytes(buf[start : start + min(size, room)])
        echoed = b""
        if self._echo and taken and not self._secret():
            # Once a line reads "login USER ", the rest of it is a password; if the line
            # with the whole run does not, no part of the run does.
            if self._mode is Mode.COMMAND and self._reveals_a_password(self._line + taken):
                self._byte(buf[start], now, out)  # the password starts inside this run
                return 1
            echoed = taken
        self._after_cr = False
        self._line += taken
        emit(out, echoed)
        if size > room:
            self._too_long(out)
        return size

    def _byte(self, byte: int, now: float, out: list[Action]) -> None:
        if self._escapes.active and self._escapes.skip(byte):
            return
        if byte == IAC and self._telnet:
            self._escapes.begin(Escape.IAC)
            return
        after_cr, self._after_cr = self._after_cr, False
        if byte == LF and after_cr:
            return  # the LF of a CRLF
        if byte in (CR, LF):
            self._after_cr = byte == CR
            if self._discarding:  # announced when it happened; the next line is fresh
                self._discarding = False
                return
            if self._echo:
                emit(out, b"\r\n")
            self._line_done(now, out)
        elif byte == CTRL_D:
            self._end_of_input(out)
        elif byte in (BS, DEL):
            self._erase(out)
        elif byte == CTRL_C and self._at_required_login():
            self._leave(b"^C\r\n" if self._echo else b"", out)
        elif byte in (CTRL_C, CTRL_U):
            self._cancel(out)
        elif byte == ESC:
            self._escapes.begin(Escape.ESC)
        elif byte == TAB or byte >= SPACE:
            if self._discarding:
                return
            if len(self._line) >= MAX_LINE:
                self._too_long(out)
                return
            secret = self._secret()  # decided before the byte joins the line
            self._line.append(SPACE if byte == TAB else byte)
            if self._echo and not secret:
                emit(out, b" " if byte == TAB else bytes((byte,)))
        # any other control character means nothing here and is dropped

    def _secret(self) -> bool:
        """Whether the next character typed on this line is part of a password."""
        if self._mode is Mode.PASSWORD:
            return True
        return self._mode is Mode.COMMAND and self._reveals_a_password(self._line)

    @staticmethod
    def _reveals_a_password(line: bytes | bytearray) -> bool:
        """Whether a command line has reached the password of ``login USER PASSWORD``."""
        if len(line) < len("login x "):
            return False
        return LOGIN_UP_TO_PASSWORD.match(line.decode("utf-8", "ignore")) is not None

    def _erase(self, out: list[Action]) -> None:
        if not self._line:
            return
        while self._line and (self._line[-1] & 0xC0) == 0x80:
            self._line.pop()  # UTF-8 continuation bytes of the last character
        if self._line:
            self._line.pop()
        if self._echo and not self._secret():  # what is left decides what was erased
            emit(out, b"\b \b")

    def _at_required_login(self) -> bool:
        """At a login:/password: prompt of a line that requires a login."""
        return self._login_required and self.user is None and self._mode is not Mode.COMMAND

    def _end_of_input(self, out: list[Action]) -> None:
        """Ctrl-D: on an empty line, or at a prompt the line requires, the session ends
        (as a shell's EOF); at an optional login prompt it goes back to commands."""
        if self._mode is Mode.COMMAND and self._line:
            return  # as in a shell: Ctrl-D inside a line does nothing
        if self._mode is Mode.COMMAND or self._at_required_login():
            self._leave(b"^D\r\n" if self._echo else b"", out)
        else:
            self._cancel(out)

    def _leave(self, echoed: bytes, out: list[Action]) -> None:
        self._line.clear()
        self._discarding = False
        emit(out, echoed)
        self._reply(out, ["bye"], prompt=False)
        self._close("quit", out)

    def _too_long(self, out: list[Action]) -> None:
        """The line just went past MAX_LINE: say so now, drop it, skip to its end."""
        self._line.clear()
        self._discarding = True
        self._end_login_dialogue()
        emit(out, b"\r\n" if self._echo else b"")
        self._reply(out, [], error=TOO_LONG)

    def _cancel(self, out: list[Action]) -> None:
        self._line.clear()
        self._discarding = False
        if self._echo:
            emit(out, b"^C\r\n")
        self._end_login_dialogue()
        emit(out, self._prompt())

    def _line_done(self, now: float, out: list[Action]) -> None:
        raw = bytes(self._line)
        self._line.clear()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            self._end_login_dialogue()
            self._reply(out, [], error="invalid characters (expected UTF-8 text)")
            return
        if self._mode is Mode.USER:
            user = text.strip()
            if user.lower() in ("quit", "exit"):  # nobody is called that: leave the prompt
                self._leave(b"", out)
                return
            if user:
                self._login_user = user
                self._mode = Mode.PASSWORD
            emit(out, self._prompt())
        elif self._mode is Mode.PASSWORD:
            self._submit_login(self._login_user, text, now, out)
        else:
            self._command(text, now, out)

    # -- commands -----------------------------------------------------------------------

    def _command(self, text: str, now: float, out: list[Action]) -> None:
        words = text.split()
        if not words:
            emit(out, self._prompt())
            return
        verb, args = words[0].lower(), words[1:]
        if verb in ("help", "?"):
            self._reply(out, list(HELP))
        elif verb == "login":
            self._login_command(text, now, out)
        elif verb == "logout":
            self._logout(out)
        elif verb in ("quit", "exit"):
            self._reply(out, ["bye"], prompt=False)
            self._close("quit", out)
        elif self._login_required and self.user is None:
            self._reply(out, [], error="login required")
        else:
            try:
                command, formatter = self._parse(verb, args, text)
            except ValueError as exc:
                self._reply(out, [], error=str(exc))
                return
            self._formatter = formatter
            self._request(command, out)

    def _parse(self, verb: str, args: list[str], text: str) -> tuple[Command, Formatter]:
        """Turn one command line into a bus command; ValueError carries the ERR reason."""
        if verb == "status" and not args:
            return GetStatus(), status_reply
        if verb == "port" and len(args) == 1:
            return SwitchTo(args[0]), message_lines
        if verb == "switch" and args:
            return self._switch(args), message_lines
        if verb in ("next", "prev") and not args:
            return Step(1 if verb == "next" else -1), message_lines
        if verb == "scan" and args and args[0].lower() in ("on", "off"):
            return self._scan(args), message_lines
        if verb == "log" and len(args) <= 1:
            return GetLog(self._count(args)), log_reply
        if verb == "name" and len(parts := text.strip().split(None, 2)) == 3:
            return Rename(parts[1], parts[2].strip()), message_lines
        if verb == "power" and len(args) == 2:  # the action is checked by the guard
            return Power(args[0], args[1].lower()), message_lines
        usage = USAGE.get(verb)
        if usage is not None:
            raise ValueError(f"usage: {usage}")
        raise ValueError(f"unknown command '{quote(verb)}' (try help)")

    @staticmethod
    def _switch(args: list[str]) -> SwitchTo:
        channels: list[str] = []
        force = False
        # channels as words or comma lists: "switch 2 km audio", "switch 2 km,audio"
        for word in (w.lower() for arg in args[1:] for w in arg.split(",") if w):
            if word == "force":
                force = True
            elif word in CHANNEL_NAMES:
                if word not in channels:
                    channels.append(word)
            else:
                raise ValueError(
                    f"unknown channel '{quote(word)}' (expected km, video, audio, usb)"
                )
        return SwitchTo(args[0], tuple(channels) if channels else None, force)

    @staticmethod
    def _scan(args: list[str]) -> SetScan:
        on = args[0].lower() == "on"
        if len(args) == 1:
            return SetScan(on)
        if not on or len(args) > 2:
            raise ValueError(f"usage: {USAGE['scan']}")
        try:
            dwell = float(args[1])
        except ValueError:
            raise ValueError(
                f"scan dwell must be a number of seconds, got '{quote(args[1])}'"
            ) from None
        if not math.isfinite(dwell) or dwell <= 0:
            raise ValueError("scan dwell must be a positive number of seconds")
        return SetScan(True, dwell)

    @staticmethod
    def _count(args: list[str]) -> int:
        if not args:
            return 10
        word = args[0]
        if not word.isascii() or not word.isdigit() or not 1 <= int(word) <= MAX_LOG_LINES:
            raise ValueError(f"log count must be 1..{MAX_LOG_LINES}, got '{quote(word)}'")
        return int(word)

    # -- login --------------------------------------------------------------------------

    def _login_command(self, text: str, now: float, out: list[Action]) -> None:
        parts = text.strip().split(None, 2)
        if len(parts) == 3:
            self._login_user = parts[1]
            self._submit_login(parts[1], parts[2], now, out)
            return
        if len(parts) == 2:
            self._login_user = parts[1]
            self._mode = Mode.PASSWORD
        else:
            self._mode = Mode.USER
        emit(out, self._prompt())

    def _submit_login(self, user: str, password: str, now: float, out: list[Action]) -> None:
        wait = self._throttle.retry_after(now)
        if wait > 0:
            self._end_login_dialogue()
            self._reply(out, [], error=f"too many failed logins, retry in {math.ceil(wait)} s")
            return
        if len(user) > MAX_USER_LEN:
            self._login_done(LoginResult(None), now, out)
            return
        self._authenticate(user, password, out)

    def _login_done(self, result: LoginResult, now: float, out: list[Action]) -> None:
        self._mode = Mode.COMMAND
        if result.user is not None:
            self.user = result.user
            self._failures = 0
            self._throttle.success()
            out.append(Notice(EventKind.LOGIN, f"{quote(result.user)} logged in"))
            self._reply(out, [f"logged in as {quote(result.user)}"])
            return
        self._throttle.failure(now)
        self._failures += 1
        # Not the name typed: it may be a password typed at the login: prompt.
        out.append(Notice(EventKind.LOGIN_FAILED, f"failed login ({self._failures} this session)"))
        if self._failures >= MAX_ATTEMPTS_PER_SESSION:
            self._reply(out, [], error="login failed", prompt=False)
            self._close("too many failed logins", out)
            return
        self._end_login_dialogue()
        self._reply(out, [], error="login failed")

    def _logout(self, out: list[Action]) -> None:
        if self.user is not None:
            out.append(Notice(EventKind.LOGOUT, f"{quote(self.user)} logged out"))
        self.user = None
        if self._login_required:
            self._reply(out, ["bye"], prompt=False)
            self._close("logout", out)
        else:
            self._reply(out, [])

    def _end_login_dialogue(self) -> None:
        """Back to commands, or to the login prompt on a line that requires a login."""
        self._mode = Mode.USER if self._login_required and self.user is None else Mode.COMMAND

    # -- replies ------------------------------------------------------------------------

    def _completed(self, result: Result, now: float, out: list[Action]) -> None:
        if isinstance(result, LoginResult):
            self._login_done(result, now, out)
        elif result.ok:
            self._reply(out, self._formatter(result))
        else:
            self._reply(out, [], error=reason_of(result))

    def _reply(
        self, out: list[Action], lines: list[str], *, error: str | None = None, prompt: bool = True
    ) -> None:
        last = "OK" if error is None else f"ERR {error}"
        body = "".join(f"{line}\r\n" for line in [*lines, last])
        emit(out, body.encode("utf-8", "replace") + (self._prompt() if prompt else b""))

    def _prompt(self) -> bytes:
        if self._mode is Mode.USER:
            return LOGIN_PROMPT
        if self._mode is Mode.PASSWORD:
            return PASSWORD_PROMPT
        return PROMPT if self._echo else b""

    def _idle_expired(self, out: list[Action]) -> None:
        if self.user is not None:
            out.append(Notice(EventKind.LOGOUT, f"{quote(self.user)} logged out (idle)"))
        emit(out, b"\r\nidle timeout\r\n")
