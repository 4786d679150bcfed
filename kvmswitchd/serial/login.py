"""Throttling of failed serial logins (SPEC §9), shared by every call on one endpoint.

One ``LoginThrottle`` lives as long as its endpoint, so hanging up, reconnecting or
opening a new TCP connection does not reset the count.
"""

from __future__ import annotations

# Failed logins allowed before every further attempt must wait.
FREE_FAILURES = 3
# The first wait after FREE_FAILURES failures; each further failure doubles it.
BASE_DELAY = 2.0
# The longest wait, in seconds.
MAX_DELAY = 300.0
# Failed logins on one call/connection before it is closed (modem: hung up).
MAX_ATTEMPTS_PER_SESSION = 3
# Longest user name we pass to the bus; stops a peer from sending a 200-byte "name" to
# the password checker and the event log.
MAX_USER_LEN = 64


class LoginThrottle:
    """Exponential back-off after repeated failures; sans-IO (``now`` is passed in)."""

    def __init__(
        self,
        *,
        free_failures: int = FREE_FAILURES,
        base_delay: float = BASE_DELAY,
        max_delay: float = MAX_DELAY,
    ) -> None:
        self._free = free_failures
        self._base = base_delay
        self._max = max_delay
        self._failures = 0
        self._blocked_until = 0.0

    @property
    def failures(self) -> int:
        return self._failures

    def retry_after(self, now: float) -> float:
        """Seconds until the next attempt is allowed (0.0 = now)."""
        return max(0.0, self._blocked_until - now)

    def failure(self, now: float) -> None:
        self._failures += 1
        if self._failures >= self._free:
            exponent = min(self._failures - self._free, 30)  # 2**30 s is far past MAX_DELAY
            self._blocked_until = now + min(self._max, self._base * 2**exponent)

    def success(self) -> None:
        self._failures = 0
        self._blocked_until = 0.0
