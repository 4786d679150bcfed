"""The client side of our three serial dialects, for driving a downstream switch, sans-IO.

Each core turns a wish into request bytes (an ``Exchange``: requests sent one at a time,
each awaiting one reply, then ``cleanup`` requests whatever happened) and the switch's
bytes into ``Reply`` values. The byte tables are the ones our own endpoints speak
(:mod:`kvmswitchd.serial.tesmart`, :mod:`~kvmswitchd.serial.aten`,
:mod:`~kvmswitchd.serial.text`), imported from there, never written twice.

* ``tesmart``: ``AA BB 03 01 <n> EE`` switches (1-based), ``AA BB 03 10 00 EE`` asks;
  every ``AA BB 03 11 <p> EE`` (0-based) is a reply, answered or pushed by the unit
  (front panel). A switch to a port the unit lacks is not answered at all.
* ``aten``: ``open`` takes the control link, ``sw iNN`` switches, ``close`` gives the
  link back (the units lock their front panel while it is open); ``status`` reads
  ``kvm iNN``. Every command ends in ``Command OK`` or ``Command incorrect``.
* ``text``: ``switch P [channels] [force]`` and ``status`` (``focus km=P ...``); every
  reply ends in ``OK`` or ``ERR reason``. Echo and prompts (a tty line) are skipped.
  A line that requires a login is answered its prompts (user, then password).

Nothing a switch sends can grow memory: lines and replies have named caps, garbage is
skipped (tesmart: to the next ``AA``).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Protocol

from kvmswitchd.core.ports import ALL_CHANNELS, Channel
from kvmswitchd.serial.aten import COMMAND_INCORRECT, COMMAND_OK, STATUS_CHANNELS, port_word
from kvmswitchd.serial.aten_commands import CHANNEL_WORDS
from kvmswitchd.serial.tesmart import FRAME_LEN, HEADER, TRAILER, TesmartCommand, frame
from kvmswitchd.serial.text import LOGIN_PROMPT, PASSWORD_PROMPT, PROMPT

# One reply line (a text ``status`` line with a 64-character name is about 100 bytes).
# Stops a switch that never ends a line from growing memory: the rest of it is dropped.
MAX_LINE = 512
# Lines kept of one reply (a text ``status`` of 64 ports is about 70). Stops an endless
# reply from growing memory; the verdict still ends it.
MAX_REPLY_LINES = 200
ACTIVE_PORT = re.compile(r"i(\d{1,3}(?:\.\d{1,3}){0,7})")
FOCUS = re.compile(r"(?:^|\s)([a-z]{1,8})=(\d{1,3}(?:\.\d{1,3}){0,7})(?=\s|$)")
CHANNELS = frozenset(ch.value for ch in Channel)
# The text dialect's prompts end in no line end, so they start the next line read.
PROMPTS = re.compile(
    "(?:" + "|".join(re.escape(p.decode()) for p in (PROMPT, LOGIN_PROMPT, PASSWORD_PROMPT)) + ")*"
)
PORT_LINE = re.compile(r'port (\d{1,3}) "(.*)"')


Path = tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Reply:
    ok: bool
    focus: tuple[tuple[Channel, Path], ...] = ()  # the path each channel is on, if told
    reason: str = ""  # why refused (text: the ERR reason)
    names: tuple[tuple[int, str], ...] = ()  # (channel, name) the reply lists

    @property
    def active(self) -> Path | None:
        """The keyboard/mouse focus the reply reports (None: it did not say)."""
        return dict(self.focus).get(Channel.KM)


@dataclass(frozen=True, slots=True)
class Exchange:
    requests: tuple[bytes, ...]  # in order; each awaits one reply; a refusal stops them
    cleanup: tuple[bytes, ...] = ()  # then these, whatever happened (each awaits a reply)


class ClientCore(Protocol):
    max_depth: int  # how deep a path this dialect can address in one command

    def opening(self) -> Exchange | None: ...

    def switch(
        self, path: tuple[int, ...], channels: Collection[Channel], force: bool
    ) -> Exchange: ...

    def query(self) -> Exchange: ...

    def receive(self, data: bytes) -> list[Reply]: ...


class TesmartClient:
    max_depth = 1

    def __init__(self) -> None:
        self._buffer = bytearray()

    def opening(self) -> Exchange | None:
        return None

    def switch(self, path: tuple[int, ...], channels: Collection[Channel], force: bool) -> Exchange:  # noqa: ARG002 - the unit switches every channel; nothing to force
        return Exchange((frame(TesmartCommand.SWITCH, path[0]),))

    def query(self) -> Exchange:
        return Exchange((frame(TesmartCommand.QUERY, 0),))

    def receive(self, data: bytes) -> list[Reply]:
        self._buffer += data
        out = []
        while True:
            start = self._buffer.find(HEADER[:1])
            if start < 0:
                self._buffer.clear()
                break
            del self._buffer[:start]  # garbage before a frame
            if len(self._buffer) < FRAME_LEN:
                if not HEADER.startswith(bytes(self._buffer[: len(HEADER)])):
                    del self._buffer[:1]
                    continue
                break
            candidate = bytes(self._buffer[:FRAME_LEN])
            if not candidate.startswith(HEADER) or candidate[-1] != TRAILER:
                del self._buffer[:1]  # not a frame after all: rescan from the next byte
                continue
            del self._buffer[:FRAME_LEN]
            if candidate[3] == TesmartCommand.STATUS:
                out.append(Reply(ok=True, focus=_everything((candidate[4] + 1,))))
        return out


class LineReader:
    """Lines of a switch's replies, capped (``MAX_LINE``), CR/LF/CRLF ends, no NULs."""

    def __init__(self) -> None:
        self._line = bytearray()
        self._skipping = False

    def lines(self, data: bytes) -> list[str]:
        out = []
        for chunk in re.split(rb"(\r\n|\r|\n)", data):
            if chunk in (b"\r\n", b"\r", b"\n"):
                if not self._skipping or self._line:
                    out.append(self._line.replace(b"\0", b"").decode("utf-8", "replace"))
                self._line.clear()
                self._skipping = False
                continue
            room = MAX_LINE - len(self._line)
            self._line += chunk[:room]
            self._skipping = self._skipping or len(chunk) > room
        return out


