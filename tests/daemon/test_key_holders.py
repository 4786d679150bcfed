"""Property: with the console, POST /input and several websocket clients typing into the
same ports, the km-focused target has down exactly the union of what each holder holds,
no other port has anything down, and a leaving client lifts only what nobody else holds."""

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
from kvmswitchd.core.holds import CONSOLE, HTTP, Holder
from kvmswitchd.switchboard import Switchboard
from kvmswitchd.targets.computer import VirtualComputer
from kvmswitchd.targets.emulated import EmulatedTarget

NAMES = ("KEY_A", "KEY_LEFTSHIFT", "BTN_LEFT")
CODES = {name: evcodes.CODES[name] for name in NAMES}
CLIENTS = [Holder("ws", n) for n in (1, 2)]
PORTS = 2
ORIGIN = Origin(Source.HTTP, "test")

typing_op = st.tuples(
    st.just("type"),
    st.sampled_from([CONSOLE, HTTP, *CLIENTS]),
    st.sampled_from(NAMES),
    st.booleans(),
)
leave = st.tuples(st.just("leave"), st.sampled_from(CLIENTS), st.just(""), st.just(False))
switch = st.tuples(st.just("switch"), st.just(CONSOLE), st.sampled_from("12"), st.just(False))
# mostly typing (6 in 10), leaving often (3 in 10): holders share keys, then one goes
op = st.integers(0, 9).flatmap(lambda n: leave if n >= 7 else switch if n == 6 else typing_op)


def computer(board: Switchboard, unit: int) -> VirtualComputer:
    target = board.links[unit].target
    assert isinstance(target, EmulatedTarget)
    return target.computer


def down_on(board: Switchboard, unit: int) -> set[str]:
    """What the target's host decoded as down: key names and button names."""
    host = computer(board, unit)
    down = set()
    for name in NAMES:
        bit = keymap.button_bit(CODES[name])
        if (
            host.buttons >> bit & 1
            if bit is not None
            else keymap.usage_for(CODES[name]) in host.pressed
        ):
            down.add(name)
    return down


@settings(max_examples=150, deadline=None)
@given(st.lists(op, max_size=60))
def test_the_target_has_down_the_union_of_what_every_holder_holds(
    ops: list[tuple[str, Holder, str, bool]],
) -> None:
    config = replace(
        parse_config({"switch": {"ports": PORTS}, "console": {"hotkeys": "off"}}), serial=()
    )
    with tempfile.TemporaryDirectory() as tmp:
        board = build_board(config, Path(tmp), {}, monotonic=lambda: 0.0)
        stream: dict[Holder, set[str]] = {}  # what each sender's own stream has down
        holds: dict[Holder, set[str]] = {}  # what each holds on the km port now
        for kind, holder, name, pressed in ops:
            if kind == "switch":
                before = board.router.km
                board.switch(name, None, False, ORIGIN)
                if board.router.km != before:
                    holds.clear()  # release-all on the port left: nobody holds anything
                continue
            if kind == "leave":
                board.release_client(holder, ORIGIN)
                stream.pop(holder, None)
                holds.pop(holder, None)
                continue
            mine = stream.setdefault(holder, set())
            if pressed == (name in mine):
                if holder is CONSOLE:
                    continue  # a real keyboard never repeats a press or a release
                # a web sender may: its stream's assembler ignores it, nothing changes
            elif pressed:
                mine.add(name)
                holds.setdefault(holder, set()).add(name)
            else:
                mine.discard(name)
                holds.get(holder, set()).discard(name)
            if holder is CONSOLE:
                code = CODES[name]
                button = keymap.button_bit(code) is not None
                change = ButtonChange(code, pressed) if button else KeyChange(code, pressed)
                board.router.console_input("kbd", [change], 0.0)
            else:
                events = [{"type": "EV_KEY", "code": name, "value": int(pressed)}]
                board.type_input(None, events, ORIGIN, None if holder is HTTP else holder)
            km = board.router.km
            expected = set().union(*holds.values())
            assert down_on(board, km) == expected, (kind, holder, name, pressed)
            for unit in range(1, PORTS + 1):
                if unit != km:
                    assert down_on(board, unit) == set()
            assert board.holds.held() == {(km, CODES[n]) for n in expected}
