"""A storage service on a temp dir with a fake clock, a fake journal and a fake timer."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from kvmswitchd.core.ports import PortId
from kvmswitchd.storage.images import ImageStore
from kvmswitchd.storage.service import StorageService
from web import storage
from web.errors import error_middleware

QUIET = 5.0
P1 = PortId(1)
PORTS = 4
IMAGE_SIZE = 64 * 1024  # 128 blocks: room for a flat volume and a few files


@dataclass
class Clock:
    now: float = 100.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Entry:
    kind: str
    source: str
    ports: tuple[str, ...]
    user: str | None
    detail: dict[str, Any]


@dataclass
class FakeJournal:
    """Journal.record's shape; ``wait(action)`` resolves on the next such entry."""

    entries: list[Entry] = field(default_factory=list)
    _waiters: list[tuple[str, asyncio.Future[Entry]]] = field(default_factory=list)

    def record(
        self,
        kind: str,
        source: str,
        ports: tuple[str, ...],
        user: str | None,
        detail: Mapping[str, Any],
    ) -> None:
        entry = Entry(kind, source, ports, user, dict(detail))
        self.entries.append(entry)
        for action, future in list(self._waiters):
            if detail.get("action") == action and not future.done():
                future.set_result(entry)
                self._waiters.remove((action, future))

    def actions(self) -> list[str]:
        return [e.detail["action"] for e in self.entries]

    def last(self, action: str) -> Entry:
        return [e for e in self.entries if e.detail["action"] == action][-1]

    def wait(self, action: str) -> asyncio.Future[Entry]:
        future: asyncio.Future[Entry] = asyncio.get_running_loop().create_future()
        self._waiters.append((action, future))
        return future


@dataclass
class Timer:
    """The ``rearm`` hook: remembers the deadline the service asked for."""

    deadlines: list[float | None] = field(default_factory=list)

    def __call__(self, deadline: float | None) -> None:
        self.deadlines.append(deadline)

    @property
    def armed(self) -> float | None:
        return self.deadlines[-1] if self.deadlines else None


@dataclass
class Bench:
    root: Path
    clock: Clock
    journal: FakeJournal
    timer: Timer
    service: StorageService
    changes: list[int]

    def reopen(self, *, focus: PortId = P1) -> StorageService:
        """A new service over the same images dir (a daemon restart)."""
        self.service.close()
        self.service = make_service(self.root, self.clock, self.journal, self.timer, focus=focus)
        self.service.restore()
        return self.service


def make_service(
    root: Path,
    clock: Clock,
    journal: FakeJournal,
    timer: Timer,
    *,
    focus: PortId = P1,
    changes: list[int] | None = None,
    max_image_size: int = 1 << 20,
    cls: type[StorageService] = StorageService,
) -> StorageService:
    def on_change() -> None:
        if changes is not None:
            changes.append(1)

    return cls(
        ImageStore.open(root, max_image_size=max_image_size),
        ports=PORTS,
        focus=focus,
        quiet_period=QUIET,
        record=journal.record,
        clock=clock,
        on_change=on_change,
        rearm=timer,
    )


def new_bench(tmp_path: Path, cls: type[StorageService] = StorageService) -> Bench:
    clock, journal, timer = Clock(), FakeJournal(), Timer()
    changes: list[int] = []
    root = tmp_path / "images"
    service = make_service(root, clock, journal, timer, changes=changes, cls=cls)
    return Bench(root, clock, journal, timer, service, changes)


@pytest.fixture
def bench(tmp_path: Path) -> Iterator[Bench]:
    b = new_bench(tmp_path)
    yield b
    b.service.close()


def leftovers(root: Path) -> list[str]:
    """Files in the images dir other than the catalog: images and temp files."""
    return sorted(p.name for p in root.iterdir() if p.name != ".images.json")


def blank(bench: Bench, name: str = "disk.img", size: int = IMAGE_SIZE) -> Path:
    """A zero-filled image, created synchronously (tests that don't need the loop)."""
    bench.service.store.create_blank(name, size)
    return bench.root / name


def make_app(service: storage.StorageApi) -> web.Application:
    """The storage routes as the daemon's app serves them (error mapping, a JSON body cap)."""
    app = web.Application(middlewares=[error_middleware], client_max_size=1 << 16)
    storage.setup(app, service)
    return app
