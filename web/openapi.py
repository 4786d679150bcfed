"""The OpenAPI document of the JSON API, served at ``GET /api/v1/openapi.json`` (SPEC §7).

Every route under ``/api/v1`` has one row in ``OPERATIONS``, keyed ``"METHOD /path"`` with
the path exactly as aiohttp registers it (``/api/v1/ports/{id}``). A feature that adds a
route adds its row here (and any new schema to ``SCHEMAS``, any new path parameter to
``PATH_PARAMETERS``); ``tests/web/test_openapi.py`` fails for a route without a row and
for a row without a route.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from aiohttp import web

from kvmswitchd.core.accounts import MAX_TOKEN_LIFETIME, MAX_TOKEN_NAME_LEN
from web.auth import ACCOUNTS
from web.links import LINKS, link_docs, operation_id, split_key

Schema = dict[str, Any]

PREFIX = "/api/v1"
VERSION = "0.1.0"


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(required: tuple[str, ...] = (), *, closed: bool = False, **properties: Schema) -> Schema:
    """An object schema; ``closed`` forbids properties not listed (request bodies)."""
    schema: Schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    if closed:
        schema["additionalProperties"] = False
    return schema


STRING: Schema = {"type": "string"}
BOOLEAN: Schema = {"type": "boolean"}
INTEGER: Schema = {"type": "integer"}
NUMBER: Schema = {"type": "number"}
CHANNEL: Schema = {"type": "string", "enum": ["km", "video", "audio", "usb"]}
PORT_ID: Schema = {
    "type": "string",
    "description": 'A port of this unit ("3") or of a cascaded switch ("2.4").',
    "pattern": r"^[0-9]{1,2}(\.[0-9]{1,2})?$",
    "examples": ["1", "2.4"],
}

# Shared shapes, published under components/schemas and used through ref().
SCHEMAS: dict[str, Schema] = {
    "Error": obj(
        ("error", "message"),
        error={"type": "string", "description": "A stable code: bad_request, unknown_port..."},
        message={"type": "string", "description": "What went wrong, for a human."},
    ),
    "Leds": obj(("num", "caps", "scroll"), num=BOOLEAN, caps=BOOLEAN, scroll=BOOLEAN),
    "Focus": obj(
        ("km", "video", "audio", "usb"), km=STRING, video=STRING, audio=STRING, usb=STRING
    ),
    "Port": obj(
        ("id", "name", "focus", "warnings"),
        id=STRING,
        name=STRING,
        target=STRING,
        keyboard=STRING,
        nkro=BOOLEAN,
        mouse=STRING,
        video=STRING,
        audio=STRING,
        focus={"type": "array", "items": CHANNEL, "description": "Channels focused here."},
        leds=ref("Leds"),
        warnings={"type": "array", "description": "Problems to show (black-screen risk...)."},
        power=ref("Power"),
    ),
    "Power": obj(
        ("online", "status"),
        online={"type": "boolean", "description": "The VM answers QMP."},
        status={
            "type": "string",
            "description": 'QEMU\'s run state (query-status: "running", "paused", '
            '"shutdown"...), or "offline" when no VM answers.',
        },
        vm_name={"type": ["string", "null"]},
        qmp={"type": "string", "description": "The VM's QMP socket."},
        last_event={"type": ["string", "null"], "description": "The last run-state event."},
        actions={"type": "array", "items": {"type": "string"}},
    ),
    "State": obj(
        ("ports", "focus"),
        ports={"type": "array", "items": ref("Port")},
        focus=ref("Focus"),
        scan=obj(("on",), on=BOOLEAN, dwell=NUMBER),
        console=obj(leds=ref("Leds"), monitor=STRING),
        storage={
            "type": "object",
            "description": "The USB storage: the image, where it is, and why it is held "
            "(the same document as GET /storage).",
        },
        serial={"type": "array", "items": ref("SerialEndpoint")},
        tesmart=ref("TesmartUnit"),
        syslog={
            "description": "Forwarding to the syslog collector ([syslog] configured).",
            **obj(
                ("target", "connected", "queued", "sent", "dropped"),
                target={"type": "string", "examples": ["tls://logs.example:6514"]},
                connected=BOOLEAN,
                queued={**INTEGER, "description": "Records waiting for the collector."},
                sent=INTEGER,
                dropped={**INTEGER, "description": "Records dropped: the queue was full."},
                reconnects=INTEGER,
                failures=INTEGER,
                last_error={"type": ["string", "null"]},
            ),
        },
        lease={
            "description": "The ATEN control link holding the unit (null: none). Session "
            "and user are shown to readers who may view every port.",
            "anyOf": [{"type": "null"}, ref("Lease")],
        },
    ),
    "SerialEndpoint": obj(
        ("name", "endpoint", "dialect"),
        name=STRING,
        endpoint=STRING,
        dialect={"type": "string", "enum": ["text", "tesmart", "aten"]},
        modem=BOOLEAN,
        path={"type": ["string", "null"], "description": "A pty's path."},
        device={"type": ["string", "null"]},
        address={"type": ["string", "null"], "description": "A TCP endpoint's HOST:PORT."},
        connected=BOOLEAN,
        clients={"type": "integer", "description": "TCP: clients connected now."},
        max_clients=INTEGER,
    ),
    "TesmartUnit": {
        **obj(
            buzzer=BOOLEAN,
            led_timeout=INTEGER,
            auto_detect=BOOLEAN,
            ip=STRING,
            gateway=STRING,
            netmask=STRING,
            port=INTEGER,
        ),
        "description": "The TESmart unit's settings, shared by every TESmart connection "
        "and saved with the state; read-only here (they change nothing on this switch).",
    },
    "Lease": obj(
        ("endpoint", "expires_in", "locks"),
        endpoint=STRING,
        session=STRING,
        user={"type": ["string", "null"]},
        held_for=NUMBER,
        expires_in=NUMBER,
        idle=NUMBER,
        locks={"type": "array", "items": STRING, "description": "Sources locked out."},
    ),
    "Outcome": obj(("ok", "state"), ok={"const": True}, message=STRING, state=ref("State")),
    "Health": obj(("ok",), ok=BOOLEAN, ports=INTEGER),
    "Target": obj(
        ("port",),
        port=STRING,
        text={"type": "string", "description": "The emulated computer's text screen."},
        pointer=obj(
            ("x", "y"),
            x=INTEGER,
            y=INTEGER,
            buttons={"type": "array", "items": INTEGER},
            clicks={"type": "object", "additionalProperties": INTEGER},
            wheel=INTEGER,
        ),
        pressed={"type": "array", "items": INTEGER},
        leds=ref("Leds"),
        mode=STRING,
    ),
    "InputEvent": obj(
        ("type", "code"),
        closed=True,
        type={"type": ["string", "integer"], "examples": ["EV_KEY", "EV_REL", "EV_SYN"]},
        code={"type": ["string", "integer"], "examples": ["KEY_A", "REL_X", "SYN_REPORT"]},
        value={"type": "integer", "minimum": -(2**31), "maximum": 2**31 - 1},
    ),
    "LogEntry": obj(
        ("seq", "time", "kind", "source", "ports", "detail"),
        seq=INTEGER,
        time={"type": "number", "description": "UNIX time in seconds."},
        kind={"type": "string", "examples": ["switch", "rename", "scan", "startup"]},
        source={"type": "string", "examples": ["hotkey", "button", "serial", "http", "scan"]},
        ports={"type": "array", "items": STRING},
        user={"type": ["string", "null"]},
        detail={"type": "object"},
    ),
}

# The schema of each ``{name}`` path parameter (any other name is a plain string).
PATH_PARAMETERS: dict[str, Schema] = {
    "id": PORT_ID,
    "n": {
        "type": "string",
        "description": "A front-panel button: a port number, next or prev.",
        "examples": ["2", "next", "prev"],
    },
}

ERROR_TEXT = {
    400: "Bad input: malformed JSON, a wrong field or value.",
    401: "Not signed in.",
    403: "Not allowed (permissions, or a cross-site Origin).",
    404: "No such port or object.",
    409: "Conflicts with the current state (busy, held).",
    413: "Request body too large.",
    415: "The body is not sent as application/json.",
    429: "Too many failed logins: wait (see Retry-After).",
    502: "A device or VM behind the port refused or failed the request.",
}


@dataclass(frozen=True, slots=True)
class Reply:
    description: str
    schema: Schema | None = None
    media: str = "application/json"
    others: Mapping[str, Schema] = field(default_factory=dict)  # more media types


@dataclass(frozen=True, slots=True)
class Operation:
    """One documented route: what it does, what it takes, every status it answers."""

    summary: str
    responses: Mapping[int, Reply]
    body: Schema | None = None
    query: Mapping[str, Schema] = field(default_factory=dict)
    description: str = ""
    bodies: Mapping[str, Schema] = field(default_factory=dict)  # other request media types


def ok(schema: Schema, description: str = "Success.") -> dict[int, Reply]:
    return {200: Reply(description, schema)}


def errors(*statuses: int) -> dict[int, Reply]:
    return {s: Reply(ERROR_TEXT[s], ref("Error")) for s in statuses}


def op(
    summary: str,
    *replies: Mapping[int, Reply],
    body: Schema | None = None,
    query: Mapping[str, Schema] | None = None,
    description: str = "",
    bodies: Mapping[str, Schema] | None = None,
) -> Operation:
    responses: dict[int, Reply] = {}
    for reply in replies:
        responses.update(reply)
    return Operation(summary, responses, body, query or {}, description, bodies or {})


SWITCHED = ok(ref("Outcome"), "Done (or already there); the new state.")
BINARY: Schema = {"type": "string", "format": "binary"}

# The table: one row per route. Keys are "METHOD /path" as registered with aiohttp.
OPERATIONS: dict[str, Operation] = {
    f"GET {PREFIX}/health": op("Liveness", ok(ref("Health"))),
    f"GET {PREFIX}/state": op("Ports, focus per channel, scan", ok(ref("State"))),
    f"GET {PREFIX}/ports": op(
        "Every port", ok(obj(("ports",), ports={"type": "array", "items": ref("Port")}))
    ),
    f"GET {PREFIX}/ports/{{id}}": op("One port", ok(ref("Port")), errors(400, 404)),
    f"PATCH {PREFIX}/ports/{{id}}": op(
        "Rename a port",
        ok(ref("Port"), "The renamed port."),
        errors(400, 404, 413),
        body=obj(("name",), closed=True, name={"type": "string", "examples": ["Build server"]}),
    ),
    f"GET {PREFIX}/ports/{{id}}/target": op(
        "What the emulated computer behind a port has received",
        ok(ref("Target")),
        errors(400, 404),
    ),
    f"GET {PREFIX}/ports/{{id}}/screen": op(
        "The port's current frame",
        {200: Reply("A PNG image.", BINARY, media="image/png")},
        errors(400, 404),
        description="404 when the port's target has no screen.",
    ),
    f"GET {PREFIX}/ports/{{id}}/edid": op(
        "The EDID the port presents",
        {
            200: Reply(
                "Binary (default), or JSON for format=hex / format=json.",
                BINARY,
                media="application/octet-stream",
                others={"application/json": {"type": "object"}},
            )
        },
        errors(400, 404),
        query={"format": {"type": "string", "enum": ["binary", "hex", "json"]}},
    ),
    f"PUT {PREFIX}/ports/{{id}}/edid": op(
        "Set the port's EDID: a preset, a blob, back to default; or its idle monitor",
        ok({"type": "object"}, "The port's EDID view."),
        errors(400, 404, 409, 413),
        body=obj(
            closed=True,
            preset={"type": "string", "examples": ["1080p60"]},
            hex={"type": "string", "maxLength": 2048},
            base64={"type": "string", "maxLength": 1400},
            default=BOOLEAN,
            idle_monitor=BOOLEAN,
        ),
        bodies={"application/octet-stream": BINARY},
        description="Send one of preset, hex, base64 or default; or a raw EDID as "
        "application/octet-stream.",
    ),
    f"POST {PREFIX}/ports/{{id}}/power": op(
        "A power action for the port's machine (a qemu VM)",
        SWITCHED,
        errors(400, 403, 404, 409, 413, 502),
        body=obj(
            ("action",),
            closed=True,
            action={
                "type": "string",
                "enum": ["on", "off", "hard-off", "reset", "pause", "resume"],
                "description": "off: the ACPI power button; hard-off: QEMU quits; on: cont "
                "for a paused or shut-down VM (QEMU cannot start a VM that has quit).",
            },
        ),
        description="Needs the power permission on the port. 400 for a port without a "
        "power path, 409 when the VM is not running, 502 when QEMU refused the command.",
    ),
    f"POST {PREFIX}/switch": op(
        "Switch focus to a port",
        SWITCHED,
        errors(400, 404, 409, 413),
        body=obj(
            ("port",),
            closed=True,
            port={"type": ["string", "integer"], "examples": ["2", "2.4"]},
            channels={"type": "array", "items": CHANNEL, "minItems": 1},
            force={"type": "boolean", "description": "Move USB storage even if in use."},
        ),
        description="Channels default to all four. Switching to the active port is a no-op.",
    ),
    f"POST {PREFIX}/switch/next": op("Next port (km-focus group)", SWITCHED, errors(400, 409)),
    f"POST {PREFIX}/switch/prev": op("Previous port (km-focus group)", SWITCHED, errors(400, 409)),
    f"POST {PREFIX}/scan": op(
        "Start or stop auto-scan (video focus only)",
        SWITCHED,
        errors(400, 413),
        body=obj(closed=True, on=BOOLEAN, dwell={"type": "number", "exclusiveMinimum": 0}),
    ),
    f"DELETE {PREFIX}/serial/lease": op(
        "Break the ATEN control link that locks the unit (admins; logged)",
        ok(obj(("ok", "message"), ok={"const": True}, message=STRING)),
        errors(403, 404),
    ),
    f"POST {PREFIX}/buttons/{{n}}": op(
        "Press a front-panel button (source: button)", SWITCHED, errors(400, 404, 409)
    ),
    f"POST {PREFIX}/console/events": op(
        "Inject console input (passes through hotkey detection)",
        ok(obj(("ok", "accepted"), ok={"const": True}, accepted=INTEGER)),
        errors(400, 413),
        body=obj(("events",), closed=True, events={"type": "array", "items": ref("InputEvent")}),
    ),
    f"POST {PREFIX}/input": op(
        "Type text and/or send events to the km-focused port (no hotkeys)",
        ok(obj(("ok", "port", "inputs"), ok={"const": True}, port=STRING, inputs=INTEGER)),
        errors(400, 413),
        body=obj(
            closed=True,
            text={"type": "string", "description": "Typed with a US layout.", "maxLength": 16384},
            events={"type": "array", "items": ref("InputEvent")},
        )
        | {"minProperties": 1},
    ),
    f"GET {PREFIX}/log": op(
        "The event log, oldest first",
        ok(obj(("entries",), entries={"type": "array", "items": ref("LogEntry")})),
        errors(400),
        query={
            "since": {"type": "number", "description": "UNIX time."},
            "kind": {"type": "string", "description": "Comma-separated kinds."},
            "port": STRING,
            "source": {"type": "string", "description": "Comma-separated sources."},
            "user": STRING,
            "limit": {"type": "integer", "minimum": 1, "description": "At most 1000."},
        },
    ),
    f"GET {PREFIX}/openapi.json": op("This document", ok({"type": "object"})),
    f"GET {PREFIX}/ws": op(
        "Websocket: live state and log, keyboard/mouse input",
        {101: Reply("Switching to the websocket protocol.", None)},
        errors(400, 403),
        description=(
            "Server → client: {type: state, state}, {type: log, entry}, {type: ack, id, ...}, "
            "{type: error, error, message}. Client → server: {type: input, text?, events?}, "
            "{type: switch, port, channels?, force?}, {type: ping}; an optional id is echoed. "
            "A cross-site Origin header is refused with 403."
        ),
    ),
}

# -- accounts (SPEC §9): present when the daemon runs with authentication ---------------

USER: Schema = obj(
    ("name", "role"),
    name=STRING,
    role={"type": "string", "enum": ["admin", "operator", "viewer"]},
    permissions={"type": ["object", "array"]},
    ports={"type": ["object", "array", "null"]},
    created={"type": "number"},
    tokens=INTEGER,
)
PASSWORD: Schema = {"type": "string", "minLength": 8, "maxLength": 1024}
TOKEN_FIELDS: dict[str, Schema] = {
    "id": STRING,
    "name": STRING,
    "created": NUMBER,
    "expires": {
        "type": ["number", "null"],
        "description": "Unix time it stops working; null: never",
    },
}
TOKEN: Schema = {"type": "object", "properties": TOKEN_FIELDS, "required": list(TOKEN_FIELDS)}
TOKEN_CREATED: Schema = {
    "type": "object",
    "properties": dict(TOKEN_FIELDS, token=STRING),
    "required": [*TOKEN_FIELDS, "token"],
}
OK_ONLY: Schema = obj(("ok",), ok={"const": True})
AUTH_OPERATIONS: dict[str, Operation] = {
    f"POST {PREFIX}/auth/setup": op(
        "Create the first admin with the one-time setup token",
        {201: Reply("The admin, signed in (session cookie set).", obj(("user",), user=USER))},
        errors(400, 401, 409, 413, 429),
        body=obj(
            ("token", "name", "password"), closed=True, token=STRING, name=STRING, password=PASSWORD
        ),
    ),
    f"POST {PREFIX}/auth/login": op(
        "Sign in (sets an HttpOnly, SameSite=Strict session cookie)",
        ok(obj(("user",), user=USER)),
        errors(400, 401, 413, 429),
        body=obj(("name", "password"), closed=True, name=STRING, password=STRING),
    ),
    f"POST {PREFIX}/auth/logout": op(
        "Sign out (all=true ends every session of the user)",
        ok(obj(("ok",), ok={"const": True}, sessions_ended=INTEGER)),
        errors(400, 413),
        body=obj(closed=True, all=BOOLEAN),
    ),
    f"GET {PREFIX}/auth/state": op(
        "Is setup needed, and who is signed in",
        ok(
            obj(
                ("setup_required",),
                setup_required=BOOLEAN,
                user={"type": ["object", "null"]},
                via={"type": ["string", "null"]},
                expires={"type": ["number", "null"]},
            )
        ),
    ),
    f"POST {PREFIX}/auth/password": op(
        "Change the own password (revokes every other session and token)",
        ok(obj(("ok",), ok={"const": True}, message=STRING)),
        errors(400, 413, 429),
        body=obj(("old", "new"), closed=True, old=STRING, new=PASSWORD),
    ),
    f"POST {PREFIX}/auth/tokens": op(
        "Create a bearer token for scripts (shown once); `expires_in` seconds (1 s to 10"
        " years) make it stop working at `expires`; without it, it works until revoked",
        {201: Reply("The token; its secret is in `token`, shown only now.", TOKEN_CREATED)},
        errors(400, 409, 413),
        body=obj(
            ("name",),
            closed=True,
            name={"type": "string", "minLength": 1, "maxLength": MAX_TOKEN_NAME_LEN},
            expires_in={
                "type": ["number", "null"],
                "minimum": 1,
                "maximum": MAX_TOKEN_LIFETIME,
                "description": "seconds from now; absent or null: until revoked",
            },
        ),
    ),
    f"GET {PREFIX}/auth/tokens": op(
        "The own live bearer tokens (no secrets); an expired token is refused (401) and"
        " no longer listed",
        ok(obj(("tokens",), tokens={"type": "array", "items": TOKEN})),
    ),
    f"DELETE {PREFIX}/auth/tokens/{{id}}": op("Revoke a bearer token", ok(OK_ONLY), errors(404)),
    f"GET {PREFIX}/users": op(
        "Every user (admins)", ok(obj(("users",), users={"type": "array", "items": USER}))
    ),
    f"POST {PREFIX}/users": op(
        "Create a user (admins)",
        {201: Reply("The new user.", USER)},
        errors(400, 409, 413),
        body=obj(
            ("name", "password", "role"),
            closed=True,
            name=STRING,
            password=PASSWORD,
            role={"type": "string", "enum": ["admin", "operator", "viewer"]},
            ports={"type": ["object", "array", "null"]},
        ),
    ),
    f"GET {PREFIX}/users/{{name}}": op("One user (admins)", ok(USER), errors(404)),
    f"PATCH {PREFIX}/users/{{name}}": op(
        "Change a user's role, port permissions or password (admins)",
        ok(USER),
        errors(400, 404, 409, 413),
        body=obj(
            closed=True,
            role={"type": "string", "enum": ["admin", "operator", "viewer"]},
            ports={"type": ["object", "array", "null"]},
            password=PASSWORD,
        ),
    ),
    f"DELETE {PREFIX}/users/{{name}}": op(
        "Delete a user (admins; never the last admin)", ok(OK_ONLY), errors(404, 409)
    ),
}
OPERATIONS.update(AUTH_OPERATIONS)

# Routes anyone may call; every other operation also answers 401 (no or an expired
# login) and 403 (not permitted, or a cross-site Origin on a state-changing request).
PUBLIC_OPERATIONS = frozenset(
    {
        f"GET {PREFIX}/health",
        f"GET {PREFIX}/auth/state",
        f"POST {PREFIX}/auth/setup",
        f"POST {PREFIX}/auth/login",
    }
)


_PARAM = re.compile(r"\{(\w+)(?::[^}]*)?\}")


def _operation_doc(method: str, path: str, operation: Operation) -> Schema:
    doc: Schema = {"summary": operation.summary, "operationId": operation_id(f"{method} {path}")}
    if operation.description:
        doc["description"] = operation.description
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": PATH_PARAMETERS.get(name, STRING)}
        for name in _PARAM.findall(path)
    ]
    parameters += [
        {"name": name, "in": "query", "required": False, "schema": schema}
        for name, schema in operation.query.items()
    ]
    if parameters:
        doc["parameters"] = parameters
    if operation.body is not None:
        operation = replace(operation, responses={**errors(415), **operation.responses})
        bodies = {"application/json": operation.body, **operation.bodies}
        doc["requestBody"] = {
            "required": True,
            "content": {media: {"schema": schema} for media, schema in bodies.items()},
        }
    responses: Schema = {}
    for status, reply in sorted(operation.responses.items()):
        entry: Schema = {"description": reply.description}
        if reply.schema is not None:
            content = {reply.media: reply.schema, **reply.others}
            entry["content"] = {media: {"schema": schema} for media, schema in content.items()}
        responses[str(status)] = entry
    doc["responses"] = responses
    return doc


def document(*, with_auth: bool = True) -> Schema:
    """The whole OpenAPI 3.1 document, built from ``OPERATIONS``.

    ``with_auth`` False describes a daemon running with ``[http] auth = false``: no
    /auth and /users routes, and no 401/403 answers.
    """
    paths: dict[str, Schema] = {}
    for key, operation in OPERATIONS.items():
        if not with_auth and key in AUTH_OPERATIONS:
            continue
        method, path = split_key(key)
        documented = operation
        if with_auth and key not in PUBLIC_OPERATIONS:
            documented = replace(operation, responses={**errors(401, 403), **operation.responses})
        paths.setdefault(path, {})[method.lower()] = _operation_doc(method, path, documented)
    present = {f"{method.upper()} {path}" for path, methods in paths.items() for method in methods}
    for key in LINKS:
        method, path = split_key(key)
        entry = paths.get(path, {}).get(method.lower())
        if entry is None:
            continue
        success = min(s for s in entry["responses"] if s.startswith("2"))
        links = link_docs(key, present)
        if links:
            entry["responses"][success]["links"] = links
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "kvmswitchd",
            "version": VERSION,
            "description": "The JSON API of an IP KVM switch. Errors are "
            '{"error": code, "message": text}.',
        },
        "paths": paths,
        "components": {"schemas": SCHEMAS},
    }


routes = web.RouteTableDef()


@routes.get(PREFIX + "/openapi.json")
async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(document(with_auth=ACCOUNTS in request.app))