class _LineClient:
    """A line dialect's replies: lines up to a verdict line, kept for the reply."""

    def __init__(self) -> None:
        self._reader = LineReader()
        self._kept: list[str] = []

    def receive(self, data: bytes) -> list[Reply]:
        out = []
        for line in self._reader.lines(data):
            verdict = self._verdict(line)
            if verdict is None:
                if len(self._kept) < MAX_REPLY_LINES:
                    self._kept.append(line)
                continue
            kept, self._kept = self._kept, []
            out.append(self._reply(verdict, kept))
        return out

    def _verdict(self, line: str) -> tuple[bool, str] | None:
        raise NotImplementedError

    def _reply(self, verdict: tuple[bool, str], lines: list[str]) -> Reply:
        raise NotImplementedError


def _path(text: str) -> Path:
    return tuple(int(part) for part in text.split("."))


def _everything(path: Path) -> tuple[tuple[Channel, Path], ...]:
    """A unit that switches every channel together reports one port for all."""
    return tuple((channel, path) for channel in Channel)


class AtenClient(_LineClient):
    max_depth = 1
    OK = COMMAND_OK.decode().strip().lower()
    INCORRECT = COMMAND_INCORRECT.decode().strip().lower()

    def opening(self) -> Exchange | None:
        return None

    def switch(self, path: tuple[int, ...], channels: Collection[Channel], force: bool) -> Exchange:  # noqa: ARG002 - the units have no force
        words = [port_word(str(path[0]))]
        if frozenset(channels) != ALL_CHANNELS:
            words += [w for w, chs in CHANNEL_WORDS.items() if set(chs) & set(channels)]
        command = "sw " + " ".join(words)
        return Exchange((b"open\r\n", command.encode() + b"\r\n"), cleanup=(b"close\r\n",))

    def query(self) -> Exchange:
        return Exchange((b"status\r\n",))

    def _verdict(self, line: str) -> tuple[bool, str] | None:
        word = line.strip().lower()
        if word == self.OK:
            return True, ""
        if word == self.INCORRECT:
            return False, "Command incorrect"
        return None

    def _reply(self, verdict: tuple[bool, str], lines: list[str]) -> Reply:
        words = dict(STATUS_CHANNELS)
        focus = []
        for line in lines:
            parts = line.strip().lower().split()
            if len(parts) == 2 and parts[0] in words and (m := ACTIVE_PORT.fullmatch(parts[1])):
                focus.append((words[parts[0]], _path(m[1])))
                if parts[0] == "kvm":  # keyboard, video and mouse
                    focus.append((Channel.VIDEO, _path(m[1])))
        return Reply(ok=verdict[0], focus=tuple(dict(focus).items()), reason=verdict[1])


def unprompted(line: str) -> str:
    """``line`` without the prompts (``> ``, ``login: ``, ``password: ``) before it."""
    return line[PROMPTS.match(line).end() :]  # type: ignore[union-attr]  # "*" always matches


class TextClient(_LineClient):
    max_depth = 8  # a downstream kvmswitchd addresses its own cascades: switch 2.3.1

    def __init__(self, user: str | None = None, password: str = "") -> None:
        super().__init__()
        self._user = user
        self._password = password

    def opening(self) -> Exchange | None:
        if self._user is None:
            return None
        # at the login: prompt, then the password: prompt; one verdict answers both
        return Exchange((f"{self._user}\r\n{self._password}\r\n".encode(),))

    def switch(self, path: tuple[int, ...], channels: Collection[Channel], force: bool) -> Exchange:
        words = ["switch", ".".join(map(str, path))]
        if frozenset(channels) != ALL_CHANNELS:
            words.append(",".join(ch.value for ch in Channel if ch in channels))
        if force:
            words.append("force")
        return Exchange((" ".join(words).encode() + b"\r\n",))

    def query(self) -> Exchange:
        return Exchange((b"status\r\n",))

    def _verdict(self, line: str) -> tuple[bool, str] | None:
        text = unprompted(line).strip()
        if text == "OK":
            return True, ""
        if text.startswith("ERR"):
            return False, text[3:].strip() or "refused"
        return None

    def _reply(self, verdict: tuple[bool, str], lines: list[str]) -> Reply:
        focus: list[tuple[Channel, Path]] = []
        names = []
        for line in lines:
            text = unprompted(line)
            if text.startswith("focus "):
                focus += (
                    (Channel(m[1]), _path(m[2])) for m in FOCUS.finditer(text) if m[1] in CHANNELS
                )
            elif m := PORT_LINE.match(text):
                names.append((int(m[1]), m[2]))
        return Reply(ok=verdict[0], focus=tuple(focus), reason=verdict[1], names=tuple(names))
