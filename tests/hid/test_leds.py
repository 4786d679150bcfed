"""LED state: USB, PS/2 (different bit order), CH9329 and evdev encodings."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from hid.evcodes import LED_CAPSL, LED_NUML, LED_SCROLLL
from hid.leds import Leds

leds = st.builds(Leds, st.booleans(), st.booleans(), st.booleans(), st.booleans(), st.booleans())


def test_usb_bits_are_num_caps_scroll_compose_kana() -> None:
    assert Leds.from_usb(0x01) == Leds(num=True)
    assert Leds.from_usb(0x02) == Leds(caps=True)
    assert Leds.from_usb(0x04) == Leds(scroll=True)
    assert Leds.from_usb(0x08) == Leds(compose=True)
    assert Leds.from_usb(0x10) == Leds(kana=True)
    assert Leds.from_usb(0xE0) == Leds()  # padding bits ignored


def test_ps2_bits_are_scroll_num_caps() -> None:
    assert Leds.from_ps2(0x01) == Leds(scroll=True)
    assert Leds.from_ps2(0x02) == Leds(num=True)
    assert Leds.from_ps2(0x04) == Leds(caps=True)
    assert Leds(caps=True, num=True).to_ps2() == 0x06
    assert Leds(caps=True).to_usb() == 0x02


def test_ch9329_bits_are_num_caps_scroll() -> None:
    assert Leds.from_ch9329(0x02) == Leds(caps=True)
    assert Leds.from_ch9329(0x05) == Leds(num=True, scroll=True)
    assert Leds(kana=True, caps=True).to_ch9329() == 0x02


@given(leds)
def test_usb_round_trip(value: Leds) -> None:
    assert Leds.from_usb(value.to_usb()) == value


@given(leds)
def test_ps2_and_ch9329_round_trip_the_three_lock_leds(value: Leds) -> None:
    locks = Leds(num=value.num, caps=value.caps, scroll=value.scroll)
    assert Leds.from_ps2(value.to_ps2()) == locks
    assert Leds.from_ch9329(value.to_ch9329()) == locks


def test_evdev_states_name_each_led() -> None:
    states = dict(Leds(caps=True).evdev_states())
    assert states[LED_CAPSL] is True
    assert states[LED_NUML] is False
    assert states[LED_SCROLLL] is False
    assert len(states) == 5
