"""Login throttling (SPEC §9): exponential back-off per key, with an injected clock."""

from __future__ import annotations

from kvmswitchd.core.accounts import (
    BASE_DELAY,
    FORGET_AFTER,
    FREE_FAILURES,
    MAX_DELAY,
    Throttle,
    ThrottlePolicy,
)

T0 = 1000.0


def test_the_first_failures_are_free() -> None:
    throttle = Throttle()
    for _ in range(FREE_FAILURES - 1):
        throttle.failure("user:alice", T0)
        assert throttle.check("user:alice", T0) is None


def test_after_n_failures_each_failure_doubles_the_wait_up_to_the_cap() -> None:
    throttle = Throttle()
    now = T0
    waits = []
    for _ in range(FREE_FAILURES + 12):
        throttle.failure("k", now)
        wait = throttle.check("k", now)
        waits.append(wait)
        now += wait or 0.0
    assert waits[: FREE_FAILURES - 1] == [None] * (FREE_FAILURES - 1)
    assert waits[FREE_FAILURES - 1 : FREE_FAILURES + 3] == [
        BASE_DELAY,
        2 * BASE_DELAY,
        4 * BASE_DELAY,
        8 * BASE_DELAY,
    ]
    assert waits[-1] == MAX_DELAY


def test_check_counts_down_and_then_allows_again() -> None:
    throttle = Throttle(ThrottlePolicy(free_failures=1, base_delay=10.0))
    throttle.failure("k", T0)
    assert throttle.check("k", T0 + 4) == 6.0
    assert throttle.check("k", T0 + 10) is None


def test_keys_are_independent() -> None:
    throttle = Throttle(ThrottlePolicy(free_failures=1))
    throttle.failure("from:http:10.0.0.9", T0)
    assert throttle.check("from:http:10.0.0.9", T0) is not None
    assert throttle.check("from:http:10.0.0.10", T0) is None


def test_success_resets_a_key() -> None:
    throttle = Throttle(ThrottlePolicy(free_failures=1))
    throttle.failure("k", T0)
    throttle.success("k")
    assert throttle.check("k", T0) is None
    assert throttle.failures("k", T0) == 0


def test_a_quiet_key_is_forgotten() -> None:
    throttle = Throttle()
    for _ in range(FREE_FAILURES + 3):
        throttle.failure("k", T0)
    assert throttle.failures("k", T0 + FORGET_AFTER - 1) == FREE_FAILURES + 3
    assert throttle.failures("k", T0 + FORGET_AFTER) == 0
    throttle.failure("k", T0 + FORGET_AFTER)
    assert throttle.check("k", T0 + FORGET_AFTER) is None


def test_tracked_keys_are_capped_and_the_least_recent_goes_first() -> None:
    throttle = Throttle(ThrottlePolicy(free_failures=1, max_tracked=3))
    for n in range(5):
        throttle.failure(f"k{n}", T0 + n)
    assert throttle.failures("k0", T0 + 5) == 0
    assert throttle.failures("k1", T0 + 5) == 0
    assert throttle.failures("k4", T0 + 5) == 1
