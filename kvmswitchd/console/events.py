"""Console input after normalisation, and the per-device assembler that produces it.

Both console sources read ``struct input_event`` records (``kvmswitchd.console.records``)
and hand them to a ``ConsoleAssembler``, which turns each ``SYN_REPORT`` batch into the
values below and gives them to the ``ConsoleSink``. Sans-IO: no os, no asyncio.

The assembler is the hottest path of the daemon (every console event passes here), so
its loop works on the raw tuples ``struct.iter_unpack`` yields, key and button changes
are shared pre-built values, and only a ``SYN_REPORT`` that carries motion allocates.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from kvmswitchd.console.records import (
    ABS_MAX,
    ABS_X,
    ABS_Y,
    BTN_LEFT,
    BTN_MIDDLE,
    BTN_RIGHT,
    BTN_TOUCH,
    EV_ABS,
    EV_KEY,
    EV_LED,
    EV_MAX,
    EV_MSC,
    EV_REL,
    EV_REP,
    EV_SYN,
    KEY_LEFTCTRL,
    KEY_LEFTSHIFT,
    KEY_MAX,
    KEY_RIGHTCTRL,
    KEY_RIGHTSHIFT,
    LED_CAPSL,
    LED_COMPOSE,
    LED_KANA,
    LED_NUML,
    LED_SCROLLL,
    PORT_LEDS,
    RECORD,
    RECORD_SIZE,
    REL_HWHEEL,
    REL_HWHEEL_HI_RES,
    REL_MAX,
    REL_WHEEL,
    REL_WHEEL_HI_RES,
    REL_X,
    REL_Y,
    SYN_DROPPED,
    SYN_REPORT,
    WHEEL_HI_RES_PER_DETENT,
    InputEvent,
    decode_records,
    encode_record,
    is_button,
    leds_from_hid,
)

# The wire names are re-exported: callers import console input from this one module.
__all__ = [
    "ABS_X", "ABS_Y", "BTN_LEFT", "BTN_MIDDLE", "BTN_RIGHT", "BTN_TOUCH", "EV_ABS", "EV_KEY",
    "EV_LED", "EV_MSC", "EV_REL", "EV_REP", "EV_SYN", "KEY_LEFTCTRL", "KEY_LEFTSHIFT",
    "KEY_MAX", "KEY_RIGHTCTRL", "KEY_RIGHTSHIFT", "LED_CAPSL", "LED_COMPOSE", "LED_KANA",
    "LED_NUML", "LED_SCROLLL", "MAX_BATCH_INPUTS", "MAX_MOTION", "MAX_WHEEL", "PORT_LEDS",
    "RECORD", "RECORD_SIZE", "REL_HWHEEL", "REL_HWHEEL_HI_RES", "REL_WHEEL",
    "REL_WHEEL_HI_RES", "REL_X", "REL_Y", "SYN_DROPPED", "SYN_REPORT", "AbsMotion",
    "ButtonChange", "ConsoleAssembler", "ConsoleInput", "ConsoleSink", "InputEvent",
    "KeyChange", "Motion", "decode_records", "encode_record", "is_button", "leds_from_hid",
]  # fmt: skip


# --- normalised console input ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KeyChange:
    """A keyboard key (evdev ``KEY_*`` code) went down or up. Never autorepeat."""

    code: int
    pressed: bool


@dataclass(frozen=True, slots=True)
class ButtonChange:
    """A pointer button (evdev ``BTN_*`` code) went down or up."""

    code: int
    pressed: bool


@dataclass(frozen=True, slots=True)
class Motion:
    """Relative pointer movement summed over one ``SYN_REPORT`` batch.

    ``wheel``/``hwheel`` are in detents (high-resolution wheel events are folded in,
    never counted twice). Deltas are not split: an encoder limited to ±127 per report
    splits them itself.
    """

    dx: int
    dy: int
    wheel: int = 0
    hwheel: int = 0


@dataclass(frozen=True, slots=True)
class AbsMotion:
    """Absolute pointer position, with the device's range for each axis."""

    x: int
    y: int
    x_min: int = 0
    x_max: int = 32767
    y_min: int = 0
    y_max: int = 32767

    def scaled(self, limit: int = 32767) -> tuple[int, int]:
        """The position mapped onto ``0..limit`` on both axes (HID absolute pointer)."""
        return (
            _scale(self.x, self.x_min, self.x_max, limit),
            _scale(self.y, self.y_min, self.y_max, limit),
        )


