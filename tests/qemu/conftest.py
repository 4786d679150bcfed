"""A fake QEMU on a unix socket, and a qemu target connected to it."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from kvmswitchd.targets.qemu import QemuTarget
from tests.qemu.fake_qmp import FakeQmp


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    # a unix socket path must stay under ~108 bytes: pytest's tmp_path can be longer
    with tempfile.TemporaryDirectory(prefix="kvmq") as folder:
        yield Path(folder)


@pytest.fixture
async def vm(sock_dir: Path) -> AsyncIterator[FakeQmp]:
    fake = FakeQmp(sock_dir / "vm.qmp")
    await fake.start()
    yield fake
    await fake.kill()


def make_target(path: Path, mouse: str = "relative") -> QemuTarget:
    return QemuTarget(
        str(path),
        mouse=mouse,
        name="port 2",
        vm_name="vm1",
        screens=path.parent / "screens",
        retry_min=0.01,
        retry_max=0.05,
    )


@pytest.fixture
async def target(vm: FakeQmp) -> AsyncIterator[QemuTarget]:
    t = make_target(vm.path)
    await t.start()
    await t.connected.wait()
    yield t
    await t.stop()
