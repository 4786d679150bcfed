"""Fixtures that run the whole daemon in-process on emulated backends."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from kvmswitchd.config import Config, parse_config
from kvmswitchd.daemon import Daemon
from kvmswitchd.switchboard import Switchboard


@dataclass
class Running:
    daemon: Daemon
    board: Switchboard
    url: str
    http: aiohttp.ClientSession

    async def get(self, path: str) -> Any:
        async with self.http.get(self.url + "/api/v1" + path) as resp:
            assert resp.status == 200, await resp.text()
            return await resp.json()

    async def post(self, path: str, body: Any = None, status: int = 200) -> Any:
        async with self.http.post(self.url + "/api/v1" + path, json=body) as resp:
            assert resp.status == status, await resp.text()
            return await resp.json()

    async def text(self, port: str) -> str:
        target = await self.get(f"/ports/{port}/target")
        return str(target["text"])


def make_config(doc: dict[str, Any] | None = None) -> Config:
    """Test config: an ephemeral port, no serial endpoints, and auth off (loopback) unless
    the test's document turns it on with ``{"http": {"auth": True}}``."""
    doc = dict(doc or {})
    doc["http"] = {"auth": False, **doc.get("http", {})}
    config = parse_config(doc)
    http = replace(config.http, listen_host="127.0.0.1", listen_port=0)
    return replace(config, http=http, serial=config.serial if "serial" in doc else ())


async def start(state_dir: Path, doc: dict[str, Any] | None = None) -> tuple[Daemon, Switchboard]:
    daemon = Daemon(make_config(doc), state_dir)
    board = await daemon.start()
    return daemon, board


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    daemon, board = await start(tmp_path / "state")
    async with aiohttp.ClientSession() as http:
        yield Running(daemon, board, daemon.http_url, http)
    await daemon.stop()
