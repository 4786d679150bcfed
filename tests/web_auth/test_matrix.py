"""Every role and per-port restriction against every route of ROUTE_PERMISSIONS and every
websocket message type, through the real middleware (SPEC §9 acceptance)."""

from __future__ import annotations

import itertools
import json

import aiohttp
import pytest
from yarl import URL

from kvmswitchd.core.accounts import User
from kvmswitchd.core.permissions import Permission, Role, parse_restrictions
from kvmswitchd.errors import AuthError, InputError, PermissionDenied
from tests.web_auth.conftest import UNLISTED, Site
from web import auth

# What each route needs and where its port comes from, written out by hand (SPEC §7/§9)
# rather than read from ROUTE_PERMISSIONS: the table and this list must agree.
NEEDS: dict[tuple[str, str], tuple[tuple[str, ...], str]] = {
    ("GET", "/state"): (("view",), ""),
    ("GET", "/ports"): (("view",), ""),
    ("GET", "/ports/{id}"): (("view",), "path"),
    ("PATCH", "/ports/{id}"): (("configure",), "path"),
    ("GET", "/ports/{id}/target"): (("view",), "path"),
    ("GET", "/ports/{id}/screen"): (("view",), "path"),
    ("GET", "/ports/{id}/edid"): (("view",), "path"),
    ("PUT", "/ports/{id}/edid"): (("configure",), "path"),
    ("POST", "/ports/{id}/power"): (("power",), "path"),
    ("POST", "/switch"): (("switch",), "body"),
    ("POST", "/switch/next"): (("switch",), ""),
    ("POST", "/switch/prev"): (("switch",), ""),
    ("POST", "/scan"): (("switch",), ""),
    ("POST", "/buttons/{n}"): (("switch",), "path"),
    # the route lets switchers through; core.guard lets only admins break the lease
    ("DELETE", "/serial/lease"): (("switch",), ""),
    # input: "type" on some port here; each routed event is checked on the port it
    # reaches by the guarded path (tests/guard)
    ("POST", "/console/events"): (("type",), ""),
    ("POST", "/input"): (("type",), ""),
    ("GET", "/log"): (("view",), ""),
    ("GET", "/ws"): (("view",), ""),
    ("GET", "/openapi.json"): ((), ""),
    ("GET", "/metrics"): (("view",), ""),
    ("POST", "/auth/logout"): ((), ""),
    ("POST", "/auth/password"): ((), ""),
    ("GET", "/auth/tokens"): ((), ""),
    ("POST", "/auth/tokens"): ((), ""),
    ("DELETE", "/auth/tokens/{id}"): ((), ""),
    ("GET", "/users"): (("users",), ""),
    ("POST", "/users"): (("users",), ""),
    ("GET", "/users/{name}"): (("users",), ""),
    ("PATCH", "/users/{name}"): (("users",), ""),
    ("DELETE", "/users/{name}"): (("users",), ""),
}
GRANTS = {
    "admin": {"view", "switch", "type", "storage", "configure", "power", "users"},
    "operator": {"view", "switch", "type", "storage", "power"},
    "viewer": {"view"},
}
# (name, role, restrictions)
PEOPLE: list[tuple[str, str, dict[str, list[str]]]] = [
    ("op", "operator", {}),
    ("viewer", "viewer", {}),
    ("narrow", "operator", {"switch": ["1"], "type": ["2"], "view": ["1", "2"], "storage": []}),
    ("sub", "admin", {"configure": ["3"], "switch": ["2", "3"]}),
    ("nopower", "operator", {"power": []}),
    ("power2", "operator", {"power": ["2"]}),
]
PORTS = ["1", "2", "3"]
STAND_INS = {k: v for k, v in NEEDS.items() if not k[1].startswith(("/auth/", "/users"))}


def full(path: str) -> str:
    return auth.PREFIX + path if path != "/metrics" else path


def test_the_route_table_is_the_one_this_test_checks() -> None:
    # the storage routes bring their own rules (web.storage.PERMISSIONS, merged by web.app),
    # checked per port inside their handlers; tests/storage_service covers them
    from web import storage

    own = set(auth.ROUTE_PERMISSIONS) - set(storage.PERMISSIONS)
    assert own == {(m, full(p)) for m, p in NEEDS}
    for (method, path), (needs, _) in NEEDS.items():
        rule = auth.ROUTE_PERMISSIONS[(method, full(path))]
        assert [str(p) for p in rule.needs] == list(needs), path


def allowed(
    role: str, ports: dict[str, list[str]], needs: tuple[str, ...], port: str | None
) -> bool:
    for permission in needs:
        if permission not in GRANTS[role]:
            return False
        if permission in ports and port is not None and port not in ports[permission]:
            return False
        if permission in ports and port is None and not ports[permission]:
            return False
    return True


