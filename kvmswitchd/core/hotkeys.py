"""The console hotkey detector (SPEC §4): a sans-IO state machine.

It is fed key changes from the console keyboard stream (evdev code, pressed or released,
``now`` in monotonic seconds; autorepeat is dropped before it) and answers, for every
change, which key events go on to the km-focused port and which hotkey actions happened.

* A **tap** is a press and release of a trigger key with no other key pressed in between,
  the release coming at most ``tap_window`` after the press. ``taps`` taps of the same
  trigger, the first press at most ``tap_window`` before the last release, enter
  **command mode**. The
  taps themselves are forwarded, so a double Scroll Lock leaves the port's lock state as
  it was, and Ctrl+C typed normally never counts (C was pressed in between).
* In command mode the next key press within ``command_window`` is the command, and it is
  swallowed (press and release): ``1``..``9`` select a port; with 10 or more ports, or
  on a port listed in ``cascades``, digits accumulate and ``Enter`` or a ``digit_pause``
  without keys completes (``U.C``: digits, ``.``, digits selects channel C downstream of
  port U); ``Up``/``PgUp`` previous, ``Down``/``PgDn`` next, ``A`` auto-scan, ``Esc``
  cancel. Anything else (another key, port 0, a port out of range, a malformed ``U.C``)
  is an **invalid command**: swallowed, the mode ends, ``InvalidCommand`` (the "low
  beep") is reported. A typed number is judged when it completes, so the ``Enter`` of a
  mistyped number is swallowed too.
* Every command mode ends with exactly one of ``SelectPort``, ``StepPort``,
  ``StartScan``, ``Cancelled`` (Esc, or ``timed_out=True`` when the command window
  passes with no key) and ``InvalidCommand``; ``ModeEntered`` opens it. The adapter
  re-arms one timer at ``next_deadline()`` and calls ``handle_timer(now)``; a key fed
  after a deadline also settles it first, so a late timer changes nothing.
* Bookkeeping guarantees that a release is forwarded exactly when its press was: a
  swallowed press's release is swallowed, a forwarded press's release is forwarded even
  in the middle of a command, duplicate presses and stray releases are dropped.

Custom profiles (``[console.hotkeys]`` as a table; every key optional)::

    base = "scrolllock"        # profile the other keys modify: scrolllock, ctrl, alt
    trigger = "KEY_RIGHTCTRL"  # or a list of names, or evdev code numbers
    taps = 2                   # 1..5
    tap_window = 0.5           # seconds
    command_window = 2.0       # seconds
    digit_pause = 1.0          # seconds
    keypad_digits = true       # keypad digits (and keypad dot) count as digits
    enabled = true
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from kvmswitchd.core.ports import MAX_CASCADE_CHANNEL, MAX_PORTS
from kvmswitchd.errors import ConfigError

# evdev key codes (include/uapi/linux/input-event-codes.h). Local until hid.evcodes lands.
KEY_ESC = 1
KEY_0 = 11
KEY_ENTER = 28
KEY_LEFTCTRL = 29
KEY_A = 30
KEY_DOT = 52
KEY_LEFTALT = 56
KEY_SCROLLLOCK = 70
KEY_KPDOT = 83
KEY_KPENTER = 96
KEY_UP = 103
KEY_PAGEUP = 104
KEY_DOWN = 108
KEY_PAGEDOWN = 109
KEY_MAX = 0x2FF

# Top-row 1..9 are codes 2..10, 0 is 11.
TOP_ROW_DIGITS: Mapping[int, int] = {**{code: code - 1 for code in range(2, 11)}, KEY_0: 0}
KEYPAD_DIGITS: Mapping[int, int] = {
    82: 0, 79: 1, 80: 2, 81: 3, 75: 4, 76: 5, 77: 6, 71: 7, 72: 8, 73: 9,
}  # fmt: skip

# Keys a custom profile may name as its trigger (codes are also accepted as numbers).
TRIGGER_KEYS: Mapping[str, int] = {
    "KEY_SCROLLLOCK": KEY_SCROLLLOCK, "KEY_PAUSE": 119, "KEY_SYSRQ": 99,
    "KEY_LEFTCTRL": KEY_LEFTCTRL, "KEY_RIGHTCTRL": 97, "KEY_LEFTALT": KEY_LEFTALT,
    "KEY_RIGHTALT": 100, "KEY_LEFTSHIFT": 42, "KEY_RIGHTSHIFT": 54, "KEY_LEFTMETA": 125,
    "KEY_RIGHTMETA": 126, "KEY_CAPSLOCK": 58, "KEY_NUMLOCK": 69, "KEY_COMPOSE": 127,
    "KEY_INSERT": 110, **{f"KEY_F{n}": 58 + n for n in range(1, 11)}, "KEY_F11": 87,
    "KEY_F12": 88,
}  # fmt: skip

MAX_TAPS = 5
# A port or channel number never needs more digits than this (ports and channels ≤ 64);
# a longer number is invalid at once rather than accumulated.
MAX_NUMBER_DIGITS = len(str(max(MAX_PORTS, MAX_CASCADE_CHANNEL)))


@dataclass(frozen=True, slots=True)
class HotkeyProfile:
    """How command mode is entered, and the windows that bound it (seconds)."""

    name: str
    triggers: frozenset[int]
    taps: int = 2
    tap_window: float = 0.5
    command_window: float = 2.0
    digit_pause: float = 1.0
    keypad_digits: bool = True
    enabled: bool = True


PROFILES: Mapping[str, HotkeyProfile] = {
    "scrolllock": HotkeyProfile("scrolllock", frozenset({KEY_SCROLLLOCK})),
    "ctrl": HotkeyProfile("ctrl", frozenset({KEY_LEFTCTRL})),
    "alt": HotkeyProfile("alt", frozenset({KEY_LEFTALT})),
    "off": HotkeyProfile("off", frozenset(), enabled=False),
}
DEFAULT_PROFILE = PROFILES["scrolllock"]

# (lowest, highest) accepted for each timing key of a custom profile, in seconds.
_WINDOW_LIMITS: Mapping[str, tuple[float, float]] = {
    "tap_window": (0.05, 5.0),
    "command_window": (0.2, 30.0),
    "digit_pause": (0.2, 10.0),
}
_TABLE_KEYS = ("base", "trigger", "taps", *_WINDOW_LIMITS, "keypad_digits", "enabled")


def _trigger_code(value: object, path: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= KEY_MAX:
        return value
    if isinstance(value, str) and value.upper() in TRIGGER_KEYS:
        return TRIGGER_KEYS[value.upper()]
    raise ConfigError(
        path, f"expected a trigger key name ({', '.join(TRIGGER_KEYS)}) or code, got {value!r}"
    )


def _seconds(value: Mapping[str, object], key: str, default: float, path: str) -> float:
    if key not in value:
        return default
    low, high = _WINDOW_LIMITS[key]
    seconds = value[key]
    if not isinstance(seconds, int | float) or isinstance(seconds, bool):
        raise ConfigError(f"{path}.{key}", f"expected seconds {low}..{high}, got {seconds!r}")
    if not low <= seconds <= high:
        raise ConfigError(f"{path}.{key}", f"expected seconds {low}..{high}, got {seconds!r}")
    return float(seconds)


def _flag(value: Mapping[str, object], key: str, default: bool, path: str) -> bool:
    flag = value.get(key, default)
    if not isinstance(flag, bool):
        raise ConfigError(f"{path}.{key}", f"expected true or false, got {flag!r}")
    return flag


def profile_from_config(value: str | Mapping[str, object], path: str) -> HotkeyProfile:
    """Build a profile from ``console.hotkeys``: a built-in name or a custom table.

    ``path`` is the key path of ``value`` (``"console.hotkeys"``); errors name the key.
    """
    if isinstance(value, str):
        if value in PROFILES:
            return PROFILES[value]
        raise ConfigError(path, f"expected one of {', '.join(PROFILES)} or a table, got {value!r}")
    if not isinstance(value, Mapping):
        raise ConfigError(path, f"expected a profile name or a table, got {type(value).__name__}")
    for key in value:
        if key not in _TABLE_KEYS:
            raise ConfigError(f"{path}.{key}", f"unknown key; expected {', '.join(_TABLE_KEYS)}")
    base_name = value.get("base", "scrolllock")
    if base_name not in ("scrolllock", "ctrl", "alt"):
        raise ConfigError(f"{path}.base", f"expected scrolllock, ctrl or alt, got {base_name!r}")
    base = PROFILES[str(base_name)]
    triggers = base.triggers
    if "trigger" in value:
        raw = value["trigger"]
        items = raw if isinstance(raw, list) else [raw]
        if not items:
            raise ConfigError(f"{path}.trigger", "expected at least one key")
        triggers = frozenset(_trigger_code(item, f"{path}.trigger") for item in items)
    taps = value.get("taps", base.taps)
    if not isinstance(taps, int) or isinstance(taps, bool) or not 1 <= taps <= MAX_TAPS:
        raise ConfigError(f"{path}.taps", f"expected an integer 1..{MAX_TAPS}, got {taps!r}")
    return HotkeyProfile(
        name="custom",
        triggers=triggers,
        taps=taps,
        tap_window=_seconds(value, "tap_window", base.tap_window, path),
        command_window=_seconds(value, "command_window", base.command_window, path),
        digit_pause=_seconds(value, "digit_pause", base.digit_pause, path),
        keypad_digits=_flag(value, "keypad_digits", base.keypad_digits, path),
        enabled=_flag(value, "enabled", base.enabled, path),
    )


# --- what the detector reports -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ModeEntered:
    """Command mode began (LED feedback can start)."""


@dataclass(frozen=True, slots=True)
class SelectPort:
    """Switch to ``port`` (``"3"``, ``"12"``, ``"2.4"``); validated against the unit size."""

    port: str


@dataclass(frozen=True, slots=True)
class StepPort:
    """Previous (-1) or next (+1) port."""

    direction: int


@dataclass(frozen=True, slots=True)
class StartScan:
    """Start auto-scan."""


@dataclass(frozen=True, slots=True)
class Cancelled:
    """Command mode ended without a command: Esc, or the command window passed."""

    timed_out: bool = False


@dataclass(frozen=True, slots=True)
class InvalidCommand:
    """The "low beep": the command was not valid; it was swallowed and the mode ended."""

    reason: str


HotkeyAction = ModeEntered | SelectPort | StepPort | StartScan | Cancelled | InvalidCommand


@dataclass(frozen=True, slots=True)
class HotkeyResult:
    """Key events for the km-focused port, in order, and the hotkey actions that happened."""

    forward: tuple[tuple[int, bool], ...] = ()
    actions: tuple[HotkeyAction, ...] = ()


NOTHING = HotkeyResult()
# Results that only forward one key change, shared (the common case costs no allocation).
_PASS: dict[tuple[int, bool], HotkeyResult] = {}


def _passed(code: int, pressed: bool) -> HotkeyResult:
    key = (code, pressed)
    result = _PASS.get(key)
    if result is None:
        result = _PASS[key] = HotkeyResult(((code, pressed),))
    return result


class _Mode(enum.Enum):
    IDLE = enum.auto()  # counting trigger taps
    COMMAND = enum.auto()  # waiting for the command key
    NUMBER = enum.auto()  # accumulating a port number (or U.C)


class HotkeyDetector:
    """Hotkey state machine for one console keyboard stream (all console keyboards)."""

    def __init__(self, profile: HotkeyProfile, ports: int, cascades: Collection[int] = ()) -> None:
        """``cascades``: ports that lead to a downstream switch (``U.C`` is allowed on them)."""
        self.profile = profile
        self.ports = ports
        self.cascades = frozenset(cascades)
        self._digits = dict(TOP_ROW_DIGITS)
        if profile.keypad_digits:
            self._digits.update(KEYPAD_DIGITS)
        self._dots = {KEY_DOT, KEY_KPDOT} if profile.keypad_digits else {KEY_DOT}
        self._forwarded: set[int] = set()  # pressed keys whose press went to the port
        self._swallowed: set[int] = set()  # pressed keys whose press was swallowed
        self._held: int | None = None  # trigger pressed with no other key since
        self._held_since = 0.0
        self._taps: list[float] = []  # press times of recent complete taps of _tap_key
        self._tap_key: int | None = None
        self._mode = _Mode.IDLE
        self._deadline: float | None = None
        self._unit = ""  # digits typed so far
        self._channel: str | None = None  # digits after the dot, once a dot was typed
        self._bad: str | None = None  # why the number being typed is already invalid

    @property
    def in_command_mode(self) -> bool:
        return self._mode is not _Mode.IDLE

    def next_deadline(self) -> float | None:
        """When ``handle_timer`` must run next (None: no timer needed)."""
        return self._deadline

    def handle_timer(self, now: float) -> HotkeyResult:
        """Settle an expired command window or digit pause."""
        if self._deadline is None or now < self._deadline:
            return NOTHING
        return HotkeyResult((), (self._expire(),))

    def reset(self) -> HotkeyResult:
        """Abandon tap counting and any command in progress (keys stay tracked)."""
        self._held = None
        self._taps.clear()
        if self._mode is _Mode.IDLE:
            return NOTHING
        return HotkeyResult((), (self._end(Cancelled()),))

    def feed(self, code: int, pressed: bool, now: float) -> HotkeyResult:
        """One key change from the console (press or release; never autorepeat)."""
        if not 0 <= code <= KEY_MAX:
            return NOTHING
        if not pressed:
            return self._release(code, now)
        if code in self._forwarded or code in self._swallowed:
            return NOTHING  # a duplicate press: the port already has (or never gets) it
        if not self.profile.enabled:
            self._forwarded.add(code)
            return _passed(code, True)
        settled: tuple[HotkeyAction, ...] = ()
        if self._deadline is not None and now >= self._deadline:
            settled = (self._expire(),)  # the timer was late; the key is not a command
        if self._mode is not _Mode.IDLE:
            self._swallowed.add(code)
            action = self._command(code, now)
            return HotkeyResult((), settled if action is None else (*settled, action))
        if code in self.profile.triggers and self._held is None:
            self._held = code
            self._held_since = now
        else:
            self._held = None
            self._taps.clear()
        self._forwarded.add(code)
        if settled:
            return HotkeyResult(((code, True),), settled)
        return _passed(code, True)

    # --- internals -----------------------------------------------------------------

    def _release(self, code: int, now: float) -> HotkeyResult:
        if code in self._swallowed:
            self._swallowed.discard(code)
            return NOTHING
        if code not in self._forwarded:
            return NOTHING  # its press never reached the port (held before we started)
        self._forwarded.discard(code)
        if code != self._held:
            return _passed(code, False)
        self._held = None
        if self._mode is not _Mode.IDLE or now - self._held_since > self.profile.tap_window:
            self._taps.clear()
            return _passed(code, False)
        if self._tap_key != code:
            self._taps.clear()
            self._tap_key = code
        window = self.profile.tap_window
        taps = [t for t in self._taps if now - t <= window]
        taps.append(self._held_since)
        if len(taps) < self.profile.taps:
            self._taps = taps
            return _passed(code, False)
        self._taps = []
        self._mode = _Mode.COMMAND
        self._deadline = now + self.profile.command_window
        return HotkeyResult(((code, False),), (ModeEntered(),))

    def _end(self, action: HotkeyAction) -> HotkeyAction:
        self._mode = _Mode.IDLE
        self._deadline = None
        self._unit = ""
        self._channel = None
        self._bad = None
        return action

    def _expire(self) -> HotkeyAction:
        if self._mode is _Mode.NUMBER:
            return self._complete()
        return self._end(Cancelled(timed_out=True))

    def _command(self, code: int, now: float) -> HotkeyAction | None:
        """Handle a command-mode key press; None while a number is still being typed."""
        digit = self._digits.get(code)
        if self._mode is _Mode.COMMAND:
            if digit is not None:
                self._unit = str(digit)
                if self.ports < 10 and digit not in self.cascades:
                    return self._complete()
                self._mode = _Mode.NUMBER
                self._deadline = now + self.profile.digit_pause
                return None
            if code in (KEY_UP, KEY_PAGEUP):
                return self._end(StepPort(-1))
            if code in (KEY_DOWN, KEY_PAGEDOWN):
                return self._end(StepPort(1))
            if code == KEY_A:
                return self._end(StartScan())
            if code == KEY_ESC:
                return self._end(Cancelled())
            return self._end(InvalidCommand(f"key {code} is not a hotkey command"))
        # _Mode.NUMBER: digits and dots are judged on Enter or the pause, so that the
        # Enter of a mistyped number is swallowed too.
        if digit is not None or code in self._dots:
            if self._bad is None:
                if digit is None:
                    self._dot()
                elif self._channel is None:
                    self._unit += str(digit)
                else:
                    self._channel += str(digit)
                if (
                    len(self._unit) > MAX_NUMBER_DIGITS
                    or len(self._channel or "") > MAX_NUMBER_DIGITS
                ):
                    self._bad = f"{self._typed()} is too long for a port"
            self._deadline = now + self.profile.digit_pause
            return None
        if code in (KEY_ENTER, KEY_KPENTER):
            return self._complete()
        if code == KEY_ESC:
            return self._end(Cancelled())
        return self._end(InvalidCommand(f"key {code} is not a hotkey command"))

    def _dot(self) -> None:
        if self._channel is None:
            self._channel = ""
        else:
            self._bad = f"{self._typed()}. has two dots"

    def _typed(self) -> str:
        return self._unit if self._channel is None else f"{self._unit}.{self._channel}"

    def _complete(self) -> HotkeyAction:
        typed = self._typed()
        if self._bad is not None:
            return self._end(InvalidCommand(self._bad))
        if self._unit.startswith("0") or (self._channel or "").startswith("0"):
            return self._end(InvalidCommand(f"{typed} is not a port"))
        unit = int(self._unit)
        if not 1 <= unit <= self.ports:
            return self._end(InvalidCommand(f"no port {unit}: ports are 1..{self.ports}"))
        if self._channel is None:
            return self._end(SelectPort(typed))
        if unit not in self.cascades:
            return self._end(InvalidCommand(f"port {unit} has no cascaded switch"))
        if not self._channel or not 1 <= int(self._channel) <= MAX_CASCADE_CHANNEL:
            return self._end(InvalidCommand(f"{typed} is not a cascade port"))
        return self._end(SelectPort(typed))
