"""The auth edge (SPEC §9): who is asking, may they, and the /auth and /users routes.

``auth_middleware`` runs inside ``error_middleware`` and ``web.perimeter``'s middleware
(Host and Origin checks, with auth on or off). For every request it refuses credentials
in a URL, resolves the user from the session cookie or ``Authorization: Bearer`` (never
the query string) into ``request[USER]`` / ``request[CREDENTIAL]``, lets the public
routes through and answers 401 for the rest without a user, then checks the route's
permission from ``ROUTE_PERMISSIONS`` (403, logged). Unlisted routes are admin-only: fail closed.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware

from kvmswitchd.accounts import Accounts, Credential, LoginThrottledError
from kvmswitchd.core.accounts import MAX_CREDENTIAL_LEN, User
from kvmswitchd.core.commands import Origin, Source
from kvmswitchd.core.permissions import (
    Permission,
    Role,
    authorize,
    canonical_port,
    permissions_of,
    restrictions_json,
)
from kvmswitchd.errors import AuthError, InputError, KvmError, PermissionDenied
from web import client_json
from web.errors import error_response
from web.perimeter import read_body

PREFIX = "/api/v1"
ACCOUNTS = web.AppKey("accounts", Accounts)
SESSION_COOKIE = "kvm_session"
# request[USER]: the User, or None on a public route (web.RequestKey: aiohttp >= 3.14).
USER: web.RequestKey[User | None] = web.RequestKey("user")
# request[CREDENTIAL]: how they authenticated (session or bearer token), or None.
CREDENTIAL: web.RequestKey[Credential | None] = web.RequestKey("credential")

# Query parameters that look like credentials: refused, so nobody gets used to putting
# a secret where proxies, browser history and access logs keep it.
CREDENTIAL_PARAMS = frozenset({"token", "access_token", "session", "password", "bearer", "auth"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class PortFrom(enum.Enum):
    """Where a route's port id comes from."""

    NONE = "none"  # unit-wide, or "some port" (next/prev, scan, state)
    MATCH = "match"  # the URL's {id} (or another match_info key)
    BODY = "body"  # the JSON body's "port"


@dataclass(frozen=True, slots=True)
class RouteRule:
    """What a route needs: every permission in ``needs`` on the port from ``port``;
    ``needs=()`` means any logged-in user."""

    needs: tuple[Permission, ...] = ()
    port: PortFrom = PortFrom.NONE
    key: str = "id"


P = Permission
ROUTE_PERMISSIONS: dict[tuple[str, str], RouteRule] = {
    ("GET", PREFIX + "/state"): RouteRule((P.VIEW,)),
    ("GET", PREFIX + "/ports"): RouteRule((P.VIEW,)),
    ("GET", PREFIX + "/ports/{id}"): RouteRule((P.VIEW,), PortFrom.MATCH),
    ("PATCH", PREFIX + "/ports/{id}"): RouteRule((P.CONFIGURE,), PortFrom.MATCH),
    ("GET", PREFIX + "/ports/{id}/target"): RouteRule((P.VIEW,), PortFrom.MATCH),
    ("GET", PREFIX + "/ports/{id}/screen"): RouteRule((P.VIEW,), PortFrom.MATCH),
    ("GET", PREFIX + "/ports/{id}/edid"): RouteRule((P.VIEW,), PortFrom.MATCH),
    ("PUT", PREFIX + "/ports/{id}/edid"): RouteRule((P.CONFIGURE,), PortFrom.MATCH),
    ("POST", PREFIX + "/ports/{id}/power"): RouteRule((P.POWER,), PortFrom.MATCH),
    ("POST", PREFIX + "/switch"): RouteRule((P.SWITCH,), PortFrom.BODY),
    ("POST", PREFIX + "/switch/next"): RouteRule((P.SWITCH,)),
    ("POST", PREFIX + "/switch/prev"): RouteRule((P.SWITCH,)),
    ("POST", PREFIX + "/scan"): RouteRule((P.SWITCH,)),
    ("POST", PREFIX + "/buttons/{n}"): RouteRule((P.SWITCH,), PortFrom.MATCH, "n"),
    # breaking the ATEN control lease is for admins: core.guard refuses anyone else (403)
    ("DELETE", PREFIX + "/serial/lease"): RouteRule((P.SWITCH,)),
    # Input is authorized per routed event, on the port it actually reaches (the focus
    # can move before or while the body is routed): core.guard via the router. Console
    # events pass through hotkey detection too; a hotkey switches with this user's rights.
    ("POST", PREFIX + "/console/events"): RouteRule((P.TYPE,)),
    ("POST", PREFIX + "/input"): RouteRule((P.TYPE,)),
    ("GET", PREFIX + "/log"): RouteRule((P.VIEW,)),
    ("GET", PREFIX + "/ws"): RouteRule((P.VIEW,)),  # each message: check_ws()
    ("GET", PREFIX + "/openapi.json"): RouteRule(),
    ("GET", "/metrics"): RouteRule((P.VIEW,)),
    ("POST", PREFIX + "/auth/logout"): RouteRule(),
    ("POST", PREFIX + "/auth/password"): RouteRule(),
    ("GET", PREFIX + "/auth/tokens"): RouteRule(),
    ("POST", PREFIX + "/auth/tokens"): RouteRule(),
    ("DELETE", PREFIX + "/auth/tokens/{id}"): RouteRule(),
    ("GET", PREFIX + "/users"): RouteRule((P.USERS,)),
    ("POST", PREFIX + "/users"): RouteRule((P.USERS,)),
    ("GET", PREFIX + "/users/{name}"): RouteRule((P.USERS,)),
    ("PATCH", PREFIX + "/users/{name}"): RouteRule((P.USERS,)),
    ("DELETE", PREFIX + "/users/{name}"): RouteRule((P.USERS,)),
}

