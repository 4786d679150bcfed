"""Room on the state disk: a per-user quota and a reserve that is always kept free.

Images share the state disk with the users file, the state file and the event log. A
full disk must never block a login or a state save, so every byte an image may take is
checked twice: before the request is accepted (the declared size) and while it streams
(what has arrived). The rules are pure (numbers in, an error or nothing out); ``Disk``
is the one seam that measures, ``StatvfsDisk`` on the real directory, a fake in tests.

Quota: the bytes of every image a user owns (its apparent size: a blank image may be
filled by the host) plus the claims of their uploads in progress. ``0`` is unlimited.
Actors without an account (``[http] auth = false``, the local console) share one bucket.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from kvmswitchd.errors import DeviceError, NoSpaceError, QuotaError

# The default ``[storage] reserve``: room for many state saves, users-file rewrites and
# log rotations after the images have taken everything else.
DEFAULT_RESERVE = 64 << 20
NO_SPACE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


class Disk(Protocol):
    def free(self) -> int:
        """Bytes an unprivileged writer may still put on the disk."""
        ...


@dataclass(frozen=True, slots=True)
class StatvfsDisk:
    """The file system holding ``path``, as ``statvfs`` reports it."""

    path: Path

    def free(self) -> int:
        try:
            st = os.statvfs(self.path)
        except OSError as exc:
            raise disk_error(exc, "cannot measure the free space of the state disk") from exc
        # f_bavail, not f_bfree: the root-only reserve of ext4 is not ours to fill.
        return st.f_bavail * st.f_frsize


def disk_error(exc: OSError, message: str) -> DeviceError:
    """``NoSpaceError`` for a full disk or quota (507), else ``DeviceError``."""
    text = f"{message}: {exc.strerror or exc}"
    if exc.errno in NO_SPACE_ERRNOS:
        return NoSpaceError(f"{text} (the state disk is full)")
    return DeviceError(text)


def _who(user: str | None) -> str:
    return f"user {user!r}" if user is not None else "the users without an account"


@dataclass(frozen=True, slots=True)
class SpacePolicy:
    """``[storage] quota`` (bytes per user, 0 = unlimited) and ``reserve`` (bytes)."""

    quota: int = 0
    reserve: int = DEFAULT_RESERVE

    def check_quota(self, user: str | None, used: int, wanted: int) -> None:
        """Refuse ``wanted`` more bytes for ``user``, who holds ``used`` (QuotaError, 413)."""
        if self.quota and used + wanted > self.quota:
            raise QuotaError(
                f"{_who(user)} would hold {used + wanted} bytes of images, over the "
                f"{self.quota}-byte quota ({used} bytes held, {wanted} more asked)"
            )

    def check_free(self, free: int, promised: int, wanted: int) -> None:
        """Refuse ``wanted`` more bytes on a disk with ``free`` left, ``promised`` of them
        to images already (being made, or sparse): NoSpaceError (507)."""
        if free - promised - wanted < self.reserve:
            raise NoSpaceError(
                f"not enough free space on the state disk: {wanted} more bytes asked, "
                f"{free} bytes free ({promised} of them promised to images), "
                f"{self.reserve} kept free for state saves and logins"
            )


class Claim:
    """Room an image in the making holds: ``size`` declared (0: unknown), ``written``.

    Mutable on purpose (a counter the upload advances), unlike the values around it.
    """

    __slots__ = ("size", "user", "written")

    def __init__(self, user: str | None, size: int) -> None:
        self.user, self.size, self.written = user, size, 0

    @property
    def held(self) -> int:
        """What the owner's quota pays for now."""
        return max(self.size, self.written)

    @property
    def outstanding(self) -> int:
        """What the disk has yet to give (declared but not written)."""
        return max(self.size - self.written, 0)
