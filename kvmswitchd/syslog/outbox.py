"""What waits for the collector (sans-IO): a bounded queue of records and the reconnect
backoff. The sender moves bytes; the rules live here.

The queue never blocks its producer (the event log, on the daemon's loop): when it is full
the oldest message is dropped and counted, so a long outage costs bounded memory and the
newest records are the ones delivered when the collector returns. Drops not yet reported
are handed out once (``take_unreported``) so the sender can journal the gap.
"""

from __future__ import annotations

import collections
from typing import Generic, TypeVar

T = TypeVar("T")


class Outbox(Generic[T]):
    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("an outbox holds at least one message")
        self._queue: collections.deque[T] = collections.deque()
        self._capacity = capacity
        self.dropped = 0  # messages dropped since start (the queue was full)
        self._unreported = 0
        self.sent = 0

    def __len__(self) -> int:
        return len(self._queue)

    def put(self, message: T) -> None:
        if len(self._queue) >= self._capacity:
            self._queue.popleft()
            self.dropped += 1
            self._unreported += 1
        self._queue.append(message)

    def peek(self) -> T | None:
        """The next message to send; it stays queued until ``sent_one`` or ``discard``."""
        return self._queue[0] if self._queue else None

    def sent_one(self) -> None:
        """The message ``peek`` gave was handed to the transport."""
        self._queue.popleft()
        self.sent += 1

    def discard(self) -> None:
        """The message ``peek`` gave cannot be sent (it would not format): drop it."""
        self._queue.popleft()

    def take_unreported(self) -> int:
        """Drops since the last call (0: none)."""
        count, self._unreported = self._unreported, 0
        return count


class Backoff:
    """Delays between reconnect attempts: doubling from ``first`` up to ``most``, each
    scaled by a jitter factor in [0.5, 1.0] the caller draws (so many switches that lost
    one collector don't come back in step)."""

    def __init__(self, most: float, first: float = 0.1) -> None:
        self._first = min(first, most)
        self._most = most
        self._next = self._first

    def reset(self) -> None:
        """A connection worked: the next loss retries soon again."""
        self._next = self._first

    def delay(self, jitter: float) -> float:
        """The wait before the next attempt; ``jitter`` in [0, 1) (e.g. ``random.random()``)."""
        wait = self._next * (0.5 + 0.5 * min(max(jitter, 0.0), 1.0))
        self._next = min(self._next * 2, self._most)
        return wait
