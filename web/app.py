"""The aiohttp application: API routes, error mapping, body caps, static UI."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from web import api, openapi, ws
from web.errors import error_middleware
from web.service import KvmService

STATIC = Path(__file__).parent / "static"


async def index(_request: web.Request) -> web.StreamResponse:
    page = STATIC / "index.html"
    if not page.exists():
        return web.Response(text="kvmswitchd: the web UI is not installed", status=404)
    return web.FileResponse(page)


def create_app(service: KvmService, *, max_body: int = 1 << 20) -> web.Application:
    app = web.Application(middlewares=[error_middleware], client_max_size=max_body)
    app[api.SERVICE] = service
    app.add_routes(api.routes)
    app.add_routes(openapi.routes)
    ws.setup(app)
    app.router.add_get("/", index)
    if STATIC.is_dir():
        app.router.add_static("/static/", STATIC)
    return app
