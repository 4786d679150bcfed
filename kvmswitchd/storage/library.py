"""The image library: the image store as the HTTP routes use it (SPEC §3.4, item 1).

Async wrappers over ``ImageStore``: every blocking step (file writes, hashing, fsync,
rename, unlink, metadata) runs in a worker thread, so the loop keeps answering while
images stream in. An upload:

- is checked whole before a byte is read (``preflight``: name, size cap, quota, reserve;
  the HTTP route does it before it answers ``100 Continue``);
- is written in order, at most one batch in a worker thread at a time while the next
  batch is read from the network;
- is aborted when the client sends nothing for ``idle_timeout`` seconds, goes away, or
  goes over a limit, and when the daemon shuts down (``cancel_uploads``): the temp file
  is removed and the name is free again.

Every change is journalled (``log``) and announced (``changed``); ``placement(name)``
says where an image is attached, if it is.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterable, Callable
from typing import Any, Protocol

from kvmswitchd.core.commands import Origin
from kvmswitchd.errors import InputError, KvmError, StalledError
from kvmswitchd.storage.images import ImageInfo, ImageStore
from kvmswitchd.storage.upload import Upload

Json = dict[str, Any]

# The default ``[storage] upload_idle_timeout``: a client that sends nothing for this
# long loses its upload (it would hold a temp file and the name forever).
DEFAULT_IDLE_TIMEOUT = 30.0
# Network chunks are gathered into writes of about this size (fewer thread hand-offs).
WRITE_BATCH = 256 * 1024
# How long shutdown waits for cancelled uploads to remove their temp files (a worker
# thread may be finishing one batch); start-up removes whatever is left anyway.
SHUTDOWN_WAIT = 2.0


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
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
    ) -> None:
        self.store = store
        self.idle_timeout = idle_timeout
        self._log, self._changed, self._placement = log, changed, placement
        self._receiving: set[asyncio.Task[Any]] = set()

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

    def check_upload(self, name: str, length: int | None, origin: Origin) -> None:
        """Raise unless the upload may start (before the client sends its body)."""
        self.store.preflight(name, length, origin.user)

    async def create(self, name: str, size: int, origin: Origin) -> Json:
        info = await asyncio.to_thread(self.store.create_blank, name, size, origin.user)
        self._log(origin, (), action="create", image=name, size=size)
        self._changed()
        return self.image_json(info)

    async def upload(
        self, name: str, chunks: AsyncIterable[bytes], length: int | None, origin: Origin
    ) -> Json:
        """Stream ``chunks`` into a new image. Anything short of a complete body (a client
        gone or stalled, a limit hit, short of ``length``, shutdown) leaves neither an
        image nor a temp file, and the name free."""
        upload = self.store.begin_upload(name, length=length, user=origin.user)
        task = asyncio.current_task()
        if task is not None:
            self._receiving.add(task)
        try:
            await self._receive(upload, chunks, length)
        except BaseException as exc:  # the client went away too: never keep a partial file
            why = {"received": upload.received, "reason": str(exc) or type(exc).__name__}
            self._log(origin, (), action="upload_failed", image=name, **why)
            raise
        finally:
            if task is not None:
                self._receiving.discard(task)
        # Complete: the commit (fsync, rename) finishes even if the client leaves now.
        try:
            info = await asyncio.shield(asyncio.to_thread(upload.commit))
        except KvmError as exc:
            self._log(origin, (), action="upload_failed", image=name, reason=str(exc))
            raise
        self._log(origin, (), action="upload", image=name, size=info.size, sha256=info.sha256)
        self._changed()
        return self.image_json(info)

    async def _receive(
        self, upload: Upload, chunks: AsyncIterable[bytes], length: int | None
    ) -> None:
        writing: asyncio.Future[None] | None = None  # the one batch in a worker thread
        batch: list[bytes] = []
        pending = 0
        source = aiter(chunks)
        try:
            while True:
                try:
                    async with asyncio.timeout(self.idle_timeout):
                        chunk = await anext(source)
                except StopAsyncIteration:
                    break
                except TimeoutError:
                    raise StalledError(
                        f"upload of {upload.name!r} stalled: nothing received for "
                        f"{self.idle_timeout:g} s after {upload.received + pending} bytes"
                    ) from None
                batch.append(chunk)
                pending += len(chunk)
                if pending >= WRITE_BATCH:
                    if writing is not None:
                        await writing
                    writing = self._write(upload, batch)
                    batch, pending = [], 0
            if writing is not None:
                await writing
            writing = None
            if batch:
                await self._write(upload, batch)
            if length is not None and upload.received != length:
                raise InputError(f"body ended after {upload.received} of {length} bytes")
        except BaseException:
            if writing is not None:  # never remove the file under a worker thread's write
                with contextlib.suppress(BaseException):
                    await asyncio.shield(writing)
            upload.abort()
            raise

    @staticmethod
    def _write(upload: Upload, batch: list[bytes]) -> asyncio.Future[None]:
        data = batch[0] if len(batch) == 1 else b"".join(batch)
        return asyncio.ensure_future(asyncio.to_thread(upload.write, data))

    async def cancel_uploads(self) -> None:
        """Shutdown: abort every upload still receiving and wait until each is cleaned up."""
        tasks = [task for task in self._receiving if not task.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=SHUTDOWN_WAIT)

    async def set_read_only(self, name: str, read_only: bool, origin: Origin) -> Json:
        info = await asyncio.to_thread(self.store.set_read_only, name, read_only)
        self._log(origin, (), action="read_only", image=name, read_only=read_only)
        self._changed()
        return self.image_json(info)

    async def delete(self, name: str, origin: Origin) -> None:
        await asyncio.to_thread(self.store.delete, name)
        self._log(origin, (), action="delete", image=name)
        self._changed()
