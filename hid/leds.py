"""Keyboard LED state and its three wire encodings (reference §4.1, §4.5, §5).

* USB LED output report (1 byte): bit0 Num, bit1 Caps, bit2 Scroll, bit3 Compose, bit4 Kana.
* PS/2 ``ED <byte>``: bit0 Scroll, bit1 Num, bit2 Caps (a different order from USB).
* CH9329 GET_INFO LED byte: bit0 Num, bit1 Caps, bit2 Scroll.
* evdev ``EV_LED``: LED_NUML 0, LED_CAPSL 1, LED_SCROLLL 2, LED_COMPOSE 3, LED_KANA 4.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from hid.evcodes import LED_CAPSL, LED_COMPOSE, LED_KANA, LED_NUML, LED_SCROLLL

_NUM: Final = 0x01
_CAPS: Final = 0x02
_SCROLL: Final = 0x04
_COMPOSE: Final = 0x08
_KANA: Final = 0x10


@dataclass(frozen=True, slots=True)
class Leds:
    num: bool = False
    caps: bool = False
    scroll: bool = False
    compose: bool = False
    kana: bool = False

    @classmethod
    def from_usb(cls, byte: int) -> Leds:
        """From a USB LED output report byte (bits above 4 are ignored)."""
        return cls(
            num=bool(byte & _NUM),
            caps=bool(byte & _CAPS),
            scroll=bool(byte & _SCROLL),
            compose=bool(byte & _COMPOSE),
            kana=bool(byte & _KANA),
        )

    def to_usb(self) -> int:
        return (
            self.num * _NUM
            | self.caps * _CAPS
            | self.scroll * _SCROLL
            | self.compose * _COMPOSE
            | self.kana * _KANA
        )

    @classmethod
    def from_ps2(cls, byte: int) -> Leds:
        """From the data byte of a PS/2 ``ED`` command: bit0 Scroll, bit1 Num, bit2 Caps."""
        return cls(num=bool(byte & 0x02), caps=bool(byte & 0x04), scroll=bool(byte & 0x01))

    def to_ps2(self) -> int:
        """The ``ED`` data byte (Compose and Kana have no PS/2 LED)."""
        return self.scroll * 0x01 | self.num * 0x02 | self.caps * 0x04

    @classmethod
    def from_ch9329(cls, byte: int) -> Leds:
        """From the CH9329 GET_INFO LED byte: bit0 Num, bit1 Caps, bit2 Scroll."""
        return cls(num=bool(byte & _NUM), caps=bool(byte & _CAPS), scroll=bool(byte & _SCROLL))

    def to_ch9329(self) -> int:
        return self.num * _NUM | self.caps * _CAPS | self.scroll * _SCROLL

    def evdev_states(self) -> tuple[tuple[int, bool], ...]:
        """(LED code, on) pairs to write to a console keyboard as EV_LED events."""
        return (
            (LED_NUML, self.num),
            (LED_CAPSL, self.caps),
            (LED_SCROLLL, self.scroll),
            (LED_COMPOSE, self.compose),
            (LED_KANA, self.kana),
        )
