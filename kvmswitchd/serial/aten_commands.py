"""The words of the ``aten`` dialect (reference §2.2): one command line → a request.

Tokens are separated by spaces or tabs, case does not matter, and the ``sw`` command
may be written without spaces (``sw+``, ``swi02``, ``sw i02usb``). Pure: no state.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from kvmswitchd.core.commands import Command, SetScan, Step, SwitchTo

# The switch command's channel words → our focus channels (``kvm`` is keyboard, video
# and mouse; the units' USB hub and audio follow their own words).
CHANNEL_WORDS = {
    "kvm": ("km", "video"),
    "video": ("video",),
    "usb": ("usb",),
    "audio": ("audio",),
}
SW_TOKEN = re.compile(r"[ \t]*(i\d{1,2}|o\d{1,2}|o\*|l1|\+|-|on|off|kvm|video|usb|audio)")
SCAN_DWELL = re.compile(r"\d{1,4}")
HOTKEYS = ("scroll", "ctrl")  # the units' hotkey invocation keys: Scroll Lock, Ctrl


class Setting(enum.StrEnum):
    """Settings the units keep that change no switching here (reported by ``status``)."""

    BEEP = "beep"
    HOTKEY = "hotkey"
    OUTPUT = "output"


DEFAULT_SETTINGS = {Setting.BEEP: "on", Setting.HOTKEY: "scroll", Setting.OUTPUT: "on"}


@dataclass(frozen=True, slots=True)
class Switch:
    """A bus command (``sw``, ``scan``)."""

    command: Command


@dataclass(frozen=True, slots=True)
class Set:
    """Change a setting (``beep on``, ``hotkey ctrl``, ``sw off``)."""

    setting: Setting
    value: str


@dataclass(frozen=True, slots=True)
class Simple:
    """A command without arguments: ``open``, ``close``, ``status``, ``reset``, ``logout``."""

    verb: str


Request = Switch | Set | Simple
SIMPLE = ("open", "close", "status", "reset", "logout")


def parse(line: str) -> Request | None:
    """One line (without its ending) → the request, None when it is incorrect.
    ``login`` lines are the dialect's own (they carry a password)."""
    text = line.lower().strip(" \t")
    words = text.split()
    if not words:
        return None
    verb = words[0]
    if verb in SIMPLE and len(words) == 1:
        return Simple(verb)
    if verb == "beep" and len(words) == 2 and words[1] in ("on", "off"):
        return Set(Setting.BEEP, words[1])
    if verb == "hotkey" and len(words) == 2 and words[1] in HOTKEYS:
        return Set(Setting.HOTKEY, words[1])
    if verb == "scan":
        return _scan(words[1:])
    if text.startswith("sw"):
        return _sw(text[2:])
    return None


def _scan(args: list[str]) -> Request | None:
    """``scan``, ``scan on``, ``scan NN`` / ``scan on NN`` (seconds per port), ``scan off``."""
    if args == ["off"]:
        return Switch(SetScan(False))
    if args[:1] == ["on"]:
        args = args[1:]
    if not args:
        return Switch(SetScan(True))
    if len(args) == 1 and SCAN_DWELL.fullmatch(args[0]):
        return Switch(SetScan(True, float(args[0])))
    return None


def _sw(rest: str) -> Request | None:
    """``sw i02 [o01] [kvm|video|usb|audio ...]``, ``sw +``/``sw -``, ``sw on``/``sw off``."""
    tokens: list[str] = []
    pos = 0
    while pos < len(rest):
        if rest[pos:].strip(" \t") == "":
            break
        match = SW_TOKEN.match(rest, pos)
        if match is None:
            return None
        tokens.append(match[1])
        pos = match.end()
    port: str | None = None
    step: int | None = None
    control: str | None = None
    channels: list[str] = []
    for word in tokens:
        if word[0] == "i" and port is None:
            port = str(int(word[1:]))
        elif (word[0] == "o" and word not in ("on", "off")) or word == "l1":
            if word not in ("o*", "o1", "o01", "l1"):
                return None  # one console: output 01 (or all, or the local one) only
        elif word in ("+", "-") and step is None:
            step = 1 if word == "+" else -1
        elif word in ("on", "off") and control is None:
            control = word
        elif word in CHANNEL_WORDS:
            channels += [c for c in CHANNEL_WORDS[word] if c not in channels]
        else:
            return None
    chosen = [x is not None for x in (port, step, control)]
    if sum(chosen) != 1 or (channels and port is None):
        return None
    if control is not None:
        return Set(Setting.OUTPUT, control)
    if step is not None:
        return Switch(Step(step))
    assert port is not None  # exactly one of the three was given
    if port == "0":
        return None
    return Switch(SwitchTo(port, tuple(channels) if channels else None))
