"""The hotkey detector (SPEC §4), driven with injected time."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kvmswitchd.core.hotkeys import (
    DEFAULT_PROFILE,
    PROFILES,
    Cancelled,
    HotkeyAction,
    HotkeyDetector,
    HotkeyProfile,
    HotkeyResult,
    InvalidCommand,
    ModeEntered,
    SelectPort,
    StartScan,
    StepPort,
    profile_from_config,
)
from kvmswitchd.errors import ConfigError

SCRLK, LCTRL, RCTRL, LALT, LSHIFT = 70, 29, 97, 56, 42
ESC, ENTER, KPENTER, DOT, KPDOT = 1, 28, 96, 52, 83
KEY_A, KEY_B, KEY_C, KEY_H, KEY_I = 30, 48, 46, 35, 23
UP, DOWN, PGUP, PGDN = 103, 108, 104, 109
KP2 = 80


def digit(n: int) -> int:
    """evdev code of top-row digit ``n``."""
    return 11 if n == 0 else n + 1


class Console:
    """A console keyboard typing into a detector, with a clock it advances itself."""

    def __init__(self, detector: HotkeyDetector, now: float = 100.0) -> None:
        self.detector = detector
        self.now = now
        self.forwarded: list[tuple[int, bool]] = []
        self.actions: list[HotkeyAction] = []

    def _take(self, result: HotkeyResult) -> None:
        self.forwarded.extend(result.forward)
        self.actions.extend(result.actions)

    def press(self, code: int, after: float = 0.05) -> None:
        self.now += after
        self._take(self.detector.feed(code, True, self.now))

    def release(self, code: int, after: float = 0.05) -> None:
        self.now += after
        self._take(self.detector.feed(code, False, self.now))

    def tap(self, *codes: int, after: float = 0.05) -> None:
        for code in codes:
            self.press(code, after)
            self.release(code, after)

    def wait(self, seconds: float) -> None:
        """Let time pass, running the timer the way the adapter does."""
        self.now += seconds
        self._take(self.detector.handle_timer(self.now))

    def take_forwarded(self) -> list[tuple[int, bool]]:
        out, self.forwarded = self.forwarded, []
        return out

    def take_actions(self) -> list[HotkeyAction]:
        out, self.actions = self.actions, []
        return out


def console(ports: int = 4, profile: HotkeyProfile = DEFAULT_PROFILE, **kw: object) -> Console:
    cascades = kw.pop("cascades", ())
    assert not kw
    assert isinstance(cascades, tuple | frozenset | set)
    return Console(HotkeyDetector(profile, ports, cascades))


def tapped(*codes: int) -> list[tuple[int, bool]]:
    return [event for code in codes for event in ((code, True), (code, False))]


# --- the basic sequence ----------------------------------------------------------------


def test_double_scroll_lock_then_digit_selects_port_and_swallows_the_digit() -> None:
    c = console()
    c.tap(SCRLK, SCRLK)
    assert c.take_forwarded() == tapped(SCRLK, SCRLK)  # lock state on the port unchanged
    assert c.take_actions() == [ModeEntered()]
    c.tap(digit(2))
    assert c.take_forwarded() == []  # press and release both swallowed
    assert c.take_actions() == [SelectPort("2")]
    assert c.detector.next_deadline() is None


def test_typing_before_and_after_a_hotkey_is_forwarded() -> None:
    c = console()
    c.tap(KEY_H, KEY_I)
    c.tap(SCRLK, SCRLK, digit(3))
    c.tap(KEY_H, KEY_I)
    assert c.take_forwarded() == tapped(KEY_H, KEY_I, SCRLK, SCRLK, KEY_H, KEY_I)
    assert c.take_actions() == [ModeEntered(), SelectPort("3")]


def test_double_tap_outside_the_window_is_two_single_taps() -> None:
    c = console()
    c.tap(SCRLK)
    c.tap(SCRLK, after=0.4)  # second tap ends 0.85 s after the first began
    c.tap(digit(2))
    assert c.take_actions() == []
    assert c.take_forwarded() == tapped(SCRLK, SCRLK, digit(2))


def test_a_tap_held_longer_than_the_window_is_not_a_tap() -> None:
    c = console()
    c.tap(SCRLK)
    c.press(SCRLK)
    c.release(SCRLK, after=0.6)
    c.tap(digit(2))
    assert c.take_actions() == []


def test_another_key_between_the_taps_resets_counting() -> None:
    c = console()
    c.tap(SCRLK, KEY_A, SCRLK, digit(2))
    assert c.take_actions() == []
    assert c.take_forwarded() == tapped(SCRLK, KEY_A, SCRLK, digit(2))


def test_another_key_pressed_while_the_trigger_is_held_voids_the_tap() -> None:
    c = console()
    c.tap(SCRLK)
    c.press(SCRLK)
    c.tap(KEY_A)
    c.release(SCRLK)
    c.tap(digit(2))
    assert c.take_actions() == []


def test_three_taps_after_two_entered_the_mode_is_an_invalid_command() -> None:
    c = console()
    c.tap(SCRLK, SCRLK, SCRLK)
    assert c.take_forwarded() == tapped(SCRLK, SCRLK)
    assert [type(a) for a in c.take_actions()] == [ModeEntered, InvalidCommand]


# --- invalid commands --------------------------------------------------------------------


def test_an_invalid_command_ends_the_mode_is_swallowed_and_beeps() -> None:
    c = console()
    c.tap(SCRLK, SCRLK)
    c.take_forwarded()
    c.tap(KEY_B)
    assert c.take_forwarded() == []
    actions = c.take_actions()
    assert [type(a) for a in actions] == [ModeEntered, InvalidCommand]
    c.tap(digit(2))  # the mode is over: digits are typing again
    assert c.take_forwarded() == tapped(digit(2))
    assert c.take_actions() == []


@pytest.mark.parametrize("n", [5, 9, 0])
def test_a_port_out_of_range_or_zero_is_an_invalid_command(n: int) -> None:
    c = console(ports=4)
    c.tap(SCRLK, SCRLK, digit(n))
    assert isinstance(c.take_actions()[-1], InvalidCommand)
    assert c.take_forwarded() == tapped(SCRLK, SCRLK)


# --- ports >= 10 and cascades --------------------------------------------------------


def test_twelve_ports_one_two_enter_selects_port_12() -> None:
    c = console(ports=12)
    c.tap(SCRLK, SCRLK, digit(1), digit(2))
    assert c.take_actions() == [ModeEntered()]  # still accumulating
    c.tap(ENTER)
    assert c.take_actions() == [SelectPort("12")]
    assert c.take_forwarded() == tapped(SCRLK, SCRLK)


def test_twelve_ports_one_then_a_pause_selects_port_1() -> None:
    c = console(ports=12)
    c.tap(SCRLK, SCRLK, digit(1))
    deadline = c.detector.next_deadline()
    assert deadline == pytest.approx(c.now - 0.05 + 1.0)  # 1 s after the digit's press
    c.wait(0.5)
    assert c.take_actions() == [ModeEntered()]
    c.wait(0.5)
    assert c.take_actions() == [SelectPort("1")]
    assert c.detector.next_deadline() is None


def test_each_digit_restarts_the_pause() -> None:
    c = console(ports=12)
    c.tap(SCRLK, SCRLK, digit(1))
    c.now += 0.8
    c.tap(digit(1))
    c.wait(0.5)  # 1.4 s after the first digit but only 0.4 s after the second
    assert c.take_actions() == [ModeEntered()]
    c.wait(0.6)
    assert c.take_actions() == [SelectPort("11")]


def test_twelve_ports_thirteen_is_an_invalid_command() -> None:
    c = console(ports=12)
    c.tap(SCRLK, SCRLK, digit(1), digit(3), ENTER)
    assert isinstance(c.take_actions()[-1], InvalidCommand)
    assert c.take_forwarded() == tapped(SCRLK, SCRLK)


def test_three_digits_are_an_invalid_command_and_its_enter_is_swallowed() -> None:
    c = console(ports=64)
    c.tap(SCRLK, SCRLK, digit(1), digit(2), digit(3), digit(4), ENTER)
    assert isinstance(c.take_actions()[-1], InvalidCommand)
    assert c.take_forwarded() == tapped(SCRLK, SCRLK)
    assert c.detector.next_deadline() is None


def test_a_leading_zero_is_an_invalid_command_after_the_pause() -> None:
    c = console(ports=12)
    c.tap(SCRLK, SCRLK, digit(0), digit(5))
    assert c.take_actions() == [ModeEntered()]
    c.wait(1.0)
    assert isinstance(c.take_actions()[-1], InvalidCommand)


def test_cascade_u_dot_c_enter_selects_the_downstream_port() -> None:
    c = console(ports=4, cascades=(2,))
    c.tap(SCRLK, SCRLK, digit(2), DOT, digit(4), ENTER)
    assert c.take_actions() == [ModeEntered(), SelectPort("2.4")]
    assert c.take_forwarded() == tapped(SCRLK, SCRLK)


def test_cascade_with_keypad_dot_and_a_pause_selects_the_downstream_port() -> None:
    c = console(ports=12, cascades=(10,))
    c.tap(SCRLK, SCRLK, digit(1), digit(0), KPDOT, digit(1), digit(6))
    c.wait(1.0)
    assert c.take_actions() == [ModeEntered(), SelectPort("10.16")]


def test_a_cascade_port_alone_is_selected_after_the_pause() -> None:
    c = console(ports=4, cascades=(2,))
    c.tap(SCRLK, SCRLK, digit(2))
    assert c.take_actions() == [ModeEntered()]
    c.wait(1.0)
    assert c.take_actions() == [SelectPort("2")]


def test_a_port_without_a_cascade_still_selects_at_once() -> None:
    c = console(ports=4, cascades=(2,))
    c.tap(SCRLK, SCRLK, digit(3))
    assert c.take_actions() == [ModeEntered(), SelectPort("3")]


@pytest.mark.parametrize(
    "keys",
    [
        (digit(2), DOT, ENTER),  # no channel
        (digit(2), DOT, DOT, digit(1), ENTER),  # two dots
        (digit(2), DOT, digit(0), ENTER),  # channel 0
        (digit(3), DOT, digit(1), ENTER),  # port 3 has no cascade (12-port unit)
        (digit(2), DOT, digit(9), digit(9), ENTER),  # channel beyond 64
    ],
)
def test_a_malformed_cascade_address_is_an_invalid_command(keys: tuple[int, ...]) -> None:
    c = console(ports=12, cascades=(2,))
    c.tap(SCRLK, SCRLK, *keys)
    assert isinstance(c.take_actions()[-1], InvalidCommand)
    assert c.take_forwarded() == tapped(SCRLK, SCRLK)
    assert not c.detector.in_command_mode


# --- windows and timeouts ------------------------------------------------------------


def test_the_command_window_expiring_ends_the_mode_as_a_timed_out_cancel() -> None:
    c = console()
    c.tap(SCRLK, SCRLK)
    assert c.detector.next_deadline() == pytest.approx(c.now + 2.0)
    c.wait(1.9)
    assert c.take_actions() == [ModeEntered()]
    c.wait(0.1)
    assert c.take_actions() == [Cancelled(timed_out=True)]
    c.tap(digit(2))
    assert c.take_forwarded() == tapped(SCRLK, SCRLK, digit(2))


def test_a_key_after_the_window_is_typed_even_when_the_timer_was_late() -> None:
    c = console()
    c.tap(SCRLK, SCRLK)
    c.now += 2.5  # no handle_timer call
    c.tap(digit(2))
    assert c.take_actions() == [ModeEntered(), Cancelled(timed_out=True)]
    assert c.take_forwarded() == tapped(SCRLK, SCRLK, digit(2))


def test_a_command_just_inside_the_window_counts() -> None:
    c = console()
    c.tap(SCRLK, SCRLK)
    c.press(digit(2), after=1.95)
    assert c.take_actions() == [ModeEntered(), SelectPort("2")]


def test_a_late_pause_timer_completes_the_number_before_the_next_key() -> None:
    c = console(ports=12)
    c.tap(SCRLK, SCRLK, digit(1))
    c.now += 3.0
    c.tap(KEY_A)
    assert c.take_actions() == [ModeEntered(), SelectPort("1")]
    assert c.take_forwarded() == tapped(SCRLK, SCRLK, KEY_A)


def test_the_timer_before_its_deadline_does_nothing() -> None:
    c = console()
    c.tap(SCRLK, SCRLK)
    c.wait(0.5)
    assert c.take_actions() == [ModeEntered()]
    assert c.detector.in_command_mode


# --- other commands --------------------------------------------------------------------


@pytest.mark.parametrize(("key", "direction"), [(UP, -1), (PGUP, -1), (DOWN, 1), (PGDN, 1)])
def test_up_pgup_step_back_and_down_pgdn_step_forward(key: int, direction: int) -> None:
    c = console()
    c.tap(SCRLK, SCRLK, key)
    assert c.take_actions() == [ModeEntered(), StepPort(direction)]
    assert c.take_forwarded() == tapped(SCRLK, SCRLK)


def test_a_starts_auto_scan() -> None:
    c = console()
    c.tap(SCRLK, SCRLK, KEY_A)
    assert c.take_actions() == [ModeEntered(), StartScan()]
    assert c.take_forwarded() == tapped(SCRLK, SCRLK)


def test_esc_cancels_and_is_swallowed() -> None:
    c = console()
    c.tap(SCRLK, SCRLK, ESC)
    assert c.take_actions() == [ModeEntered(), Cancelled()]
    assert c.take_forwarded() == tapped(SCRLK, SCRLK)


def test_esc_cancels_a_number_being_typed() -> None:
    c = console(ports=12)
    c.tap(SCRLK, SCRLK, digit(1), ESC)
    assert c.take_actions() == [ModeEntered(), Cancelled()]


def test_keypad_digits_and_keypad_enter_count_by_default() -> None:
    c = console(ports=12)
    c.tap(SCRLK, SCRLK, 79, KP2, KPENTER)  # KP1 KP2 KPEnter
    assert c.take_actions() == [ModeEntered(), SelectPort("12")]


def test_keypad_digits_are_invalid_when_the_profile_excludes_them() -> None:
    profile = profile_from_config({"keypad_digits": False}, "console.hotkeys")
    c = console(profile=profile)
    c.tap(SCRLK, SCRLK, KP2)
    assert isinstance(c.take_actions()[-1], InvalidCommand)
    c.tap(SCRLK, SCRLK, digit(2))  # the top row always counts
    assert c.take_actions() == [ModeEntered(), SelectPort("2")]


# --- key bookkeeping -------------------------------------------------------------------


def test_a_key_held_into_the_command_is_released_on_the_port() -> None:
    c = console()
    c.press(LSHIFT)
    c.tap(SCRLK, SCRLK)
    c.release(LSHIFT)  # mid-command: its press was forwarded, so its release is too
    c.tap(digit(2))
    assert c.take_forwarded() == [(LSHIFT, True), *tapped(SCRLK, SCRLK), (LSHIFT, False)]
    assert c.take_actions() == [ModeEntered(), SelectPort("2")]


def test_a_command_key_released_after_the_switch_stays_swallowed() -> None:
    c = console()
    c.tap(SCRLK, SCRLK)
    c.press(digit(2))
    assert c.take_actions() == [ModeEntered(), SelectPort("2")]
    c.tap(KEY_H)
    c.release(digit(2))
    assert c.take_forwarded() == tapped(SCRLK, SCRLK, KEY_H)


def test_duplicate_presses_and_stray_releases_never_reach_the_port() -> None:
    c = console()
    c.release(KEY_A)  # pressed before the detector existed
    c.press(KEY_B)
    c.press(KEY_B)  # a repeat that slipped through
    c.release(KEY_B)
    c.release(KEY_B)
    c.press(0x300)  # beyond KEY_MAX
    assert c.take_forwarded() == tapped(KEY_B)


def test_reset_cancels_a_command_in_progress() -> None:
    c = console()
    c.tap(SCRLK, SCRLK)
    assert c.detector.reset().actions == (Cancelled(),)
    c.tap(digit(2))
    assert c.take_forwarded() == tapped(SCRLK, SCRLK, digit(2))


# --- profiles --------------------------------------------------------------------------


def test_ctrl_profile_double_left_ctrl_enters_command_mode() -> None:
    c = console(profile=PROFILES["ctrl"])
    c.tap(LCTRL, LCTRL, digit(3))
    assert c.take_actions() == [ModeEntered(), SelectPort("3")]
    assert c.take_forwarded() == tapped(LCTRL, LCTRL)


def test_ctrl_profile_ctrl_c_typed_normally_is_not_a_tap() -> None:
    c = console(profile=PROFILES["ctrl"])
    c.tap(LCTRL)
    c.press(LCTRL)
    c.tap(KEY_C)
    c.release(LCTRL)
    c.press(LCTRL)
    c.tap(KEY_C)
    c.release(LCTRL)
    c.tap(digit(2))
    assert c.take_actions() == []
    assert c.take_forwarded()[-2:] == tapped(digit(2))


def test_ctrl_profile_ignores_right_ctrl_and_scroll_lock() -> None:
    c = console(profile=PROFILES["ctrl"])
    c.tap(RCTRL, RCTRL, digit(2), SCRLK, SCRLK, digit(2))
    assert c.take_actions() == []


def test_alt_profile_double_left_alt_enters_command_mode() -> None:
    c = console(profile=PROFILES["alt"])
    c.tap(LALT, LALT, DOWN)
    assert c.take_actions() == [ModeEntered(), StepPort(1)]
    assert c.take_forwarded() == tapped(LALT, LALT)


def test_custom_profile_from_config_uses_its_trigger_taps_and_windows() -> None:
    profile = profile_from_config(
        {"trigger": "KEY_RIGHTCTRL", "taps": 3, "tap_window": 1.0, "command_window": 5.0},
        "console.hotkeys",
    )
    assert profile.triggers == frozenset({RCTRL})
    c = console(profile=profile)
    c.tap(RCTRL, RCTRL, digit(2))
    assert c.take_actions() == []  # two taps are not enough
    c.tap(RCTRL, RCTRL, RCTRL, after=0.1)  # 0.6 s for three taps: inside 1.0 s
    c.press(digit(2), after=4.5)
    assert c.take_actions() == [ModeEntered(), SelectPort("2")]


def test_custom_profile_accepts_several_triggers_and_code_numbers() -> None:
    profile = profile_from_config({"trigger": ["KEY_PAUSE", 97]}, "console.hotkeys")
    assert profile.triggers == frozenset({119, RCTRL})
    assert profile.taps == 2


def test_a_custom_table_modifies_its_base_profile() -> None:
    profile = profile_from_config({"base": "alt", "digit_pause": 2}, "console.hotkeys")
    assert profile.triggers == frozenset({LALT})
    assert profile.digit_pause == 2.0


def test_builtin_profile_names_give_the_builtin_profiles() -> None:
    for name in ("scrolllock", "ctrl", "alt", "off"):
        assert profile_from_config(name, "console.hotkeys") is PROFILES[name]


@pytest.mark.parametrize(
    ("value", "path"),
    [
        ("shift", "console.hotkeys"),
        (3, "console.hotkeys"),
        ({"trigger": "KEY_Q"}, "console.hotkeys.trigger"),
        ({"trigger": []}, "console.hotkeys.trigger"),
        ({"trigger": True}, "console.hotkeys.trigger"),
        ({"taps": 0}, "console.hotkeys.taps"),
        ({"taps": 2.5}, "console.hotkeys.taps"),
        ({"tap_window": 0}, "console.hotkeys.tap_window"),
        ({"command_window": "2"}, "console.hotkeys.command_window"),
        ({"digit_pause": 99}, "console.hotkeys.digit_pause"),
        ({"keypad_digits": "yes"}, "console.hotkeys.keypad_digits"),
        ({"base": "off"}, "console.hotkeys.base"),
        ({"tigger": "KEY_PAUSE"}, "console.hotkeys.tigger"),
    ],
)
def test_a_bad_profile_config_names_the_key_path(value: object, path: str) -> None:
    with pytest.raises(ConfigError) as info:
        profile_from_config(value, "console.hotkeys")  # type: ignore[arg-type]  # bad on purpose
    assert info.value.path == path


def test_disabled_profile_forwards_everything_and_acts_on_nothing() -> None:
    for profile in (PROFILES["off"], profile_from_config({"enabled": False}, "h")):
        c = console(profile=profile)
        c.tap(SCRLK, SCRLK, digit(2), ESC)
        assert c.take_forwarded() == tapped(SCRLK, SCRLK, digit(2), ESC)
        assert c.take_actions() == []
        assert c.detector.next_deadline() is None


# --- properties ----------------------------------------------------------------------

KEYS = [
    SCRLK,
    LCTRL,
    LALT,
    digit(1),
    digit(2),
    digit(0),
    ENTER,
    DOT,
    ESC,
    KEY_A,
    KEY_B,
    UP,
    digit(2),
    digit(3),
]
TERMINAL = (SelectPort, StepPort, StartScan, Cancelled, InvalidCommand)

steps = st.lists(
    st.tuples(
        st.sampled_from(KEYS),
        st.sampled_from(["press", "release", "tap", "tap", "hotkey"]),
        st.sampled_from([0.0, 0.01, 0.05, 0.1, 0.3, 0.6, 1.1, 2.5]),
        st.booleans(),  # run the timer first when it is due (an adapter may be late)
    ),
    max_size=60,
)


@settings(max_examples=400, deadline=None)
@given(
    steps=steps,
    profile_name=st.sampled_from(["scrolllock", "ctrl", "alt", "off"]),
    ports=st.sampled_from([4, 12]),
)
def test_forwarded_key_events_always_balance(
    steps: list[tuple[int, str, float, bool]], profile_name: str, ports: int
) -> None:
    detector = HotkeyDetector(PROFILES[profile_name], ports, cascades=(2,))
    trigger = min(PROFILES[profile_name].triggers, default=SCRLK)
    now = 0.0
    held: set[int] = set()  # physically held keys
    on_port: set[int] = set()  # keys the port believes are held
    actions: list[HotkeyAction] = []

    def feed(code: int, pressed: bool) -> None:
        if pressed:
            held.add(code)
        else:
            held.discard(code)
        result = detector.feed(code, pressed, now)
        actions.extend(result.actions)
        for fwd_code, fwd_pressed in result.forward:
            if fwd_pressed:
                assert fwd_code not in on_port, "a press forwarded twice"
                assert fwd_code in held, "a press forwarded for a key not held"
                on_port.add(fwd_code)
            else:
                assert fwd_code in on_port, "a release forwarded without its press"
                on_port.remove(fwd_code)

    for step_code, kind, dt, run_timer in steps:
        now += dt
        deadline = detector.next_deadline()
        if run_timer and deadline is not None and deadline <= now:
            actions.extend(detector.handle_timer(now).actions)
        code = trigger if kind == "hotkey" else step_code  # hotkey: double-tap the trigger
        for _ in range(2 if kind == "hotkey" else 1):
            if kind != "release":
                feed(code, True)
            if kind != "press":
                now += 0.02
                feed(code, False)
    for code in sorted(held):
        now += 0.01
        feed(code, False)
    assert on_port == set(), "a key stays pressed on the port after all were released"
    in_mode = False
    for action in actions:  # every mode opens once and ends with exactly one outcome
        if isinstance(action, ModeEntered):
            assert not in_mode
            in_mode = True
        else:
            assert isinstance(action, TERMINAL)
            assert in_mode
            in_mode = False
    assert in_mode == detector.in_command_mode


def _config_tables() -> st.SearchStrategy[Mapping[str, object]]:
    values = st.one_of(st.none(), st.booleans(), st.integers(-5, 100), st.floats(), st.text())
    keys = st.sampled_from(["trigger", "taps", "tap_window", "keypad_digits", "base", "x"])
    return st.dictionaries(keys, values, max_size=4)


@given(_config_tables())
def test_any_config_table_gives_a_profile_or_a_config_error(table: Mapping[str, object]) -> None:
    error: ConfigError | None = None
    try:
        profile = profile_from_config(table, "console.hotkeys")
    except ConfigError as exc:
        error = exc
    if error is None:
        assert profile.triggers
    else:
        assert error.path.startswith("console.hotkeys")
