"""The /api/v1/auth/* and /api/v1/users/* routes (SPEC §9): setup, login, logout,
password, bearer tokens, and user management for admins. Who may call them is decided
by ``web.auth``'s middleware and rule table."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from kvmswitchd.accounts import Credential
from kvmswitchd.core.accounts import User, parse_role
from kvmswitchd.core.permissions import parse_restrictions
from kvmswitchd.errors import AuthError, InputError
from web.api import check_keys, read_object
from web.auth import (
    ACCOUNTS,
    CREDENTIAL,
    PREFIX,
    USER,
    clear_session_cookie,
    http_origin,
    set_session_cookie,
    user_of,
    user_view,
)

routes = web.RouteTableDef()


# -- routes: /api/v1/auth/* and /api/v1/users/* -------------------------------------------


async def _body(
    request: web.Request, allowed: set[str], required: frozenset[str] = frozenset()
) -> dict[str, Any]:
    data = await read_object(request, allow_empty=True)
    check_keys(data, allowed)
    missing = sorted(required - set(data))
    if missing:
        raise InputError(f"{missing[0]} is required")
    return data


def _credential(request: web.Request) -> Credential:
    credential: Credential | None = request.get(CREDENTIAL)
    if credential is None:
        raise AuthError("log in first")
    return credential


def _logged_in(request: web.Request, user: User, secret: str, status: int = 200) -> web.Response:
    response = web.json_response({"user": user_view(user)}, status=status)
    set_session_cookie(request, response, secret)
    return response


@routes.post(PREFIX + "/auth/setup")
async def setup(request: web.Request) -> web.Response:
    fields = {"token", "name", "password"}
    data = await _body(request, fields, frozenset(fields))
    user, secret = await request.app[ACCOUNTS].setup(
        data["token"], data["name"], data["password"], http_origin(request)
    )
    return _logged_in(request, user, secret, 201)


@routes.post(PREFIX + "/auth/login")
async def login(request: web.Request) -> web.Response:
    data = await _body(request, {"name", "password"}, frozenset({"name", "password"}))
    user, secret = await request.app[ACCOUNTS].login(
        data["name"], data["password"], http_origin(request)
    )
    return _logged_in(request, user, secret)


@routes.post(PREFIX + "/auth/logout")
async def logout(request: web.Request) -> web.Response:
    data = await _body(request, {"all"})
    everywhere = data.get("all", False)
    if not isinstance(everywhere, bool):
        raise InputError("all must be true or false")
    ended = await request.app[ACCOUNTS].logout(
        _credential(request), http_origin(request), everywhere=everywhere
    )
    response = web.json_response({"ok": True, "sessions_ended": ended})
    clear_session_cookie(request, response)
    return response


@routes.get(PREFIX + "/auth/state")
async def auth_state(request: web.Request) -> web.Response:
    user: User | None = request.get(USER)
    credential: Credential | None = request.get(CREDENTIAL)
    return web.json_response(
        {
            "setup_required": request.app[ACCOUNTS].needs_setup,
            "user": user_view(user) if user is not None else None,
            "via": str(credential.via) if credential is not None else None,
            "expires": credential.expires if credential is not None else None,
        }
    )


@routes.post(PREFIX + "/auth/password")
async def change_password(request: web.Request) -> web.Response:
    data = await _body(request, {"old", "new"}, frozenset({"old", "new"}))
    secret = await request.app[ACCOUNTS].change_password(
        _credential(request), data["old"], data["new"], http_origin(request)
    )
    response = web.json_response(
        {
            "ok": True,
            "message": "password changed; every other session and every bearer token was revoked",
        }
    )
    if secret is not None:
        set_session_cookie(request, response, secret)
    return response


@routes.post(PREFIX + "/auth/tokens")
async def create_token(request: web.Request) -> web.Response:
    data = await _body(request, {"name", "expires_in"}, frozenset({"name"}))
    token, secret = await request.app[ACCOUNTS].create_token(
        user_of(request).name,
        data["name"],
        http_origin(request),
        expires_in=data.get("expires_in"),
    )
    return web.json_response(dict(token.view(), token=secret), status=201)


@routes.get(PREFIX + "/auth/tokens")
async def list_tokens(request: web.Request) -> web.Response:
    tokens = request.app[ACCOUNTS].tokens(user_of(request).name)
    return web.json_response({"tokens": [t.view() for t in tokens]})


@routes.delete(PREFIX + "/auth/tokens/{id}")
async def revoke_token(request: web.Request) -> web.Response:
    await request.app[ACCOUNTS].revoke_token(
        user_of(request).name, request.match_info["id"], http_origin(request)
    )
    return web.json_response({"ok": True})


@routes.get(PREFIX + "/users")
async def list_users(request: web.Request) -> web.Response:
    return web.json_response({"users": [user_view(u) for u in request.app[ACCOUNTS].table]})


@routes.post(PREFIX + "/users")
async def create_user(request: web.Request) -> web.Response:
    data = await _body(
        request, {"name", "password", "role", "ports"}, frozenset({"name", "password", "role"})
    )
    user = await request.app[ACCOUNTS].create_user(
        data["name"],
        data["password"],
        parse_role(data["role"]),
        parse_restrictions(data.get("ports")),
        http_origin(request),
    )
    return web.json_response(user_view(user), status=201)


@routes.get(PREFIX + "/users/{name}")
async def get_user(request: web.Request) -> web.Response:
    return web.json_response(
        user_view(request.app[ACCOUNTS].table.require(request.match_info["name"]))
    )


@routes.patch(PREFIX + "/users/{name}")
async def patch_user(request: web.Request) -> web.Response:
    data = await _body(request, {"role", "ports", "password"})
    if not data:
        raise InputError("nothing to change: send role, ports and/or password")
    user = await request.app[ACCOUNTS].update_user(
        request.match_info["name"],
        http_origin(request),
        role=parse_role(data["role"]) if "role" in data else None,
        ports=parse_restrictions(data["ports"]) if "ports" in data else None,
        password=data.get("password"),
    )
    return web.json_response(user_view(user))


@routes.delete(PREFIX + "/users/{name}")
async def delete_user(request: web.Request) -> web.Response:
    await request.app[ACCOUNTS].delete_user(request.match_info["name"], http_origin(request))
    return web.json_response({"ok": True})
