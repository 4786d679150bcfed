"""Schemathesis over the served OpenAPI document against the whole daemon: no 5xx, no
status, content type or body the document doesn't describe."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.daemon.conftest import Running

# Per operation and generation mode; ~15 operations x 2 modes x this = the request count.
MAX_EXAMPLES = 25
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def fuzz(
    document: dict[str, Any], base_url: str, headers: dict[str, str] | None = None
) -> list[str]:
    """Run every operation (the websocket excepted); return one line per failure.
    ``headers`` go with every request (e.g. an ``Authorization: Bearer`` token)."""
    schema = schemathesis.openapi.from_dict(document).exclude(path="/api/v1/ws")
    failures: list[str] = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            failures.append(f"invalid operation: {result.err()}")
            continue
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(
                max_examples=MAX_EXAMPLES,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case: schemathesis.Case[Any]) -> None:
                case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS)

            try:
                run()
            except Unsatisfiable:
                if mode is GenerationMode.POSITIVE:
                    failures.append(f"{operation.label}: no valid request can be generated")
                # else: nothing in this operation can be made invalid (no body, free strings)
            except (Exception, FailureGroup) as exc:  # FailureGroup is a BaseExceptionGroup
                failures.append(f"{operation.label} ({mode.value}): {exc}")
    return failures


async def test_schemathesis_finds_no_server_errors_and_no_undocumented_responses(
    live: Running,
) -> None:
    document = await live.get("/openapi.json")
    failures = await asyncio.to_thread(fuzz, document, live.url)  # sync requests; the loop serves
    assert not failures, "\n\n".join(failures)
    assert (await live.get("/health"))["ok"] is True


async def test_schemathesis_with_authentication_on_finds_no_undocumented_responses(
    tmp_path: Path,
) -> None:
    """The same run against a daemon with accounts: every protected route with an admin's
    bearer token, and (without one) every route must answer as documented (401s)."""
    from kvmswitchd.core.commands import Origin, Source
    from tests.daemon.conftest import start

    daemon, _board = await start(tmp_path / "state", {"http": {"auth": True}})
    try:
        accounts = daemon.accounts
        assert accounts is not None and daemon.setup_token is not None
        origin = Origin(Source.HTTP, "test")
        await accounts.setup(daemon.setup_token, "admin", "a long password", origin)
        _token, secret = await accounts.create_token("admin", "fuzz", origin)
        async with aiohttp.ClientSession() as http:
            async with http.get(
                daemon.http_url + "/api/v1/openapi.json",
                headers={"Authorization": f"Bearer {secret}"},
            ) as r:
                document = await r.json()
        anonymous = await asyncio.to_thread(fuzz, document, daemon.http_url)
        assert not anonymous, "\n\n".join(anonymous)
        signed_in = await asyncio.to_thread(
            fuzz, document, daemon.http_url, {"Authorization": f"Bearer {secret}"}
        )
        assert not signed_in, "\n\n".join(signed_in)
    finally:
        await daemon.stop()
