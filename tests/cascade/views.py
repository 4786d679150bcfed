"""What a downstream reported through ``on_change``, and a bounded wait for a view."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from kvmswitchd.cascade.downstream import DownstreamView


class Views:
    def __init__(self) -> None:
        self.seen: list[DownstreamView] = []
        self._changed = asyncio.Event()

    def __call__(self, view: DownstreamView) -> None:
        self.seen.append(view)
        self._changed.set()

    async def until(self, wanted: Callable[[DownstreamView], bool]) -> DownstreamView:
        """The first view (from now on, or the latest) that ``wanted`` accepts."""
        async with asyncio.timeout(10):
            while not (self.seen and wanted(self.seen[-1])):
                self._changed.clear()
                await self._changed.wait()
        return self.seen[-1]
