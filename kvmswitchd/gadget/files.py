"""The file operations the gadget applier, discovery and LUN use, behind one seam.

``OsFiles`` does them with plain system calls, which is what configfs and sysfs need: a
write is one ``write()`` of the whole value (configfs stores an attribute per write), and
nothing is created that the kernel did not (an attribute that does not exist is ENOENT,
as a wrong name is on configfs). Tests stand in for the kernel with a subclass that
creates attributes on ``mkdir`` as configfs does (``tests/gadget/fake_configfs.py``).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Protocol

# The longest attribute we read back: report_desc is at most 4 KiB on f_hid, the LUN's
# ``file`` a path (PATH_MAX), a ``dev`` or ``uevent`` a few lines. It bounds what a read of
# a wrong path (a huge file in a test root, a misconfigured root) can make us hold.
MAX_ATTRIBUTE = 8192


class Files(Protocol):
    def exists(self, path: Path) -> bool: ...

    def is_dir(self, path: Path) -> bool: ...

    def is_link(self, path: Path) -> bool: ...

    def is_mount(self, path: Path) -> bool: ...

    def listdir(self, path: Path) -> list[str]: ...

    def read(self, path: Path) -> bytes: ...

    def write(self, path: Path, value: bytes) -> None: ...

    def mkdir(self, path: Path) -> None: ...

    def rmdir(self, path: Path) -> None: ...

    def symlink(self, path: Path, target: Path) -> None: ...

    def unlink(self, path: Path) -> None: ...

    def rdev(self, path: Path) -> int | None:
        """The device number of a character device node, else None."""
        ...

    def chown(self, path: Path, uid: int, gid: int) -> None: ...

    def chmod(self, path: Path, mode: int) -> None: ...


class OsFiles:
    """``Files`` with system calls (the real configfs, sysfs and /dev)."""

    def exists(self, path: Path) -> bool:
        return os.path.lexists(path)

    def is_dir(self, path: Path) -> bool:
        return path.is_dir() and not path.is_symlink()

    def is_link(self, path: Path) -> bool:
        return path.is_symlink()

    def is_mount(self, path: Path) -> bool:
        return os.path.ismount(path)

    def listdir(self, path: Path) -> list[str]:
        return sorted(os.listdir(path))

    def read(self, path: Path) -> bytes:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        try:
            return os.read(fd, MAX_ATTRIBUTE)
        finally:
            os.close(fd)

    def write(self, path: Path, value: bytes) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW)
        try:
            # One write per value: configfs and sysfs take an attribute in one call
            # (an empty value is a write of a newline, which the kernel strips).
            written = os.write(fd, value or b"\n")
            if written != len(value or b"\n"):
                raise OSError(0, f"short write ({written} of {len(value)} bytes)")
        finally:
            os.close(fd)

    def mkdir(self, path: Path) -> None:
        os.mkdir(path)

    def rmdir(self, path: Path) -> None:
        os.rmdir(path)

    def symlink(self, path: Path, target: Path) -> None:
        os.symlink(target, path)

    def unlink(self, path: Path) -> None:
        os.unlink(path)

    def rdev(self, path: Path) -> int | None:
        try:
            st = os.stat(path)
        except OSError:
            return None
        return st.st_rdev if stat.S_ISCHR(st.st_mode) else None

    def chown(self, path: Path, uid: int, gid: int) -> None:
        os.chown(path, uid, gid)

    def chmod(self, path: Path, mode: int) -> None:
        os.chmod(path, mode)