# Reachable without logging in (a user is still resolved when credentials come along).
PUBLIC: frozenset[tuple[str, str]] = frozenset(
    {
        ("GET", PREFIX + "/health"),
        ("GET", PREFIX + "/auth/state"),
        ("POST", PREFIX + "/auth/setup"),
        ("POST", PREFIX + "/auth/login"),
        ("GET", "/"),
    }
)
# Prefix resources (add_static) whose files are public: the UI; its data needs a login.
# Matched on the resource the router chose, never on the raw path ("/static/../api").
PUBLIC_PREFIXES = frozenset({"/static"})

# Websocket message types (web/ws.py) → what they need. The port: a "switch" message's
# own, the km-focused port for "input", none for the rest ("on some port").
WS_PERMISSIONS: dict[str, Permission] = {
    "connect": P.VIEW,  # the upgrade itself: state and log stream out
    "ping": P.VIEW,
    "input": P.TYPE,
    "release": P.VIEW,  # lets go of this client's own keys only: never refused for rights
    "switch": P.SWITCH,
}


# -- helpers for route handlers, the websocket and api.origin_of -------------------------


def refused_cross_site(accounts: Accounts) -> Callable[[web.Request, str], None]:
    """The perimeter's ``refused`` hook: a cross-site refusal goes to the audit log."""

    def refused(request: web.Request, reason: str) -> None:
        accounts.refused(http_origin(request), reason, method=request.method, path=request.path)

    return refused


def user_of(request: web.Request) -> User:
    user: User | None = request.get(USER)
    if user is None:
        raise AuthError("log in first")
    return user


def origin_user(request: web.Request) -> str | None:
    """The user name for ``Origin(..., user=...)``."""
    user: User | None = request.get(USER)
    return user.name if user is not None else None


def http_origin(request: web.Request) -> Origin:
    return Origin(Source.HTTP, detail=request.remote or "", user=origin_user(request))


def check(request: web.Request, permission: Permission, port: str | None = None) -> User:
    """Authorize inside a handler (e.g. a storage route once it knows its port); a
    refusal is logged and raised (AuthError → 401, PermissionDenied → 403)."""
    try:
        authorize(request.get(USER), permission, port)
    except (AuthError, PermissionDenied) as exc:
        request.app[ACCOUNTS].refused(
            http_origin(request), str(exc), method=request.method, path=request.path, port=port
        )
        raise
    return user_of(request)


def authorize_ws(user: User | None, message_type: str, port: str | None) -> None:
    """May ``user`` send a websocket message of this type for ``port``?"""
    permission = WS_PERMISSIONS.get(message_type)
    if user is None:
        raise AuthError("log in first")
    if permission is None:
        raise InputError(f"unknown websocket message type {message_type[:32]!r}")
    authorize(user, permission, port)


def check_ws(request: web.Request, message_type: str, port: str | None) -> User:
    """Per websocket message: the login is still in force (not logged out, expired or
    changed password) and allows this message; refusals are logged."""
    accounts = request.app[ACCOUNTS]
    credential: Credential | None = request.get(CREDENTIAL)
    try:
        user = accounts.recheck(credential)
        authorize_ws(user, message_type, port)
    except (AuthError, PermissionDenied) as exc:
        accounts.refused(http_origin(request), str(exc), ws=message_type[:32], port=port)
        raise
    return user


def ws_authorizer() -> Callable[[web.Request, Mapping[str, Any]], None]:
    """The ``app[web.ws.AUTHORIZE]`` hook: ``check_ws`` with each message's port."""

    def authorize_message(request: web.Request, message: Mapping[str, Any]) -> None:
        kind = message.get("type")
        if not isinstance(kind, str):
            raise InputError('a message must be a JSON object like {"type": "ping"}')
        # "input" is checked per routed event on the port it reaches (core.guard)
        raw = message.get("port") if kind == "switch" else None
        check_ws(request, kind, _canonical_or_none(raw))

    return authorize_message


