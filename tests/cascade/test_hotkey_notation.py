"""The hotkey notation: parsing, its errors, the round trip, the schedule and the player."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hid.evcodes import KEY_1, KEY_2, KEY_4, KEY_ENTER, KEY_LEFTALT, KEY_LEFTCTRL, KEY_SCROLLLOCK
from kvmswitchd.cascade.hotkey_notation import (
    MAX_KEY_EVENTS,
    MAX_SEQUENCE_CHARS,
    MAX_STEPS,
    Action,
    KeyEvent,
    SequencePlayer,
    Step,
    format_sequence,
    parse_sequence,
    schedule,
)
from kvmswitchd.errors import InputError

SCROLL = Step(Action.TAP, KEY_SCROLLLOCK)


def test_taps_waits_and_the_port_placeholder_parse_to_steps() -> None:
    assert parse_sequence("ScrollLock scrlk *200ms {port} Enter *1.5s *") == (
        SCROLL,
        SCROLL,
        Step(Action.WAIT, ms=200),
        Step(Action.PORT),
        Step(Action.TAP, KEY_ENTER),
        Step(Action.WAIT, ms=1500),
        Step(Action.WAIT, ms=250),
    )


def test_explicit_press_and_release_and_the_adder_tap_form() -> None:
    assert parse_sequence("+LeftCtrl +KEY_LEFTALT {port:2} -alt -Ctrl +-SCROLL") == (
        Step(Action.PRESS, KEY_LEFTCTRL),
        Step(Action.PRESS, KEY_LEFTALT),
        Step(Action.PORT, width=2),
        Step(Action.RELEASE, KEY_LEFTALT),
        Step(Action.RELEASE, KEY_LEFTCTRL),
        SCROLL,
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ScrollLock Scrol {port}", "position 12, 'Scrol': unknown key name"),
        ("{port} +LeftCtrl", "position 8, '+LeftCtrl': key is pressed and never released"),
        ("{port} -LeftCtrl", "position 8, '-LeftCtrl': key is released but was not pressed"),
        ("+A +A -A {port}", "position 4, '+A': key is already pressed"),
        ("+1 {port} -1", "position 4, '{port}': key is tapped while it is held"),
        ("{port} *20000ms", "position 8, '*20000ms': a wait is 1 ms .. 10 s"),
        ("{port} *0", "position 8, '*0': a wait is 1 ms .. 10 s"),
        ("{port} *fast", "position 8, '*fast': expected a wait like *200ms, *1.5s or *"),
        ("{port} *1.5ms", "position 8, '*1.5ms': milliseconds are whole numbers"),
        ("{port:9}", "position 1, '{port:9}': width is at most 4"),
        ("{prt}", "position 1, '{prt}': expected {port} or {port:N}"),
        ("BTN_LEFT {port}", "position 1, 'BTN_LEFT': unknown key name"),
        ("ScrollLock ScrollLock", "sequence has no {port}"),
        ("   ", "sequence is empty"),
    ],
)
def test_a_bad_sequence_names_the_position_and_the_token(text: str, message: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_sequence(text)
    assert message in str(caught.value)


def test_the_length_caps_refuse_long_sequences() -> None:
    with pytest.raises(InputError, match=f"at most {MAX_SEQUENCE_CHARS}"):
        parse_sequence("A " * 300 + "{port}")
    with pytest.raises(InputError, match=f"more than {MAX_STEPS} steps"):
        parse_sequence("A " * MAX_STEPS + "{port}")
    steps = parse_sequence(" ".join(["{port:4}"] * 40))
    with pytest.raises(InputError, match=f"at most {MAX_KEY_EVENTS}"):
        schedule(steps, 12, hold=0.01, delay=0.0)
    with pytest.raises(InputError, match="at most 30 s"):
        schedule(parse_sequence("{port} *10s *10s *10s A"), 1, hold=0.05, delay=0.1)


def test_a_tap_holds_then_every_key_step_is_followed_by_the_delay() -> None:
    steps = parse_sequence("ScrollLock ScrollLock *300ms {port} +LeftCtrl -LeftCtrl")
    events = schedule(steps, 12, hold=0.05, delay=0.1)
    assert events == (
        KeyEvent(0.0, KEY_SCROLLLOCK, True),
        KeyEvent(0.05, KEY_SCROLLLOCK, False),
        KeyEvent(0.15, KEY_SCROLLLOCK, True),
        KeyEvent(0.2, KEY_SCROLLLOCK, False),
        KeyEvent(0.6, KEY_1, True),  # 0.3 + the delay after the second tap, plus the wait
        KeyEvent(0.65, KEY_1, False),
        KeyEvent(0.75, KEY_2, True),
        KeyEvent(0.8, KEY_2, False),
        KeyEvent(0.9, KEY_LEFTCTRL, True),
        KeyEvent(1.0, KEY_LEFTCTRL, False),
    )


def test_a_padded_port_types_leading_zeros_and_refuses_a_channel_too_wide() -> None:
    events = schedule(parse_sequence("{port:2}"), 4, hold=0.01, delay=0.0)
    assert [e.code for e in events if e.pressed] == [11, KEY_4]  # KEY_0 then KEY_4
    with pytest.raises(InputError, match="more than the 1 digits"):
        schedule(parse_sequence("{port:1}"), 12, hold=0.01, delay=0.0)


def test_the_player_hands_out_events_as_their_time_comes_and_knows_what_is_held() -> None:
    events = schedule(parse_sequence("+LeftCtrl {port} -LeftCtrl"), 2, hold=0.05, delay=0.1)
    player = SequencePlayer(events, start=10.0)
    assert player.next_deadline() == 10.0
    assert player.due(10.0) == KeyEvent(0.0, KEY_LEFTCTRL, True)
    player.sent()
    assert player.due(10.09) is None
    assert player.next_deadline() == pytest.approx(10.1)
    assert player.due(10.1) == KeyEvent(0.1, KEY_2, True)
    assert player.due(10.1) == KeyEvent(0.1, KEY_2, True)  # until it is sent
    player.sent()
    assert player.held() == (KEY_2, KEY_LEFTCTRL)
    assert player.count == 2
    while player.due(99.0) is not None:
        player.sent()
    assert player.held() == ()
    assert player.next_deadline() is None


KEY_NAMES = ["ScrollLock", "LeftCtrl", "RightAlt", "Enter", "A", "F1", "KP5", "Esc", "Tab"]


@st.composite
def sequences(draw: st.DrawFn) -> tuple[Step, ...]:
    """Well-formed step lists: taps, waits, {port}, and chords (``+X ... -X`` around taps
    of other keys)."""
    codes = [parse_sequence(name + " {port}")[0].code for name in KEY_NAMES]
    steps: list[Step] = [Step(Action.PORT, width=draw(st.integers(0, 4)))]
    for _ in range(draw(st.integers(0, 10))):
        kind = draw(st.sampled_from(["tap", "wait", "port", "chord"]))
        code = draw(st.sampled_from(codes))
        if kind == "tap":
            steps.append(Step(Action.TAP, code))
        elif kind == "wait":
            steps.append(Step(Action.WAIT, ms=draw(st.integers(1, 10_000))))
        elif kind == "port":
            steps.append(Step(Action.PORT, width=draw(st.integers(0, 4))))
        else:
            inner = draw(st.lists(st.sampled_from([c for c in codes if c != code]), max_size=2))
            steps += [
                Step(Action.PRESS, code),
                *(Step(Action.TAP, c) for c in inner),
                Step(Action.RELEASE, code),
            ]
    return tuple(steps)


@settings(max_examples=100, deadline=None)
@given(sequences())
def test_formatting_steps_and_parsing_them_again_gives_the_same_steps(
    steps: tuple[Step, ...],
) -> None:
    assert parse_sequence(format_sequence(steps)) == steps


@settings(max_examples=100, deadline=None)
@given(sequences(), st.integers(1, 64), st.integers(10, 500), st.integers(0, 500))
def test_a_schedule_is_in_time_order_and_releases_every_key_it_presses(
    steps: tuple[Step, ...], channel: int, hold_ms: int, delay_ms: int
) -> None:
    try:
        events = schedule(steps, channel, hold=hold_ms / 1000, delay=delay_ms / 1000)
    except InputError:
        return  # over a cap, or the channel wider than a {port:N}: refused, not typed
    assert [e.at for e in events] == sorted(e.at for e in events)
    player = SequencePlayer(events, start=0.0)
    out = []
    while (event := player.due(1e9)) is not None:
        out.append(event)
        player.sent()
    assert out == list(events)
    assert player.held() == ()
