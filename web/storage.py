"""The USB storage routes under /api/v1/storage (SPEC §3.4, §7).

The daemon's storage service is reached through ``StorageApi``, a Protocol defined here,
so the web edge imports no storage implementation (only the core's values and errors).
Register with ``setup(app, service)``; ``app[AUTHORIZE]`` may hold a per-port check
(``web.auth.check(request, Permission.STORAGE, port)``) called with the port each action
affects (images are unit-wide: ``None``).

Uploads (``PUT /storage/images/{name}``) are streamed to disk as they arrive. Every limit
(permission, name, size cap, quota, the disk's reserve) is checked before a byte is read,
and before ``100 Continue`` is sent to a client that asked (``Expect: 100-continue``):
the route's expect handler defers that answer to the handler, which sends it once the
checks pass. A body that grows past a limit is cut off (413 or 507), and a client that
disconnects or stalls leaves nothing behind. On shutdown uploads in progress are
cancelled (``on_shutdown``), so a stalled client cannot hold the daemon up.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable
from typing import Any, Protocol

from aiohttp import hdrs, web

from kvmswitchd.core.commands import Origin
from kvmswitchd.core.permissions import Permission
from kvmswitchd.errors import InputError, StalledError
from web.api import check_keys, origin_of, read_object
from web.errors import error_response
from web.storage_docs import OPENAPI_PATHS, OPENAPI_SCHEMAS

__all__ = [  # the OpenAPI rows live in web.storage_docs; web.app takes them from here
    "AUTHORIZE",
    "OPENAPI_PATHS",
    "OPENAPI_SCHEMAS",
    "PERMISSIONS",
    "PREFIX",
    "STORAGE",
    "UPLOAD_CHUNK",
    "StorageApi",
    "authorize",
    "defer_continue",
    "routes",
    "setup",
    "storage_of",
]

PREFIX = "/api/v1"
# Read the upload body this much at a time (each piece is one buffered file write).
UPLOAD_CHUNK = 64 * 1024

JsonObject = dict[str, Any]
Authorize = Callable[[web.Request, str | None], None]


class StorageApi(Protocol):
    """What the routes need from the daemon's storage service."""

    @property
    def max_image_size(self) -> int: ...

    def view(self, *, images: bool = True) -> JsonObject:
        """Where the storage is, who holds it and why, and (``images``) every image."""
        ...

    def images(self) -> list[JsonObject]: ...

    def attach(self, image: str, mode: str, pin: str | None, origin: Origin) -> JsonObject: ...

    def eject(self, force: bool, origin: Origin) -> JsonObject: ...

    def pin(self, port: str | None, force: bool, origin: Origin) -> JsonObject: ...

    async def create_image(self, name: str, size: int, origin: Origin) -> JsonObject: ...

    def check_upload(self, name: str, length: int | None, origin: Origin) -> None:
        """Raise unless this upload may start: name, size cap, quota, free space."""
        ...

    async def upload_image(
        self, name: str, chunks: AsyncIterable[bytes], length: int | None, origin: Origin
    ) -> JsonObject: ...

    async def cancel_uploads(self) -> None:
        """Abort every upload still receiving (shutdown)."""
        ...

    async def set_read_only(self, name: str, read_only: bool, origin: Origin) -> JsonObject: ...

    async def delete_image(self, name: str, origin: Origin) -> None: ...


STORAGE: web.AppKey[StorageApi] = web.AppKey("storage")
AUTHORIZE: web.AppKey[Authorize] = web.AppKey("storage_authorize")

routes = web.RouteTableDef()


def setup(app: web.Application, service: StorageApi) -> None:
    """Register the storage routes and the service they call."""
    app[STORAGE] = service
    app.add_routes(routes)
    app.on_shutdown.append(_cancel_uploads)


async def _cancel_uploads(app: web.Application) -> None:
    await app[STORAGE].cancel_uploads()


def storage_of(request: web.Request) -> StorageApi:
    return request.app[STORAGE]


def authorize(request: web.Request, port: str | None) -> None:
    check = request.app.get(AUTHORIZE)
    if check is not None:
        check(request, port)


