"""The image store: disk images in ``<state>/images/`` (a thin file-I/O adapter).

- An image is the file ``<state>/images/<name>``; per-image metadata (read-only flag,
  sha256) and the attachment record live in ``.images.json``, written atomically (temp
  file, fsync, rename, fsync of the directory).
- Uploads stream into a temp file ``.upload-<random>`` (a dotfile: never listed, never a
  valid image name) that is renamed into place on ``commit`` and removed on ``abort``,
  on any exception inside ``with store.begin_upload(...)``, and on store start-up.
- One image is attached at a time (one storage device per switch); the daemon records
  where with ``set_attachment``. An attached image can't be deleted or flagged.

Blocking: ``Upload.write`` does one small buffered write (call it per HTTP chunk from the
event loop). ``Upload.commit``, ``create_blank`` and ``rehash`` fsync or hash whole files:
run them in an executor (``loop.run_in_executor(None, upload.commit)``). Metadata updates
take a lock, so those may run on a worker thread while the loop lists images.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

from kvmswitchd.core.storage import AccessMode, Attachment
from kvmswitchd.errors import (
    BusyError,
    DeviceError,
    InputError,
    LocalProtocolError,
    NotFoundError,
    TooLargeError,  # re-exported: the class moved to the error tree so web needn't import us
)
from kvmswitchd.storage.blockdev import BLOCK_SIZE, MAX_BLOCK_COUNT
from kvmswitchd.storage.catalog import (
    MAX_NAME_LENGTH,
    META_FILE,
    TEMP_PREFIX,
    ImageCatalog,
    fsync_dir,
    temp_path,
    validate_image_name,
)

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
UPLOAD_PREFIX = ".upload-"
_HASH_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """One image. ``sha256`` is None when unknown: blank images, and images that were
    attached read-write since the last hash (``ImageStore.rehash`` computes it)."""

    name: str
    size: int
    sha256: str | None
    read_only: bool
    attachment: Attachment | None


class Upload:
    """An image being received. Use as a context manager: an exception aborts it."""

    def __init__(self, store: ImageStore, name: str, max_size: int, temp: Path) -> None:
        self._store, self.name, self.max_size, self._temp = store, name, max_size, temp
        self._file = open(temp, "xb")  # noqa: SIM115  (an upload outlives any with-block)
        self._hash = hashlib.sha256()
        self.received = 0
        self._state = "open"

    def write(self, chunk: bytes) -> None:
        """Append ``chunk``; over ``max_size`` the upload is aborted and TooLargeError raised."""
        if self._state != "open":
            raise LocalProtocolError(f"upload of {self.name!r} is {self._state}")
        if self.received + len(chunk) > self.max_size:
            self.abort()
            raise TooLargeError(f"upload of {self.name!r} exceeds {self.max_size} bytes")
        try:
            self._file.write(chunk)
        except OSError as exc:
            self.abort()
            raise DeviceError(f"cannot write upload {self.name!r}: {exc.strerror}") from exc
        self._hash.update(chunk)
        self.received += len(chunk)

    def commit(self) -> ImageInfo:
        """fsync, rename into place, record the sha256. Blocking: run in an executor."""
        if self._state != "open":
            raise LocalProtocolError(f"upload of {self.name!r} is {self._state}")
        if self.received < BLOCK_SIZE:
            self.abort()
            raise InputError(f"an image must hold at least one {BLOCK_SIZE}-byte block")
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            info = self._store._adopt(self._temp, self.name, self._hash.hexdigest())
        except OSError as exc:
            self.abort()
            raise DeviceError(f"cannot store upload {self.name!r}: {exc.strerror}") from exc
        except BaseException:
            self.abort()
            raise
        self._state = "committed"
        self._store._release(self.name)
        return info

    def abort(self) -> None:
        """Drop the partial file. Idempotent; a no-op after commit."""
        if self._state != "open":
            return
        self._state = "aborted"
        with contextlib.suppress(OSError):
            self._file.close()
        with contextlib.suppress(FileNotFoundError):
            self._temp.unlink()
        self._store._release(self.name)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.abort()  # after commit this does nothing


class ImageStore:
    """The images directory. Create with ``ImageStore.open(state_dir / "images")``."""

    def __init__(self, catalog: ImageCatalog, max_image_size: int, recovered: str = "") -> None:
        self.root = catalog.root
        self.max_image_size = min(max_image_size, MAX_IMAGE_SIZE)
        self._catalog = catalog
        self._lock = threading.Lock()
        self._uploading: set[str] = set()
        self.recovered = recovered  # why the catalog was reset at start-up, or ""

    @classmethod
    def open(cls, root: str | Path, *, max_image_size: int = MAX_IMAGE_SIZE) -> ImageStore:
        """Create the directory if needed, remove leftover temp files, load metadata."""
        root = Path(root)
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        for entry in os.scandir(root):
            if entry.name.startswith((UPLOAD_PREFIX, TEMP_PREFIX)):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
        catalog, recovered = ImageCatalog.load(root)
        return cls(catalog, max_image_size, recovered)

    # -- queries ----------------------------------------------------------------------

    def path(self, name: str) -> Path:
        """The file of image ``name`` (``NotFoundError`` if there is none)."""
        path = self.root / validate_image_name(name)
        if not path.is_file() or path.is_symlink():
            raise NotFoundError(f"no image {name!r}")
        return path

    def get(self, name: str) -> ImageInfo:
        path = self.path(name)
        with self._lock:
            return self._info(name, path.stat().st_size)

    def list(self) -> list[ImageInfo]:
        with self._lock:
            out = [
                self._info(entry.name, entry.stat(follow_symlinks=False).st_size)
                for entry in os.scandir(self.root)
                if self._is_image(entry)
            ]
        return sorted(out, key=lambda info: info.name)

    def attachment(self) -> Attachment | None:
        return self._catalog.attachment

    # -- changes ----------------------------------------------------------------------

    def create_blank(self, name: str, size: int) -> ImageInfo:
        """A sparse, zero-filled image of ``size`` bytes (a multiple of 512)."""
        self._check_new(name)
        if not isinstance(size, int) or size <= 0 or size % BLOCK_SIZE:
            raise InputError(f"image size must be a positive multiple of {BLOCK_SIZE} bytes")
        if size > self.max_image_size:
            raise TooLargeError(f"image size is capped at {self.max_image_size} bytes")
        temp = temp_path(self.root, TEMP_PREFIX)
        self._reserve(name)
        try:
            with open(temp, "xb") as f:
                f.truncate(size)
                f.flush()
                os.fsync(f.fileno())
            return self._adopt(temp, name, None)
        except OSError as exc:
            raise DeviceError(f"cannot create image {name!r}: {exc.strerror}") from exc
        finally:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
            self._release(name)

    def begin_upload(self, name: str, max_size: int) -> Upload:
        """Start receiving image ``name`` of at most ``max_size`` bytes."""
        self._check_new(name)
        if max_size <= 0:
            raise InputError("upload size cap must be positive")
        self._reserve(name)
        try:
            return Upload(
                self, name, min(max_size, self.max_image_size), temp_path(self.root, UPLOAD_PREFIX)
            )
        except OSError as exc:
            self._release(name)
            raise DeviceError(f"cannot start upload {name!r}: {exc.strerror}") from exc

    def delete(self, name: str) -> None:
        path = self.path(name)
        self._check_detached(name, "delete")
        with self._lock:
            try:
                path.unlink()
            except OSError as exc:
                raise DeviceError(f"cannot delete image {name!r}: {exc.strerror}") from exc
            self._catalog.forget(name)
            self._catalog.save()

    def set_read_only(self, name: str, read_only: bool) -> ImageInfo:
        path = self.path(name)
        self._check_detached(name, "change the read-only flag of")
        with self._lock:
            self._catalog.set_read_only(name, bool(read_only))
            self._catalog.save()
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
            self._catalog.attachment = attachment
            if attachment is not None and attachment.mode is AccessMode.READ_WRITE:
                self._catalog.set_sha256(attachment.image, None)
            self._catalog.save()

    def rehash(self, name: str) -> ImageInfo:
        """Recompute an image's sha256 (reads the whole file: run in an executor)."""
        path = self.path(name)
        digest = hashlib.sha256()
        try:
            with open(path, "rb") as f:
                while chunk := f.read(_HASH_CHUNK):
                    digest.update(chunk)
        except OSError as exc:
            raise DeviceError(f"cannot read image {name!r}: {exc.strerror}") from exc
        with self._lock:
            self._catalog.set_sha256(name, digest.hexdigest())
            self._catalog.save()
            return self._info(name, path.stat().st_size)

    # -- internals --------------------------------------------------------------------

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
        return ImageInfo(name, size, meta.sha256, meta.read_only, attached)

    def _check_new(self, name: str) -> None:
        validate_image_name(name)
        if (self.root / name).exists() or (self.root / name).is_symlink():
            raise BusyError(f"image {name!r} already exists")

    def _check_detached(self, name: str, action: str) -> None:
        att = self._catalog.attachment
        if att is not None and att.image == name:
            raise BusyError(f"cannot {action} image {name!r} while it is attached")

    def _reserve(self, name: str) -> None:
        with self._lock:
            if name in self._uploading:
                raise BusyError(f"image {name!r} is already being uploaded")
            self._uploading.add(name)

    def _release(self, name: str) -> None:
        with self._lock:
            self._uploading.discard(name)

    def _adopt(self, temp: Path, name: str, sha256: str | None) -> ImageInfo:
        """Rename a finished temp file to ``name`` and record its metadata."""
        final = self.root / name
        with self._lock:
            if final.exists() or final.is_symlink():
                raise BusyError(f"image {name!r} already exists")
            os.rename(temp, final)
            fsync_dir(self.root)
            self._catalog.forget(name)
            self._catalog.set_sha256(name, sha256)
            self._catalog.save()
            return self._info(name, final.stat().st_size)
