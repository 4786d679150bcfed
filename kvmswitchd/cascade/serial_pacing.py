"""When the next command may go to a downstream switch, and when to poll it (sans-IO).

Hardware switches miss commands sent too close together (TESmart: about 1 s apart), so
every command to one switch, switch or query, from ``select`` or from the poller, goes
through one ``Pacer``: ``wait(now)`` is how long to hold the next command back, and
``sent(now)`` records that one went. Polling (a change made at the switch's own front
panel shows up) is due ``poll`` seconds after the last command, so a switch that was
just read back is not asked again at once. Time is passed in (``now``, monotonic
seconds); this module reads no clock.
"""

from __future__ import annotations


class Pacer:
    def __init__(self, gap: float, poll: float | None) -> None:
        self.gap = gap  # seconds between two commands at least
        self.poll = poll  # seconds after the last command that a poll is due; None: never
        self._last: float | None = None  # when the last command went

    def wait(self, now: float) -> float:
        """Seconds to hold the next command back (0: it may go now)."""
        if self._last is None:
            return 0.0
        return max(0.0, self._last + self.gap - now)

    def sent(self, now: float) -> None:
        self._last = now if self._last is None else max(self._last, now)

    def poll_deadline(self, now: float) -> float | None:
        """When the next poll is due (``now`` if no command went yet); None: never."""
        if self.poll is None:
            return None
        if self._last is None:
            return now
        return max(self._last + self.poll, self._last + self.gap)