def _string(data: JsonObject, key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise InputError(f"{key} must be a string")
    return value


def _flag(data: JsonObject, key: str) -> bool:
    value = data.get(key, False)
    if not isinstance(value, bool):
        raise InputError(f"{key} must be true or false")
    return value


def _port(data: JsonObject, key: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InputError(f'{key} must be a port id like "2", or null')
    return str(value)


@routes.get(PREFIX + "/storage")
async def get_storage(request: web.Request) -> web.Response:
    return web.json_response(storage_of(request).view())


@routes.get(PREFIX + "/storage/images")
async def list_images(request: web.Request) -> web.Response:
    return web.json_response({"images": storage_of(request).images()})


@routes.post(PREFIX + "/storage/images")
async def create_image(request: web.Request) -> web.Response:
    data = await read_object(request)
    check_keys(data, {"name", "size"})
    size = data.get("size")
    if isinstance(size, bool) or not isinstance(size, int):
        raise InputError("size must be a whole number of bytes (a multiple of 512)")
    authorize(request, None)
    info = await storage_of(request).create_image(_string(data, "name"), size, origin_of(request))
    return web.json_response(info, status=201)


async def defer_continue(request: web.Request) -> None:
    """The upload route's expect handler: refuse unknown expectations; send nothing yet
    (``upload_image`` sends ``100 Continue`` once the auth middleware and every limit
    have passed, so a refused client never sends its body)."""
    expect = request.headers.get(hdrs.EXPECT, "")
    if expect.lower() != "100-continue":
        raise web.HTTPExpectationFailed(text=f"unknown Expect: {expect[:80]}")


@routes.put(PREFIX + "/storage/images/{name}", expect_handler=defer_continue)
async def upload_image(request: web.Request) -> web.Response:
    service = storage_of(request)
    name, length, origin = request.match_info["name"], request.content_length, origin_of(request)
    authorize(request, None)
    service.check_upload(name, length, origin)
    if request.version >= (1, 1) and request.headers.get(hdrs.EXPECT, "").lower() == "100-continue":
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        request.writer.output_size = 0  # as aiohttp's own handler: the reply starts afresh
    try:
        info = await service.upload_image(
            name, request.content.iter_chunked(UPLOAD_CHUNK), length, origin
        )
    except StalledError as exc:
        # The client stopped sending: answer, then hang up at once (aiohttp would wait
        # another 10 s for the rest of the body, and so would a shutdown).
        reply = error_response(408, exc.code, str(exc))
        await reply.prepare(request)
        await reply.write_eof()
        request.protocol.force_close()
        return reply
    return web.json_response(info, status=201)


@routes.patch(PREFIX + "/storage/images/{name}")
async def patch_image(request: web.Request) -> web.Response:
    data = await read_object(request)
    check_keys(data, {"read_only"})
    if "read_only" not in data:
        raise InputError('nothing to change: send {"read_only": true|false}')
    authorize(request, None)
    info = await storage_of(request).set_read_only(
        request.match_info["name"], _flag(data, "read_only"), origin_of(request)
    )
    return web.json_response(info)


@routes.delete(PREFIX + "/storage/images/{name}")
async def delete_image(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    authorize(request, None)
    await storage_of(request).delete_image(name, origin_of(request))
    return web.json_response({"ok": True, "deleted": name})


@routes.post(PREFIX + "/storage/attach")
async def attach(request: web.Request) -> web.Response:
    data = await read_object(request)
    check_keys(data, {"image", "mode", "pin"})
    mode = data.get("mode", "rw")
    if not isinstance(mode, str):
        raise InputError('mode must be "ro" or "rw"')
    pin = _port(data, "pin")
    service = storage_of(request)
    authorize(request, pin if pin is not None else service.view(images=False)["focus"])
    view = service.attach(_string(data, "image"), mode, pin, origin_of(request))
    return web.json_response(dict(view, ok=True))


@routes.post(PREFIX + "/storage/eject")
async def eject(request: web.Request) -> web.Response:
    data = await read_object(request, allow_empty=True)
    check_keys(data, {"force"})
    service = storage_of(request)
    authorize(request, service.view(images=False)["port"])
    view = service.eject(_flag(data, "force"), origin_of(request))
    return web.json_response(dict(view, ok=True))


@routes.post(PREFIX + "/storage/pin")
async def pin(request: web.Request) -> web.Response:
    data = await read_object(request)
    check_keys(data, {"port", "force"})
    if "port" not in data:
        raise InputError('port is required: {"port": "2"} pins, {"port": null} follows focus')
    port = _port(data, "port")
    service = storage_of(request)
    authorize(request, port if port is not None else service.view(images=False)["focus"])
    view = service.pin(port, _flag(data, "force"), origin_of(request))
    return web.json_response(dict(view, ok=True))


# -- what web/auth.py's ROUTE_PERMISSIONS needs (the OpenAPI rows are in web.storage_docs) --

# (method, path) → the permission the route needs (unit-wide rule; AUTHORIZE adds the port).
PERMISSIONS: dict[tuple[str, str], Permission] = {
    ("GET", PREFIX + "/storage"): Permission.VIEW,
    ("GET", PREFIX + "/storage/images"): Permission.VIEW,
    ("POST", PREFIX + "/storage/images"): Permission.STORAGE,
    ("PUT", PREFIX + "/storage/images/{name}"): Permission.STORAGE,
    ("PATCH", PREFIX + "/storage/images/{name}"): Permission.STORAGE,
    ("DELETE", PREFIX + "/storage/images/{name}"): Permission.STORAGE,
    ("POST", PREFIX + "/storage/attach"): Permission.STORAGE,
    ("POST", PREFIX + "/storage/eject"): Permission.STORAGE,
    ("POST", PREFIX + "/storage/pin"): Permission.STORAGE,
}
