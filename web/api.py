"""The JSON API under /api/v1 (SPEC §7)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import hdrs, web

from kvmswitchd.core.accounts import User
from kvmswitchd.core.commands import (
    BreakLease,
    Origin,
    Outcome,
    Power,
    Rename,
    SetScan,
    Source,
    Step,
    SwitchTo,
)
from kvmswitchd.errors import InputError
from web import client_json
from web.auth import USER, origin_user
from web.errors import error_response, status_for_code
from web.perimeter import read_body
from web.service import KvmService

PREFIX = "/api/v1"
SERVICE = web.AppKey("service", KvmService)

routes = web.RouteTableDef()


def service_of(request: web.Request) -> KvmService:
    return request.app[SERVICE]


def origin_of(request: web.Request) -> Origin:
    return Origin(Source.HTTP, detail=request.remote or "", user=origin_user(request))


def viewer_of(request: web.Request) -> User | None:
    """Who reads (their view is filtered to the ports they may see); None: auth is off."""
    return request.get(USER)


async def read_object(request: web.Request, *, allow_empty: bool = False) -> dict[str, Any]:
    """The request body as a JSON object; 400 for anything else (nested too deep
    included), 413 when too large, 415 unless it is sent as ``application/json`` (a
    cross-site form or ``fetch`` can send ``text/plain`` without asking first), 408 when
    the body stalls."""
    body = await read_body(request)
    if not body.strip():
        if allow_empty:
            return {}
        raise InputError("request body must be a JSON object")
    if hdrs.CONTENT_TYPE not in request.headers or request.content_type != "application/json":
        raise web.HTTPUnsupportedMediaType(
            text="send the body as JSON with Content-Type: application/json"
        )
    data = client_json.loads(body)
    if not isinstance(data, dict):
        raise InputError("request body must be a JSON object")
    return data


def check_keys(data: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        # the name comes from the client: shown shortened
        raise InputError(
            f"unknown field {unknown[0][:32]!r}; expected {', '.join(sorted(allowed))}"
        )


async def outcome_response(
    outcome: Outcome, service: KvmService, request: web.Request
) -> web.Response:
    if not outcome.ok:
        return error_response(status_for_code(outcome.error), outcome.error, outcome.message)
    # Console input that arrived while the switch ran goes first: the reply (a full state
    # rebuild) can wait a loop turn, a keystroke for the new port should not.
    await asyncio.sleep(0)
    state = service.state(viewer_of(request))
    return web.json_response({"ok": True, "message": outcome.message, "state": state})


def _bool(data: dict[str, Any], key: str, default: bool) -> bool:
    value = data.get(key, default)
    if not isinstance(value, bool):
        raise InputError(f"{key} must be true or false")
    return value


@routes.get(PREFIX + "/health")
async def health(request: web.Request) -> web.Response:
    return web.json_response(service_of(request).health())


@routes.get(PREFIX + "/state")
async def state(request: web.Request) -> web.Response:
    return web.json_response(service_of(request).state(viewer_of(request)))


@routes.get(PREFIX + "/ports")
async def ports(request: web.Request) -> web.Response:
    return web.json_response({"ports": service_of(request).ports(viewer_of(request))})


@routes.get(PREFIX + "/ports/{id}")
async def port(request: web.Request) -> web.Response:
    return web.json_response(service_of(request).port(request.match_info["id"]))


@routes.patch(PREFIX + "/ports/{id}")
async def patch_port(request: web.Request) -> web.Response:
    data = await read_object(request)
    check_keys(data, {"name"})
    if "name" not in data:
        raise InputError('nothing to change: send {"name": "..."}')
    if not isinstance(data["name"], str):
        raise InputError("name must be a string")
    service = service_of(request)
    outcome = await service.execute(
        Rename(request.match_info["id"], data["name"]), origin_of(request)
    )
    if not outcome.ok:
        return await outcome_response(outcome, service, request)
    return web.json_response(service.port(request.match_info["id"]))


@routes.get(PREFIX + "/ports/{id}/target")
async def target(request: web.Request) -> web.Response:
    return web.json_response(service_of(request).target(request.match_info["id"]))


@routes.post(PREFIX + "/ports/{id}/power")
async def power(request: web.Request) -> web.Response:
    """A power action for the port's machine (on, off, hard-off, reset, pause, resume)."""
    data = await read_object(request)
    check_keys(data, {"action"})
    action = data.get("action")
    if not isinstance(action, str):
        raise InputError('action is required, e.g. {"action": "reset"}')
    service = service_of(request)
    command = Power(request.match_info["id"], action)
    return await outcome_response(
        await service.execute(command, origin_of(request)), service, request
    )


@routes.post(PREFIX + "/switch")
async def switch(request: web.Request) -> web.Response:
    data = await read_object(request)
    check_keys(data, {"port", "channels", "force"})
    if "port" not in data:
        raise InputError('port is required, e.g. {"port": "2"}')
    port_id = data["port"]
    if isinstance(port_id, bool) or not isinstance(port_id, str | int):
        raise InputError('port must be a string like "3" or "2.4"')
    channels = data.get("channels")
    if channels is not None and (
        not isinstance(channels, list) or not all(isinstance(c, str) for c in channels)
    ):
        raise InputError("channels must be a list of km, video, audio, usb")
    service = service_of(request)
    command = SwitchTo(
        str(port_id), tuple(channels) if channels else None, _bool(data, "force", False)
    )
    return await outcome_response(
        await service.execute(command, origin_of(request)), service, request
    )


