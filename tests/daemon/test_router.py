"""The router on the hot path: batches reach the focused port, a hotkey switch inside a
batch holds for the rest of it, and the hotkey timer is re-armed only when it must be."""

from __future__ import annotations

from typing import Any

from hid import keymap
from kvmswitchd.config import PortConfig
from kvmswitchd.console.events import ConsoleInput, KeyChange, Motion
from kvmswitchd.core.guard import Actor
from kvmswitchd.core.hotkeys import DEFAULT_PROFILE, HotkeyAction, HotkeyDetector, SelectPort
from kvmswitchd.port import _USAGES, Port
from kvmswitchd.router import Router
from kvmswitchd.targets.target import OutputListener

KEY_A, KEY_2, KEY_SCROLLLOCK = 30, 3, 70
PRESS_A = bytes((0, 0, 4, 0, 0, 0, 0, 0))


class Wire:
    """A target that keeps what it was sent."""

    kind = "fake"

    def __init__(self) -> None:
        self.keyboard: list[bytes] = []
        self.mouse: list[bytes] = []

    def write_keyboard(self, report: bytes) -> None:
        self.keyboard.append(report)

    def write_mouse(self, report: bytes) -> None:
        self.mouse.append(report)

    def set_output_listener(self, listener: OutputListener) -> None:
        pass

    def present_edid(self, edid: bytes | None) -> None:
        pass

    def screen(self) -> bytes | None:
        return None

    def view(self) -> dict[str, Any]:
        return {}

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass


class Rig:
    def __init__(self) -> None:
        self.wires = {unit: Wire() for unit in (1, 2)}
        self.ports = {unit: Port(PortConfig(unit), wire) for unit, wire in self.wires.items()}
        self.armed: list[float | None] = []
        self.actions: list[HotkeyAction] = []
        self.router = Router(
            self.ports,
            1,
            HotkeyDetector(DEFAULT_PROFILE, ports=2),
            on_action=self.on_action,
            rearm=self.armed.append,
        )

    def on_action(self, action: HotkeyAction, _now: float, _actor: Actor | None) -> None:
        self.actions.append(action)
        if isinstance(action, SelectPort):
            self.router.set_km(int(action.port))

    def keys(self, *changes: tuple[int, bool], now: float = 0.0) -> None:
        batch: list[ConsoleInput] = [KeyChange(code, pressed) for code, pressed in changes]
        self.router.console_input("test", batch, now)


def tap(code: int) -> tuple[tuple[int, bool], tuple[int, bool]]:
    return (code, True), (code, False)


def test_typing_reaches_the_focused_port_and_never_touches_the_timer() -> None:
    rig = Rig()
    for _ in range(3):
        rig.keys(*tap(KEY_A))
    rig.router.console_input("test", [Motion(3, 0)], 0.0)
    assert rig.wires[1].keyboard == [PRESS_A, bytes(8)] * 3
    assert rig.wires[1].mouse == [bytes((0, 3, 0, 0, 0))]
    assert rig.armed == []  # no command window was ever open
    assert rig.router.events_routed == 7


def test_a_hotkey_switch_inside_a_batch_holds_for_the_rest_of_it() -> None:
    rig = Rig()
    rig.keys(*tap(KEY_SCROLLLOCK), *tap(KEY_SCROLLLOCK), *tap(KEY_2), *tap(KEY_A))
    assert rig.actions[-1] == SelectPort("2")
    assert rig.wires[2].keyboard == [PRESS_A, bytes(8)]
    assert PRESS_A not in rig.wires[1].keyboard


def test_the_timer_is_armed_when_the_command_window_opens_and_cleared_when_it_ends() -> None:
    rig = Rig()
    rig.keys(*tap(KEY_SCROLLLOCK), *tap(KEY_SCROLLLOCK), now=10.0)
    assert rig.armed == [10.0 + DEFAULT_PROFILE.command_window]
    rig.keys((KEY_A, True), now=10.5)  # not a command: the window closes
    assert rig.armed[-1] is None
    rig.keys((KEY_A, False), now=10.6)
    assert len(rig.armed) == 2  # nothing moved: no call


def test_a_timer_that_fires_before_its_deadline_is_armed_again() -> None:
    rig = Rig()
    rig.keys(*tap(KEY_SCROLLLOCK), *tap(KEY_SCROLLLOCK), now=10.0)
    deadline = rig.armed[-1]
    assert deadline is not None
    rig.router.handle_timer(deadline - 1e-9)  # a loop that fires a hair early
    assert rig.armed[-1] == deadline  # re-armed, not left without a timer
    rig.router.handle_timer(deadline)
    assert rig.armed[-1] is None


def test_the_ports_usage_table_is_the_keymap() -> None:
    for code in range(0x300):
        assert _USAGES.get(code) == keymap.usage_for(code)
