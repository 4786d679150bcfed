"""A whole daemon with accounts on, an admin and restricted users, each with a token."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from kvmswitchd.core.commands import Origin, Source
from kvmswitchd.core.permissions import Role, parse_restrictions
from kvmswitchd.daemon import Daemon
from kvmswitchd.switchboard import Switchboard
from tests.daemon.conftest import start

PASSWORD = "correct horse battery staple"
# (name, role, per-port restrictions)
PEOPLE: dict[str, tuple[Role, dict[str, list[str]]]] = {
    "ops": (
        Role.OPERATOR,
        {"switch": ["1", "2"], "type": ["1", "2"], "view": ["1", "2"], "storage": ["1", "2"]},
    ),
    "nostore": (Role.OPERATOR, {"storage": ["1"]}),
    "watcher": (Role.VIEWER, {"view": ["2"]}),
}


@dataclass
class Reply:
    status: int
    body: Any


@dataclass
class Unit:
    daemon: Daemon
    board: Switchboard
    http: aiohttp.ClientSession
    tokens: dict[str, str]

    @property
    def url(self) -> str:
        return self.daemon.http_url + "/api/v1"

    async def call(self, who: str, method: str, path: str, body: Any = None) -> Reply:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"}
        async with self.http.request(method, self.url + path, json=body, headers=headers) as r:
            return Reply(r.status, await r.json())

    def focus(self) -> dict[str, str]:
        return dict(self.board.core.focus_view())

    def text(self, unit: int) -> str:
        return str(self.board.links[unit].target.view()["text"])


async def open_unit(state_dir: Path, doc: dict[str, Any] | None = None) -> Unit:
    daemon, board = await start(state_dir, {"http": {"auth": True}, **(doc or {})})
    accounts = daemon.accounts
    assert accounts is not None and daemon.setup_token is not None
    origin = Origin(Source.SYSTEM, detail="test")
    await accounts.setup(daemon.setup_token, "root", PASSWORD, origin)
    tokens = {"root": (await accounts.create_token("root", "t", origin))[1]}
    for name, (role, ports) in PEOPLE.items():
        await accounts.create_user(name, PASSWORD, role, parse_restrictions(ports), origin)
        tokens[name] = (await accounts.create_token(name, "t", origin))[1]
    return Unit(daemon, board, aiohttp.ClientSession(), tokens)


@pytest.fixture
async def unit(tmp_path: Path) -> AsyncIterator[Unit]:
    found = await open_unit(tmp_path / "state")
    yield found
    await found.http.close()
    await found.daemon.stop()