@routes.post(PREFIX + "/switch/next")
async def switch_next(request: web.Request) -> web.Response:
    service = service_of(request)
    return await outcome_response(
        await service.execute(Step(1), origin_of(request)), service, request
    )


@routes.post(PREFIX + "/switch/prev")
async def switch_prev(request: web.Request) -> web.Response:
    service = service_of(request)
    return await outcome_response(
        await service.execute(Step(-1), origin_of(request)), service, request
    )


@routes.post(PREFIX + "/scan")
async def scan(request: web.Request) -> web.Response:
    data = await read_object(request)
    check_keys(data, {"on", "dwell"})
    on = _bool(data, "on", True)
    dwell = data.get("dwell")
    if dwell is not None and (isinstance(dwell, bool) or not isinstance(dwell, int | float)):
        raise InputError("dwell must be a number of seconds")
    service = service_of(request)
    command = SetScan(on, float(dwell) if dwell is not None else None)
    return await outcome_response(
        await service.execute(command, origin_of(request)), service, request
    )


@routes.post(PREFIX + "/buttons/{n}")
async def button(request: web.Request) -> web.Response:
    """A front-panel button: ``1``..``N`` selects a port, ``next``/``prev`` cycle."""
    name = request.match_info["n"]
    service = service_of(request)
    # pressed by the signed-in user: the guard checks their rights, not the console's
    origin = Origin(Source.BUTTON, detail=f"button {name}", user=origin_user(request))
    command: SwitchTo | Step = (
        Step(1 if name == "next" else -1) if name in ("next", "prev") else SwitchTo(name)
    )
    return await outcome_response(await service.execute(command, origin), service, request)


@routes.delete(PREFIX + "/serial/lease")
async def break_lease(request: web.Request) -> web.Response:
    """Break the ATEN control link that locks the unit: admins only (core.guard refuses
    anyone else, 403); the switchboard logs it."""
    outcome = await service_of(request).execute(BreakLease(), origin_of(request))
    if not outcome.ok:
        return error_response(status_for_code(outcome.error), outcome.error, outcome.message)
    return web.json_response({"ok": True, "message": outcome.message})


def _events(data: dict[str, Any]) -> list[dict[str, Any]] | None:
    events = data.get("events")
    if events is None:
        return None
    if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
        raise InputError('events must be a list of {"type", "code", "value"} objects')
    return events


@routes.post(PREFIX + "/console/events")
async def console_events(request: web.Request) -> web.Response:
    data = await read_object(request)
    check_keys(data, {"events"})
    events = _events(data)
    if events is None:
        raise InputError("events is required")
    count = service_of(request).inject_console(events, origin_of(request))
    return web.json_response({"ok": True, "accepted": count})


@routes.post(PREFIX + "/input")
async def input_(request: web.Request) -> web.Response:
    data = await read_object(request)
    check_keys(data, {"text", "events"})
    text = data.get("text")
    if text is not None and not isinstance(text, str):
        raise InputError("text must be a string")
    events = _events(data)
    if text is None and events is None:
        raise InputError("send text and/or events")
    result = service_of(request).type_input(text, events, origin_of(request))
    return web.json_response(dict(result, ok=True))


@routes.get(PREFIX + "/ports/{id}/screen")
async def screen(request: web.Request) -> web.Response:
    frame = service_of(request).screen(request.match_info["id"])
    return web.Response(body=frame, content_type="image/png", headers={"Cache-Control": "no-store"})


@routes.get(PREFIX + "/ports/{id}/edid")
async def get_edid(request: web.Request) -> web.Response:
    fmt = request.query.get("format", "binary")
    result = service_of(request).edid(request.match_info["id"], fmt)
    if isinstance(result, bytes):
        return web.Response(body=result, content_type="application/octet-stream")
    return web.json_response(result)


# An EDID is at most 4 blocks; hex or base64 of that, plus JSON, fits easily in this.
MAX_EDID_BODY = 16384


@routes.put(PREFIX + "/ports/{id}/edid")
async def put_edid(request: web.Request) -> web.Response:
    if request.content_length is not None and request.content_length > MAX_EDID_BODY:
        raise web.HTTPRequestEntityTooLarge(MAX_EDID_BODY, request.content_length)
    if request.content_type == "application/octet-stream":
        raw = await read_body(request)
        if len(raw) > MAX_EDID_BODY:
            raise web.HTTPRequestEntityTooLarge(MAX_EDID_BODY, len(raw))
        body: dict[str, Any] = {"hex": raw.hex()}
    else:
        body = await read_object(request)
    view = service_of(request).set_edid(request.match_info["id"], body, origin_of(request))
    return web.json_response(view)


@routes.get(PREFIX + "/log")
async def log(request: web.Request) -> web.Response:
    entries = service_of(request).log(dict(request.query), viewer_of(request))
    return web.json_response({"entries": entries})
