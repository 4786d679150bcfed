"""The OpenAPI document matches the routes the app really serves (SPEC §7)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import schemathesis
from aiohttp import web
from aiohttp.test_utils import TestClient
from schemathesis.core.result import Err

from kvmswitchd.accounts import Accounts
from kvmswitchd.core.ports import PortId
from kvmswitchd.storage.images import ImageStore
from kvmswitchd.storage.service import StorageService
from tests.web.conftest import FakeService
from web import openapi
from web.app import create_app

Client = TestClient[Any, Any]


def registered_routes(app: web.Application) -> set[str]:
    """Every ``METHOD /path`` under /api/v1 (HEAD mirrors GET and is not listed)."""
    found = set()
    for route in app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        if path.startswith(openapi.PREFIX + "/") and route.method not in ("HEAD", "*"):
            found.add(f"{route.method} {path}")
    return found


def coverage_problems(app: web.Application) -> list[str]:
    routes = registered_routes(app)
    documented = set(openapi.OPERATIONS)
    problems = []
    undocumented = sorted(routes - documented)
    if undocumented:
        problems.append(
            f"routes without an OpenAPI row: {undocumented}; "
            "add each to OPERATIONS in web/openapi.py"
        )
    missing = sorted(documented - routes)
    if missing:
        problems.append(
            f"OPERATIONS in web/openapi.py documents routes that don't exist: {missing}"
        )
    return problems


def make_app(tmp_path: Path) -> web.Application:
    """The app as the daemon builds it with authentication on (every route registered)."""
    accounts = Accounts(tmp_path, lambda *args, **kwargs: None)
    accounts.load()
    storage = StorageService(
        ImageStore.open(tmp_path / "images"),
        ports=4,
        focus=PortId(1),
        record=lambda *args, **kwargs: None,
        clock=lambda: 0.0,
    )
    return create_app(FakeService(), accounts=accounts, storage=storage)


def test_every_api_route_is_documented_and_every_documented_route_exists(tmp_path: Path) -> None:
    problems = coverage_problems(make_app(tmp_path))
    assert not problems, "\n".join(problems)


def test_an_undocumented_route_is_named_in_the_failure(tmp_path: Path) -> None:
    async def handler(_request: web.Request) -> web.Response:
        return web.Response()

    app = make_app(tmp_path)
    app.router.add_delete(openapi.PREFIX + "/ports/{id}/nothing", handler)
    assert coverage_problems(app) == [
        "routes without an OpenAPI row: ['DELETE /api/v1/ports/{id}/nothing']; "
        "add each to OPERATIONS in web/openapi.py"
    ]


def test_every_operation_documents_a_success_and_json_errors() -> None:
    for key, operation in openapi.OPERATIONS.items():
        statuses = set(operation.responses)
        assert statuses & {200, 201, 101}, f"{key}: no success response"
        for status in statuses - {200, 201, 101}:
            reply = operation.responses[status]
            assert reply.schema == openapi.ref("Error"), f"{key} {status}: errors are Error"
            assert reply.media == "application/json"
        if operation.body is not None:
            assert {400, 413} <= statuses, f"{key}: a body can be bad or too big"


def refs_in(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from refs_in(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs_in(value)


def test_every_reference_resolves_and_every_path_parameter_is_declared() -> None:
    doc = openapi.document()
    names = {ref.removeprefix("#/components/schemas/") for ref in refs_in(doc)}
    assert names <= set(doc["components"]["schemas"]), names - set(doc["components"]["schemas"])
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert declared == set(openapi._PARAM.findall(path)), (method, path)


def test_the_document_is_a_valid_openapi_schema() -> None:
    schema = schemathesis.openapi.from_dict(openapi.document())
    schema.validate()
    results = list(schema.get_all_operations())
    errors = [r.err() for r in results if isinstance(r, Err)]
    assert not errors, errors
    assert len(results) == len(openapi.OPERATIONS)


async def test_the_document_is_served_at_openapi_json(client: Client) -> None:
    async with client.get("/api/v1/openapi.json") as resp:
        assert resp.status == 200
        assert resp.content_type == "application/json"
        doc = await resp.json()
    assert doc["openapi"].startswith("3.")
    assert doc == openapi.document(with_auth=False)
    assert "get" in doc["paths"]["/api/v1/ws"]


def test_every_route_has_a_permission_rule_or_is_public(tmp_path: Path) -> None:
    """Fail closed is the default (admin-only), but every route should say who may call it."""
    from web import auth

    app = make_app(tmp_path)
    rules = set(auth.ROUTE_PERMISSIONS) | set(auth.PUBLIC)
    missing = sorted(key for key in registered_routes(app) if tuple(key.split(" ", 1)) not in rules)
    assert not missing, f"routes without a rule in web.auth.ROUTE_PERMISSIONS: {missing}"


def test_protected_operations_document_401_and_403() -> None:
    doc = openapi.document()
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            key = f"{method.upper()} {path}"
            if key in openapi.PUBLIC_OPERATIONS:
                continue
            assert {"401", "403"} <= set(map(str, operation["responses"])), key
