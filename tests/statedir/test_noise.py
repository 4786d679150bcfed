"""The noise budget (core.noise) with injected time: refusals can't flood the log."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kvmswitchd.core.noise import (
    MAX_TRACKED_PEERS,
    OTHER_PEERS,
    NoiseBudget,
    NoisePolicy,
    Summary,
)

POLICY = NoisePolicy(per_peer_burst=3, per_peer_rate=1.0, per_kind_burst=10, per_kind_rate=2.0)


def admitted(budget: NoiseBudget, kind: str, peer: str, now: float, n: int) -> int:
    return sum(budget.admit(kind, peer, now)[0] for _ in range(n))


def test_a_burst_within_the_budget_is_written_whole() -> None:
    budget = NoiseBudget(POLICY)
    assert admitted(budget, "login_failed", "10.0.0.1", 0.0, 3) == 3
    assert budget.next_deadline() is None


def test_past_the_budget_entries_are_counted_and_one_summary_follows_the_refill() -> None:
    budget = NoiseBudget(POLICY)
    assert admitted(budget, "login_failed", "10.0.0.1", 0.0, 50) == 3
    assert budget.next_deadline() == pytest.approx(1.0)  # one token back at 1/s
    assert budget.handle_timer(0.5) == []
    [summary] = budget.handle_timer(1.0)
    assert summary == Summary("login_failed", "10.0.0.1", 47, 0.0, 1.0)
    assert summary.message == "47 more login_failed from 10.0.0.1 in the last 1 s"
    assert budget.next_deadline() is None
    assert budget.handle_timer(100.0) == []  # one summary, not one per refill


def test_while_counting_a_peer_stays_suppressed_until_its_summary_is_out() -> None:
    budget = NoiseBudget(POLICY)
    admitted(budget, "refused", "p", 0.0, 4)
    ok, summaries = budget.admit("refused", "p", 5.0)  # refilled: summary first, then entry
    assert [s.count for s in summaries] == [1]
    assert ok


def test_peers_have_budgets_of_their_own() -> None:
    budget = NoiseBudget(POLICY)
    assert admitted(budget, "refused", "a", 0.0, 10) == 3
    assert admitted(budget, "refused", "b", 0.0, 10) == 3
    assert admitted(budget, "login_failed", "a", 0.0, 10) == 3


def test_many_peers_together_are_capped_by_the_kind_budget() -> None:
    budget = NoiseBudget(POLICY)
    assert sum(admitted(budget, "refused", f"10.0.{i}.1", 0.0, 1) for i in range(100)) == 10


def test_noise_written_over_a_long_flood_never_exceeds_the_kind_rate() -> None:
    """However many peers and however fast: entries plus summaries stay within budget."""
    budget = NoiseBudget(POLICY)
    written = 0
    for step in range(3000):  # 300 s at 10 refusals/s from ever-new addresses
        now = step / 10
        ok, summaries = budget.admit("refused", f"peer-{step}", now)
        written += ok + len(summaries)
        written += len(budget.handle_timer(now))
    assert written <= POLICY.per_kind_burst + 300 * POLICY.per_kind_rate
    assert budget.tracked <= MAX_TRACKED_PEERS


def test_past_the_tracked_peers_new_peers_share_one_bucket_and_no_count_is_lost() -> None:
    budget = NoiseBudget(NoisePolicy(per_peer_burst=1, per_peer_rate=1e-6, per_kind_burst=1e9))
    for i in range(MAX_TRACKED_PEERS + 50):
        budget.admit("refused", f"p{i}", 0.0)  # each: its one token
        budget.admit("refused", f"p{i}", 0.0)  # and one counted
    assert budget.tracked <= MAX_TRACKED_PEERS
    summaries = budget.handle_timer(1e7)
    assert any(s.peer == OTHER_PEERS for s in summaries)
    counted = sum(s.count for s in summaries)
    written = (MAX_TRACKED_PEERS - 1) + 1  # the tracked peers' first entries + the shared one's
    assert counted + written == 2 * (MAX_TRACKED_PEERS + 50)


def test_a_clock_stepping_back_refills_nothing() -> None:
    budget = NoiseBudget(POLICY)
    admitted(budget, "refused", "p", 100.0, 3)
    assert admitted(budget, "refused", "p", 0.0, 3) == 0


def test_a_peer_name_is_cut_to_a_bounded_length() -> None:
    budget = NoiseBudget(POLICY)
    admitted(budget, "refused", "x" * 10_000, 0.0, 5)
    [summary] = budget.handle_timer(10.0)
    assert len(summary.peer) == 100


def test_a_policy_that_could_never_admit_anything_is_refused() -> None:
    with pytest.raises(ValueError, match="burst"):
        NoisePolicy(per_peer_burst=0.5)
    with pytest.raises(ValueError, match="rate"):
        NoisePolicy(per_kind_rate=0)


@settings(max_examples=50, deadline=None)
@given(
    events=st.lists(
        st.tuples(st.sampled_from(["a", "b", "c"]), st.floats(0, 5, allow_nan=False)),
        max_size=200,
    )
)
def test_every_entry_is_either_written_or_counted_in_exactly_one_summary(
    events: list[tuple[str, float]],
) -> None:
    budget = NoiseBudget(POLICY)
    now, written, counted = 0.0, 0, 0
    for peer, delta in events:
        now += delta
        ok, summaries = budget.admit("refused", peer, now)
        written += ok
        counted += sum(s.count for s in summaries)
    counted += sum(s.count for s in budget.handle_timer(now + 1e6))
    assert written + counted == len(events)
