"""The state directory (SPEC §3.7): resolved once, private, locked, never followed.

- The path is made absolute once, when the daemon starts: every file under it (the pty
  link of the default serial endpoint included) gets an absolute path, whatever the
  working directory does later.
- The directory is created mode 0700; an existing one with a looser mode is tightened
  (and that is logged). With a log group configured it is 0710 and owned by that group,
  so the group can reach the event log by name but list and read nothing else.
- One daemon per directory: ``lock`` in the directory is held with ``flock`` for the
  daemon's lifetime and holds its PID. A second daemon gets ``StateDirLockedError``
  naming that PID, before it has written anything.
- Files in it are opened with ``O_NOFOLLOW``: a symlink planted where a state file or
  the event log should be is refused with a clear error, never followed.
- Temp files of a writer that crashed (``TEMP_PREFIX``, see ``statefile.write_atomic``)
  are removed when the lock is taken.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import re
import stat
from pathlib import Path

from kvmswitchd.errors import StateDirError, StateDirLockedError

log = logging.getLogger(__name__)

LOCK_FILE = "lock"
# Every temp file ``write_atomic`` creates starts with this (a dotfile: never an image
# name, never listed), so leftovers of a crashed writer are recognisable as ours.
TEMP_PREFIX = ".tmp-"
# What writers of earlier versions left (".state.json.tmp-<pid>"): cleaned up as well.
LEGACY_TEMP = re.compile(r"\.[A-Za-z0-9_.-]+\.tmp-[0-9]+")
DIR_MODE = 0o700
GROUP_DIR_MODE = 0o710  # the log group may traverse (open the log by name), not list
# The PID a lock file holds is a few digits; more is not ours (a planted huge file).
MAX_LOCK_BYTES = 64


def open_nofollow(path: Path, flags: int, mode: int = 0o600) -> int:
    """``os.open`` that refuses a symlink at ``path`` with ``StateDirError``."""
    try:
        return os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise StateDirError(
                f"{path} is a symbolic link; refusing to follow it (replace it with a "
                "regular file or remove it)"
            ) from None
        raise


def read_nofollow(path: Path, limit: int) -> bytes:
    """The bytes of the regular file ``path`` (at most ``limit`` + 1, so a caller can tell
    an over-size file). ``FileNotFoundError`` if missing; ``StateDirError`` if a symlink
    or not a regular file."""
    fd = open_nofollow(path, os.O_RDONLY | os.O_NONBLOCK)  # a planted FIFO can't block
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise StateDirError(f"{path} is not a regular file; refusing to read it")
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 16, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def clean_temp_files(directory: Path) -> list[str]:
    """Remove leftover ``TEMP_PREFIX`` files in ``directory``; returns their names.

    A symlink with our prefix is removed itself (its target is never touched)."""
    removed: list[str] = []
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return removed
    for entry in entries:
        ours = entry.name.startswith(TEMP_PREFIX) or LEGACY_TEMP.fullmatch(entry.name)
        if ours and not entry.is_dir(follow_symlinks=False):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)
                removed.append(entry.name)
    return removed


class StateDir:
    """The daemon's state directory. ``acquire()`` before touching anything in it."""

    def __init__(self, path: Path | str, *, group: int | None = None) -> None:
        # Resolved once: absolute, but symlinks in the path are kept (a state dir that is
        # a link to a data disk is the admin's choice).
        self.path = Path(os.path.abspath(os.path.expanduser(path)))
        self.group = group  # gid of the configured log group, or None
        self._lock_fd: int | None = None

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    def __str__(self) -> str:
        return str(self.path)

    @property
    def locked(self) -> bool:
        return self._lock_fd is not None

    @property
    def mode(self) -> int:
        return DIR_MODE if self.group is None else GROUP_DIR_MODE

    def acquire(self) -> None:
        """Create and tighten the directory, take the lock, clean up after a crash.

        Raises ``StateDirLockedError`` when another daemon holds it (nothing written),
        ``StateDirError`` when the directory or its lock file is unusable."""
        if self._lock_fd is not None:
            return
        try:
            self.path.mkdir(parents=True, exist_ok=True, mode=self.mode)
        except OSError as exc:
            raise StateDirError(f"cannot create the state directory {self.path}: {exc}") from None
        if not self.path.is_dir():
            raise StateDirError(f"the state directory {self.path} is not a directory")
        lock_path = self.path / LOCK_FILE
        try:
            fd = open_nofollow(lock_path, os.O_RDWR | os.O_CREAT)
        except OSError as exc:
            raise StateDirError(f"cannot open the lock file {lock_path}: {exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            raise StateDirLockedError(self.path, holder) from None
        except OSError as exc:
            os.close(fd)
            raise StateDirError(f"cannot lock {lock_path}: {exc}") from None
        self._lock_fd = fd
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            os.fchmod(fd, 0o600)
            self._tighten()
        except BaseException:
            self.release()
            raise
        for name in clean_temp_files(self.path):
            log.warning("removed %s, left behind by a writer that stopped midway", name)

    def release(self) -> None:
        """Drop the lock (at shutdown). The lock file stays; its PID is stale then."""
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            os.close(fd)  # closing the only descriptor releases the flock

    def _tighten(self) -> None:
        st = os.stat(self.path)
        if self.group is not None and st.st_gid != self.group:
            try:
                os.chown(self.path, -1, self.group)
            except OSError as exc:
                raise StateDirError(
                    f"cannot give {self.path} to the log group (gid {self.group}): {exc}"
                ) from None
        current = stat.S_IMODE(st.st_mode)
        if current != self.mode:
            os.chmod(self.path, self.mode)
            log.warning(
                "state directory %s was mode %04o; tightened to %04o", self.path, current, self.mode
            )


def _read_pid(fd: int) -> int | None:
    try:
        raw = os.pread(fd, MAX_LOCK_BYTES, 0)
    except OSError:
        return None
    text = raw.decode("ascii", "replace").strip()
    return int(text) if text.isdigit() and len(text) < 12 else None