def ws_viewer(request: web.Request) -> User | None:
    """The ``app[web.ws.VIEWER]`` hook: the client's account as it is now (a narrowed
    view applies to the pushes at once), None when the login ended."""
    try:
        return request.app[ACCOUNTS].recheck(request.get(CREDENTIAL))
    except AuthError:
        return None


def set_session_cookie(request: web.Request, response: web.StreamResponse, secret: str) -> None:
    accounts = request.app[ACCOUNTS]
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        httponly=True,
        samesite="Strict",
        secure=request.secure,
        path="/",
        max_age=int(accounts.sessions.policy.absolute),
    )


def clear_session_cookie(request: web.Request, response: web.StreamResponse) -> None:
    response.del_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="Strict", secure=request.secure
    )


# -- the middleware ------------------------------------------------------------------------


def auth_middleware(
    accounts: Accounts,
    *,
    rules: Mapping[tuple[str, str], RouteRule] = ROUTE_PERMISSIONS,
    public: frozenset[tuple[str, str]] = PUBLIC,
    public_prefixes: frozenset[str] = PUBLIC_PREFIXES,
) -> Middleware:
    """Identify the caller and check the route's permissions; the port a switch or
    an input event resolves to is checked again in the guarded path (core.guard)."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        request[USER] = request[CREDENTIAL] = None
        try:
            if CREDENTIAL_PARAMS & set(request.query):
                raise InputError(
                    "credentials go in a cookie or an Authorization header, never in a URL"
                )
            method = "GET" if request.method == "HEAD" else request.method
            resource = request.match_info.route.resource
            pattern = resource.canonical if resource is not None else request.path
            found, presented = _identify(request, accounts)
            if found is not None:
                request[USER], request[CREDENTIAL] = found
            is_public = (method, pattern) in public or (
                resource is not None and pattern in public_prefixes
            )
            if not is_public and found is None:
                if presented:  # a stale cookie or a revoked token: say so, clear the cookie
                    accounts.refused(
                        http_origin(request),
                        "expired or unknown credential",
                        method=request.method,
                        path=request.path,
                    )
                    return _unauthorized(request, "the session has ended; log in again")
                raise AuthError("log in first")
            if not is_public and resource is not None:
                await _check_route(request, rules.get((method, pattern)), method, pattern)
            return await handler(request)
        except LoginThrottledError as exc:
            response = error_response(429, exc.code, str(exc))
            response.headers["Retry-After"] = str(max(1, round(exc.retry_after)))
            return response

    return middleware


def _identify(
    request: web.Request, accounts: Accounts
) -> tuple[tuple[User, Credential] | None, bool]:
    """(the user and credential, or None; whether any credential was presented)."""
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or len(token) > MAX_CREDENTIAL_LEN:
            return None, True
        return accounts.resolve_bearer(token), True
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None, False
    return accounts.resolve_session(cookie), True


def _unauthorized(request: web.Request, message: str) -> web.Response:
    response = error_response(401, AuthError.code, message)
    if SESSION_COOKIE in request.cookies:
        clear_session_cookie(request, response)
    return response


async def _check_route(
    request: web.Request,
    rule: RouteRule | None,
    method: str,
    pattern: str,
) -> None:
    user = user_of(request)
    if rule is None:  # a route nobody gave a rule: fail closed, admins only
        if user.role is not Role.ADMIN:
            reason = f"{method} {pattern} has no permission rule; admins only"
            request.app[ACCOUNTS].refused(
                http_origin(request), reason, method=request.method, path=request.path
            )
            raise PermissionDenied(reason)
        return
    port = await _port_for(request, rule)
    for permission in rule.needs:
        check(request, permission, port)


async def _port_for(request: web.Request, rule: RouteRule) -> str | None:
    raw: object = None
    match rule.port:
        case PortFrom.NONE:
            return None
        case PortFrom.MATCH:
            raw = request.match_info.get(rule.key)
        case PortFrom.BODY:
            try:  # the handler reads the (cached) body again and reports its errors
                body = client_json.loads(await read_body(request) or b"null")
            except InputError:
                body = None
            raw = body.get("port") if isinstance(body, dict) else None
    return _canonical_or_none(raw)


def _canonical_or_none(raw: object) -> str | None:
    try:
        return canonical_port(raw) if raw is not None else None
    except KvmError:
        return None  # not a port id ("next", garbage): the handler refuses it itself


def user_view(user: User) -> dict[str, Any]:
    return {
        "name": user.name,
        "role": str(user.role),
        "permissions": permissions_of(user),
        "ports": restrictions_json(user.ports),
        "created": user.created,
        "tokens": len(user.tokens),
    }
