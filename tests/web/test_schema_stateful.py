"""Schemathesis in its stateful mode against the whole daemon with accounts on: it
follows the OpenAPI document's links (a created image to its PATCH/DELETE, a created
token to its DELETE, a listed port to its routes, a created user to its routes) through
sequences of calls, and no step gets a 5xx."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from kvmswitchd.core.commands import Origin, Source
from kvmswitchd.daemon import Daemon
from web.links import LINKS

PASSWORD = "correct horse battery"
# Bounded: a handful of scenarios of a few steps each (a few seconds on a slow machine).
SCENARIOS = 12
STEPS = 6


@dataclass
class Site:
    daemon: Daemon
    url: str
    loop: asyncio.AbstractEventLoop

    def fresh_token(self) -> str | None:
        """A new bearer token for root, made in-process (a scenario may have changed
        root's password or revoked its tokens); None if root can no longer have one."""
        accounts = self.daemon.accounts
        assert accounts is not None
        made = asyncio.run_coroutine_threadsafe(
            accounts.create_token("root", f"fuzz-{next(COUNTER)}", Origin(Source.HTTP, "test")),
            self.loop,
        )
        try:
            return made.result(timeout=30)[1]
        except Exception:  # root deleted or demoted by an earlier step: carry on unauthenticated
            return None


COUNTER = itertools.count()


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    from tests.daemon.conftest import start

    daemon, _ = await start(tmp_path / "state", {"http": {"auth": True}})
    async with aiohttp.ClientSession() as http:
        body = {"token": daemon.setup_token, "name": "root", "password": PASSWORD}
        async with http.post(daemon.http_url + "/api/v1/auth/setup", json=body) as resp:
            assert resp.status == 201, await resp.text()
    yield Site(daemon, daemon.http_url, asyncio.get_running_loop())
    await daemon.stop()


def test_the_document_links_what_a_client_does_next() -> None:
    from web.app import create_app
    from web.openapi import document

    assert callable(create_app)  # the storage rows join the table when web.app loads
    doc = document()
    ops = {entry["operationId"] for methods in doc["paths"].values() for entry in methods.values()}
    found = 0
    for methods in doc["paths"].values():
        for entry in methods.values():
            for reply in entry["responses"].values():
                for link in reply.get("links", {}).values():
                    assert link["operationId"] in ops
                    found += 1
    assert found >= sum(len(links) for links in LINKS.values()) - 2


def run_stateful(document: dict[str, Any], site: Site) -> None:
    schema = schemathesis.openapi.from_dict(document).exclude(path="/api/v1/ws")
    base = schema.as_state_machine()
    token: list[str | None] = [None]

    class Workflow(base):  # type: ignore[misc,valid-type]
        def setup(self) -> None:
            token[0] = site.fresh_token()

        def get_call_kwargs(self, case: schemathesis.Case[Any]) -> dict[str, Any]:
            headers = {"Authorization": f"Bearer {token[0]}"} if token[0] else {}
            return {"base_url": site.url, "headers": headers}

        def validate_response(
            self, response: Any, case: schemathesis.Case[Any], **kwargs: Any
        ) -> None:
            case.validate_response(response, checks=[not_a_server_error])

    Workflow.run(
        settings=settings(
            max_examples=SCENARIOS,
            stateful_step_count=STEPS,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
    )


async def test_stateful_schemathesis_finds_no_server_errors(site: Site) -> None:
    accounts = site.daemon.accounts
    assert accounts is not None
    _, secret = await accounts.create_token("root", "reader", Origin(Source.HTTP, "test"))
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {secret}"}) as http:
        async with http.get(site.url + "/api/v1/openapi.json") as resp:
            assert resp.status == 200, await resp.text()
            document = await resp.json()
    await asyncio.to_thread(run_stateful, document, site)  # sync requests; the loop serves
    async with aiohttp.ClientSession() as http:
        async with http.get(site.url + "/api/v1/health") as resp:
            assert resp.status == 200
