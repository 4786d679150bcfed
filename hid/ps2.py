"""PS/2 keyboard, scan code set 2: encoder, decoder and the keyboard side of host commands.

* :class:`Ps2Keyboard` turns usages into set-2 bytes (reference §4.5): make ``xx`` / break
  ``F0 xx``; extended ``E0 xx`` / ``E0 F0 xx``; Print Screen ``E0 12 E0 7C`` /
  ``E0 F0 7C E0 F0 12``; Pause ``E1 14 77 E1 F0 14 F0 77`` with no break. Keys without a
  set-2 code (F13-F24) produce nothing.
* :class:`Ps2Decoder` turns a keyboard→host scan-code stream (any chunking) back into
  ``(usage, pressed)`` events, for emulated PS/2 targets.
* :class:`Ps2CommandParser` is the keyboard's answer to host→keyboard commands (ED LEDs, EE
  echo, F0 scan set, F2 identify, F3 typematic, F4/F5/F6 enable/disable/defaults, FE resend,
  FF reset): every command and data byte is ACKed with FA.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from hid.keymap import KEYS, key_for_usage
from hid.leds import Leds

PAUSE_USAGE: Final = 0x48
PRINT_SCREEN_USAGE: Final = 0x46
_PAUSE: Final = bytes.fromhex("E1 14 77 E1 F0 14 F0 77")
# Set-2 code → usage for single-byte makes and for ``E0 xx`` makes (sequences excluded).
# Built from the keymap in reverse so the first row of a shared usage wins.
_PLAIN: Final[dict[int, int]] = {
    k.ps2_make[0]: k.usage for k in reversed(KEYS) if k.ps2_make and len(k.ps2_make) == 1
}
_EXTENDED: Final[dict[int, int]] = {
    k.ps2_make[1]: k.usage for k in reversed(KEYS) if k.ps2_make and len(k.ps2_make) == 2
}
_EXTENDED[0x7C] = PRINT_SCREEN_USAGE  # E0 7C (the E0 12 before it is a "fake shift")
_FAKE_SHIFT: Final = 0x12  # E0 12 / E0 F0 12: part of Print Screen, not a key

ACK: Final = 0xFA
BAT_OK: Final = 0xAA
ECHO: Final = 0xEE
RESEND: Final = 0xFE
KEYBOARD_ID: Final = bytes.fromhex("AB 83")
# Bytes a keyboard sends that are not scan codes (ACK, BAT, echo, resend, errors).
_NOT_SCANCODES: Final = frozenset({0x00, ACK, BAT_OK, ECHO, RESEND, 0xFC, 0xFD, 0xFF})


class Ps2Keyboard:
    """Set-2 encoder. ``press`` of a held key and ``release`` of a key not held return b""
    (use ``typematic`` for an explicit repeat); ``release_all`` breaks every held key."""

    __slots__ = ("_held",)

    def __init__(self) -> None:
        self._held: dict[int, bytes] = {}  # usage → break bytes, in press order

    @property
    def pressed(self) -> frozenset[int]:
        return frozenset(self._held)

    def press(self, usage: int) -> bytes:
        if usage in self._held:
            return b""
        key = key_for_usage(usage)
        if key is None or key.ps2_make is None:
            return b""
        if key.ps2_break is not None:  # Pause has no break: nothing to remember
            self._held[usage] = key.ps2_break
        return key.ps2_make

    def typematic(self, usage: int) -> bytes:
        """The make code again for a held key (what a keyboard sends on auto-repeat)."""
        key = key_for_usage(usage) if usage in self._held else None
        return b"" if key is None or key.ps2_make is None else key.ps2_make

    def release(self, usage: int) -> bytes:
        return self._held.pop(usage, b"")

    def release_all(self) -> bytes:
        """Breaks for every held key, most recent first."""
        out = b"".join(reversed(self._held.values()))
        self._held.clear()
        return out


class Ps2Decoder:
    """Set-2 scan codes → ``(usage, pressed)``. Feed any chunking; a sequence split across
    feeds is completed by the next one. Pause decodes as a press and a release (it has no
    break). Unknown codes and stray bytes are skipped and counted in ``skipped``; non-scancode
    replies (FA, AA, EE, FE, 00, FF) and the identify reply ``AB xx`` are ignored."""

    __slots__ = ("_break", "_extended", "_pause_at", "_skip_next", "skipped")

    def __init__(self) -> None:
        self._extended = False
        self._break = False
        self._pause_at = 0  # bytes of the Pause sequence matched so far
        self._skip_next = False
        self.skipped = 0

    def _reset(self) -> None:
        self._extended = self._break = False

    def feed(self, data: bytes) -> list[tuple[int, bool]]:
        events: list[tuple[int, bool]] = []
        for byte in data:
            self._byte(byte, events)
        return events

    def _byte(self, byte: int, events: list[tuple[int, bool]]) -> None:
        if self._pause_at:
            if byte == _PAUSE[self._pause_at]:
                self._pause_at += 1
                if self._pause_at == len(_PAUSE):
                    self._pause_at = 0
                    events += [(PAUSE_USAGE, True), (PAUSE_USAGE, False)]
                return
            self._pause_at = 0
            self.skipped += 1  # a broken Pause sequence: resync on this byte
        if self._skip_next:
            self._skip_next = False
            return
        if byte == 0xE0:
            self._extended = True
        elif byte == 0xF0:
            self._break = True
        elif byte == _PAUSE[0] and not (self._extended or self._break):
            self._pause_at = 1
        elif byte in _NOT_SCANCODES and not (self._extended or self._break):
            pass
        elif byte == KEYBOARD_ID[0] and not (self._extended or self._break):
            self._skip_next = True
        else:
            if self._extended and byte == _FAKE_SHIFT:
                self._reset()
                return
            usage = (_EXTENDED if self._extended else _PLAIN).get(byte)
            if usage is None:
                self.skipped += 1
            else:
                events.append((usage, not self._break))
            self._reset()


@dataclass(frozen=True, slots=True)
class Ps2Response:
    """What the keyboard sends back, and the new LEDs when an ``ED`` command set them."""

    reply: bytes
    leds: Leds | None = None


class Ps2CommandParser:
    """The keyboard side of host→keyboard commands (sans-IO): ``feed`` host bytes, send back
    ``reply``. State: ``leds``, ``enabled`` (scanning on), ``scan_set``, ``typematic``."""

    __slots__ = ("_pending", "_sent", "enabled", "leds", "scan_set", "typematic")

    _DEFAULT_TYPEMATIC: Final = 0x2B  # 10.9 chars/s, 500 ms delay

    def __init__(self) -> None:
        self.leds = Leds()
        self.enabled = True
        self.scan_set = 2
        self.typematic = self._DEFAULT_TYPEMATIC
        self._pending = 0  # the command waiting for its data byte (ED, F0, F3), or 0
        self._sent = b""  # last reply, for FE (resend)

    def _defaults(self) -> None:
        self.scan_set = 2
        self.typematic = self._DEFAULT_TYPEMATIC

    def feed(self, data: bytes) -> Ps2Response:
        reply = bytearray()
        leds: Leds | None = None
        for byte in data:
            out, new_leds = self._byte(byte)
            reply += out
            leds = new_leds or leds
            if out:
                self._sent = out
        return Ps2Response(bytes(reply), leds)

    def _byte(self, byte: int) -> tuple[bytes, Leds | None]:
        pending, self._pending = self._pending, 0
        if pending and byte < 0xED:  # a data byte (a command byte aborts the pending one)
            return self._data(pending, byte)
        return self._command(byte)

    def _data(self, command: int, byte: int) -> tuple[bytes, Leds | None]:
        if command == 0xED:
            self.leds = Leds.from_ps2(byte)
            return bytes((ACK,)), self.leds
        if command == 0xF3:
            self.typematic = byte & 0x7F
            return bytes((ACK,)), None
        # F0: 0 asks for the current set, 1..3 selects one.
        if byte == 0:
            return bytes((ACK, self.scan_set)), None
        if byte <= 3:
            self.scan_set = byte
            return bytes((ACK,)), None
        return bytes((RESEND,)), None

    def _command(self, byte: int) -> tuple[bytes, Leds | None]:
        ack = bytes((ACK,))
        if byte in (0xED, 0xF0, 0xF3):
            self._pending = byte
            return ack, None
        if byte == ECHO:
            return bytes((ECHO,)), None
        if byte == 0xF2:
            return ack + KEYBOARD_ID, None
        if byte == 0xF4:
            self.enabled = True
            return ack, None
        if byte == 0xF5:
            self.enabled = False
            self._defaults()
            return ack, None
        if byte == 0xF6:
            self._defaults()
            return ack, None
        if byte == RESEND:
            return self._sent, None
        if byte == 0xFF:
            self._defaults()
            self.enabled = True
            changed = self.leds != Leds()
            self.leds = Leds()
            return bytes((ACK, BAT_OK)), (self.leds if changed else None)
        if 0xF7 <= byte <= 0xFD:  # set-3 key-type commands: acknowledged, not modelled
            return ack, None
        return bytes((RESEND,)), None
