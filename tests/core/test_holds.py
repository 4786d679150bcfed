"""The holder-count core: a key is down while anyone holds it; a leaving holder lifts only
what nobody else holds."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from kvmswitchd.core.holds import CONSOLE, HTTP, Hold, Holder, Holds

A, SHIFT, BTN_LEFT = 30, 42, 0x110
ONE, TWO = Holder("ws", 1), Holder("ws", 2)


def test_the_first_press_and_the_last_release_are_sent() -> None:
    holds = Holds()
    assert holds.press(ONE, 1, SHIFT)
    assert not holds.press(TWO, 1, SHIFT)  # already down on the target
    assert not holds.release(ONE, 1, SHIFT)  # TWO still holds it
    assert holds.holders(1, SHIFT) == {TWO}
    assert holds.release(TWO, 1, SHIFT)
    assert holds.held() == frozenset()


def test_a_repeated_press_by_the_same_holder_changes_nothing() -> None:
    holds = Holds()
    assert holds.press(ONE, 1, A)
    assert not holds.press(ONE, 1, A)
    assert holds.release(ONE, 1, A)  # one release is enough: holds are sets, not counts


def test_a_release_of_what_the_holder_never_pressed_lifts_nothing_another_holds() -> None:
    holds = Holds()
    holds.press(CONSOLE, 1, A)
    assert not holds.release(HTTP, 1, A)
    assert holds.holders(1, A) == {CONSOLE}
    assert holds.release(HTTP, 1, SHIFT)  # nobody holds it: passing it on is harmless


def test_release_holder_returns_exactly_what_nobody_else_holds() -> None:
    holds = Holds()
    holds.press(ONE, 1, A)
    holds.press(ONE, 1, BTN_LEFT)
    holds.press(ONE, 2, SHIFT)
    holds.press(TWO, 1, A)
    assert holds.release_holder(ONE) == [(1, BTN_LEFT), (2, SHIFT)]
    assert holds.held() == {(1, A)}
    assert holds.held_by(ONE) == frozenset()
    assert holds.release_holder(ONE) == []  # twice is nothing more


def test_clear_port_forgets_every_hold_on_that_port_only() -> None:
    holds = Holds()
    holds.press(ONE, 1, A)
    holds.press(TWO, 1, A)
    holds.press(ONE, 2, A)
    holds.clear_port(1)
    assert holds.held() == {(2, A)}
    assert holds.held_by(TWO) == frozenset()
    assert holds.release_holder(ONE) == [(2, A)]
    assert holds.press(TWO, 1, A)  # the port starts from nothing held


def test_holders_are_named_for_the_log() -> None:
    assert (str(CONSOLE), str(Holder("ws", 7))) == ("console", "ws 7")


HOLDERS = [CONSOLE, HTTP, ONE, TWO]
ops = st.lists(
    st.one_of(
        st.tuples(
            st.sampled_from(["press", "release"]),
            st.sampled_from(HOLDERS),
            st.integers(1, 2),
            st.sampled_from([A, SHIFT, BTN_LEFT]),
        ),
        st.tuples(st.just("leave"), st.sampled_from(HOLDERS), st.just(0), st.just(0)),
        st.tuples(st.just("switch"), st.just(CONSOLE), st.integers(1, 2), st.just(0)),
    ),
    max_size=60,
)


@given(ops)
def test_the_target_has_down_exactly_what_someone_holds(
    steps: list[tuple[str, Holder, int, int]],
) -> None:
    holds = Holds()
    model: dict[Hold, set[Holder]] = {}  # the obvious reference
    down: set[Hold] = set()  # the target, driven only by what the core says to send
    for kind, holder, port, code in steps:
        key = (port, code)
        if kind == "press":
            if holds.press(holder, port, code):
                down.add(key)
            model.setdefault(key, set()).add(holder)
        elif kind == "release":
            if holds.release(holder, port, code):
                down.discard(key)
            model.get(key, set()).discard(holder)
        elif kind == "leave":
            lifted = holds.release_holder(holder)
            down.difference_update(lifted)
            for holders in model.values():
                holders.discard(holder)
            assert holds.held_by(holder) == frozenset()
        else:
            holds.clear_port(port)
            down = {k for k in down if k[0] != port}
            model = {k: v for k, v in model.items() if k[0] != port}
        expected = {k for k, v in model.items() if v}
        assert down == expected
        assert holds.held() == expected
        for k in expected:
            assert holds.holders(*k) == model[k]
