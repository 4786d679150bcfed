"""The outbox (bounded, drops the oldest and counts) and the reconnect backoff."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from kvmswitchd.syslog.outbox import Backoff, Outbox


def test_a_full_outbox_drops_the_oldest_and_counts_it_once() -> None:
    box: Outbox[bytes] = Outbox(2)
    for message in (b"a", b"b", b"c"):
        box.put(message)
    assert (len(box), box.peek(), box.dropped) == (2, b"b", 1)
    assert box.take_unreported() == 1
    assert box.take_unreported() == 0
    assert box.dropped == 1


def test_a_message_stays_queued_until_the_transport_took_it() -> None:
    box: Outbox[bytes] = Outbox(5)
    box.put(b"a")
    assert box.peek() == b"a" and box.peek() == b"a"
    box.sent_one()
    assert (box.peek(), box.sent) == (None, 1)


@given(st.lists(st.binary(max_size=4), max_size=60), st.integers(min_value=1, max_value=10))
def test_the_outbox_holds_the_newest_messages_up_to_its_capacity(
    messages: list[bytes], capacity: int
) -> None:
    box: Outbox[bytes] = Outbox(capacity)
    for message in messages:
        box.put(message)
    kept = []
    while (head := box.peek()) is not None:
        kept.append(head)
        box.sent_one()
    assert kept == messages[-capacity:] if messages else kept == []
    assert box.dropped == max(0, len(messages) - capacity)


def test_backoff_doubles_to_its_ceiling_and_resets_after_a_connection() -> None:
    backoff = Backoff(most=1.0, first=0.1)
    assert [round(backoff.delay(1.0), 3) for _ in range(6)] == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    backoff.reset()
    assert backoff.delay(0.0) == 0.05  # jitter scales a delay down to half, never to zero
