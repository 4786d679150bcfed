"""The image library: the image store as the HTTP routes use it (SPEC §3.4, item 1).

Async wrappers over ``ImageStore``: blocking work (fsync, rename, unlink, metadata)
runs in the default executor; an upload is streamed chunk by chunk into the store's
temp file and is never listed until complete. Every change is journalled (``log``) and
announced (``changed``); ``placement(name)`` says where an image is attached, if it is.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, Callable
from typing import Any, Protocol

from kvmswitchd.core.commands import Origin
from kvmswitchd.errors import InputError, KvmError
from kvmswitchd.storage.blockdev import BLOCK_SIZE
from kvmswitchd.storage.images import ImageInfo, ImageStore, TooLargeError

Json = dict[str, Any]


class Log(Protocol):
    def __call__(self, origin: Origin, ports: tuple[str, ...], **detail: Any) -> None: ...


class ImageLibrary:
    def __init__(
        self,
        store: ImageStore,
        *,
        log: Log,
        changed: Callable[[], None],
        placement: Callable[[str], Json | None],
    ) -> None:
        self.store = store
        self._log, self._changed, self._placement = log, changed, placement

    def images(self) -> list[Json]:
        return [self.image_json(info) for info in self.store.list()]

    def image_json(self, info: ImageInfo) -> Json:
        return {
            "name": info.name,
            "size": info.size,
            "sha256": info.sha256,
            "read_only": info.read_only,
            "attached": self._placement(info.name),
        }

    async def create(self, name: str, size: int, origin: Origin) -> Json:
        loop = asyncio.get_running_loop()
        info = await loop.run_in_executor(None, self.store.create_blank, name, size)
        self._log(origin, (), action="create", image=name, size=size)
        self._changed()
        return self.image_json(info)

    async def upload(
        self, name: str, chunks: AsyncIterable[bytes], length: int | None, origin: Origin
    ) -> Json:
        """Stream ``chunks`` into a new image. Anything short of a complete body (a client
        gone, over the cap, short of ``length``) leaves neither an image nor a temp file."""
        cap = self.store.max_image_size
        if length is not None and length > cap:
            raise TooLargeError(f"images are capped at {cap} bytes")
        if length is not None and length < BLOCK_SIZE:
            raise InputError(f"an image must hold at least one {BLOCK_SIZE}-byte block")
        upload = self.store.begin_upload(name, length or cap)
        try:
            async for chunk in chunks:
                upload.write(chunk)
            if length is not None and upload.received != length:
                raise InputError(f"body ended after {upload.received} of {length} bytes")
        except BaseException as exc:  # the client went away too: never keep a partial file
            upload.abort()
            why = {"received": upload.received, "reason": str(exc) or type(exc).__name__}
            self._log(origin, (), action="upload_failed", image=name, **why)
            raise
        # Complete: the commit (fsync, rename) finishes even if the client leaves now.
        commit = asyncio.get_running_loop().run_in_executor(None, upload.commit)
        try:
            info = await asyncio.shield(commit)
        except KvmError as exc:
            self._log(origin, (), action="upload_failed", image=name, reason=str(exc))
            raise
        self._log(origin, (), action="upload", image=name, size=info.size, sha256=info.sha256)
        self._changed()
        return self.image_json(info)

    async def set_read_only(self, name: str, read_only: bool, origin: Origin) -> Json:
        loop = asyncio.get_running_loop()
        info = await loop.run_in_executor(None, self.store.set_read_only, name, read_only)
        self._log(origin, (), action="read_only", image=name, read_only=read_only)
        self._changed()
        return self.image_json(info)

    async def delete(self, name: str, origin: Origin) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.store.delete, name)
        self._log(origin, (), action="delete", image=name)
        self._changed()
