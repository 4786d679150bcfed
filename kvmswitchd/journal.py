"""The event log on disk: append-only JSON lines in the state dir, rotated by size.

Recent entries are also kept in memory for queries and for live subscribers (the
websocket); the file is the durable record. The file is opened ``O_NOFOLLOW|O_APPEND``
(a planted symlink is refused, never appended through), mode 0600, or 0640 and owned by
the configured ``[log] group``; after a rotation the new file is created exclusively.
Noise (refusals, failed logins) passes the budget of ``core.noise`` first, so it can't
rotate the audit trail away; what it holds back is summarised.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import logging
import os
import stat
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TextIO

from kvmswitchd.core.eventlog import LogEntry, LogQuery
from kvmswitchd.core.noise import NoiseBudget, Summary
from kvmswitchd.errors import StateDirError
from kvmswitchd.statedir import open_nofollow

log = logging.getLogger(__name__)

Subscriber = Callable[[LogEntry], None]
LOG_FILE = "events.jsonl"


class Journal:
    def __init__(
        self,
        directory: Path,
        *,
        max_bytes: int = 1 << 20,
        keep: int = 5,
        memory: int = 10_000,
        clock: Callable[[], float],
        group: int | None = None,
        noise: NoiseBudget | None = None,
        rearm: Callable[[float | None], None] | None = None,
    ) -> None:
        self._dir = directory
        self._path = directory / LOG_FILE
        self._group = group  # gid owning the log files (mode 0640), or None (0600)
        self._mode = 0o600 if group is None else 0o640
        self._noise = noise if noise is not None else NoiseBudget()
        self._rearm = rearm  # told when the next noise summary is due (clock seconds)
        self._told: tuple[float | None] | None = (None,)  # deadline last told; None: unknown
        self._max_bytes = max_bytes
        self._keep = keep
        self._clock = clock
        self._recent: collections.deque[LogEntry] = collections.deque(maxlen=memory)
        self._subscribers: list[Subscriber] = []
        self._seq = 0
        self._file: TextIO | None = None
        self._size = 0

    @property
    def path(self) -> Path:
        return self._path

    def open(self) -> None:
        """Load recent entries and open the file; ``StateDirError`` for a symlink."""
        self._dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._load_recent()
        self._file = self._open_file(os.O_CREAT)
        self._size = self._file.tell()

    def _open_file(self, create: int) -> TextIO:
        fd = open_nofollow(self._path, os.O_WRONLY | os.O_APPEND | create, self._mode)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise StateDirError(f"{self._path} is not a regular file")
            os.fchmod(fd, self._mode)  # a file of an older version may be looser
            if self._group is not None:
                try:
                    os.fchown(fd, -1, self._group)
                except OSError as exc:
                    raise StateDirError(
                        f"cannot give {self._path} to the log group (gid {self._group}): {exc}"
                    ) from None
            handle = os.fdopen(fd, "a", encoding="utf-8")
        except BaseException:
            os.close(fd)
            raise
        handle.seek(0, os.SEEK_END)
        return handle

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
        """Append an entry. A noise entry past its budget is only counted: the entry
        returned then has ``seq`` 0 and went nowhere (a summary follows later)."""
        now = self._clock()
        detail = dict(detail or {})
        if self._noise.is_noise(kind):
            admitted, summaries = self._noise.admit(kind, _peer(source, user, detail), now)
            for summary in summaries:
                self._append(self._summary_entry(summary))
            self._rearm_noise()
            if not admitted:
                return LogEntry(now, kind, source, ports, user, detail, seq=0)
        return self._append(LogEntry(now, kind, source, ports, user, detail))

    def handle_timer(self) -> None:
        """Write the noise summaries that are due (the daemon's timer calls this)."""
        self._told = None  # the timer that called this has fired: tell whatever is next
        for summary in self._noise.handle_timer(self._clock()):
            self._append(self._summary_entry(summary))
        self._rearm_noise()

    def next_deadline(self) -> float | None:
        return self._noise.next_deadline()

    def _rearm_noise(self) -> None:
        deadline = self._noise.next_deadline()
        if self._rearm is not None and (deadline,) != self._told:  # not once per entry
            self._told = (deadline,)
            self._rearm(deadline)

    def _summary_entry(self, summary: Summary) -> LogEntry:
        detail = {
            "message": summary.message,
            "kind": summary.kind,
            "peer": summary.peer,
            "count": summary.count,
            "seconds": round(summary.until - summary.since, 3),
        }
        return LogEntry(summary.until, "noise_summary", "system", (), None, detail)

    def _append(self, unnumbered: LogEntry) -> LogEntry:
        self._seq += 1
        entry = dataclasses.replace(unnumbered, seq=self._seq)
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
        """Shift the files by one (renames: a symlink among them is moved, never
        followed), then create a fresh log exclusively."""
        if self._file is not None:
            self._file.close()
            self._file = None
        try:
            for index in range(self._keep - 1, 0, -1):
                older = self._dir / f"{LOG_FILE}.{index}"
                if older.is_symlink() or older.exists():
                    older.replace(self._dir / f"{LOG_FILE}.{index + 1}")
            self._path.replace(self._dir / f"{LOG_FILE}.1")
            try:
                self._file = self._open_file(os.O_CREAT | os.O_EXCL)
            except FileExistsError:  # planted between the rename and the create
                log.warning("removed %s, created by someone else during rotation", self._path)
                self._path.unlink()
                self._file = self._open_file(os.O_CREAT | os.O_EXCL)
        except (OSError, StateDirError):
            log.exception("cannot rotate the event log %s; logging to memory only", self._path)
        self._size = 0

    def _load_recent(self) -> None:
        files = [self._dir / f"{LOG_FILE}.{i}" for i in range(self._keep, 0, -1)]
        files.append(self._path)
        bad = 0
        for path in files:
            for line in _lines(path):
                try:
                    entry = LogEntry.from_json(json.loads(line))
                except (ValueError, TypeError, KeyError):
                    bad += 1  # a torn last line after a crash, or a corrupt one
                    continue
                self._recent.append(entry)
                self._seq = max(self._seq, entry.seq)
        if bad:
            log.warning("skipped %d unreadable event-log lines in %s", bad, self._dir)


def _lines(path: Path) -> Iterator[str]:
    """The lines of one log file (none if missing); ``StateDirError`` for a symlink."""
    try:
        fd = open_nofollow(path, os.O_RDONLY | os.O_NONBLOCK)  # a planted FIFO can't block
    except FileNotFoundError:
        return
    with os.fdopen(fd, encoding="utf-8", errors="replace") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise StateDirError(f"{path} is not a regular file; refusing to read it")
        yield from handle


def _peer(source: str, user: str | None, detail: Mapping[str, Any]) -> str:
    """Who a noise entry is about: the remote address if recorded, else the user."""
    for key in ("remote", "peer", "detail"):
        value = detail.get(key)
        if isinstance(value, str) and value:
            return value
    return user or source
