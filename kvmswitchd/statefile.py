"""Durable state (SPEC §3.7): one JSON document written atomically.

Write (``write_atomic``, used by every writer of the state dir): an exclusive temp file
in the same directory, every byte written, fsync, read back, rename, fsync the directory;
all or nothing. A corrupt or truncated file is reported, moved aside
(``state.json.corrupt-<n>``) and defaults are used. Read with ``O_NOFOLLOW``.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from kvmswitchd.statedir import TEMP_PREFIX, read_nofollow

log = logging.getLogger(__name__)

STATE_VERSION = 1
# Seconds a change waits before it is written: a burst of switches costs one write, and
# the write never runs right behind the switch that caused it. A crash loses at most this
# much (the previous state loads).
SAVE_DELAY = 0.25
# A state file bigger than this is not ours (names, focus, EDIDs and users fit in far less).
MAX_STATE_BYTES = 4 << 20


class FileOps(Protocol):
    """The os operations ``write_atomic`` performs, in order: the seam tests use to fail
    each step deterministically. ``RealFileOps`` is the default."""

    def mkstemp(self, directory: Path, prefix: str) -> tuple[int, str]: ...
    def fchmod(self, fd: int, mode: int) -> None: ...
    def fchown(self, fd: int, gid: int) -> None: ...
    def write(self, fd: int, data: memoryview) -> int: ...
    def fsync(self, fd: int) -> None: ...
    def pread(self, fd: int, size: int, offset: int) -> bytes: ...
    def close(self, fd: int) -> None: ...
    def replace(self, src: str, dst: Path) -> None: ...
    def fsync_dir(self, directory: Path) -> None: ...
    def unlink(self, path: str) -> None: ...


class RealFileOps:
    def mkstemp(self, directory: Path, prefix: str) -> tuple[int, str]:
        # O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600, an unpredictable name: a file or symlink
        # planted in advance is never opened, whatever its name.
        return tempfile.mkstemp(prefix=prefix, dir=directory)

    def fchmod(self, fd: int, mode: int) -> None:
        os.fchmod(fd, mode)

    def fchown(self, fd: int, gid: int) -> None:
        os.fchown(fd, -1, gid)

    def write(self, fd: int, data: memoryview) -> int:
        return os.write(fd, data)

    def fsync(self, fd: int) -> None:
        os.fsync(fd)

    def pread(self, fd: int, size: int, offset: int) -> bytes:
        return os.pread(fd, size, offset)

    def close(self, fd: int) -> None:
        os.close(fd)

    def replace(self, src: str, dst: Path) -> None:
        os.replace(src, dst)  # rename(2): replaces a symlink at dst, never follows it

    def fsync_dir(self, directory: Path) -> None:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def unlink(self, path: str) -> None:
        os.unlink(path)


REAL_FILE_OPS: FileOps = RealFileOps()


def write_atomic(
    path: Path,
    data: bytes,
    mode: int = 0o600,
    *,
    group: int | None = None,
    ops: FileOps = REAL_FILE_OPS,
) -> None:
    """Replace ``path`` with ``data``, all or nothing.

    A fresh temp file in the same directory (``mkstemp``: exclusive create, no-follow,
    unpredictable name) gets every byte (short writes are continued), is fsynced, read
    back and compared, then renamed over ``path``; the directory is fsynced last. On any
    failure before the rename the temp file is removed and ``path`` is untouched; the
    ``OSError`` propagates. (A failing directory fsync after the rename leaves the new,
    complete file in place and is reported the same way: durability is not assured.)
    ``group`` (a gid) makes the file group-owned; pass ``mode=0o640`` with it.
    """
    fd, tmp = ops.mkstemp(path.parent, f"{TEMP_PREFIX}{path.name}.")
    try:
        try:
            ops.fchmod(fd, mode)
            if group is not None:
                ops.fchown(fd, group)
            _write_all(fd, data, ops)
            ops.fsync(fd)
            _verify(fd, data, ops)
        finally:
            ops.close(fd)
        ops.replace(tmp, path)
    except BaseException:
        try:
            ops.unlink(tmp)
        except FileNotFoundError:
            pass
        except OSError:
            log.exception("cannot remove the temp file %s", tmp)
        raise
    ops.fsync_dir(path.parent)


def _write_all(fd: int, data: bytes, ops: FileOps) -> None:
    view = memoryview(data)
    while view:
        written = ops.write(fd, view)
        if written <= 0:  # a write that makes no progress would loop forever
            raise OSError(errno.EIO, "write made no progress")
        view = view[written:]


def _verify(fd: int, data: bytes, ops: FileOps) -> None:
    """Read the temp file back: what is renamed into place is exactly ``data``."""
    back = ops.pread(fd, len(data) + 1, 0)
    if back != data:
        raise OSError(
            errno.EIO, f"read-back mismatch: wrote {len(data)} bytes, read {len(back)} back"
        )


class StateFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.problem: str | None = None  # set when load() found a bad file

    def load(self) -> dict[str, Any]:
        """The saved document, or ``{}`` when there is none or it was unusable."""
        try:
            raw = read_nofollow(self.path, MAX_STATE_BYTES)
        except FileNotFoundError:
            return {}
        try:
            if len(raw) > MAX_STATE_BYTES:
                raise ValueError(f"file is over {MAX_STATE_BYTES} bytes")
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
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
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
