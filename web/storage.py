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
from web.openapi import (
    BOOLEAN,
    INTEGER,
    NUMBER,
    PORT_ID,
    STRING,
    Operation,
    Reply,
    Schema,
    errors,
    obj,
    ok,
    op,
    ref,
)

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


# -- what web/auth.py's ROUTE_PERMISSIONS and web/openapi.py's tables need -------------------

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

NULLABLE_STRING: Schema = {"type": ["string", "null"]}
IMAGE_NAME: Schema = {
    "type": "string",
    "description": "Letters, digits, '.', '_', '+', '-'; starts with a letter or digit.",
    "pattern": r"^[A-Za-z0-9][A-Za-z0-9._+-]*$",
    "maxLength": 100,
    "examples": ["debian.img"],
}
CREATED_TEXT = "Created; the new image (sha256 of an upload as received)."
NO_SPACE: dict[int, Reply] = {
    507: Reply(
        "Not enough free space: the state disk keeps a reserve free for state saves and "
        "logins (the message has the numbers).",
        ref("Error"),
    )
}
STALLED: dict[int, Reply] = {
    408: Reply("The client sent nothing for the upload idle timeout.", ref("Error"))
}

OPENAPI_SCHEMAS: dict[str, Schema] = {
    "StorageImage": obj(
        ("name", "size", "sha256", "read_only", "attached"),
        name=STRING,
        size=INTEGER,
        sha256={"type": ["string", "null"], "description": "null: blank, or changed since."},
        read_only=BOOLEAN,
        attached={
            "type": ["object", "null"],
            "properties": {"port": STRING, "mode": STRING, "pinned": BOOLEAN},
        },
    ),
    "Storage": obj(
        ("image", "mode", "port", "pinned", "held_by", "held_reason", "pending", "locked"),
        image=NULLABLE_STRING,
        mode={"type": ["string", "null"], "enum": ["ro", "rw", None]},
        port=NULLABLE_STRING,
        pinned=BOOLEAN,
        focus=NULLABLE_STRING,
        present={"type": "boolean", "description": "A medium is loaded (not ejected)."},
        held_by={"type": ["string", "null"], "description": "The busy port keeping it."},
        held_reason={
            "type": ["string", "null"],
            "examples": ["write in flight", "medium locked by host"],
        },
        pending={"type": ["string", "null"], "description": "Where it goes once free."},
        locked=BOOLEAN,
        in_flight=INTEGER,
        busy={
            "type": ["string", "null"],
            "description": "Why it would be held if its port were asked to give it up now.",
        },
        ejected=BOOLEAN,
        quiet_period=NUMBER,
        max_image_size=INTEGER,
        images={"type": "array", "items": ref("StorageImage")},
    ),
}

_STORAGE_OK = ok(ref("Storage"), "Done; where the storage is now and who holds it.")

OPENAPI_PATHS: dict[str, Operation] = {
    f"GET {PREFIX}/storage": op("USB storage: where, who holds it and why, images", _STORAGE_OK),
    f"GET {PREFIX}/storage/images": op(
        "Every image",
        ok(obj(("images",), images={"type": "array", "items": ref("StorageImage")})),
    ),
    f"POST {PREFIX}/storage/images": op(
        "Create a blank (zero-filled) image",
        {201: Reply(CREATED_TEXT, ref("StorageImage"))},
        errors(400, 409, 413),
        NO_SPACE,
        body=obj(
            ("name", "size"),
            closed=True,
            name=IMAGE_NAME,
            size={"type": "integer", "minimum": 512, "multipleOf": 512},
        ),
        description=(
            "409: the name is taken. 413: over the image size cap or the user's quota. "
            "507: it would eat into the space kept free on the state disk."
        ),
    ),
    f"PUT {PREFIX}/storage/images/{{name}}": op(
        "Upload an image (raw bytes, streamed to disk)",
        {201: Reply(CREATED_TEXT, ref("StorageImage"))},
        errors(400, 403, 409, 413),
        STALLED,
        NO_SPACE,
        description=(
            "The body is the image itself (application/octet-stream), at least 512 bytes. "
            "Every limit (permission, name, size cap, the user's quota, free space) is "
            "checked before the body is read and before `100 Continue` is sent; a chunked "
            "body that grows past one is cut off (413, 507). A client that sends nothing "
            "for the idle timeout gets 408. An interrupted upload leaves no image and no "
            "partial file."
        ),
    ),
    f"PATCH {PREFIX}/storage/images/{{name}}": op(
        "Set an image's read-only flag",
        ok(ref("StorageImage")),
        errors(400, 404, 409, 413),
        body=obj(("read_only",), closed=True, read_only=BOOLEAN),
        description="409 while the image is attached.",
    ),
    f"DELETE {PREFIX}/storage/images/{{name}}": op(
        "Delete an image",
        ok(obj(("ok", "deleted"), ok={"const": True}, deleted=STRING)),
        errors(400, 404, 409),
        description="409 while the image is attached.",
    ),
    f"POST {PREFIX}/storage/attach": op(
        "Attach an image: it follows usb focus, or is pinned to a port",
        _STORAGE_OK,
        errors(400, 404, 409, 413),
        body=obj(
            ("image",),
            closed=True,
            image=IMAGE_NAME,
            mode={"type": "string", "enum": ["ro", "rw"], "default": "rw"},
            pin=PORT_ID | {"type": ["string", "null"]},
        ),
        description="409 while another image is attached (eject it first).",
    ),
    f"POST {PREFIX}/storage/eject": op(
        "Eject (detach) the attached image",
        ok(obj(("forced",), forced=BOOLEAN), "Ejected; the storage state."),
        errors(400, 404, 409, 413),
        body=obj(closed=True, force={"type": "boolean", "default": False}),
        description=(
            "409 while the host has I/O in flight or the medium locked; force=true ejects "
            "anyway (the host may lose data; logged)."
        ),
    ),
    f"POST {PREFIX}/storage/pin": op(
        "Pin the storage to a port, or let it follow usb focus again (port: null)",
        _STORAGE_OK,
        errors(400, 404, 409, 413),
        body=obj(
            ("port",),
            closed=True,
            port=PORT_ID | {"type": ["string", "null"]},
            force={"type": "boolean", "default": False},
        ),
        description=(
            'A busy host keeps it ("usb": "held", with the reason) until quiet or '
            "ejected; force=true moves it at once (logged)."
        ),
    ),
}
