"""Auto-scan (SPEC §3.6): cycle the video focus through the ports, one dwell each."""

from __future__ import annotations

from dataclasses import dataclass

MIN_DWELL = 0.5
MAX_DWELL = 3600.0


@dataclass(slots=True)
class AutoScan:
    dwell: float = 5.0
    on: bool = False
    _deadline: float | None = None

    def start(self, now: float, dwell: float | None = None) -> None:
        if dwell is not None:
            if not MIN_DWELL <= dwell <= MAX_DWELL:
                raise ValueError(f"dwell must be {MIN_DWELL}..{MAX_DWELL} seconds")
            self.dwell = dwell
        self.on = True
        self._deadline = now + self.dwell

    def stop(self) -> bool:
        """Stop scanning; True if it was running."""
        was = self.on
        self.on = False
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
