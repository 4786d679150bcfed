"""A ch9329 port behaves like an emulated one: the same console input leaves the computer
behind the chip in the same state as the emulated port's computer (hypothesis)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from hid import evcodes as ec
from kvmswitchd.config import PortConfig
from kvmswitchd.port import Port
from kvmswitchd.targets.emulated import EmulatedTarget
from kvmswitchd.targets.target import OutputListener
from tests.ch9329.line import Line

KEYS = [ec.KEY_A, ec.KEY_B, ec.KEY_LEFTSHIFT, ec.KEY_CAPSLOCK, ec.KEY_ENTER, ec.KEY_SPACE]
KEYS += [ec.KEY_1, ec.KEY_BACKSPACE, ec.KEY_NUMLOCK, ec.KEY_C, ec.KEY_D, ec.KEY_E, ec.KEY_F]
BUTTONS = [ec.BTN_LEFT, ec.BTN_RIGHT, ec.BTN_MIDDLE]


class LineTarget:
    """A TargetBackend over a simulated line: the link, the chip and its computer."""

    kind = "ch9329"

    def __init__(self) -> None:
        self.line = Line()
        self.line.open()

    def write_keyboard(self, report: bytes) -> None:
        self.line.link.push_keyboard(report, self.line.now)
        self.line.pump()

    def write_mouse(self, report: bytes) -> None:
        self.line.link.push_mouse(report, self.line.now)
        self.line.pump()

    def set_output_listener(self, listener: OutputListener) -> None: ...

    def present_edid(self, edid: bytes | None) -> None: ...

    def screen(self) -> bytes | None:
        return None

    def view(self) -> dict[str, Any]:
        return self.line.computer.view()

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


event = st.one_of(
    st.tuples(st.just("key"), st.sampled_from(KEYS), st.booleans()),
    st.tuples(st.just("button"), st.sampled_from(BUTTONS), st.booleans()),
    st.tuples(st.just("move"), st.integers(-400, 400), st.integers(-400, 400), st.integers(-3, 3)),
)


def state(view: dict[str, Any]) -> dict[str, Any]:
    keep = ("text", "pointer", "pressed", "leds")
    return {k: view[k] for k in keep}


@settings(max_examples=150, deadline=None)
@given(st.lists(event, max_size=80))
def test_a_ch9329_port_leaves_its_computer_as_an_emulated_port_does(
    events: list[tuple[Any, ...]],
) -> None:
    chip = LineTarget()
    emulated = EmulatedTarget(keyboard="usb", mouse="relative")
    ports = [
        Port(PortConfig(unit=1, target="ch9329"), chip),
        Port(PortConfig(unit=1), emulated),
    ]
    for port in ports:
        for item in events:
            match item:
                case ("key", int(code), bool(down)):
                    port.key(code, down)
                case ("button", int(code), bool(down)):
                    port.button(code, down)
                case ("move", int(dx), int(dy), int(wheel)):
                    port.move(dx, dy, wheel)
        port.release_all()
    chip.line.settle()
    assert state(chip.view()) == state(emulated.view())
