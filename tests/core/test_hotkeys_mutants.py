"""Hotkey detector edges that mutation testing showed the other tests leave open: the exact
reason of every invalid command (the log and the UI show it), the 10-port boundary, the
first and last cascade channel, and what a reset leaves behind."""

from __future__ import annotations

import pytest

from kvmswitchd.core.hotkeys import (
    DEFAULT_PROFILE,
    KEY_MAX,
    MAX_TAPS,
    PROFILES,
    TRIGGER_KEYS,
    Cancelled,
    HotkeyDetector,
    HotkeyProfile,
    HotkeyResult,
    InvalidCommand,
    ModeEntered,
    SelectPort,
    profile_from_config,
)
from kvmswitchd.errors import ConfigError
from tests.core.test_hotkeys import DOT, ENTER, KEY_B, KPDOT, RCTRL, SCRLK, console, digit

PAUSE = 119


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


def detector(**table: object) -> HotkeyDetector:
    profile = profile_from_config(table, "console.hotkeys") if table else DEFAULT_PROFILE
    return HotkeyDetector(profile, 16, cascades=(2,))


def test_every_evdev_code_up_to_key_max_is_forwarded_and_none_above() -> None:
    d = detector()
    for code in (0, KEY_MAX):
        assert d.feed(code, True, 1.0).forward == ((code, True),)
        assert d.feed(code, False, 1.0).forward == ((code, False),)
    assert d.feed(KEY_MAX + 1, True, 1.0) == HotkeyResult()
    assert d.feed(-1, True, 1.0) == HotkeyResult()


def test_a_single_tap_profile_ignores_a_trigger_held_longer_than_the_tap_window() -> None:
    d = detector(taps=1)
    d.feed(SCRLK, True, 100.0)
    assert d.feed(SCRLK, False, 100.75) == HotkeyResult(((SCRLK, False),))
    assert not d.in_command_mode


def test_a_release_exactly_at_the_tap_window_is_still_a_tap() -> None:
    d = detector(taps=1)  # the window is 0.5 s; these times are exact in binary
    d.feed(SCRLK, True, 100.0)
    assert d.feed(SCRLK, False, 100.5).actions == (ModeEntered(),)


def test_a_double_tap_spanning_exactly_the_tap_window_counts() -> None:
    d = detector()
    d.feed(SCRLK, True, 100.0)
    d.feed(SCRLK, False, 100.125)
    d.feed(SCRLK, True, 100.25)
    assert d.feed(SCRLK, False, 100.5).actions == (ModeEntered(),)


def test_taps_of_two_different_triggers_are_not_a_double_tap() -> None:
    d = detector(trigger=["KEY_PAUSE", "KEY_RIGHTCTRL"])
    for code, now in ((PAUSE, 100.0), (RCTRL, 100.1)):
        d.feed(code, True, now)
        assert d.feed(code, False, now + 0.05).actions == ()
    for code, now in ((PAUSE, 101.0), (PAUSE, 101.1)):
        d.feed(code, True, now)
        d.feed(code, False, now + 0.05)
    assert d.in_command_mode


def test_a_key_exactly_at_the_command_deadline_is_typed_not_a_command() -> None:
    d = detector()
    d.feed(SCRLK, True, 100.0)
    d.feed(SCRLK, False, 100.0)
    d.feed(SCRLK, True, 100.0)
    d.feed(SCRLK, False, 100.0)
    assert d.next_deadline() == 102.0
    result = d.feed(KEY_B, True, 102.0)
    assert result == HotkeyResult(((KEY_B, True),), (Cancelled(timed_out=True),))


def test_a_repeated_press_of_a_swallowed_digit_is_not_a_second_digit() -> None:
    d = detector()
    for now in (100.0, 100.1):
        d.feed(SCRLK, True, now)
        d.feed(SCRLK, False, now)
    d.feed(digit(1), True, 100.2)
    d.feed(digit(1), True, 100.3)  # the same key again, never released in between
    d.feed(digit(1), False, 100.4)
    assert d.feed(ENTER, True, 100.5).actions == (SelectPort("1"),)


def test_without_keypad_digits_the_keypad_dot_is_no_part_of_a_number() -> None:
    d = detector(keypad_digits=False)
    for now in (100.0, 100.1):
        d.feed(SCRLK, True, now)
        d.feed(SCRLK, False, now)
    d.feed(digit(2), True, 100.2)
    assert d.feed(KPDOT, True, 100.3).actions == (
        InvalidCommand(f"key {KPDOT} is not a hotkey command"),
    )


# --- [console.hotkeys] tables ------------------------------------------------------------

KEY_NAMES = ", ".join(TRIGGER_KEYS)
TABLE_KEYS = "base, trigger, taps, tap_window, command_window, digit_pause, keypad_digits, enabled"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "fancy",
            "console.hotkeys: expected one of scrolllock, ctrl, alt, off or a table, got 'fancy'",
        ),
        (7, "console.hotkeys: expected a profile name or a table, got int"),
        ({"colour": 1}, f"console.hotkeys.colour: unknown key; expected {TABLE_KEYS}"),
        ({"base": "off"}, "console.hotkeys.base: expected scrolllock, ctrl or alt, got 'off'"),
        ({"trigger": []}, "console.hotkeys.trigger: expected at least one key"),
        (
            {"trigger": 0},
            f"console.hotkeys.trigger: expected a trigger key name ({KEY_NAMES}) or code, got 0",
        ),
        ({"taps": 6}, "console.hotkeys.taps: expected an integer 1..5, got 6"),
        ({"taps": True}, "console.hotkeys.taps: expected an integer 1..5, got True"),
        ({"tap_window": "1"}, "console.hotkeys.tap_window: expected seconds 0.05..5.0, got '1'"),
        ({"digit_pause": 11}, "console.hotkeys.digit_pause: expected seconds 0.2..10.0, got 11"),
        ({"enabled": "yes"}, "console.hotkeys.enabled: expected true or false, got 'yes'"),
    ],
)
def test_a_bad_hotkey_table_is_refused_naming_the_key(value: object, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        profile_from_config(value, "console.hotkeys")  # type: ignore[arg-type]
    assert str(caught.value) == message


@pytest.mark.parametrize("code", [1, KEY_MAX])
def test_trigger_codes_1_and_key_max_are_accepted(code: int) -> None:
    assert profile_from_config({"trigger": code}, "h").triggers == frozenset({code})


@pytest.mark.parametrize("taps", [1, MAX_TAPS])
def test_one_to_five_taps_are_accepted(taps: int) -> None:
    assert profile_from_config({"taps": taps}, "h").taps == taps


@pytest.mark.parametrize("key", ["tap_window", "command_window", "digit_pause"])
def test_each_window_accepts_its_lowest_and_highest_value(key: str) -> None:
    low, high = {"tap_window": (0.05, 5.0), "command_window": (0.2, 30.0)}.get(key, (0.2, 10.0))
    for seconds in (low, high):
        assert getattr(profile_from_config({key: seconds}, "h"), key) == seconds


def test_a_table_keeps_its_base_profiles_other_settings_and_is_named_custom() -> None:
    profile = profile_from_config({"base": "ctrl", "taps": 3}, "h")
    base = PROFILES["ctrl"]
    assert profile == HotkeyProfile(
        name="custom",
        triggers=base.triggers,
        taps=3,
        tap_window=base.tap_window,
        command_window=base.command_window,
        digit_pause=base.digit_pause,
        keypad_digits=base.keypad_digits,
        enabled=base.enabled,
    )
