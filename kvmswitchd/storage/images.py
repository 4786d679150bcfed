"""The image store: disk images in ``<state>/images/`` (a thin file-I/O adapter).

- An image is the file ``<state>/images/<name>``; per-image metadata (read-only flag,
  sha256, owner) and the attachment record live in ``.images.json`` (``catalog``).
- A new image (an upload, ``upload.Upload``, or a blank one) is made in a dotfile temp
  file that is renamed into place once complete and removed on any failure and on store
  start-up. Its name is reserved while it is made. The catalog is saved first; only then
  is the file renamed, so a refused or failed creation leaves no trace: no file, no temp
  file, not listed, the name free.
- Every byte an image may take is checked against ``space.SpacePolicy`` (the owner's
  quota, the reserve kept free on the disk) before the request is accepted
  (``preflight``) and while it streams (``check_growth``).
- One image is attached at a time (one storage device per switch); the daemon records
  where with ``set_attachment``. An attached image can't be deleted or flagged.

Blocking: ``Upload.write``/``commit``, ``create_blank`` and ``rehash`` write, fsync or
hash whole files: run them in a worker thread. Changes take a lock, so those may run on
worker threads; reads (``list``, ``get``, the room checks) take it only to copy the
claims, never across a file operation, so the loop never waits for a worker's fsync.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from pathlib import Path

from kvmswitchd.core.storage import AccessMode, Attachment
from kvmswitchd.errors import BusyError, DeviceError, InputError, NotFoundError, TooLargeError
from kvmswitchd.storage.blockdev import BLOCK_SIZE, MAX_BLOCK_COUNT
from kvmswitchd.storage.catalog import (
    MAX_NAME_LENGTH,
    META_FILE,
    TEMP_PREFIX,
    ImageCatalog,
    ImageInfo,
    ImageMeta,
    fsync_dir,
    temp_path,
    validate_image_name,
)
from kvmswitchd.storage.space import Claim, Disk, SpacePolicy, StatvfsDisk, disk_error
from kvmswitchd.storage.upload import UPLOAD_PREFIX, Upload

__all__ = [
    "MAX_IMAGE_SIZE",
    "MAX_NAME_LENGTH",
    "META_FILE",
    "ImageInfo",
    "ImageStore",
    "TooLargeError",
    "Upload",
    "validate_image_name",
]

# READ CAPACITY(10) can address 2**32 blocks: a bigger image could not be shown whole.
MAX_IMAGE_SIZE = MAX_BLOCK_COUNT * BLOCK_SIZE
_HASH_CHUNK = 1 << 20
# Every image file: (entry, apparent size, bytes allocated on disk).
Scan = list[tuple[os.DirEntry[str], int, int]]


class ImageStore:
    """The images directory. Create with ``ImageStore.open(state_dir / "images")``."""

    def __init__(
        self,
        catalog: ImageCatalog,
        max_image_size: int,
        recovered: str = "",
        *,
        policy: SpacePolicy | None = None,
        disk: Disk | None = None,
    ) -> None:
        self.root = catalog.root
        self.max_image_size = min(max_image_size, MAX_IMAGE_SIZE)
        self.policy = policy if policy is not None else SpacePolicy()
        self.disk = disk if disk is not None else StatvfsDisk(catalog.root)
        self._catalog = catalog
        self._lock = threading.Lock()
        self._making: dict[str, Claim] = {}  # images being made (uploads, blanks)
        self.recovered = recovered  # why the catalog was reset at start-up, or ""

    @classmethod
    def open(
        cls,
        root: str | Path,
        *,
        max_image_size: int = MAX_IMAGE_SIZE,
        policy: SpacePolicy | None = None,
        disk: Disk | None = None,
    ) -> ImageStore:
        """Create the directory if needed, remove leftover temp files, load metadata."""
        root = Path(root)
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        for entry in os.scandir(root):
            if entry.name.startswith((UPLOAD_PREFIX, TEMP_PREFIX)):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
        catalog, recovered = ImageCatalog.load(root)
        return cls(catalog, max_image_size, recovered, policy=policy, disk=disk)

    # -- queries ----------------------------------------------------------------------

    def path(self, name: str) -> Path:
        """The file of image ``name`` (``NotFoundError`` if there is none)."""
        path = self.root / validate_image_name(name)
        if not path.is_file() or path.is_symlink():
            raise NotFoundError(f"no image {name!r}")
        return path

    def get(self, name: str) -> ImageInfo:
        return self._info(name, self.path(name).stat().st_size)

    def list(self) -> list[ImageInfo]:
        out = [self._info(entry.name, size) for entry, size, _ in self._scan()]
        return sorted(out, key=lambda info: info.name)

    def attachment(self) -> Attachment | None:
        return self._catalog.attachment

    def used_by(self, user: str | None) -> int:
        """The bytes ``user``'s quota pays for: their images and uploads in progress."""
        return self._room(user, None)[0]

    # -- room (quota and reserve) -------------------------------------------------------

    def preflight(self, name: str, size: int | None, user: str | None) -> None:
        """Raise unless ``user`` may start making image ``name`` of ``size`` bytes (None:
        not known yet) now: name, size cap, quota, reserve. Changes nothing."""
        self._check_new(name)
        with self._lock:
            if name in self._making:
                raise BusyError(f"image {name!r} is already being uploaded")
        if size is not None:
            if size > self.max_image_size:
                raise TooLargeError(f"images are capped at {self.max_image_size} bytes")
            if size < BLOCK_SIZE:
                raise InputError(f"an image must hold at least one {BLOCK_SIZE}-byte block")
        self._check_room(user, size or 0, size or 0, None)

    def check_growth(self, upload: Upload, total: int) -> None:
        """Raise unless ``upload`` may grow to ``total`` bytes (``Upload.write`` asks)."""
        claim = upload.claim
        self._check_room(claim.user, max(total, claim.size), total - claim.written, claim)

    def _check_room(self, user: str | None, held: int, wanted: int, own: Claim | None) -> None:
        """Quota: ``user`` would hold ``held`` bytes in ``own``; reserve: ``wanted`` more
        bytes on the disk, besides what images in the making and sparse images may take."""
        used, promised = self._room(user, own)
        self.policy.check_quota(user, used, held)
        self.policy.check_free(self.disk.free(), promised, wanted)

    def _room(self, user: str | None, own: Claim | None) -> tuple[int, int]:
        """(bytes ``user`` holds, bytes the disk has promised but not given yet: the
        unwritten rest of images being made, the holes of sparse images a host may
        still fill), not counting ``own``."""
        scan = self._scan()  # outside the lock: the loop may be waiting for it
        with self._lock:
            claims = [claim for claim in self._making.values() if claim is not own]
        meta = self._catalog.images
        owned = sum(size for e, size, _ in scan if meta.get(e.name, _NO_META).owner == user)
        holes = sum(max(size - allocated, 0) for _, size, allocated in scan)
        used = owned + sum(claim.held for claim in claims if claim.user == user)
        return used, holes + sum(claim.outstanding for claim in claims)

    # -- changes ----------------------------------------------------------------------

    def create_blank(self, name: str, size: int, user: str | None = None) -> ImageInfo:
        """A sparse, zero-filled image of ``size`` bytes (a multiple of 512)."""
        self._check_new(name)
        if not isinstance(size, int) or size <= 0 or size % BLOCK_SIZE:
            raise InputError(f"image size must be a positive multiple of {BLOCK_SIZE} bytes")
        if size > self.max_image_size:
            raise TooLargeError(f"image size is capped at {self.max_image_size} bytes")
        self.preflight(name, size, user)
        self._reserve(name, Claim(user, size))
        temp = temp_path(self.root, TEMP_PREFIX)
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600)
            try:
                os.ftruncate(fd, size)
                os.fsync(fd)
            finally:
                os.close(fd)
            return self.adopt(temp, name, ImageMeta(owner=user))
        except OSError as exc:
            raise disk_error(exc, f"cannot create image {name!r}") from exc
        finally:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
            self.release(name)

    def begin_upload(
        self,
        name: str,
        max_size: int | None = None,
        *,
        length: int | None = None,
        user: str | None = None,
    ) -> Upload:
        """Start receiving image ``name``: exactly ``length`` bytes if known, else at
        most ``max_size`` (default and ceiling: the store's cap)."""
        if max_size is not None and max_size <= 0:
            raise InputError("upload size cap must be positive")
        self.preflight(name, length, user)
        cap = min(max_size or self.max_image_size, self.max_image_size)
        claim = Claim(user, length or 0)
        self._reserve(name, claim)
        try:
            temp = temp_path(self.root, UPLOAD_PREFIX)
            return Upload(self, name, length if length is not None else cap, temp, claim)
        except OSError as exc:
            self.release(name)
            raise disk_error(exc, f"cannot start upload {name!r}") from exc

    def delete(self, name: str) -> None:
        path = self.path(name)
        self._check_detached(name, "delete")
        with self._lock:
            try:
                path.unlink()
            except OSError as exc:
                raise disk_error(exc, f"cannot delete image {name!r}") from exc
            with contextlib.suppress(DeviceError):  # gone either way; the entry is only clutter
                self._catalog.forget(name)

    def set_read_only(self, name: str, read_only: bool) -> ImageInfo:
        path = self.path(name)
        self._check_detached(name, "change the read-only flag of")
        with self._lock:
            self._catalog.set_read_only(name, bool(read_only))
            return self._info(name, path.stat().st_size)

    def check_attachable(self, name: str, mode: AccessMode) -> ImageInfo:
        """Raise unless ``name`` may be attached in ``mode`` now; return its info."""
        info = self.get(name)
        current = self._catalog.attachment
        if current is not None and current.image != name:
            raise BusyError(f"image {current.image!r} is attached; detach it first")
        if mode is AccessMode.READ_WRITE and info.read_only:
            raise InputError(f"image {name!r} is read-only: attach it with mode 'ro'")
        return info

    def set_attachment(self, attachment: Attachment | None) -> None:
        """Record where the image is attached (None: detached). Persisted."""
        if attachment is not None:
            self.check_attachable(attachment.image, attachment.mode)
        with self._lock:
            self._catalog.attach(attachment)

    def rehash(self, name: str) -> ImageInfo:
        """Recompute an image's sha256 (reads the whole file: run in a worker thread)."""
        path = self.path(name)
        digest = hashlib.sha256()
        try:
            with open(path, "rb") as f:
                while chunk := f.read(_HASH_CHUNK):
                    digest.update(chunk)
        except OSError as exc:
            raise disk_error(exc, f"cannot read image {name!r}") from exc
        with self._lock:
            self._catalog.set_sha256(name, digest.hexdigest())
            return self._info(name, path.stat().st_size)

    # -- what ``Upload`` calls ------------------------------------------------------------

    def adopt(self, temp: Path, name: str, meta: ImageMeta) -> ImageInfo:
        """Record ``meta`` for ``name`` (persisted first), then rename ``temp`` into place."""
        final = self.root / name
        with self._lock:
            if final.exists() or final.is_symlink():
                raise BusyError(f"image {name!r} already exists")
            self._catalog.put(name, meta)  # a failure here leaves everything as it was
            try:
                os.rename(temp, final)
            except BaseException:
                with contextlib.suppress(DeviceError):  # an entry without a file is never listed
                    self._catalog.forget(name)
                raise
            with contextlib.suppress(OSError):  # renamed already; a power cut could undo it
                fsync_dir(self.root)
            return self._info(name, final.stat().st_size)

    def release(self, name: str) -> None:
        with self._lock:
            self._making.pop(name, None)

    # -- internals --------------------------------------------------------------------

    def _scan(self) -> Scan:
        out: Scan = []
        for entry in os.scandir(self.root):
            if not self._is_image(entry):
                continue
            with contextlib.suppress(FileNotFoundError):  # deleted meanwhile
                st = entry.stat(follow_symlinks=False)
                out.append((entry, st.st_size, st.st_blocks * 512))
        return out

    @staticmethod
    def _is_image(entry: os.DirEntry[str]) -> bool:
        try:
            validate_image_name(entry.name)
        except InputError:
            return False
        return entry.is_file(follow_symlinks=False)

    def _info(self, name: str, size: int) -> ImageInfo:
        meta = self._catalog.meta(name)
        att = self._catalog.attachment
        attached = att if att is not None and att.image == name else None
        return ImageInfo(name, size, meta.sha256, meta.read_only, attached, meta.owner)

    def _check_new(self, name: str) -> None:
        validate_image_name(name)
        if (self.root / name).exists() or (self.root / name).is_symlink():
            raise BusyError(f"image {name!r} already exists")

    def _check_detached(self, name: str, action: str) -> None:
        att = self._catalog.attachment
        if att is not None and att.image == name:
            raise BusyError(f"cannot {action} image {name!r} while it is attached")

    def _reserve(self, name: str, claim: Claim) -> None:
        with self._lock:
            if name in self._making:
                raise BusyError(f"image {name!r} is already being uploaded")
            self._making[name] = claim


_NO_META = ImageMeta()
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
