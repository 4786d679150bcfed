"""``kvmctl storage ...`` against a live in-process app (kvmctl runs in a worker thread)."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import io
import json
from collections.abc import AsyncIterator
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from kvmswitchd import ctl
from tests.storage_service.conftest import Bench, make_app, new_bench


def run_ctl(url: str, args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = ctl.main(["--url", url, *args])
    return code, out.getvalue(), err.getvalue()


class Kvmctl:
    def __init__(self, url: str) -> None:
        self.url = url

    async def __call__(self, *args: str, code: int = 0) -> str:
        got, out, err = await asyncio.to_thread(run_ctl, self.url, list(args))
        assert got == code, (args, out, err)
        return out if code == 0 else err


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[tuple[Bench, Kvmctl]]:
    bench = new_bench(tmp_path)
    server = TestServer(make_app(bench.service))
    await server.start_server()
    try:
        yield bench, Kvmctl(str(server.make_url("")).rstrip("/"))
    finally:
        await server.close()
        bench.service.close()


async def test_kvmctl_manages_images_attach_pin_and_eject(
    live: tuple[Bench, Kvmctl], tmp_path: Path
) -> None:
    bench, kvmctl = live
    out = await kvmctl("storage", "create", "blank.img", "64K")
    assert "blank.img" in out
    assert "64.0 KiB" in out

    source = tmp_path / "debian.iso"
    data = bytes(range(256)) * 40
    source.write_bytes(data)
    out = await kvmctl("storage", "upload", "debian.img", str(source))
    assert "debian.img" in out
    assert f"sha256:{hashlib.sha256(data).hexdigest()[:12]}" in out
    assert (bench.root / "debian.img").read_bytes() == data

    out = await kvmctl("storage", "list")
    assert [line.split()[0] for line in out.splitlines()] == ["blank.img", "debian.img"]

    out = await kvmctl("storage", "attach", "debian.img", "--ro", "--pin", "2")
    assert out.splitlines()[0] == "debian.img (ro) on port 2, pinned"
    out = await kvmctl("storage", "status")
    assert "attached to port 2 (ro)" in out

    out = await kvmctl("storage", "pin", "none")
    assert out.splitlines()[0] == "debian.img (ro) on port 1, follows usb focus"

    bench.service.host_for(1).lock(True)
    err = await kvmctl("storage", "eject", code=1)
    assert "409" in err
    assert "locked" in err
    out = await kvmctl("storage", "eject", "--force")
    assert out.splitlines()[0] == "no image attached"

    err = await kvmctl("storage", "delete", "nope.img", code=1)
    assert "404" in err
    out = await kvmctl("storage", "delete", "blank.img")
    assert out.strip() == "deleted blank.img"
    doc = json.loads(await kvmctl("--json", "storage", "status"))
    assert [image["name"] for image in doc["images"]] == ["debian.img"]


async def test_kvmctl_refuses_to_delete_an_attached_image_and_reports_a_held_pin(
    live: tuple[Bench, Kvmctl],
) -> None:
    bench, kvmctl = live
    await kvmctl("storage", "create", "a.img", "64K")
    await kvmctl("storage", "attach", "a.img")
    err = await kvmctl("storage", "delete", "a.img", code=1)
    assert "409" in err
    bench.service.host_for(1).lock(True)
    out = await kvmctl("storage", "pin", "3")
    assert "held by port 1 (medium locked by host); moves to port 3" in out
    out = await kvmctl("storage", "readonly", "a.img", "on", code=1)
    assert "409" in out


async def test_kvmctl_upload_of_a_missing_file_fails_cleanly(live: tuple[Bench, Kvmctl]) -> None:
    bench, kvmctl = live
    err = await kvmctl("storage", "upload", "x.img", "/nonexistent/file.img", code=1)
    assert "cannot read /nonexistent/file.img" in err
    assert bench.service.images() == []


@pytest.mark.parametrize(
    ("text", "size"),
    [("512", 512), ("64K", 65536), ("1.5M", 1572864), ("2G", 2 << 30), ("1GiB", 1 << 30)],
)
def test_sizes_take_binary_units(text: str, size: int) -> None:
    assert ctl.parse_size(text) == size


@pytest.mark.parametrize("text", ["", "big", "1.3K", "12Q", "K", "nanK", "infM", "1e400K"])
def test_a_bad_size_is_an_argument_error(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        ctl.parse_size(text)
