"""The connection budget, sans-IO: deadlines by phase, shedding idle connections at
capacity, refusing only when none is idle. Time is passed in."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from web.connections import Budget, Limits, Phase

LIMITS = Limits(header_timeout=5.0, idle_timeout=60.0, max_connections=3)


def test_an_idle_connection_expires_after_the_idle_timeout() -> None:
    budget: Budget[str] = Budget(LIMITS)
    assert budget.opened("a", 0.0).admitted
    assert budget.next_deadline() == 60.0
    assert budget.expired(59.9) == []
    assert budget.expired(60.0) == ["a"]
    assert len(budget) == 0


def test_a_half_sent_header_expires_after_the_header_timeout() -> None:
    budget: Budget[str] = Budget(LIMITS)
    budget.opened("slow", 0.0)
    budget.received("slow", 1.0)  # "GET / HTTP/1.1\r\nHost: x" and then nothing
    budget.received("slow", 4.0)  # a trickle does not extend the deadline
    assert budget.phase("slow") is Phase.READING
    assert budget.expired(5.9) == []
    assert budget.expired(6.0) == ["slow"]


def test_a_busy_connection_has_no_deadline_and_is_idle_again_after() -> None:
    budget: Budget[str] = Budget(LIMITS)
    budget.opened("a", 0.0)
    budget.received("a", 1.0)
    budget.started("a", 1.0)
    assert budget.next_deadline() is None
    assert budget.expired(10_000.0) == []
    budget.finished("a", 500.0)
    assert budget.phase("a") is Phase.IDLE
    assert budget.next_deadline() == 560.0


def test_overlapping_handlers_keep_the_connection_busy_until_the_last_ends() -> None:
    budget: Budget[str] = Budget(LIMITS)
    budget.opened("a", 0.0)
    budget.started("a", 1.0)
    budget.started("a", 1.0)  # a pipelined request
    budget.finished("a", 2.0)
    assert budget.phase("a") is Phase.BUSY
    budget.finished("a", 3.0)
    assert budget.phase("a") is Phase.IDLE


def test_at_capacity_the_longest_idle_connection_is_shed_for_a_new_one() -> None:
    budget: Budget[str] = Budget(LIMITS)
    for key, now in (("old", 0.0), ("busy", 1.0), ("newer", 2.0)):
        budget.opened(key, now)
    budget.started("busy", 1.0)
    admission = budget.opened("new", 3.0)
    assert admission.admitted
    assert admission.shed == ("old",)
    assert budget.phase("old") is None
    assert len(budget) == 3


def test_at_capacity_with_nothing_idle_a_new_connection_is_refused() -> None:
    budget: Budget[str] = Budget(LIMITS)
    for key in ("a", "b", "c"):
        budget.opened(key, 0.0)
    budget.started("a", 0.0)
    budget.received("b", 0.0)  # reading headers: not idle
    budget.started("c", 0.0)
    admission = budget.opened("d", 1.0)
    assert not admission.admitted
    assert admission.shed == ()
    assert budget.phase("d") is None
    assert len(budget) == 3


events = st.lists(
    st.tuples(
        st.sampled_from(["opened", "received", "started", "finished", "closed", "expired"]),
        st.integers(0, 5),
        st.floats(0, 10),
    ),
    max_size=60,
)


@given(events=events)
def test_the_budget_never_holds_more_than_its_cap_and_deadlines_are_honoured(
    events: list[tuple[str, int, float]],
) -> None:
    budget: Budget[int] = Budget(LIMITS)
    now = 0.0
    for name, key, step in events:
        now += step
        match name:
            case "opened":
                if budget.phase(key) is None:
                    budget.opened(key, now)
            case "received":
                budget.received(key, now)
            case "started":
                budget.started(key, now)
            case "finished":
                budget.finished(key, now)
            case "closed":
                budget.closed(key)
            case "expired":
                budget.expired(now)
                deadline = budget.next_deadline()
                assert deadline is None or deadline > now
        assert len(budget) <= LIMITS.max_connections
