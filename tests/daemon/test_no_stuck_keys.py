"""Property: no key or button ever stays pressed on a port without km focus, and the
focused port's pressed set always equals what the console holds for it (SPEC §3.2)."""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from hid import evcodes, keymap
from kvmswitchd.assembly import build_board
from kvmswitchd.config import parse_config
from kvmswitchd.console.events import ButtonChange, KeyChange
from kvmswitchd.core.commands import Origin, Source
from kvmswitchd.switchboard import Switchboard
from kvmswitchd.targets.computer import VirtualComputer
from kvmswitchd.targets.emulated import EmulatedTarget

# Five letters and two modifiers: never more than six non-modifier keys, so boot reports
# never reach ErrorRollOver and the decoded pressed set is exact.
KEYS = [
    evcodes.CODES[n]
    for n in ("KEY_A", "KEY_S", "KEY_D", "KEY_F", "KEY_G", "KEY_LEFTSHIFT", "KEY_RIGHTCTRL")
]
BUTTONS = [evcodes.CODES[n] for n in ("BTN_LEFT", "BTN_RIGHT")]
PORTS = 4

op = st.one_of(
    st.tuples(st.just("key"), st.sampled_from(KEYS), st.booleans()),
    st.tuples(st.just("button"), st.sampled_from(BUTTONS), st.booleans()),
    st.tuples(st.just("switch"), st.integers(1, PORTS), st.booleans()),
)


def computer(board: Switchboard, unit: int) -> VirtualComputer:
    target = board.links[unit].target
    assert isinstance(target, EmulatedTarget)
    return target.computer


@settings(max_examples=150, deadline=None)
@given(st.lists(op, max_size=60), st.sampled_from(["usb", "ps2", "nkro"]))
def test_no_key_stays_pressed_on_a_port_without_km_focus(
    ops: list[tuple[str, int, bool]], kind: str
) -> None:
    ports = {
        str(u): {"keyboard": "ps2" if kind == "ps2" else "usb", "nkro": kind == "nkro"}
        for u in range(1, PORTS + 1)
    }
    config = replace(
        parse_config({"switch": {"ports": PORTS}, "ports": ports, "console": {"hotkeys": "off"}}),
        serial=(),
    )
    with tempfile.TemporaryDirectory() as tmp:
        board = build_board(config, Path(tmp), {}, monotonic=lambda: 0.0)
        held: set[int] = set()  # physically held at the console
        held_for: set[int] = set()  # pressed since the focused port got focus, still held
        buttons_for: set[int] = set()
        for kind_of, code, flag in ops:
            if kind_of == "switch":
                # flag: move km too, or only video (km stays)
                channels = None if flag else ["video"]
                before = board.router.km
                board.switch(str(code), channels, False, Origin(Source.HTTP))
                if board.router.km != before:
                    held_for.clear()
                    buttons_for.clear()
                continue
            if kind_of == "key":
                if flag == (code in held):
                    continue  # a real keyboard never presses a held key or releases a free one
                (held.add if flag else held.discard)(code)
                (held_for.add if flag else held_for.discard)(code)
                board.router.console_input("kbd", [KeyChange(code, flag)], 0.0)
            else:
                if flag == (code in buttons_for):
                    continue
                (buttons_for.add if flag else buttons_for.discard)(code)
                board.router.console_input("mouse", [ButtonChange(code, flag)], 0.0)
            km = board.router.km
            for unit in range(1, PORTS + 1):
                pc = computer(board, unit)
                if unit != km:
                    assert pc.pressed == set(), f"port {unit} has keys pressed without focus"
                    assert pc.buttons == 0, f"port {unit} has buttons pressed without focus"
            focused = computer(board, km)
            assert focused.pressed == {keymap.usage_for(c) for c in held_for}
            assert focused.buttons == sum(1 << (keymap.button_bit(b) or 0) for b in buttons_for)
        board.journal.close()
