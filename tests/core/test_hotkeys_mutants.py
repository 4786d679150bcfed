"""Hotkey detector edges that mutation testing showed the other tests leave open: the exact
reason of every invalid command (the log and the UI show it), the 10-port boundary, the
first and last cascade channel, and what a reset leaves behind."""

from __future__ import annotations

import pytest

from kvmswitchd.core.hotkeys import InvalidCommand, ModeEntered, SelectPort
from tests.core.test_hotkeys import DOT, ENTER, KEY_B, SCRLK, console, digit


def typed(text: str) -> list[int]:
    """evdev codes of a hotkey number typed on the top row (``"2.4"``)."""
    return [DOT if ch == "." else digit(int(ch)) for ch in text]


def command(text: str, ports: int = 16, cascades: tuple[int, ...] = (2,)) -> object:
    """The one action that typing ``ScrLk ScrLk <text> Enter`` ends command mode with."""
    c = console(ports=ports, cascades=cascades)
    c.tap(SCRLK, SCRLK)
    assert c.take_actions() == [ModeEntered()]
    c.tap(*typed(text))
    if c.detector.in_command_mode:
        c.tap(ENTER)
    actions = c.take_actions()
    assert len(actions) == 1
    assert c.take_forwarded() == [(SCRLK, True), (SCRLK, False)] * 2
    return actions[0]


def test_a_ten_port_unit_waits_for_a_second_digit() -> None:
    assert command("10", ports=10, cascades=()) == SelectPort("10")
    assert command("1", ports=10, cascades=()) == SelectPort("1")


@pytest.mark.parametrize("text", ["2.1", "2.64"])
def test_the_first_and_last_cascade_channels_are_selected(text: str) -> None:
    assert command(text) == SelectPort(text)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("0", "0 is not a port"),
        ("03", "03 is not a port"),
        ("2.05", "2.05 is not a port"),
        ("17", "no port 17: ports are 1..16"),
        ("3.1", "port 3 has no cascaded switch"),
        ("2.", "2. is not a cascade port"),
        ("2.65", "2.65 is not a cascade port"),
        ("123", "123 is too long for a port"),
        ("2.123", "2.123 is too long for a port"),
        ("2.1.", "2.1. has two dots"),
    ],
)
def test_an_invalid_number_is_refused_with_its_reason(text: str, reason: str) -> None:
    assert command(text) == InvalidCommand(reason)


def test_a_key_that_is_no_command_is_named_in_the_reason() -> None:
    for ports in (4, 16):  # as the command key, and in the middle of a number
        c = console(ports=ports)
        c.tap(SCRLK, SCRLK)
        c.tap(*([digit(1)] if ports > 9 else []), KEY_B)
        assert c.take_actions()[-1] == InvalidCommand(f"key {KEY_B} is not a hotkey command")


def test_a_reset_in_command_mode_cancels_without_forwarding_anything() -> None:
    c = console()
    c.tap(SCRLK, SCRLK)
    result = c.detector.reset()
    assert result.forward == ()
    assert not c.detector.in_command_mode


def test_after_a_reset_two_taps_enter_command_mode_again() -> None:
    c = console()
    c.press(SCRLK)
    c.detector.reset()  # e.g. the console keyboard was unplugged mid-tap
    c.release(SCRLK)
    c.take_actions()
    c.tap(SCRLK, SCRLK)
    assert c.take_actions() == [ModeEntered()]
