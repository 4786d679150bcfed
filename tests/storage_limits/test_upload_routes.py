"""PUT /storage/images/{name} against a hostile or careless client: every limit before
``100 Continue``, an idle timeout, shutdown that does not wait for a stalled client, and
the disk work off the event loop."""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import AsyncIterator
from pathlib import Path

from tests.storage_limits.conftest import Client, MiB, Users, leftovers, make_rig, serve

URL = "/api/v1/storage/images/"


async def raw_put(
    client: Client, name: str, length: int, *, user: str | None = None, expect: bool = True
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Send the head of an upload (no body yet); the caller reads or sends."""
    reader, writer = await asyncio.open_connection(client.host, client.port)
    head = f"PUT {URL}{name} HTTP/1.1\r\nHost: test\r\nContent-Length: {length}\r\n"
    head += "Content-Type: application/octet-stream\r\n"
    if user is not None:
        head += f"X-Test-User: {user}\r\n"
    if expect:
        head += "Expect: 100-continue\r\n"
    writer.write((head + "\r\n").encode())
    await writer.drain()
    return reader, writer


async def status_line(reader: asyncio.StreamReader) -> str:
    return (await asyncio.wait_for(reader.readline(), 10)).decode().strip()


async def refused_before_continue(client: Client, name: str, length: int, **kw: object) -> str:
    """The first status line the server sends for an ``Expect: 100-continue`` upload
    whose body is never sent (a refusal must come at once, not a ``100 Continue``)."""
    reader, writer = await raw_put(client, name, length, **kw)  # type: ignore[arg-type]
    try:
        return await status_line(reader)
    finally:
        writer.close()


async def test_limits_are_checked_before_100_continue_is_sent(tmp_path: Path) -> None:
    rig = make_rig(tmp_path / "images", capacity=12 * MiB, quota=8 * MiB, reserve=6 * MiB)
    rig.service.store.create_blank("taken.img", 512)
    client = await serve(rig, Users(denied=frozenset({"mallory"})))
    try:
        cases = {
            ("big.img", 17 * MiB, None): "413",  # over the 16 MiB image cap
            ("q.img", 9 * MiB, "alice"): "413",  # over alice's 8 MiB quota
            ("full.img", 7 * MiB, None): "507",  # would eat into the reserve
            ("taken.img", 4096, None): "409",
            (".hidden", 4096, None): "400",
            ("ok.img", 4096, "mallory"): "403",  # no storage right
        }
        for (name, length, user), status in cases.items():
            line = await refused_before_continue(client, name, length, user=user)
            assert line.startswith(f"HTTP/1.1 {status} "), (name, line)
        assert leftovers(rig.root) == ["taken.img"]
    finally:
        await client.close()
        rig.service.close()


async def test_an_accepted_upload_gets_100_continue_then_201(tmp_path: Path) -> None:
    rig = make_rig(tmp_path / "images")
    client = await serve(rig)
    try:
        reader, writer = await raw_put(client, "ok.img", 4096)
        assert await status_line(reader) == "HTTP/1.1 100 Continue"
        assert await status_line(reader) == ""
        writer.write(bytes(range(256)) * 16)
        await writer.drain()
        assert (await status_line(reader)).startswith("HTTP/1.1 201 ")
        writer.close()
        assert [i["name"] for i in rig.service.images()] == ["ok.img"]
    finally:
        await client.close()
        rig.service.close()


async def test_a_stalled_upload_times_out_with_408_removes_its_temp_file_and_frees_the_name(
    tmp_path: Path,
) -> None:
    rig = make_rig(tmp_path / "images", idle_timeout=0.2)
    client = await serve(rig)
    failed = rig.journal.wait("upload_failed")
    try:
        reader, writer = await raw_put(client, "slow.img", 1 * MiB, expect=False)
        writer.write(bytes(100_000))  # then nothing more
        await writer.drain()
        assert (await status_line(reader)).startswith("HTTP/1.1 408 ")
        entry = await asyncio.wait_for(failed, 10)
        assert "stalled" in entry.detail["reason"] and entry.detail["image"] == "slow.img"
        writer.close()
        assert leftovers(rig.root) == []
        async with client.put(URL + "slow.img", data=bytes(4096)) as resp:
            assert resp.status == 201  # the name is free again
    finally:
        await client.close()
        rig.service.close()


async def test_shutdown_cancels_a_stalled_upload_at_once_and_removes_its_temp_file(
    tmp_path: Path,
) -> None:
    rig = make_rig(tmp_path / "images", idle_timeout=3600.0)
    client = await serve(rig)
    failed = rig.journal.wait("upload_failed")
    _reader, writer = await raw_put(client, "stuck.img", 1 * MiB, expect=False)
    writer.write(bytes(300_000))
    await writer.drain()
    await asyncio.wait_for(rig.service.receiving.wait(), 10)
    assert any(n.startswith(".upload-") for n in leftovers(rig.root))
    # aiohttp waits up to 60 s for running handlers; the upload must not make it wait.
    await asyncio.wait_for(client.close(), 10)
    assert (await asyncio.wait_for(failed, 1)).detail["image"] == "stuck.img"
    assert leftovers(rig.root) == []
    writer.close()
    rig.service.close()


async def test_upload_writes_and_hashing_run_off_the_event_loop_in_order(tmp_path: Path) -> None:
    rig = make_rig(tmp_path / "images")
    assert rig.disk is not None
    client = await serve(rig)
    pieces = [bytes([n % 251]) * (1000 + 37 * n) for n in range(400)]  # ~3.3 MiB, odd sizes

    async def body() -> AsyncIterator[bytes]:
        for piece in pieces:
            yield piece

    try:
        rig.disk.threads.clear()
        async with client.put(URL + "odd.img", data=body()) as resp:
            assert resp.status == 201, await resp.text()
            info = await resp.json()
        whole = b"".join(pieces)
        assert info["sha256"] == hashlib.sha256(whole).hexdigest()
        assert (rig.root / "odd.img").read_bytes() == whole
        loop_thread = threading.get_ident()
        # the route's and the store's checks measure the disk on the loop, then every
        # write measures it again before it writes: none of those ran on the loop
        checks, writes = rig.disk.threads[:2], rig.disk.threads[2:]
        assert checks == [loop_thread] * 2 and writes and loop_thread not in writes
    finally:
        await client.close()
        rig.service.close()


async def test_a_chunked_upload_past_the_reserve_is_507_and_leaves_nothing(tmp_path: Path) -> None:
    rig = make_rig(tmp_path / "images", capacity=10 * MiB, reserve=4 * MiB)
    client = await serve(rig)

    async def body() -> AsyncIterator[bytes]:
        for _ in range(160):
            yield bytes(64 * 1024)  # 10 MiB

    try:
        async with client.put(URL + "fill.img", data=body()) as resp:
            assert resp.status == 507
            doc = await resp.json()
        assert doc["error"] == "no_space" and str(4 * MiB) in doc["message"]
        assert leftovers(rig.root) == []
        assert rig.service.images() == []
    finally:
        await client.close()
        rig.service.close()


async def test_a_users_quota_covers_their_chunked_uploads_too(tmp_path: Path) -> None:
    rig = make_rig(tmp_path / "images", quota=1 * MiB)
    client = await serve(rig)
    headers = {"X-Test-User": "admin"}

    async def body() -> AsyncIterator[bytes]:
        for _ in range(32):
            yield bytes(64 * 1024)  # 2 MiB

    try:
        async with client.put(URL + "a.img", data=body(), headers=headers) as resp:
            assert resp.status == 413
            assert (await resp.json())["error"] == "quota_exceeded"
        async with client.post(
            "/api/v1/storage/images", json={"name": "b.img", "size": 2 * MiB}, headers=headers
        ) as resp:
            assert resp.status == 413
        assert leftovers(rig.root) == []
        async with client.put(URL + "c.img", data=bytes(MiB), headers=headers) as resp:
            assert resp.status == 201  # exactly the quota
        assert rig.service.store.used_by("admin") == MiB
    finally:
        await client.close()
        rig.service.close()
