"""Over HTTP: an account change the users file cannot take answers 503 and changes
nothing; bearer tokens with ``expires_in`` are listed with their expiry and refused (401)
once it passes (issue 12, items 2 and 4)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from kvmswitchd.accounts import Accounts
from kvmswitchd.journal import Journal
from tests.accounts.fakes import PASSWORD, T0, Clock, Disk, Secrets, cheap_hasher
from tests.web_auth.conftest import Seen, Site, build_app


@pytest.fixture
async def disk() -> Disk:
    return Disk()


@pytest.fixture
async def saving_site(tmp_path: Path, disk: Disk) -> AsyncIterator[Site]:
    clock = Clock()
    journal = Journal(tmp_path / "log", clock=clock)
    journal.open()
    secrets = Secrets()
    accounts = Accounts(
        tmp_path / "state",
        journal.record,
        clock=clock,
        hasher=cheap_hasher(),
        secret=secrets,
        writer=disk,
    )
    accounts.load()
    token = accounts.setup_token()
    assert token is not None
    static = tmp_path / "static"
    static.mkdir()
    focus = ["1"]
    client = TestClient(TestServer(build_app(accounts, focus, Seen(), static)))
    await client.start_server()
    try:
        yield Site(client, accounts, journal, clock, secrets, focus, Seen(), token)
    finally:
        await client.close()
        await accounts.flush()
        journal.close()


REQUESTS = [
    ("POST", "/users", {"name": "carol", "password": PASSWORD, "role": "viewer"}),
    ("PATCH", "/users/root", {"ports": {"switch": ["1"]}}),
    ("POST", "/auth/tokens", {"name": "ci", "expires_in": 60}),
    ("POST", "/auth/password", {"old": PASSWORD, "new": "another long password"}),
    ("POST", "/auth/login", {"name": "root", "password": PASSWORD}),
    ("POST", "/auth/logout", {"all": True}),
]


@pytest.mark.parametrize(("method", "path", "body"), REQUESTS, ids=[r[1] for r in REQUESTS])
async def test_a_change_the_disk_cannot_take_is_503_and_changes_nothing(
    saving_site: Site, disk: Disk, method: str, path: str, body: object
) -> None:
    site = saving_site
    await site.setup_admin()
    users = await (await site.client.get(site.url("/users"))).json()
    tokens = await (await site.client.get(site.url("/auth/tokens"))).json()
    on_disk = site.accounts.path.read_bytes()
    disk.full = True
    resp = await site.client.request(method, site.url(path), json=body)
    assert resp.status == 503
    reply = await resp.json()
    assert reply["error"] == "not_saved"
    assert "No space left on device" in reply["message"]
    assert "nothing was changed" in reply["message"]
    disk.full = False
    assert await (await site.client.get(site.url("/users"))).json() == users
    assert await (await site.client.get(site.url("/auth/tokens"))).json() == tokens
    assert site.accounts.path.read_bytes() == on_disk


async def test_a_token_with_expires_in_is_listed_with_its_expiry_and_refused_after_it(
    saving_site: Site,
) -> None:
    site = saving_site
    await site.setup_admin()
    resp = await site.client.post(site.url("/auth/tokens"), json={"name": "ci", "expires_in": 90})
    assert resp.status == 201
    made = await resp.json()
    assert made["expires"] == T0 + 90
    listed = await (await site.client.get(site.url("/auth/tokens"))).json()
    assert listed["tokens"] == [{"id": made["id"], "name": "ci", "created": T0, "expires": T0 + 90}]
    state = await site.call("GET", site.url("/auth/state"), bearer=made["token"])
    assert state.status == 200 and json.loads(state.text)["expires"] == T0 + 90

    site.clock.now = T0 + 90
    assert (await site.call("GET", site.url("/state"), bearer=made["token"])).status == 401
    assert (await (await site.client.get(site.url("/auth/tokens"))).json()) == {"tokens": []}
    await site.accounts.flush()
    assert made["id"] not in site.accounts.path.read_text()


@pytest.mark.parametrize("expires_in", [0, -1, "60", True, 1e308, None])
async def test_a_bad_expires_in_is_400_and_mints_nothing(
    saving_site: Site, expires_in: object
) -> None:
    site = saving_site
    await site.setup_admin()
    body = {"name": "ci", "expires_in": expires_in}
    resp = await site.client.post(site.url("/auth/tokens"), json=body)
    if expires_in is None:  # explicit null: no expiry
        assert resp.status == 201 and (await resp.json())["expires"] is None
        return
    assert resp.status == 400
    assert "expires_in" in (await resp.json())["message"]
    assert (await (await site.client.get(site.url("/auth/tokens"))).json()) == {"tokens": []}
