"""One image being received: a temp file that becomes the image on ``commit``, or nothing.

The bytes go to ``<images>/.upload-<random>`` (a dotfile: never listed, never a valid
image name, created exclusively). ``write`` checks the room each chunk takes (the size
cap, the owner's quota, the disk's reserve) before it writes; any failure aborts: the
temp file goes and the name is free again. ``write`` and ``commit`` block (a file
write, hashing, fsync): call them from a worker thread, one at a time, in order.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self

from kvmswitchd.errors import InputError, LocalProtocolError, TooLargeError
from kvmswitchd.storage.blockdev import BLOCK_SIZE
from kvmswitchd.storage.catalog import ImageInfo, ImageMeta
from kvmswitchd.storage.space import Claim, disk_error

UPLOAD_PREFIX = ".upload-"
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)


class Shelf(Protocol):
    """What an upload needs from the image store (``ImageStore``)."""

    def check_growth(self, upload: Upload, total: int) -> None:
        """Raise unless ``upload`` may grow to ``total`` bytes (quota, reserve)."""
        ...

    def adopt(self, temp: Path, name: str, meta: ImageMeta) -> ImageInfo:
        """Rename the finished ``temp`` to image ``name``, recording ``meta``."""
        ...

    def release(self, name: str) -> None:
        """The name is no longer being made."""
        ...


class Upload:
    """An image being received. Use as a context manager: an exception aborts it."""

    def __init__(self, store: Shelf, name: str, max_size: int, temp: Path, claim: Claim) -> None:
        self._store, self.name, self.max_size, self._temp = store, name, max_size, temp
        self.claim = claim
        self._fd = os.open(temp, _CREATE, 0o600)
        self._hash = hashlib.sha256()
        self._state = "open"

    @property
    def received(self) -> int:
        return self.claim.written

    @property
    def user(self) -> str | None:
        return self.claim.user

    def write(self, chunk: bytes) -> None:
        """Append ``chunk`` (whole); over a limit the upload is aborted and the error raised."""
        if self._state != "open":
            raise LocalProtocolError(f"upload of {self.name!r} is {self._state}")
        try:
            total = self.received + len(chunk)
            if total > self.max_size:
                raise TooLargeError(f"upload of {self.name!r} exceeds {self.max_size} bytes")
            self._store.check_growth(self, total)
            view = memoryview(chunk)
            while view:  # os.write may write less than asked: loop until all is out
                view = view[os.write(self._fd, view) :]
        except OSError as exc:
            self.abort()
            raise disk_error(exc, f"cannot write upload {self.name!r}") from exc
        except BaseException:
            self.abort()
            raise
        self._hash.update(chunk)
        self.claim.written = total

    def commit(self) -> ImageInfo:
        """fsync, rename into place, record the sha256 and owner."""
        if self._state != "open":
            raise LocalProtocolError(f"upload of {self.name!r} is {self._state}")
        if self.received < BLOCK_SIZE:
            self.abort()
            raise InputError(f"an image must hold at least one {BLOCK_SIZE}-byte block")
        try:
            os.fsync(self._fd)
            os.close(self._fd)
            self._state = "closed"
            meta = ImageMeta(sha256=self._hash.hexdigest(), owner=self.user)
            info = self._store.adopt(self._temp, self.name, meta)
        except OSError as exc:
            self.abort()
            raise disk_error(exc, f"cannot store upload {self.name!r}") from exc
        except BaseException:
            self.abort()
            raise
        self._state = "committed"
        self._store.release(self.name)
        return info

    def abort(self) -> None:
        """Drop the partial file and free the name. Idempotent; a no-op after commit."""
        if self._state in ("aborted", "committed"):
            return
        if self._state == "open":
            with contextlib.suppress(OSError):
                os.close(self._fd)
        self._state = "aborted"
        with contextlib.suppress(FileNotFoundError):
            self._temp.unlink()
        self._store.release(self.name)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.abort()  # after commit this does nothing
