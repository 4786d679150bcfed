"""Daemon.stop() is bounded: stalled uploads, websockets and half-sent requests are cut."""

from __future__ import annotations

import asyncio
import base64
import json
import os
from dataclasses import replace
from pathlib import Path

from kvmswitchd.config import parse_config
from kvmswitchd.daemon import STOP_BUDGET, Daemon


def local_daemon(state: Path) -> Daemon:
    config = parse_config({"http": {"auth": False}})
    http = replace(config.http, listen_host="127.0.0.1", listen_port=0)
    return Daemon(replace(config, http=http, serial=()), state)


async def stalled_upload(host: str, port: int) -> asyncio.StreamWriter:
    _reader, writer = await asyncio.open_connection(host, port)
    writer.write(
        b"PUT /api/v1/storage/images/big.img HTTP/1.1\r\nHost: "
        + f"{host}:{port}".encode()
        + b"\r\n"
        b"Content-Type: application/octet-stream\r\nContent-Length: 100000000\r\n\r\n"
        + b"\0"
        * 65536
    )
    await writer.drain()
    return writer  # and never another byte


async def stalled_websocket(host: str, port: int) -> asyncio.StreamWriter:
    reader, writer = await asyncio.open_connection(host, port)
    key = base64.b64encode(os.urandom(16))
    writer.write(
        b"GET /api/v1/ws HTTP/1.1\r\nHost: "
        + f"{host}:{port}".encode()
        + b"\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: "
        + key
        + b"\r\n\r\n"
    )
    await writer.drain()
    assert b" 101 " in await reader.readuntil(b"\r\n")
    return writer  # never reads again, never answers a close frame


async def half_a_request(host: str, port: int) -> asyncio.StreamWriter:
    _, writer = await asyncio.open_connection(host, port)
    writer.write(b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0")
    await writer.drain()
    return writer


async def test_stop_finishes_within_its_budget_with_stalled_clients_and_saves_state(
    tmp_path: Path,
) -> None:
    daemon = local_daemon(tmp_path)
    await daemon.start()
    host, port = daemon.http_url.removeprefix("http://").rsplit(":", 1)
    writers = [
        await stalled_upload(host, int(port)),
        await stalled_websocket(host, int(port)),
        await half_a_request(host, int(port)),
    ]
    await asyncio.wait_for(daemon.stop(), STOP_BUDGET + 1.0)
    for writer in writers:
        writer.close()
    assert json.loads((tmp_path / "state.json").read_text())["version"] == 1
    lines = (tmp_path / "events.jsonl").read_text().splitlines()
    assert json.loads(lines[-1])["kind"] == "shutdown"
    assert [p.name for p in (tmp_path / "images").iterdir()] == []  # the upload's temp is gone
    again = local_daemon(tmp_path)  # and the state dir is free for the next start
    await again.start()
    await again.stop()
