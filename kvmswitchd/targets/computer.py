"""The virtual computer behind an emulated port.

It receives the exact wire bytes a real port would get (USB boot/NKRO keyboard reports,
relative or absolute mouse reports, or PS/2 set-2 scan codes) and behaves like a small
host: it decodes them, keeps the pressed keys and lock LEDs (sending LED output reports
back as a real host does), types characters onto a text screen with a US layout, and
moves and clicks a pointer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from hid import evcodes, keymap, layout
from hid.keyboard import parse_boot_report, parse_nkro_report
from hid.leds import Leds
from hid.mouse import parse_absolute_report, parse_relative_report
from hid.ps2 import Ps2Decoder

COLUMNS = 80
ROWS = 25
TAB = 8
ERROR_ROLLOVER = 0x01
USAGE_CAPSLOCK = 0x39
USAGE_NUMLOCK = 0x53
USAGE_SCROLLLOCK = 0x47
SHIFTS = frozenset({0xE1, 0xE5})
ABS_MAX = 32767


@dataclass(frozen=True, slots=True)
class Mode:
    width: int = 1920
    height: int = 1080
    refresh: float = 60.0

    def __str__(self) -> str:
        return f"{self.width}x{self.height}@{round(self.refresh)}"


def usage_name(usage: int) -> str:
    code = keymap.evdev_for(usage)
    return evcodes.code_name(evcodes.EV_KEY, code) if code is not None else f"usage 0x{usage:02x}"


class TextScreen:
    """A scrolling text console: the last ROWS lines of at most COLUMNS characters."""

    def __init__(self) -> None:
        self.lines: list[str] = [""]
        self.version = 0  # bumped on every change, so renderers know when to redraw

    def put(self, char: str) -> None:
        if char == "\n":
            self.lines.append("")
        elif char == "\b":
            if self.lines[-1]:
                self.lines[-1] = self.lines[-1][:-1]
        elif char == "\t":
            self.lines[-1] += " " * (TAB - len(self.lines[-1]) % TAB)
        else:
            self.lines[-1] += char
        if len(self.lines[-1]) > COLUMNS:
            overflow = self.lines[-1][COLUMNS:]
            self.lines[-1] = self.lines[-1][:COLUMNS]
            self.lines.append(overflow)
        del self.lines[:-ROWS]
        self.version += 1

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


class VirtualComputer:
    """The host side of one emulated port."""

    def __init__(self, keyboard: str = "usb", mouse: str = "relative") -> None:
        self.keyboard_kind = keyboard  # "usb", "usb-nkro" or "ps2"
        self.mouse_kind = mouse  # "relative" or "absolute"
        self.screen = TextScreen()
        self.mode = Mode()
        self.monitor = True  # a monitor (EDID, hot-plug) is presented to this computer
        self.pressed: set[int] = set()
        self.leds = Leds()
        self.pointer_x = self.mode.width // 2
        self.pointer_y = self.mode.height // 2
        self.buttons = 0
        self.clicks = [0] * 8
        self.wheel = 0
        self.keyboard_reports = 0
        self.mouse_reports = 0
        self.last_keyboard = b""
        self.last_mouse = b""
        self._ps2 = Ps2Decoder()
        self._output: Callable[[bytes], None] | None = None

    def set_output(self, output: Callable[[bytes], None] | None) -> None:
        """Where LED output reports go (toward the port's keyboard function)."""
        self._output = output

    # -- keyboard ------------------------------------------------------------------------

    def receive_keyboard(self, data: bytes) -> None:
        self.keyboard_reports += 1
        self.last_keyboard = bytes(data)
        if self.keyboard_kind == "ps2":
            for usage, down in self._ps2.feed(data):
                self._key(usage, down)
            return
        report = (
            parse_nkro_report(data) if self.keyboard_kind == "usb-nkro" else parse_boot_report(data)
        )
        if ERROR_ROLLOVER in report.keys:
            return  # phantom state: hosts keep the previous keys until a real report
        now = {0xE0 + bit for bit in range(8) if report.modifiers >> bit & 1}
        now.update(k for k in report.keys if k)
        for usage in sorted(self.pressed - now):
            self._key(usage, False)
        # modifiers first, so Shift+a in one report types "A"
        for usage in sorted(now - self.pressed, key=lambda u: (not keymap.is_modifier(u), u)):
            self._key(usage, True)

    def _key(self, usage: int, down: bool) -> None:
        if not down:
            self.pressed.discard(usage)
            return
        if usage in self.pressed:
            return
        self.pressed.add(usage)
        if usage == USAGE_CAPSLOCK:
            self._set_leds(replace(self.leds, caps=not self.leds.caps))
        elif usage == USAGE_NUMLOCK:
            self._set_leds(replace(self.leds, num=not self.leds.num))
        elif usage == USAGE_SCROLLLOCK:
            self._set_leds(replace(self.leds, scroll=not self.leds.scroll))
        else:
            char = layout.char_for(usage, bool(self.pressed & SHIFTS), self.leds.caps)
            if char is not None:
                self.screen.put(char)

    def _set_leds(self, leds: Leds) -> None:
        self.leds = leds
        if self._output is not None:
            if self.keyboard_kind == "ps2":
                self._output(bytes((0xED, leds.to_ps2())))
            else:
                self._output(bytes((leds.to_usb(),)))

    # -- mouse ---------------------------------------------------------------------------

    def receive_mouse(self, data: bytes) -> None:
        self.mouse_reports += 1
        self.last_mouse = bytes(data)
        if self.mouse_kind == "absolute":
            absolute = parse_absolute_report(data)
            self.pointer_x = round(absolute.x * (self.mode.width - 1) / ABS_MAX)
            self.pointer_y = round(absolute.y * (self.mode.height - 1) / ABS_MAX)
            buttons, wheel = absolute.buttons, absolute.wheel
        else:
            rel = parse_relative_report(data)
            self.pointer_x = min(max(self.pointer_x + rel.dx, 0), self.mode.width - 1)
            self.pointer_y = min(max(self.pointer_y + rel.dy, 0), self.mode.height - 1)
            buttons, wheel = rel.buttons, rel.wheel
        newly = buttons & ~self.buttons
        for bit in range(8):
            if newly >> bit & 1:
                self.clicks[bit] += 1
        self.buttons = buttons
        self.wheel += wheel

    def set_mode(self, mode: Mode) -> None:
        self.mode = mode
        self.pointer_x = min(self.pointer_x, mode.width - 1)
        self.pointer_y = min(self.pointer_y, mode.height - 1)

    def view(self) -> dict[str, Any]:
        return {
            "text": self.screen.text,
            "pointer": {
                "x": self.pointer_x,
                "y": self.pointer_y,
                "buttons": [b for b in range(8) if self.buttons >> b & 1],
                "clicks": {
                    "left": self.clicks[0],
                    "right": self.clicks[1],
                    "middle": self.clicks[2],
                },
                "wheel": self.wheel,
            },
            "pressed": sorted(self.pressed),
            "pressed_names": [usage_name(u) for u in sorted(self.pressed)],
            "leds": {"num": self.leds.num, "caps": self.leds.caps, "scroll": self.leds.scroll},
            "mode": str(self.mode),
            "monitor": self.monitor,
            "keyboard": self.keyboard_kind,
            "mouse": self.mouse_kind,
            "reports": {"keyboard": self.keyboard_reports, "mouse": self.mouse_reports},
            "last_reports": {"keyboard": self.last_keyboard.hex(), "mouse": self.last_mouse.hex()},
        }
