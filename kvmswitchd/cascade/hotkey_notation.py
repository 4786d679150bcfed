"""The hotkey sequence notation of the ``hotkeys`` downstream kind, sans-IO.

A switch with no control line is driven by typing its hotkey into the keyboard of the
upstream port it hangs off. A sequence is whitespace-separated tokens::

    ScrollLock ScrollLock {port} Enter      taps, and the channel's digits
    +LeftCtrl +LeftAlt {port} -LeftAlt -LeftCtrl   press ... release
    LeftCtrl LeftCtrl *500ms {port}         a wait of 500 ms after the trigger

* ``NAME`` taps a key (press, ``hold``, release); ``+-NAME`` (Adder's form) too.
* ``+NAME`` presses a key and ``-NAME`` releases it. A sequence must release every key
  it presses, and may not release a key it did not press (a parse error otherwise).
* ``*200ms``, ``*1.5s``, ``*500`` (milliseconds) wait; ``*`` alone waits 250 ms (the
  Adder default).
* ``{port}`` taps the decimal digits of the channel being selected; ``{port:2}`` pads
  them with zeros to two digits (``04``).

Key names are the kernel's without ``KEY_`` (``ScrollLock``, ``LeftCtrl``, ``Enter``,
``F1``, ``KP1``, ``1``; any case, ``KEY_`` accepted) and a few common aliases
(``Ctrl``, ``Shift``, ``Alt``, ``ScrLk``, ``Esc``...). Mouse buttons are not keys.

``parse_sequence`` returns the steps; ``format_sequence`` writes them back in a form
``parse_sequence`` reads to the same steps. ``schedule`` turns steps plus the channel
into timed key events (``delay`` after every key step, ``hold`` inside a tap), and
``SequencePlayer`` hands them out as their time comes (``now`` injected). Parse errors
are ``InputError``s naming the position (1-based character) and the token.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass

from hid.evcodes import BTN_MISC, CODES, EV_KEY, KEY_0, KEY_1, code_name
from kvmswitchd.errors import InputError

# The text of one sequence. Stops a config from holding a "sequence" of any size.
MAX_SEQUENCE_CHARS = 512
# Tokens in one sequence; no vendor's hotkey needs more than a dozen.
MAX_STEPS = 64
# Key events one selection types after ``{port}`` is expanded (press and release each).
MAX_KEY_EVENTS = 256
# One wait, and the whole sequence (milliseconds): a typo such as ``*5000s`` must not keep
# port N's keyboard busy for hours.
MAX_WAIT_MS = 10_000
MAX_TOTAL_MS = 30_000
# Zero-padding of ``{port:N}``: more digits than any port number has is a typo.
MAX_PORT_WIDTH = 4
DEFAULT_WAIT_MS = 250  # ``*`` alone (the Adder convention)

ALIASES: Mapping[str, str] = {
    "CTRL": "LEFTCTRL", "LCTRL": "LEFTCTRL", "RCTRL": "RIGHTCTRL",
    "SHIFT": "LEFTSHIFT", "LSHIFT": "LEFTSHIFT", "RSHIFT": "RIGHTSHIFT",
    "ALT": "LEFTALT", "LALT": "LEFTALT", "RALT": "RIGHTALT", "ALTGR": "RIGHTALT",
    "META": "LEFTMETA", "WIN": "LEFTMETA", "SUPER": "LEFTMETA",
    "SCRLK": "SCROLLLOCK", "SCROLL": "SCROLLLOCK", "NUMLK": "NUMLOCK", "CAPS": "CAPSLOCK",
    "ESCAPE": "ESC", "RETURN": "ENTER", "DEL": "DELETE", "INS": "INSERT",
    "PGUP": "PAGEUP", "PGDN": "PAGEDOWN", "SPC": "SPACE",
}  # fmt: skip
WAIT = re.compile(r"\*(?:(\d{1,6}(?:\.\d{1,3})?)(ms|s)?)?", re.IGNORECASE)
PORT = re.compile(r"\{port(?::(\d))?\}", re.IGNORECASE)


class Action(enum.Enum):
    TAP = "tap"
    PRESS = "press"
    RELEASE = "release"
    WAIT = "wait"
    PORT = "port"  # tap the channel's digits


@dataclass(frozen=True, slots=True)
class Step:
    action: Action
    code: int = 0  # the key of TAP, PRESS, RELEASE
    ms: int = 0  # WAIT: milliseconds
    width: int = 0  # PORT: zero-padded to this many digits (0: as many as it has)


@dataclass(frozen=True, slots=True)
class KeyEvent:
    at: float  # seconds after the sequence starts
    code: int
    pressed: bool


def key_code(name: str) -> int | None:
    """``ScrollLock``/``KEY_SCROLLLOCK``/``scrlk`` → 70; None when it names no key."""
    upper = name.upper().removeprefix("KEY_")
    code = CODES.get("KEY_" + ALIASES.get(upper, upper))
    return code if code is not None and 0 < code < BTN_MISC else None


def key_name(code: int) -> str:
    """The name ``format_sequence`` writes (``SCROLLLOCK``): ``key_code`` reads it back."""
    return code_name(EV_KEY, code).removeprefix("KEY_")


def _error(position: int, token: str, why: str) -> InputError:
    return InputError(f"position {position + 1}, {token[:32]!r}: {why}")


def parse_sequence(text: str) -> tuple[Step, ...]:
    """Parse the notation; InputError names the position and token of the first fault."""
    if len(text) > MAX_SEQUENCE_CHARS:
        raise InputError(f"sequence is {len(text)} characters; at most {MAX_SEQUENCE_CHARS}")
    steps: list[Step] = []
    pressed: set[int] = set()
    last_press: dict[int, tuple[int, str]] = {}
    for match in re.finditer(r"\S+", text):
        token, position = match.group(), match.start()
        if len(steps) >= MAX_STEPS:
            raise _error(position, token, f"more than {MAX_STEPS} steps")
        step = _step(token, position)
        if step.action is Action.PRESS:
            if step.code in pressed:
                raise _error(position, token, "key is already pressed")
            pressed.add(step.code)
            last_press[step.code] = (position, token)
        elif step.action is Action.RELEASE:
            if step.code not in pressed:
                raise _error(position, token, "key is released but was not pressed")
            pressed.discard(step.code)
        elif step.action in (Action.TAP, Action.PORT):
            held = pressed & ({step.code} if step.action is Action.TAP else set(DIGIT_KEYS))
            if held:
                raise _error(position, token, "key is tapped while it is held")
        steps.append(step)
    if not steps:
        raise InputError("sequence is empty")
    if pressed:
        position, token = min(last_press[code] for code in pressed)
        raise _error(position, token, "key is pressed and never released")
    if not any(s.action is Action.PORT for s in steps):
        raise InputError("sequence has no {port}: it would select the same port every time")
    return tuple(steps)


def _step(token: str, position: int) -> Step:
    if token.startswith("*"):
        return _wait(token, position)
    if token.startswith("{"):
        port = PORT.fullmatch(token)
        if port is None:
            raise _error(position, token, "expected {port} or {port:N}")
        width = int(port[1] or 0)
        if width > MAX_PORT_WIDTH:
            raise _error(position, token, f"width is at most {MAX_PORT_WIDTH}")
        return Step(Action.PORT, width=width)
    action, name = Action.TAP, token
    if token.startswith("+-"):
        name = token[2:]
    elif token[0] in "+-":
        action, name = (Action.PRESS if token[0] == "+" else Action.RELEASE), token[1:]
    code = key_code(name)
    if code is None:
        raise _error(position, token, "unknown key name")
    return Step(action, code=code)


def _wait(token: str, position: int) -> Step:
    match = WAIT.fullmatch(token)
    if match is None:
        raise _error(position, token, "expected a wait like *200ms, *1.5s or *")
    number, unit = match[1], (match[2] or "ms").lower()
    if number is None:
        return Step(Action.WAIT, ms=DEFAULT_WAIT_MS)
    ms = round(float(number) * (1000 if unit == "s" else 1))
    if unit == "ms" and "." in number:
        raise _error(position, token, "milliseconds are whole numbers")
    if not 0 < ms <= MAX_WAIT_MS:
        raise _error(position, token, f"a wait is 1 ms .. {MAX_WAIT_MS // 1000} s")
    return Step(Action.WAIT, ms=ms)


def format_sequence(steps: tuple[Step, ...]) -> str:
    """The notation for ``steps`` (``parse_sequence`` reads it back to the same steps)."""
    words = []
    for step in steps:
        match step.action:
            case Action.TAP:
                words.append(key_name(step.code))
            case Action.PRESS:
                words.append("+" + key_name(step.code))
            case Action.RELEASE:
                words.append("-" + key_name(step.code))
            case Action.WAIT:
                words.append(f"*{step.ms}ms")
            case Action.PORT:
                words.append(f"{{port:{step.width}}}" if step.width else "{port}")
    return " ".join(words)


DIGIT_KEYS = (KEY_0, *range(KEY_1, KEY_1 + 9))  # index = the digit


def port_digits(step: Step, channel: int) -> str:
    """What ``{port}`` types for ``channel``; InputError when it does not fit the width."""
    digits = str(channel)
    if step.width and len(digits) > step.width:
        raise InputError(f"channel {channel} has more than the {step.width} digits of {{port}}")
    return digits.zfill(step.width)


def schedule(
    steps: tuple[Step, ...], channel: int, *, hold: float, delay: float
) -> tuple[KeyEvent, ...]:
    """The timed key events that select ``channel``: a tap is a press and, ``hold``
    seconds later, its release; ``delay`` seconds follow every key step; waits add on."""
    hold_ms, delay_ms = round(hold * 1000), round(delay * 1000)
    events: list[KeyEvent] = []
    t = 0  # milliseconds: whole numbers, so every offset is exact

    def key(code: int, pressed: bool) -> None:
        events.append(KeyEvent(t / 1000, code, pressed))

    for step in steps:
        if step.action is Action.WAIT:
            t += step.ms
            continue
        taps = [step.code] if step.action is Action.TAP else []
        if step.action is Action.PORT:
            taps = [DIGIT_KEYS[int(d)] for d in port_digits(step, channel)]
        for code in taps:
            key(code, True)
            t += hold_ms
            key(code, False)
            t += delay_ms
        if step.action in (Action.PRESS, Action.RELEASE):
            key(step.code, step.action is Action.PRESS)
            t += delay_ms
    if len(events) > MAX_KEY_EVENTS:
        raise InputError(f"the sequence types {len(events)} key events; at most {MAX_KEY_EVENTS}")
    if events and events[-1].at * 1000 > MAX_TOTAL_MS:
        raise InputError(
            f"the sequence takes {events[-1].at:g} s; at most {MAX_TOTAL_MS // 1000} s"
        )
    return tuple(events)


class SequencePlayer:
    """Hands out the events of one sequence as their time comes (sans-IO).

    ``next_deadline()`` is when the next event is due (None: done); ``due(now)`` is that
    event if it is due by ``now``, and ``sent()`` records that it went out; ``held()``
    lists the keys pressed and not yet released, last pressed first (what an interrupted
    sequence must release)."""

    def __init__(self, events: tuple[KeyEvent, ...], start: float) -> None:
        self._events = events
        self._start = start
        self._next = 0
        self._held: list[int] = []

    @property
    def count(self) -> int:
        """How many events went out."""
        return self._next

    @property
    def total(self) -> int:
        return len(self._events)

    def next_deadline(self) -> float | None:
        if self._next >= len(self._events):
            return None
        return self._start + self._events[self._next].at

    def due(self, now: float) -> KeyEvent | None:
        deadline = self.next_deadline()
        return self._events[self._next] if deadline is not None and deadline <= now else None

    def sent(self) -> None:
        event = self._events[self._next]
        self._next += 1
        if event.pressed:
            self._held.append(event.code)
        elif event.code in self._held:
            self._held.remove(event.code)

    def held(self) -> tuple[int, ...]:
        return tuple(reversed(self._held))
