"""The OpenAPI rows of the /api/v1/storage routes (``web.storage``), merged by ``web.app``."""

from __future__ import annotations

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
