"""A port at run time: its keyboard and mouse encoders, its LED state, its target.

Console input arrives as evdev codes; the port turns it into its own wire format (USB
boot or NKRO keyboard, relative or absolute mouse, PS/2 set 2) and hands the bytes to
its target backend. LED output reports coming back from the target's host update the
port's own LED state.

Every key and button change names its holder (the console, ``POST /input``, a websocket
client; ``kvmswitchd.core.holds``): the target sees the first press and the last release,
so one holder's release never lifts what another still holds.
"""

from __future__ import annotations

from collections.abc import Callable

from hid import keymap
from hid.keyboard import BootKeyboard, NkroKeyboard
from hid.leds import Leds
from hid.mouse import AbsolutePointer, RelativeMouse
from hid.ps2 import Ps2Keyboard
from kvmswitchd.config import PortConfig
from kvmswitchd.core.holds import CONSOLE, Holder, Holds
from kvmswitchd.targets.target import TargetBackend

ABS_MAX = 32767
# Nominal screen used to convert between relative and absolute pointer motion.
NOMINAL_WIDTH = 1920
NOMINAL_HEIGHT = 1080
PS2_SET_LEDS = 0xED

LedListener = Callable[[int, Leds], None]
KeyEncoder = Callable[[int, bool], bytes | None]

# evdev key code -> HID usage, for every code that has one (KEY_MAX is 0x2ff): one dict
# lookup per console key instead of a call into the keymap.
_USAGES: dict[int, int] = {
    code: usage for code in range(0x300) if (usage := keymap.usage_for(code)) is not None
}


class Port:
    def __init__(
        self,
        config: PortConfig,
        target: TargetBackend,
        on_leds: LedListener | None = None,
        holds: Holds | None = None,
    ) -> None:
        self.unit = config.unit
        # shared by every port of the unit (the daemon passes one), so a leaving client's
        # holds are found on all ports at once
        self.holds = holds if holds is not None else Holds()
        self._press = self.holds.press  # bound once: these run for every key
        self._release = self.holds.release
        self.config = config
        self.target = target
        self.leds = Leds()
        self._on_leds = on_leds
        self.keyboard: BootKeyboard | NkroKeyboard | Ps2Keyboard
        if config.keyboard == "ps2":
            self.keyboard = Ps2Keyboard()
        elif config.nkro:
            self.keyboard = NkroKeyboard()
        else:
            self.keyboard = BootKeyboard()
        self.absolute = config.mouse == "absolute"
        self.mouse: RelativeMouse | AbsolutePointer = (
            AbsolutePointer() if self.absolute else RelativeMouse()
        )
        self._abs_x = ABS_MAX // 2
        self._abs_y = ABS_MAX // 2
        keyboard = self.keyboard
        self._key: KeyEncoder = self._ps2_key if isinstance(keyboard, Ps2Keyboard) else keyboard.key
        self._write_keyboard = target.write_keyboard
        self._write_mouse = target.write_mouse
        target.set_output_listener(self._on_output)

    # -- keyboard --------------------------------------------------------------------

    def key(self, code: int, pressed: bool, holder: Holder = CONSOLE) -> None:
        """Press or release evdev key ``code`` on this port for ``holder`` (unknown keys
        are ignored; a key another holder still holds stays down)."""
        usage = _USAGES.get(code)
        if usage is None:
            return
        if pressed:
            if not self._press(holder, self.unit, code):
                return  # another holder has it down already
        elif not self._release(holder, self.unit, code):
            return  # another holder still holds it
        data = self._key(usage, pressed)
        if data:
            self._write_keyboard(data)

    def _ps2_key(self, usage: int, pressed: bool) -> bytes | None:
        keyboard = self.keyboard
        return keyboard.press(usage) if pressed else keyboard.release(usage)

    # -- mouse -----------------------------------------------------------------------

    def button(self, code: int, pressed: bool, holder: Holder = CONSOLE) -> None:
        if keymap.button_bit(code) is None:
            return
        if pressed:
            if not self._press(holder, self.unit, code):
                return
        elif not self._release(holder, self.unit, code):
            return
        data = self.mouse.button(code, pressed)
        if data:
            self._write_mouse(data)

    def move(self, dx: int, dy: int, wheel: int = 0, hwheel: int = 0) -> None:
        if isinstance(self.mouse, RelativeMouse):
            for data in self.mouse.move(dx, dy, wheel, hwheel):
                self._write_mouse(data)
            return
        self._abs_x = min(max(self._abs_x + dx * ABS_MAX // NOMINAL_WIDTH, 0), ABS_MAX)
        self._abs_y = min(max(self._abs_y + dy * ABS_MAX // NOMINAL_HEIGHT, 0), ABS_MAX)
        self._write_mouse(self.mouse.move_to(self._abs_x, self._abs_y, wheel))

    def move_to(self, x: int, y: int) -> None:
        """Absolute position in 0..32767 on both axes."""
        x = min(max(x, 0), ABS_MAX)
        y = min(max(y, 0), ABS_MAX)
        if isinstance(self.mouse, AbsolutePointer):
            self._write_mouse(self.mouse.move_to(x, y))
        else:
            dx = (x - self._abs_x) * NOMINAL_WIDTH // ABS_MAX
            dy = (y - self._abs_y) * NOMINAL_HEIGHT // ABS_MAX
            for data in self.mouse.move(dx, dy):
                self._write_mouse(data)
        self._abs_x, self._abs_y = x, y

    # -- both ------------------------------------------------------------------------

    def release_all(self) -> None:
        """Release every key and button this port holds (SPEC §3.2), for every holder."""
        self.holds.clear_port(self.unit)
        self._write_keyboard(self.keyboard.release_all())
        self._write_mouse(self.mouse.release_all())

    def lift(self, code: int) -> None:
        """Release ``code`` (a key or a button) on the target: its last holder went away
        (``Holds.release_holder`` said so; the holds are already forgotten)."""
        if keymap.button_bit(code) is not None:
            self._write_mouse(self.mouse.button(code, False))
            return
        usage = _USAGES.get(code)
        if usage is not None and (report := self._key(usage, False)):
            self._write_keyboard(report)

    def _on_output(self, data: bytes) -> None:
        if not data:
            return
        if self.config.keyboard == "ps2":
            if len(data) < 2 or data[0] != PS2_SET_LEDS:
                return
            leds = Leds.from_ps2(data[1])
        else:
            leds = Leds.from_usb(data[0])
        if leds != self.leds:
            self.leds = leds
            if self._on_leds is not None:
                self._on_leds(self.unit, leds)
