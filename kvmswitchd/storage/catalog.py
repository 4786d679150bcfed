"""The image catalog: per-image metadata and the attachment record in ``.images.json``.

Written with ``statefile.write_atomic`` (all or nothing, mode 0600) and persisted before
memory changes; read no-follow. A corrupt file is moved aside to ``.images.json.bad`` and
the catalog starts empty (SPEC §3.7); images themselves are never touched by that.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from kvmswitchd.core.ports import MAX_PORTS, parse_port_id
from kvmswitchd.core.storage import AccessMode, Attachment
from kvmswitchd.errors import InputError, KvmError, StateFileError
from kvmswitchd.statedir import TEMP_PREFIX as STATE_TEMP_PREFIX
from kvmswitchd.statedir import read_nofollow
from kvmswitchd.statefile import write_atomic
from kvmswitchd.storage.space import disk_error

log = logging.getLogger(__name__)

META_FILE = ".images.json"
TEMP_PREFIX = STATE_TEMP_PREFIX  # blank images are made under write_atomic's prefix too
# Metadata of every image fits in far less; a bigger file is not ours (read is capped).
MAX_META_BYTES = 4 << 20
_VERSION = 1
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
# Names come from the network: a short safe charset, no separators, no leading dot (our
# temp and metadata files are dotfiles), bounded so a path can't grow past NAME_MAX.
MAX_NAME_LENGTH = 100
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")


def validate_image_name(name: object) -> str:
    """Return ``name`` if it is a valid image name, else raise ``InputError``."""
    if not isinstance(name, str):
        raise InputError("image name must be a string")
    if not 1 <= len(name) <= MAX_NAME_LENGTH or not name.isascii():
        raise InputError(f"image name must be 1..{MAX_NAME_LENGTH} ASCII characters")
    if not _NAME.fullmatch(name) or ".." in name:
        raise InputError(
            "image name may use letters, digits, '.', '_', '+', '-', must start with a "
            "letter or digit and may not contain '..'"
        )
    return name


@dataclass(frozen=True, slots=True)
class ImageMeta:
    read_only: bool = False
    sha256: str | None = None
    owner: str | None = None  # the user who created it (their quota pays for it)


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """One image. ``sha256`` is None when unknown: blank images, and images that were
    attached read-write since the last hash (``ImageStore.rehash`` computes it)."""

    name: str
    size: int
    sha256: str | None
    read_only: bool
    attachment: Attachment | None
    owner: str | None = None


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temp_path(root: Path, prefix: str) -> Path:
    """A fresh dotfile name in ``root`` (never a valid image name, never listed)."""
    return root / f"{prefix}{secrets.token_hex(8)}"


class ImageCatalog:
    """Metadata mirrored to disk. Every change is persisted first and only then made in
    memory, so a failed save (a full disk) leaves the catalog exactly as it was. Changes
    are not thread-safe (the store holds a lock); ``images`` is replaced on each change,
    never mutated, so readers need no lock."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.images: Mapping[str, ImageMeta] = {}
        self.attachment: Attachment | None = None

    @classmethod
    def load(cls, root: Path) -> tuple[ImageCatalog, str]:
        """Read the catalog; returns it and ``""`` or why it was reset (corrupt file)."""
        catalog = cls(root)
        try:
            raw = read_nofollow(root / META_FILE, MAX_META_BYTES)
        except FileNotFoundError:
            return catalog, ""
        try:
            catalog._parse(raw)
        except StateFileError as exc:
            bad = root / f"{META_FILE}.bad"
            os.replace(root / META_FILE, bad)
            return cls(root), f"{exc}; moved aside to {bad.name}"
        return catalog, ""

    def meta(self, name: str) -> ImageMeta:
        return self.images.get(name, ImageMeta())

    def put(self, name: str, meta: ImageMeta) -> None:
        """Record ``name`` afresh (a new image: whatever was known of the name goes)."""
        self._commit({**self.images, name: meta}, self.attachment)

    def set_read_only(self, name: str, read_only: bool) -> None:
        self.put(name, dataclasses.replace(self.meta(name), read_only=read_only))

    def set_sha256(self, name: str, sha256: str | None) -> None:
        self.put(name, dataclasses.replace(self.meta(name), sha256=sha256))

    def forget(self, name: str) -> None:
        if name in self.images:
            self._commit({n: m for n, m in self.images.items() if n != name}, self.attachment)

    def attach(self, attachment: Attachment | None) -> None:
        """Record where the image is attached; read-write forgets its hash (it may change)."""
        images = self.images
        if attachment is not None and attachment.mode is AccessMode.READ_WRITE:
            name = attachment.image
            images = {**images, name: dataclasses.replace(self.meta(name), sha256=None)}
        self._commit(images, attachment)

    def save(self) -> None:
        """Write the catalog as it is (nothing changes in memory)."""
        self._commit(self.images, self.attachment)

    def _commit(self, images: Mapping[str, ImageMeta], attachment: Attachment | None) -> None:
        self._write(images, attachment)
        self.images, self.attachment = images, attachment  # the new file is in place
        try:
            fsync_dir(self.root)
        except OSError as exc:  # renamed already: only a power cut now could undo it
            log.warning("image metadata saved, but syncing its directory failed: %s", exc)

    def _write(self, images: Mapping[str, ImageMeta], att: Attachment | None) -> None:
        doc = {
            "version": _VERSION,
            "images": {n: dataclasses.asdict(m) for n, m in sorted(images.items())},
            "attachment": None
            if att is None
            else {
                "image": att.image,
                "port": str(att.port),
                "mode": att.mode.value,
                "pinned": att.pinned,
            },
        }
        data = json.dumps(doc, indent=1).encode()
        try:
            write_atomic(self.root / META_FILE, data)
        except OSError as exc:
            raise disk_error(exc, "cannot save image metadata") from exc

    def _parse(self, raw: bytes) -> None:
        try:
            doc = json.loads(raw)
            images = doc["images"]
            if not isinstance(images, dict):
                raise TypeError("images is not an object")
            parsed: dict[str, ImageMeta] = {}
            for name, entry in images.items():
                sha, owner = entry.get("sha256"), entry.get("owner")
                parsed[validate_image_name(name)] = ImageMeta(
                    read_only=bool(entry.get("read_only", False)),
                    sha256=sha if isinstance(sha, str) else None,
                    owner=owner if isinstance(owner, str) else None,
                )
            att = doc.get("attachment")
            if att is not None:
                self.attachment = Attachment(
                    image=validate_image_name(att["image"]),
                    port=parse_port_id(att["port"], MAX_PORTS),
                    mode=AccessMode(att["mode"]),
                    pinned=bool(att["pinned"]),
                )
            self.images = parsed
        except (ValueError, KeyError, TypeError, AttributeError, KvmError) as exc:
            raise StateFileError(f"{META_FILE} is corrupt: {exc}") from exc
