"""The aiohttp application: API routes, error mapping, body caps, static UI."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Middleware

from kvmswitchd.accounts import Accounts
from kvmswitchd.core.permissions import Permission
from web import api, auth, metrics, openapi, perimeter, users, ws
from web import storage as storage_api
from web.errors import error_middleware
from web.service import KvmService

# The storage routes bring their own documentation and permission rules.
openapi.OPERATIONS.update(storage_api.OPENAPI_PATHS)
openapi.SCHEMAS.update(storage_api.OPENAPI_SCHEMAS)
auth.ROUTE_PERMISSIONS.update(
    {key: auth.RouteRule((permission,)) for key, permission in storage_api.PERMISSIONS.items()}
)

# /metrics answers loopback clients without a login (the handler checks who may see it).
METRICS_PUBLIC = frozenset({("GET", "/metrics")})

STATIC = Path(__file__).parent / "static"


async def index(_request: web.Request) -> web.StreamResponse:
    page = STATIC / "index.html"
    if not page.exists():
        return web.Response(text="kvmswitchd: the web UI is not installed", status=404)
    return web.FileResponse(page)


def create_app(
    service: KvmService,
    *,
    max_body: int = 1 << 20,
    accounts: Accounts | None = None,
    allowed_origins: frozenset[str] = frozenset(),
    storage: storage_api.StorageApi | None = None,
    hosts: Iterable[str] = (),
    listen_host: str | None = None,
    body_timeout: float = perimeter.BODY_TIMEOUT,
) -> web.Application:
    """The app; with ``accounts`` every route but the public ones needs a login (SPEC §9).

    Without accounts (``[http] auth = false``, loopback only) everything is open, but
    the perimeter stays: ``hosts`` (``[http] hosts``), ``listen_host``, loopback names
    and the address a connection arrived on are the only ``Host`` values served (the
    last three with the port it arrived on); cross-site state changes are refused.
    """
    refused = auth.refused_cross_site(accounts) if accounts is not None else None
    middlewares: list[Middleware] = [
        error_middleware,
        perimeter.perimeter_middleware(
            perimeter.HostNames.of(hosts, listen_host), allowed_origins, refused=refused
        ),
    ]
    if accounts is not None:
        middlewares.append(auth.auth_middleware(accounts, public=auth.PUBLIC | METRICS_PUBLIC))
    app = web.Application(middlewares=middlewares, client_max_size=max_body)
    app.on_response_prepare.append(perimeter.security_headers)
    app[perimeter.BODY_TIMEOUT_KEY] = body_timeout
    expect = perimeter.expect_within(max_body)
    if accounts is not None:
        app[auth.ACCOUNTS] = accounts
        app.add_routes(perimeter.with_expect(users.routes, expect))
        app[ws.AUTHORIZE] = auth.ws_authorizer()
        app[ws.VIEWER] = auth.ws_viewer
    app[api.SERVICE] = service
    if storage is not None:
        storage_api.setup(app, storage)
        if accounts is not None:

            def authorize_storage(request: web.Request, port: str | None) -> None:
                auth.check(request, Permission.STORAGE, port)

            app[storage_api.AUTHORIZE] = authorize_storage
    app.add_routes(perimeter.with_expect(api.routes, expect))
    app.add_routes(openapi.routes)
    ws.setup(app)
    metrics.setup(app, service)
    app.router.add_get("/", index)
    if STATIC.is_dir():
        app.router.add_static("/static/", STATIC)
    return app
