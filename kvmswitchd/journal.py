"""The event log on disk: append-only JSON lines in the state dir, rotated by size.

Recent entries are also kept in memory for queries and for live subscribers (the
websocket); the file is the durable record.
"""

from __future__ import annotations

import collections
import json
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from kvmswitchd.core.eventlog import LogEntry, LogQuery

log = logging.getLogger(__name__)

Subscriber = Callable[[LogEntry], None]


class Journal:
    def __init__(
        self,
        directory: Path,
        *,
        max_bytes: int = 1 << 20,
        keep: int = 5,
        memory: int = 10_000,
        clock: Callable[[], float],
    ) -> None:
        self._dir = directory
        self._path = directory / "events.jsonl"
        self._max_bytes = max_bytes
        self._keep = keep
        self._clock = clock
        self._recent: collections.deque[LogEntry] = collections.deque(maxlen=memory)
        self._subscribers: list[Subscriber] = []
        self._seq = 0
        self._file: Any = None
        self._size = 0

    @property
    def path(self) -> Path:
        return self._path

    def open(self) -> None:
        self._dir.mkdir(parents=True, exist_ok=True)
        self._load_recent()
        self._file = self._path.open("a", encoding="utf-8")
        self._size = self._file.tell()

    def close(self) -> None:
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self._file = None

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        self._subscribers.append(subscriber)
        return lambda: self._subscribers.remove(subscriber)

    def record(
        self,
        kind: str,
        source: str,
        ports: tuple[str, ...] = (),
        user: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> LogEntry:
        self._seq += 1
        entry = LogEntry(
            time=self._clock(),
            kind=kind,
            source=source,
            ports=ports,
            user=user,
            detail=dict(detail or {}),
            seq=self._seq,
        )
        self._recent.append(entry)
        self._write(entry)
        for subscriber in list(self._subscribers):
            try:
                subscriber(entry)
            except Exception:  # a broken subscriber must not stop logging
                log.exception("event-log subscriber failed")
        return entry

    def query(self, query: LogQuery) -> list[LogEntry]:
        return query.select(self._recent)

    def recent(self, limit: int) -> list[LogEntry]:
        return list(self._recent)[-limit:] if limit > 0 else []

    # -- file ------------------------------------------------------------------------

    def _write(self, entry: LogEntry) -> None:
        if self._file is None:
            return
        line = json.dumps(entry.to_json(), separators=(",", ":"), default=str) + "\n"
        try:
            self._file.write(line)
            self._file.flush()
        except OSError:
            log.exception("cannot write the event log %s", self._path)
            return
        self._size += len(line.encode())
        if self._size >= self._max_bytes:
            self._rotate()

    def _rotate(self) -> None:
        self._file.close()
        for index in range(self._keep - 1, 0, -1):
            older = self._dir / f"events.jsonl.{index}"
            if older.exists():
                older.replace(self._dir / f"events.jsonl.{index + 1}")
        self._path.replace(self._dir / "events.jsonl.1")
        self._file = self._path.open("a", encoding="utf-8")
        self._size = 0

    def _load_recent(self) -> None:
        files = [self._dir / f"events.jsonl.{i}" for i in range(self._keep, 0, -1)]
        files.append(self._path)
        bad = 0
        for path in files:
            try:
                with path.open(encoding="utf-8", errors="replace") as handle:
                    for line in handle:
                        try:
                            entry = LogEntry.from_json(json.loads(line))
                        except (ValueError, TypeError, KeyError):
                            bad += 1  # a torn last line after a crash, or a corrupt one
                            continue
                        self._recent.append(entry)
                        self._seq = max(self._seq, entry.seq)
            except FileNotFoundError:
                continue
        if bad:
            log.warning("skipped %d unreadable event-log lines in %s", bad, self._dir)