async def test_every_role_and_restriction_against_every_route(site: Site) -> None:
    await site.setup_admin()
    tokens = {name: await site.bearer(name, role, ports) for name, role, ports in PEOPLE}
    people = [("root", "admin", {}), *PEOPLE]
    _, tokens["root"] = await site.login_elsewhere("root", "correct horse battery")
    checked = 0
    for (method, path), (needs, where) in STAND_INS.items():
        for (name, role, ports), port in itertools.product(people, PORTS):
            url = full(path).replace("{id}", port).replace("{n}", port)
            body = {"port": port} if where == "body" else {}
            site.focus[0] = port
            reply = await site.call(method, url, json=body, bearer=tokens[name])
            want = allowed(role, ports, needs, port if where else None)
            assert reply.status == (200 if want else 403), (
                f"{name} ({role} {ports}) {method} {url} port {port}: {reply.text}"
            )
            if reply.status == 200:
                assert json.loads(reply.text)["user"] == name
            checked += 1
    assert checked == len(STAND_INS) * len(people) * len(PORTS)


async def test_user_management_is_for_admins_only(site: Site) -> None:
    await site.setup_admin()
    tokens = {name: await site.bearer(name, role, ports) for name, role, ports in PEOPLE}
    for name, role, _ in PEOPLE:
        for method, path, body in [
            ("GET", "/users", None),
            ("POST", "/users", {"name": "x", "password": "12345678", "role": "viewer"}),
            ("GET", "/users/op", None),
            ("PATCH", "/users/op", {"role": "operator"}),
            ("DELETE", "/users/nobody", None),
        ]:
            reply = await site.call(method, auth.PREFIX + path, json=body, bearer=tokens[name])
            if role == "admin":
                assert reply.status in (200, 201, 404, 409), (method, path, reply.text)
            else:
                assert reply.status == 403, (name, method, path)


async def test_every_protected_route_is_401_without_credentials(site: Site) -> None:
    for method, path in [*auth.ROUTE_PERMISSIONS, ("POST", UNLISTED)]:
        resp = await site.client.request(
            method, path.replace("{id}", "1").replace("{n}", "1").replace("{name}", "root"), json={}
        )
        assert resp.status == 401, (method, path)
        assert (await resp.json())["error"] == "unauthorized"


@pytest.mark.parametrize(
    "path", [auth.PREFIX + "/health", "/", "/static/app.js", auth.PREFIX + "/auth/state"]
)
async def test_public_routes_need_no_login(site: Site, path: str) -> None:
    assert (await site.client.get(path)).status == 200


async def test_a_route_without_a_rule_is_admin_only(site: Site) -> None:
    await site.setup_admin()
    token = await site.bearer("op", "operator")
    reply = await site.call("POST", UNLISTED, bearer=token)
    assert reply.status == 403
    assert "no permission rule" in json.loads(reply.text)["message"]
    assert (await site.client.post(UNLISTED)).status == 200  # root, by cookie


# -- websocket messages -----------------------------------------------------------------

WS_NEEDS = {
    "connect": "view",
    "ping": "view",
    "input": "type",
    "release": "view",
    "switch": "switch",
}
WS_USERS = [
    User(name, Role(role), "hash", parse_restrictions(ports))
    for name, role, ports in [("root", "admin", {}), *PEOPLE]
]


def test_the_websocket_table_is_the_one_this_test_checks() -> None:
    assert {k: str(v) for k, v in auth.WS_PERMISSIONS.items()} == WS_NEEDS


@pytest.mark.parametrize(
    ("user", "message", "port"),
    list(itertools.product(WS_USERS, WS_NEEDS, [*PORTS, None])),
    ids=lambda v: getattr(v, "name", str(v)),
)
def test_every_role_and_restriction_against_every_websocket_message(
    user: User, message: str, port: str | None
) -> None:
    ports = {str(k): sorted(v) for k, v in user.ports.items()}
    if allowed(str(user.role), ports, (WS_NEEDS[message],), port):
        auth.authorize_ws(user, message, port)
    else:
        with pytest.raises(PermissionDenied):
            auth.authorize_ws(user, message, port)


def test_websocket_messages_need_a_user_and_a_known_type() -> None:
    with pytest.raises(AuthError):
        auth.authorize_ws(None, "connect", None)
    with pytest.raises(InputError):
        auth.authorize_ws(WS_USERS[0], "format-disk", None)
    assert Permission.USERS not in auth.WS_PERMISSIONS.values()


@pytest.mark.parametrize(
    "raw", ["/static/../api/v1/state", "/static/%2e%2e/api/v1/state", "/static//api/v1/state"]
)
async def test_a_path_under_the_public_prefix_does_not_unlock_the_api(site: Site, raw: str) -> None:
    await site.setup_admin()
    async with (
        aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as anonymous,
        anonymous.get(URL(str(site.client.make_url("")).rstrip("/") + raw, encoded=True)) as resp,
    ):
        assert resp.status in (401, 403, 404), await resp.text()
