"""The daemon's upload limits from its config: a stalled upload is dropped after
``[storage] upload_idle_timeout``, and shutdown does not wait for one."""

from __future__ import annotations

import asyncio
from pathlib import Path

from kvmswitchd.core.eventlog import LogEntry
from kvmswitchd.switchboard import Switchboard
from tests.daemon.conftest import start
from tests.storage_limits.conftest import MiB

# the Host names the address the daemon listens on (a foreign Host is refused with 421)
HEAD = (
    "PUT /api/v1/storage/images/{name} HTTP/1.1\r\nHost: {host}:{port}\r\n"
    "Content-Length: {length}\r\n"
)


def partials(state: Path) -> list[str]:
    return [p.name for p in (state / "images").iterdir() if p.name.startswith(".upload-")]


def failures(board: Switchboard) -> asyncio.Future[LogEntry]:
    """Resolves on the next ``upload_failed`` journal entry."""
    future: asyncio.Future[LogEntry] = asyncio.get_running_loop().create_future()

    def on_entry(entry: LogEntry) -> None:
        if entry.detail.get("action") == "upload_failed" and not future.done():
            future.set_result(entry)

    board.journal.subscribe(on_entry)
    return future


async def stall(url: str, name: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Start an upload of 1 MiB; once the daemon says ``100 Continue``, send 200 kB of it,
    then nothing."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    head = HEAD.format(name=name, host=host, port=port, length=MiB)
    head += "Expect: 100-continue\r\n\r\n"
    writer.write(head.encode())
    assert await asyncio.wait_for(reader.readline(), 10) == b"HTTP/1.1 100 Continue\r\n"
    assert await reader.readline() == b"\r\n"
    writer.write(bytes(200_000))
    await writer.drain()
    return reader, writer


async def test_the_daemon_stops_at_once_with_a_stalled_upload_and_removes_its_temp_file(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    daemon, board = await start(state, {"storage": {"upload_idle_timeout": 3600}})
    failed = failures(board)
    try:
        _reader, writer = await stall(daemon.http_url, "stuck.img")
    finally:
        await asyncio.wait_for(daemon.stop(), 10)  # aiohttp alone would wait 60 s for it
    writer.close()
    entry = failed.result()
    assert entry.detail["image"] == "stuck.img"
    assert partials(state) == []
    assert not (state / "images" / "stuck.img").exists()


async def test_the_configured_idle_timeout_drops_a_stalled_upload_with_408(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    daemon, board = await start(state, {"storage": {"upload_idle_timeout": 0.2}})
    failed = failures(board)
    try:
        reader, writer = await stall(daemon.http_url, "slow.img")
        status = await asyncio.wait_for(reader.readline(), 10)
        assert status.startswith(b"HTTP/1.1 408 ")
        assert "stalled" in (await asyncio.wait_for(failed, 10)).detail["reason"]
        writer.close()
        assert partials(state) == []
    finally:
        await daemon.stop()