def _scale(value: int, low: int, high: int, limit: int) -> int:
    if high <= low:
        return 0
    value = min(max(value, low), high)
    return (value - low) * limit // (high - low)


ConsoleInput = KeyChange | ButtonChange | Motion | AbsMotion


class ConsoleSink(Protocol):
    """Where console sources deliver input (routing -> hotkeys -> the port's encoder)."""

    def console_input(self, device: str, batch: Sequence[ConsoleInput], now: float) -> None:
        """One batch from ``device`` (``"fifo:/run/x"``, ``"/dev/input/event3"``), in order:
        key and button changes as they happened, then at most one ``Motion`` and one
        ``AbsMotion``. ``now`` is the monotonic time the batch was read."""


# A writer that never sends SYN_REPORT would grow a batch forever; past this many key
# changes the batch is delivered anyway.
MAX_BATCH_INPUTS = 256
# Coalesced motion is clamped to this per batch, so a writer sending huge REL values
# cannot make an encoder that splits deltas into ±127 reports emit millions of them.
MAX_MOTION = 32767
MAX_WHEEL = 127  # detents per batch, same reason

DEFAULT_ABS_RANGE = (0, 32767)

# Every possible key/button change, built once: index (code << 1) | pressed.
_CHANGES: tuple[KeyChange | ButtonChange, ...] = tuple(
    (ButtonChange if is_button(code) else KeyChange)(code, bool(pressed))
    for code in range(KEY_MAX + 1)
    for pressed in (0, 1)
)
# Returned by _feed at the SYN_REPORT that ends a SYN_DROPPED gap: resync now.
_RESYNC: list[ConsoleInput] = []


def _clamp(value: int, limit: int) -> int:
    return -limit if value < -limit else min(value, limit)


