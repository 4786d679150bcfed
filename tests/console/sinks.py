"""A console sink that records batches and lets tests await them (no sleeps)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from kvmswitchd.console.events import ConsoleInput

# Only a safety net against a hung test; a passing test never waits this long.
TIMEOUT = 5.0


class RecordingSink:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[str, list[ConsoleInput], float]] = asyncio.Queue()
        self.all: list[tuple[str, list[ConsoleInput], float]] = []

    def console_input(self, device: str, batch: Sequence[ConsoleInput], now: float) -> None:
        item = (device, list(batch), now)
        self.all.append(item)
        self.queue.put_nowait(item)

    async def next(self) -> tuple[str, list[ConsoleInput], float]:
        return await asyncio.wait_for(self.queue.get(), TIMEOUT)

    async def next_batch(self) -> list[ConsoleInput]:
        return (await self.next())[1]
