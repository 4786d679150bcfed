"""Auto-scan (SPEC §3.6): cycle the video focus through the ports, one dwell each."""

from __future__ import annotations

from dataclasses import dataclass

from kvmswitchd.core.ports import next_in_ring

MIN_DWELL = 0.5
MAX_DWELL = 3600.0


@dataclass(slots=True)
class AutoScan:
    dwell: float = 5.0
    on: bool = False
    # The ports it cycles through: those the actor who started it may view (empty: all).
    ring: tuple[int, ...] = ()
    _deadline: float | None = None

    def start(self, now: float, dwell: float | None = None, ring: tuple[int, ...] = ()) -> None:
        if dwell is not None:
            if not MIN_DWELL <= dwell <= MAX_DWELL:
                raise ValueError(f"dwell must be {MIN_DWELL}..{MAX_DWELL} seconds")
            self.dwell = dwell
        self.on = True
        self.ring = ring
        self._deadline = now + self.dwell

    def stop(self) -> bool:
        """Stop scanning; True if it was running."""
        was = self.on
        self.on = False
        self.ring = ()
        self._deadline = None
        return was

    def next_deadline(self) -> float | None:
        return self._deadline

    def handle_timer(self, now: float) -> bool:
        """True when the video focus should move to the next port now."""
        if not self.on or self._deadline is None or now < self._deadline:
            return False
        self._deadline = now + self.dwell
        return True

    def next_port(self, current: int, ports: int) -> int:
        """The port the video focus moves to after ``current`` (wrapping)."""
        return next_in_ring(self.ring or tuple(range(1, ports + 1)), current, 1)
