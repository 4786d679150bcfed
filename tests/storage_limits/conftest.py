"""Disks for the storage-limit tests: a fake that counts the images dir's allocated bytes,
and a real small tmpfs (a full disk that answers ENOSPC)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import threading
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from kvmswitchd.core.accounts import User
from kvmswitchd.core.commands import Origin
from kvmswitchd.core.permissions import Role
from kvmswitchd.core.ports import PortId
from kvmswitchd.errors import PermissionDenied
from kvmswitchd.storage.images import ImageStore
from kvmswitchd.storage.service import StorageService
from kvmswitchd.storage.space import SpacePolicy
from tests.conftest import in_ci, require_tool
from tests.storage_service.conftest import Clock, FakeJournal, Timer
from web import auth, storage
from web.errors import error_middleware

MiB = 1 << 20
SMALL_DISK = 8 * MiB


class FakeDisk:
    """``Disk``: ``capacity`` less the bytes the files under ``root`` occupy. ``calls``
    records the thread each measurement ran on. ``lie`` makes it report ``capacity``
    whatever is used (to reach the file operations of a truly full disk)."""

    def __init__(self, root: Path, capacity: int, *, lie: bool = False) -> None:
        self.root, self.capacity, self.lie = root, capacity, lie
        self.threads: list[int] = []

    def free(self) -> int:
        self.threads.append(threading.get_ident())
        if self.lie:
            return self.capacity
        used = sum(
            entry.stat(follow_symlinks=False).st_blocks * 512
            for entry in os.scandir(self.root)
            if entry.is_file(follow_symlinks=False)
        )
        return self.capacity - used


def leftovers(root: Path) -> list[str]:
    """Files in the images dir other than the catalog: images and temp files."""
    return sorted(p.name for p in root.iterdir() if p.name != ".images.json")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """An 8 MiB tmpfs of our own (root only): writes past it fail with ENOSPC."""
    require_tool("mount", "a small tmpfs is the full disk")
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={SMALL_DISK},mode=0700", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        reason = f"cannot mount a tmpfs (needs root): {done.stderr.strip()}"
        if in_ci():
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path, leave: int = 0) -> Path:
    """Write a filler file until the disk is full (or only ``leave`` bytes are free)."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    chunk = bytes(64 * 1024)
    try:
        while True:
            st = os.statvfs(disk)
            room = st.f_bavail * st.f_frsize - leave
            if room <= 0:
                break
            os.write(fd, chunk[: min(len(chunk), room)])
    except OSError:
        pass  # ENOSPC: full
    finally:
        os.close(fd)
    return filler


class Watched(StorageService):
    """The real service; ``receiving`` is set once an upload's first chunk is in."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.receiving = asyncio.Event()

    async def upload_image(
        self, name: str, chunks: AsyncIterable[bytes], length: int | None, origin: Origin
    ) -> dict[str, Any]:
        async def watched() -> AsyncIterator[bytes]:
            async for chunk in chunks:
                yield chunk
                self.receiving.set()

        return await super().upload_image(name, watched(), length, origin)


@dataclass
class Rig:
    """A storage service on ``root`` with a given disk and policy, and its journal."""

    root: Path
    service: Watched
    journal: FakeJournal
    disk: FakeDisk | None


def make_rig(
    root: Path,
    *,
    capacity: int | None = 64 * MiB,
    quota: int = 0,
    reserve: int = 4 * MiB,
    idle_timeout: float = 3600.0,
    max_image_size: int = 16 * MiB,
    lie: bool = False,
) -> Rig:
    """``capacity`` None: the real disk under ``root`` (statvfs)."""
    root.mkdir(parents=True, exist_ok=True)
    disk = FakeDisk(root, capacity, lie=lie) if capacity is not None else None
    store = ImageStore.open(
        root,
        max_image_size=max_image_size,
        policy=SpacePolicy(quota=quota, reserve=reserve),
        disk=disk,
    )
    journal = FakeJournal()
    service = Watched(
        store,
        ports=4,
        focus=PortId(1),
        record=journal.record,
        clock=Clock(),
        rearm=Timer(),
        upload_idle_timeout=idle_timeout,
    )
    return Rig(root, service, journal, disk)


Client = TestClient[Any, Any]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Users:
    """``AUTHORIZE`` and the user of each request, from an ``X-Test-User`` header (the
    routes' seams: the real auth middleware is tested in tests/web_auth)."""

    def __init__(self, denied: frozenset[str] = frozenset()) -> None:
        self.denied = denied

    def authorize(self, request: web.Request, port: str | None) -> None:
        if request.headers.get("X-Test-User") in self.denied:
            raise PermissionDenied("storage is not yours")


@web.middleware
async def test_user(request: web.Request, handler: Handler) -> web.StreamResponse:
    user = request.headers.get("X-Test-User")
    if user is not None:
        request[auth.USER] = User(user, Role.ADMIN, "-")  # admins too have a quota
    return await handler(request)


async def serve(rig: Rig, users: Users | None = None) -> Client:
    app = web.Application(middlewares=[error_middleware, test_user], client_max_size=1 << 16)
    storage.setup(app, rig.service)
    if users is not None:
        app[storage.AUTHORIZE] = users.authorize
    client: Client = TestClient(TestServer(app))
    await client.start_server()
    return client
