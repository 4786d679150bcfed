"""No password, setup token, session id or bearer token ever appears in a log line, in the
event log, in the users file or in a URL (SPEC §9 "never log secrets"; issue 5)."""

from __future__ import annotations

import logging
from http.cookies import SimpleCookie

import pytest

from kvmswitchd.core.accounts import FREE_FAILURES
from tests.accounts.fakes import PASSWORD
from tests.web_auth.conftest import Site
from web import auth

BOB_PASSWORD = "bobs own long password"
NEW_PASSWORD = "a brand new password"
GUESS = "wrong-guess-password"


async def test_a_full_session_leaves_no_secret_in_logs_event_log_files_or_urls(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = site.client
    sessions: list[str] = []

    def keep(set_cookies: list[str]) -> None:
        for header in set_cookies:
            jar: SimpleCookie = SimpleCookie()
            jar.load(header)
            if jar[auth.SESSION_COOKIE].value:
                sessions.append(jar[auth.SESSION_COOKIE].value)

    await client.get(site.url("/auth/state"))
    resp = await client.post(
        site.url("/auth/setup"),
        json={"token": site.setup_token, "name": "root", "password": PASSWORD},
    )
    keep(resp.headers.getall("Set-Cookie", []))
    await client.post(site.url("/auth/login"), json={"name": "root", "password": GUESS})
    await client.post(site.url("/auth/login"), json={"name": PASSWORD, "password": GUESS})
    resp = await client.post(site.url("/auth/login"), json={"name": "root", "password": PASSWORD})
    keep(resp.headers.getall("Set-Cookie", []))
    await client.post(site.url("/switch"), json={"port": "2"})
    token = (await (await client.post(site.url("/auth/tokens"), json={"name": "ci"})).json())[
        "token"
    ]
    await site.call("GET", site.url("/state"), bearer=token)
    await site.call("GET", site.url("/log?limit=5"), bearer=token)
    await client.post(
        site.url("/users"), json={"name": "bob", "password": BOB_PASSWORD, "role": "viewer"}
    )
    reply = await site.call(
        "POST", site.url("/auth/login"), json={"name": "bob", "password": BOB_PASSWORD}
    )
    keep(reply.set_cookie)
    await site.call("POST", site.url("/switch"), json={"port": "1"}, session=sessions[-1])
    await site.call(
        "GET",
        site.url("/ws"),
        session=sessions[-1],
        headers={"Origin": "http://evil.example", "Upgrade": "websocket"},
    )
    resp = await client.post(
        site.url("/auth/password"), json={"old": PASSWORD, "new": NEW_PASSWORD}
    )
    keep(resp.headers.getall("Set-Cookie", []))
    await site.call("GET", site.url("/state"), bearer=token)  # revoked: refused and logged
    await site.call("GET", site.url("/state"), session=sessions[0])  # ditto
    for _ in range(FREE_FAILURES + 1):
        await client.post(site.url("/auth/login"), json={"name": "root", "password": GUESS})
    await client.post(site.url("/auth/logout"))
    await site.accounts.flush()
    site.journal.close()

    secrets = [
        site.setup_token,
        token,
        *sessions,
        PASSWORD,
        BOB_PASSWORD,
        NEW_PASSWORD,
        GUESS,
        *site.secrets.made,
    ]
    assert len(sessions) == 4
    haystacks = {
        "log lines": caplog.text + "\n".join(repr(r.args) for r in caplog.records),
        "event log file": site.journal.path.read_text(),
        "event log memory": repr(site.journal.recent(1000)),
        "users file": site.accounts.path.read_text(),
        "urls": "\n".join(site.seen.urls),
        "response headers": "\n".join(site.seen.headers),
    }
    for where, text in haystacks.items():
        for secret in secrets:
            assert secret not in text, f"a secret ({secret[:6]}...) is in the {where}"
    kinds = {e.kind for e in site.journal.recent(1000)}
    assert {
        "setup",
        "login",
        "login_failed",
        "token_created",
        "user_created",
        "password_changed",
        "refused",
        "logout",
    } <= kinds
    assert "aiohttp.access" in {r.name for r in caplog.records}  # the access log was scanned
    users = {e.user for e in site.journal.recent(1000) if e.kind in ("login", "logout")}
    assert users == {"root", "bob"}
