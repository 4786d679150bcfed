"""Fixtures for the hostile-client tests: the whole daemon with accounts on, and the
app over a fake service (auth off) for raw-socket work."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from kvmswitchd.daemon import Daemon
from kvmswitchd.switchboard import Switchboard
from tests.web.conftest import FakeService
from web.app import create_app

PREFIX = "/api/v1"
PASSWORD = "correct horse battery"


@dataclass
class Authed:
    """The daemon with ``[http] auth = true`` and an admin logged in (cookie in ``http``)."""

    daemon: Daemon
    board: Switchboard
    url: str
    http: aiohttp.ClientSession

    def api(self, path: str) -> str:
        return self.url + PREFIX + path


@pytest.fixture
async def authed(tmp_path: Path) -> AsyncIterator[Authed]:
    from tests.daemon.conftest import start  # the daemon only when a test needs it

    daemon, board = await start(tmp_path / "state", {"http": {"auth": True}})
    # unsafe: keep the session cookie of an IP-address host (127.0.0.1)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        site = Authed(daemon, board, daemon.http_url, http)
        body = {"token": daemon.setup_token, "name": "root", "password": PASSWORD}
        async with http.post(site.api("/auth/setup"), json=body) as resp:
            assert resp.status == 201, await resp.text()
        yield site
    await daemon.stop()


@pytest.fixture
def service() -> FakeService:
    return FakeService()


@pytest.fixture
async def fake_client(service: FakeService) -> AsyncIterator[TestClient[Any, Any]]:
    """The app over a fake service, auth off ([http] auth = false)."""
    async with TestClient(TestServer(create_app(service))) as client:
        yield client
