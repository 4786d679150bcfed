"""Client JSON is depth-checked before json.loads: 100k-deep bodies and websocket
messages get a 400 that says why, on every route, never a 500 (RecursionError)."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from kvmswitchd.errors import InputError
from tests.web.conftest import FakeService, receive_until
from tests.web_hardening.conftest import Authed
from web import auth, client_json

DEEP = 100_000
TOO_DEEP = f"JSON nested deeper than {client_json.MAX_DEPTH} levels"
JSON = {"Content-Type": "application/json"}


def true_depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((true_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((true_depth(v) for v in value.values()), default=0)
    return 0


def nested(depth: int, opener: str = "[") -> str:
    closer = {"[": "]", "{": "}"}[opener]
    if opener == "{":
        return '{"a":' * depth + "1" + "}" * depth
    return opener * depth + closer * depth


# Text that stresses the string skipping: brackets, quotes and backslashes inside strings.
tricky_text = st.text(alphabet='[]{}"\\ab\u00e9\u2028', max_size=8)
values = st.recursive(
    st.none() | st.booleans() | st.integers() | tricky_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(tricky_text, inner, max_size=3),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(value=values, limit=st.integers(0, 6), indent=st.sampled_from([None, 1]))
def test_valid_json_is_refused_exactly_when_it_nests_deeper_than_the_limit(
    value: Any, limit: int, indent: int | None
) -> None:
    text = json.dumps(value, indent=indent, ensure_ascii=False)
    deep = true_depth(value) > limit
    if deep:
        with pytest.raises(InputError, match="nested deeper"):
            client_json.check_depth(text, limit)
    else:
        client_json.check_depth(text, limit)


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet='[]{}"\\,:1 a', max_size=80))
def test_any_text_is_refused_cleanly_or_parsed_within_the_limit(text: str) -> None:
    """Broken JSON never reaches json.loads unless it cannot nest past the limit."""
    limit = 3
    try:
        client_json.check_depth(text, limit)
    except InputError:
        return
    # passed the check: whatever json.loads does, it does not go deeper than the limit
    # (checked on the part it can parse: cut at the first error, if any)
    try:
        value = json.loads(text)
    except ValueError as exc:
        prefix = text[: getattr(exc, "pos", len(text))]
        assert (
            prefix.count("[") + prefix.count("{") - prefix.count("]") - prefix.count("}") <= limit
            or '"' in prefix
        )
        return
    assert true_depth(value) <= limit


@pytest.mark.parametrize("opener", ["[", "{"])
def test_a_100k_deep_document_is_refused_before_parsing(opener: str) -> None:
    for text in (nested(DEEP, opener), opener * DEEP):  # closed, and never closed
        with pytest.raises(InputError, match=TOO_DEEP):
            client_json.loads(text)
        with pytest.raises(InputError, match=TOO_DEEP):
            client_json.loads(text.encode())


def test_brackets_inside_strings_do_not_count() -> None:
    text = json.dumps(["[" * DEEP, {"k": '\\"' + "{" * DEEP}])
    assert client_json.loads(text)[0] == "[" * DEEP


def test_the_limit_itself_is_accepted() -> None:
    assert true_depth(client_json.loads(nested(client_json.MAX_DEPTH))) == client_json.MAX_DEPTH
    with pytest.raises(InputError, match=TOO_DEEP):
        client_json.loads(nested(client_json.MAX_DEPTH + 1))


def test_utf16_bodies_and_broken_bytes_get_a_clean_error() -> None:
    assert client_json.loads(json.dumps({"a": [1]}).encode("utf-16")) == {"a": [1]}
    with pytest.raises(InputError, match="malformed JSON"):
        client_json.loads(b"\xff\xfe\xff")
    with pytest.raises(InputError, match=TOO_DEEP):
        client_json.loads(("[" * DEEP).encode("utf-16-le"))


# -- every route, through the whole daemon with accounts on ---------------------------

# Routes whose handler reads a JSON body: each must answer the depth message.
JSON_ROUTES = [
    ("POST", "/auth/login"),
    ("POST", "/auth/password"),
    ("POST", "/auth/tokens"),
    ("POST", "/users"),
    ("PATCH", "/users/root"),
    ("PATCH", "/ports/1"),
    ("PUT", "/ports/1/edid"),
    ("POST", "/switch"),
    ("POST", "/scan"),
    ("POST", "/console/events"),
    ("POST", "/input"),
    ("POST", "/storage/images"),
    ("PATCH", "/storage/images/x.img"),
    ("POST", "/storage/attach"),
    ("POST", "/storage/eject"),
    ("POST", "/storage/pin"),
]


async def test_every_json_route_answers_400_to_a_100k_deep_body(authed: Authed) -> None:
    for method, path in JSON_ROUTES:
        # the EDID route caps bodies at 16 KiB: 5,000 levels still overflow json.loads
        body = nested(5_000 if path.endswith("/edid") else DEEP)
        async with authed.http.request(method, authed.api(path), data=body, headers=JSON) as resp:
            reply = await resp.json()
            assert (resp.status, reply["message"]) == (400, TOO_DEEP), (method, path, reply)
    # setup is refused before its body once an admin exists; a fresh token is not needed
    # to see that the body is checked: the unauthenticated login is covered above
    async with authed.http.get(authed.api("/health")) as resp:
        assert resp.status == 200


async def test_no_state_changing_route_answers_5xx_to_a_100k_deep_body(authed: Authed) -> None:
    """Every POST/PUT/PATCH/DELETE in the permission table, including ones that ignore
    their body (next, logout, buttons)."""
    routes = [
        (method, path)
        for method, path in (*auth.ROUTE_PERMISSIONS, *auth.PUBLIC)
        if method in ("POST", "PUT", "PATCH", "DELETE")
    ]
    assert len(routes) >= len(JSON_ROUTES)
    for method, path in routes:
        concrete = path.replace("{id}", "1").replace("{n}", "1").replace("{name}", "x.img")
        for body in (nested(DEEP), "[" * DEEP, '{"a":' * DEEP):
            async with authed.http.request(
                method, authed.url + concrete, data=body, headers=JSON
            ) as resp:
                assert resp.status < 500, (method, concrete, await resp.text())


async def test_setup_checks_the_depth_before_anything_else(tmp_path: Any) -> None:
    from tests.daemon.conftest import start

    daemon, _ = await start(tmp_path / "state", {"http": {"auth": True}})
    try:
        async with aiohttp.ClientSession() as http:
            url = daemon.http_url + "/api/v1/auth/setup"
            async with http.post(url, data=nested(DEEP, "{"), headers=JSON) as resp:
                assert (resp.status, (await resp.json())["message"]) == (400, TOO_DEEP)
    finally:
        await daemon.stop()


async def test_a_100k_deep_websocket_message_gets_an_error_and_the_socket_stays(
    fake_client: TestClient[Any, Any], service: FakeService
) -> None:
    async with fake_client.ws_connect("/api/v1/ws") as sock:
        await receive_until(sock, "state")
        await sock.send_str(nested(DEEP // 10))  # fits the 64 KiB frame cap
        error = await receive_until(sock, "error")
        assert error["message"] == TOO_DEEP
        await sock.send_str(json.dumps({"type": "ping"}))
        assert (await receive_until(sock, "pong"))["type"] == "pong"
        assert not sock.closed


async def test_a_deep_body_on_a_body_port_route_does_not_break_the_permission_check(
    authed: Authed,
) -> None:
    """The auth middleware reads POST /switch's port from the body: a deep body there is
    the handler's 400, not a 500 in the middleware."""
    async with authed.http.post(
        authed.api("/switch"), data='{"port": ' + "[" * DEEP, headers=JSON
    ) as resp:
        assert resp.status == 400
