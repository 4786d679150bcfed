"""A small app: the real auth middleware and /auth + /users routes, plus a stand-in
handler for every other route in ROUTE_PERMISSIONS (the full-daemon matrix is the
lead's, once wired)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from kvmswitchd.accounts import Accounts
from kvmswitchd.journal import Journal
from tests.accounts.fakes import PASSWORD, Clock, Secrets, cheap_hasher
from web import auth, perimeter, users
from web.errors import error_middleware

OWN = (auth.PREFIX + "/auth/", auth.PREFIX + "/users")
UNLISTED = auth.PREFIX + "/not-in-the-table"


async def stand_in(request: web.Request) -> web.Response:
    if request.can_read_body:
        await request.read()
    return web.json_response({"ok": True, "user": auth.origin_user(request)})


@dataclass
class Seen:
    """Every URL the server saw and every header it sent back (for the secrets scan)."""

    urls: list[str] = field(default_factory=list)
    headers: list[str] = field(default_factory=list)


def build_app(accounts: Accounts, focus: list[str], seen: Seen, static: Path) -> web.Application:
    @web.middleware
    async def recorder(request: web.Request, handler: auth.Handler) -> web.StreamResponse:
        seen.urls.append(str(request.url))
        response = await handler(request)
        seen.headers.extend(
            f"{k}: {v}" for k, v in response.headers.items() if k.lower() != "set-cookie"
        )
        return response

    app = web.Application(
        middlewares=[
            recorder,
            error_middleware,
            perimeter.perimeter_middleware(refused=auth.refused_cross_site(accounts)),
            auth.auth_middleware(accounts),
        ]
    )
    app[auth.ACCOUNTS] = accounts
    app.add_routes(users.routes)
    for method, path in auth.ROUTE_PERMISSIONS:
        if not path.startswith(OWN):
            app.router.add_route(method, path, stand_in)
    app.router.add_get(auth.PREFIX + "/health", stand_in)
    app.router.add_get("/", stand_in)
    app.router.add_static("/static/", static)
    app.router.add_post(UNLISTED, stand_in)
    return app


@dataclass(frozen=True)
class Reply:
    status: int
    text: str
    set_cookie: list[str]


@dataclass
class Site:
    client: TestClient[web.Request, web.Application]
    accounts: Accounts
    journal: Journal
    clock: Clock
    secrets: Secrets
    focus: list[str]
    seen: Seen
    setup_token: str

    def url(self, path: str) -> str:
        return auth.PREFIX + path

    async def setup_admin(self) -> None:
        resp = await self.client.post(
            self.url("/auth/setup"),
            json={"token": self.setup_token, "name": "root", "password": PASSWORD},
        )
        assert resp.status == 201, await resp.text()

    async def bearer(self, name: str, role: str, ports: dict[str, list[str]] | None = None) -> str:
        """Create ``name`` (as root, by cookie) and give back a bearer token of theirs."""
        body = {"name": name, "password": PASSWORD, "role": role, "ports": ports or {}}
        resp = await self.client.post(self.url("/users"), json=body)
        assert resp.status == 201, await resp.text()
        return (await self.login_elsewhere(name, PASSWORD))[1]

    async def login_elsewhere(self, name: str, password: str) -> tuple[str, str]:
        """Log in from another browser: (its session id, a bearer token made with it)."""
        async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as other:
            async with other.post(
                self.client.make_url(self.url("/auth/login")),
                json={"name": name, "password": password},
            ) as login:
                assert login.status == 200, await login.text()
                session = login.cookies[auth.SESSION_COOKIE].value
            async with other.post(
                self.client.make_url(self.url("/auth/tokens")),
                json={"name": "t"},
                headers=self.cookie(session),
            ) as resp:
                assert resp.status == 201, await resp.text()
                return session, str((await resp.json())["token"])

    @staticmethod
    def cookie(session: str) -> dict[str, str]:
        return {"Cookie": f"{auth.SESSION_COOKIE}={session}"}

    async def call(
        self,
        method: str,
        path: str,
        *,
        session: str | None = None,
        bearer: str | None = None,
        json: object = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        """A request from a client with no cookie jar: only the credential given."""
        sent = dict(headers or {})
        if session is not None:
            sent.update(self.cookie(session))
        if bearer is not None:
            sent["Authorization"] = f"Bearer {bearer}"
        async with (
            aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as other,
            other.request(method, self.client.make_url(path), json=json, headers=sent) as resp,
        ):
            text = await resp.text()
            return Reply(resp.status, text, resp.headers.getall("Set-Cookie", []))


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    clock = Clock()
    journal = Journal(tmp_path / "log", clock=clock)
    journal.open()
    secrets = Secrets()
    accounts = Accounts(
        tmp_path / "state", journal.record, clock=clock, hasher=cheap_hasher(), secret=secrets
    )
    accounts.load()
    token = accounts.setup_token()
    assert token is not None
    focus = ["1"]
    seen = Seen()
    static = tmp_path / "static"
    static.mkdir()
    (static / "app.js").write_text("// the UI\n")
    client = TestClient(TestServer(build_app(accounts, focus, seen, static)))
    await client.start_server()
    try:
        yield Site(client, accounts, journal, clock, secrets, focus, seen, token)
    finally:
        await client.close()
        await accounts.flush()
        journal.close()
