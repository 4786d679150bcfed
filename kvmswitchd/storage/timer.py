"""The storage service's one timer (asyncio glue, as aioquic's adapters re-arm theirs).

The hand-over core says when it next needs to be woken (``next_deadline()``); the
service hands that to ``Deadline.arm``, which re-arms one ``loop.call_at`` only when the
deadline changed. Tests pass a ``hook`` instead and fire the timer themselves.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

# hook(deadline): a test's stand-in for loop.call_at (None: nothing pending)
Rearm = Callable[[float | None], None]


class Deadline:
    """The service's one timer: ``arm(deadline)`` re-arms ``loop.call_at`` (or calls the
    ``hook`` a test passes) only when the deadline changed; ``fire`` runs when it is due."""

    def __init__(self, fire: Callable[[], object], hook: Rearm | None) -> None:
        self._fire, self._hook = fire, hook
        self._handle: asyncio.TimerHandle | None = None
        self._deadline: float | None = None

    def arm(self, deadline: float | None) -> None:
        if deadline == self._deadline:
            return
        self._deadline = deadline
        if self._hook is not None:
            self._hook(deadline)
            return
        self.cancel()
        self._deadline = deadline
        if deadline is not None:
            self._handle = asyncio.get_running_loop().call_at(deadline, self._due)

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._deadline = None

    def _due(self) -> None:
        self._handle, self._deadline = None, None
        self._fire()