class ConsoleAssembler:
    """Turns one device's event stream into batches, one per ``SYN_REPORT``.

    ``syn``: True batches by ``SYN_REPORT`` (evdev devices); False delivers every event
    at once (a device without EV_SYN); None (``fifo:`` writers, which may omit SYN)
    delivers every event at once until the stream's first ``SYN_REPORT``, then batches.
    ``abs_range`` maps ``ABS_X``/``ABS_Y`` to the device's (min, max).
    """

    def __init__(
        self, *, syn: bool | None = True, abs_range: Mapping[int, tuple[int, int]] | None = None
    ) -> None:
        self._batching = bool(syn)
        self._auto = syn is None
        ranges = abs_range or {}
        self._x_range = ranges.get(ABS_X, DEFAULT_ABS_RANGE)
        self._y_range = ranges.get(ABS_Y, DEFAULT_ABS_RANGE)
        self._pressed: set[int] = set()  # keys and buttons down, delivered or pending
        self._pending: list[ConsoleInput] = []
        self._dx = self._dy = self._wheel = self._hwheel = 0
        self._wheel_hr = self._hwheel_hr = 0  # high-resolution remainders (1/120 detent)
        self._wheel_lo_seen = self._hwheel_lo_seen = False  # device sends detents itself
        self._moved = False
        self._abs_x, self._abs_y = self._x_range[0], self._y_range[0]
        self._abs_moved = False
        self._dropping = False
        self._rest = b""
        self.needs_resync = False
        self.ignored = 0  # malformed events seen (bad type, code or value)

    @property
    def pressed(self) -> frozenset[int]:
        """Keys and buttons this device holds down."""
        return frozenset(self._pressed)

    def feed(self, event: tuple[int, int, int, int, int]) -> list[ConsoleInput] | None:
        """One event (``InputEvent`` or the raw tuple); a batch when one completes.

        After ``SYN_DROPPED`` events are ignored up to and including the next
        ``SYN_REPORT``; then ``needs_resync`` is set and the caller must call ``resync``.
        """
        batch = self._feed(event[2], event[3], event[4])
        return None if batch is _RESYNC else batch

    def feed_bytes(
        self, data: bytes, active_keys: Callable[[], Iterable[int]] | None = None
    ) -> list[list[ConsoleInput]]:
        """Raw ``input_event`` bytes, any chunking; the batches they complete, in order.

        A partial record is kept for the next call. At a resync point ``active_keys()``
        (the device's real held keys) is queried at once, so the resync batch sits in
        stream order; without it the device is assumed to hold nothing.
        """
        if self._rest:
            data = self._rest + data
        whole = len(data) - len(data) % RECORD_SIZE
        self._rest = data[whole:]
        out: list[list[ConsoleInput]] = []
        feed = self._feed
        changes = _CHANGES
        # The common case runs inline: key changes and a SYN_REPORT that ends a batch of
        # them, while batching with no motion pending. Everything else, and any state
        # change, goes through _feed; the locals are reloaded after it.
        fast = plain = False
        pressed, pending = self._pressed, self._pending
        reload = True
        for _sec, _usec, etype, code, value in RECORD.iter_unpack(memoryview(data)[:whole]):
            if reload:
                reload = False
                fast = self._batching and not self._dropping
                plain = not (self._moved or self._abs_moved)
                pressed, pending = self._pressed, self._pending
            if fast:
                if etype == EV_KEY and code <= KEY_MAX and len(pending) < MAX_BATCH_INPUTS - 1:
                    if value == 1:
                        if code not in pressed:
                            pressed.add(code)
                            pending.append(changes[code << 1 | 1])
                        continue
                    if value == 0:
                        if code in pressed:
                            pressed.discard(code)
                            pending.append(changes[code << 1])
                        continue
                    if value == 2:
                        continue  # autorepeat
                elif etype == EV_SYN and code == SYN_REPORT and plain:
                    if pending:
                        out.append(pending)
                        self._pending = pending = []
                    continue
            batch = feed(etype, code, value)
            reload = True
            if batch is not None:
                if batch is _RESYNC:
                    batch = self.resync(active_keys() if active_keys is not None else ())
                    if not batch:
                        continue
                out.append(batch)
        return out

    def resync(self, active_keys: Iterable[int]) -> list[ConsoleInput]:
        """Bring the held set to ``active_keys``: releases, then presses, that differ."""
        active = {code for code in active_keys if 0 <= code <= KEY_MAX}
        pressed = self._pressed
        out: list[ConsoleInput] = [_CHANGES[code << 1] for code in sorted(pressed - active)]
        out += [_CHANGES[code << 1 | 1] for code in sorted(active - pressed)]
        self._pressed = active
        self.needs_resync = False
        return out

    def drop_partial(self) -> int:
        """Forget a partial record kept from the last read (its writer left); its size."""
        dropped, self._rest = len(self._rest), b""
        return dropped

    def device_lost(self) -> list[ConsoleInput]:
        """The device went away: release everything it held (as delivered); reset."""
        self._rollback()
        out: list[ConsoleInput] = [_CHANGES[code << 1] for code in sorted(self._pressed)]
        self._pressed.clear()
        self._clear_motion()
        self._abs_moved = self._dropping = self.needs_resync = False
        self._rest = b""
        return out

    # --- internals ---------------------------------------------------------------------

    def _feed(self, etype: int, code: int, value: int) -> list[ConsoleInput] | None:
        if self._dropping:
            if etype == EV_SYN and code == SYN_REPORT:
                self._dropping = False
                self.needs_resync = True
                return _RESYNC
            return None
        if etype == EV_KEY:
            if code > KEY_MAX:
                self.ignored += 1
                return None
            if value == 1:
                if code in self._pressed:
                    return None
                self._pressed.add(code)
                self._pending.append(_CHANGES[code << 1 | 1])
            elif value == 0:
                if code not in self._pressed:
                    return None
                self._pressed.discard(code)
                self._pending.append(_CHANGES[code << 1])
            elif value == 2:
                return None  # autorepeat: the port's host repeats from the held key itself
            else:
                self.ignored += 1
                return None
            if not self._batching or len(self._pending) >= MAX_BATCH_INPUTS:
                return self._flush()
            return None
        if etype == EV_REL:
            if code == REL_X:
                self._dx += value
            elif code == REL_Y:
                self._dy += value
            elif code == REL_WHEEL:
                self._wheel += value
                self._wheel_lo_seen = True
            elif code == REL_HWHEEL:
                self._hwheel += value
                self._hwheel_lo_seen = True
            elif code == REL_WHEEL_HI_RES:
                self._wheel_hr += value
            elif code == REL_HWHEEL_HI_RES:
                self._hwheel_hr += value
            else:
                if code > REL_MAX:
                    self.ignored += 1
                return None
            self._moved = True
            return None if self._batching else self._flush()
        if etype == EV_SYN:
            if code == SYN_REPORT:
                if self._auto:
                    self._auto = False
                    self._batching = True
                return self._flush()
            if code == SYN_DROPPED:
                self._rollback()
                self._clear_motion()
                self._abs_moved = False
                self._dropping = True
            return None
        if etype == EV_ABS:
            if code == ABS_X:
                self._abs_x = value
            elif code == ABS_Y:
                self._abs_y = value
            else:
                if code > ABS_MAX:
                    self.ignored += 1
                return None
            self._abs_moved = True
            return None if self._batching else self._flush()
        if etype > EV_MAX:
            self.ignored += 1
        return None  # EV_MSC, EV_LED, EV_REP, EV_SW...: nothing a port needs

    def _flush(self) -> list[ConsoleInput] | None:
        batch = self._pending
        if self._moved:
            motion = self._motion()
            if motion is not None:
                batch.append(motion)
        if self._abs_moved:
            self._abs_moved = False
            (x_min, x_max), (y_min, y_max) = self._x_range, self._y_range
            x = min(max(self._abs_x, x_min), x_max)
            y = min(max(self._abs_y, y_min), y_max)
            batch.append(AbsMotion(x, y, x_min, x_max, y_min, y_max))
        if not batch:
            return None
        self._pending = []
        return batch

    def _motion(self) -> Motion | None:
        wheel, hwheel = self._wheel, self._hwheel
        # A device that sends REL_WHEEL also sends REL_WHEEL_HI_RES for the same turn:
        # count detents from the high-resolution events only on devices that send none.
        if self._wheel_lo_seen:
            self._wheel_hr = 0
        elif self._wheel_hr:
            wheel = int(self._wheel_hr / WHEEL_HI_RES_PER_DETENT)
            self._wheel_hr -= wheel * WHEEL_HI_RES_PER_DETENT
        if self._hwheel_lo_seen:
            self._hwheel_hr = 0
        elif self._hwheel_hr:
            hwheel = int(self._hwheel_hr / WHEEL_HI_RES_PER_DETENT)
            self._hwheel_hr -= hwheel * WHEEL_HI_RES_PER_DETENT
        dx, dy = self._dx, self._dy
        self._dx = self._dy = self._wheel = self._hwheel = 0
        self._moved = False
        if not (dx or dy or wheel or hwheel):
            return None
        return Motion(
            _clamp(dx, MAX_MOTION),
            _clamp(dy, MAX_MOTION),
            _clamp(wheel, MAX_WHEEL),
            _clamp(hwheel, MAX_WHEEL),
        )

    def _clear_motion(self) -> None:
        self._dx = self._dy = self._wheel = self._hwheel = 0
        self._moved = False

    def _rollback(self) -> None:
        """Forget pending (undelivered) key changes, undoing them in the held set."""
        for change in reversed(self._pending):
            if isinstance(change, KeyChange | ButtonChange):
                if change.pressed:
                    self._pressed.discard(change.code)
                else:
                    self._pressed.add(change.code)
        self._pending = []
