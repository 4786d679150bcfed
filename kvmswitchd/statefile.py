"""Durable state (SPEC §3.7): one JSON document written atomically.

Write: temp file in the same directory, fsync, rename, fsync the directory. A corrupt or
truncated file is reported, moved aside (``state.json.corrupt-<n>``) and defaults are used.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

STATE_VERSION = 1
# Seconds a change waits before it is written: a burst of switches costs one write, and
# the write never runs right behind the switch that caused it. A crash loses at most this
# much (the previous state loads).
SAVE_DELAY = 0.25
# A state file bigger than this is not ours (names, focus, EDIDs and users fit in far less).
MAX_STATE_BYTES = 4 << 20


def write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class StateFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.problem: str | None = None  # set when load() found a bad file

    def load(self) -> dict[str, Any]:
        """The saved document, or ``{}`` when there is none or it was unusable."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        try:
            if len(raw) > MAX_STATE_BYTES:
                raise ValueError(f"file is {len(raw)} bytes, over {MAX_STATE_BYTES}")
            doc = json.loads(raw)
            if not isinstance(doc, dict):
                raise ValueError("top level is not an object")  # noqa: TRY004  # one except below
            if doc.get("version") != STATE_VERSION:
                raise ValueError(f"unknown state version {doc.get('version')!r}")
        except (ValueError, UnicodeDecodeError) as exc:
            aside = self._move_aside()
            self.problem = f"state file {self.path} is unusable ({exc}); moved to {aside}"
            log.error("%s; starting on defaults", self.problem)  # noqa: TRY400  # no traceback wanted
            return {}
        return doc

    def save(self, doc: dict[str, Any]) -> None:
        self.write(self.encode(doc))

    @staticmethod
    def encode(doc: dict[str, Any]) -> bytes:
        return json.dumps(dict(doc, version=STATE_VERSION), indent=1, sort_keys=True).encode()

    def write(self, data: bytes) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(self.path, data)

    def _move_aside(self) -> Path:
        for n in range(1, 1000):
            aside = self.path.with_name(f"{self.path.name}.corrupt-{n}")
            if not aside.exists():
                self.path.replace(aside)
                return aside
        self.path.unlink()
        return self.path


class StateSaver:
    """Saves a snapshot soon after each change, off the event loop, coalescing bursts.

    A burst of switches costs one or two writes, never one per switch; a crash at any
    moment leaves the previous or the new file, never a torn one (``write_atomic``).
    """

    def __init__(
        self,
        statefile: StateFile,
        snapshot: Callable[[], dict[str, Any]],
        *,
        delay: float = SAVE_DELAY,
    ) -> None:
        self._statefile = statefile
        self._snapshot = snapshot
        self._delay = delay
        self._dirty = False
        self._task: asyncio.Task[None] | None = None

    def mark_dirty(self) -> None:
        self._dirty = True
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._save_loop())

    async def _save_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while self._dirty:
            # Let a burst of switches settle first, so the write (and the GIL the thread
            # holds while it runs) never sits right behind the switch that caused it.
            await asyncio.sleep(self._delay)
            self._dirty = False
            data = self._statefile.encode(self._snapshot())  # small; in the loop
            try:
                await loop.run_in_executor(None, self._statefile.write, data)
            except OSError:
                log.exception("cannot save state to %s", self._statefile.path)

    async def flush(self) -> None:
        """Wait for a pending save, then write the latest snapshot synchronously."""
        if self._task is not None:
            await self._task
        self._statefile.save(self._snapshot())
