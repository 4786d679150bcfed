"""Schemathesis over the served OpenAPI document against the whole daemon: no 5xx, no
status, content type or body the document doesn't describe."""

from __future__ import annotations

import asyncio
from typing import Any

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
