"""An injected clock for the downstream drivers: ``sleep`` waits on virtual time.

``auto`` (default): a sleep moves the time forward by itself and returns at once, so a
hotkey sequence types at full speed and the times it used are exact. ``auto=False``: a
sleeper waits until the test calls ``advance``; ``sleeping()`` waits until some task
sleeps (so the test knows a pacing wait or the poll timer has begun).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from typing import Any


class FakeClock:
    def __init__(self, *, auto: bool = True, start: float = 100.0) -> None:
        self.now = start
        self.auto = auto
        self.slept: list[float] = []
        self.slept_until: list[float] = []  # each sleep's deadline (rounded to 1 µs)
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._asleep = asyncio.Event()

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.slept_until.append(round(self.now + seconds, 6))
        if self.auto:
            self.now += max(seconds, 0.0)
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + max(seconds, 0.0), next(self._order), future))
        self._asleep.set()
        await future

    def deadlines(self) -> list[float]:
        return sorted(d for d, _, f in self._sleepers if not f.done())

    async def sleeping(self, count: int = 1) -> None:
        """Wait until at least ``count`` tasks sleep (bounded: a hang fails the test)."""
        async with asyncio.timeout(5):
            while len(self.deadlines()) < count:
                self._asleep.clear()
                await self._asleep.wait()

    async def advance(self, seconds: float) -> None:
        """Move time forward, waking each sleeper due on the way at its own time."""
        target = self.now + seconds
        while self._sleepers and self._sleepers[0][0] <= target:
            deadline, _, future = heapq.heappop(self._sleepers)
            if future.done():
                continue
            self.now = max(self.now, deadline)
            future.set_result(None)
            for _ in range(5):
                await asyncio.sleep(0)
        self.now = target

    async def run(self, task: asyncio.Future[None], until: float) -> None:
        """Move time from sleeper to sleeper (none later than ``until``: reply timeouts
        stay asleep) until ``task`` is done."""
        async with asyncio.timeout(10):
            while not task.done():
                due = [d for d in self.deadlines() if d <= until]
                if due:
                    await self.advance(due[0] - self.now)
                    continue
                self._asleep.clear()
                asleep = asyncio.ensure_future(self._asleep.wait())
                waits: list[asyncio.Future[Any]] = [task, asleep]
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                asleep.cancel()
