"""The one place where errors become HTTP statuses and JSON bodies (SPEC §7)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from kvmswitchd.errors import (
    AuthError,
    BusyError,
    ConfigError,
    DeviceError,
    InputError,
    KvmError,
    NoSpaceError,
    NotFoundError,
    PermissionDenied,
    PortError,
    QuotaError,
    SaveError,
    StalledError,
    TooLargeError,
)

log = logging.getLogger(__name__)

STATUS: list[tuple[type[KvmError], int]] = [
    (PortError, 404),
    (NotFoundError, 404),
    (QuotaError, 413),
    (TooLargeError, 413),
    (StalledError, 408),
    (InputError, 400),
    (ConfigError, 400),
    (AuthError, 401),
    (PermissionDenied, 403),
    (BusyError, 409),
    (SaveError, 503),
    (NoSpaceError, 507),
    (DeviceError, 502),  # a device or VM failed the request (after the edge's checks)
]

# aiohttp's HTTP exceptions (raised by the edge, the router or aiohttp itself) → codes.
HTTP_CODES = {
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    413: "too_large",
    415: "unsupported_media_type",
    417: "expectation_failed",
    421: "misdirected_request",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_response(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": code, "message": message}, status=status)


STATUS_BY_CODE: dict[str, int] = {kind.code: status for kind, status in STATUS}


def status_for_code(code: str) -> int:
    """The status for an ``Outcome.error`` code (a ``KvmError.code``); unknown → 400."""
    return STATUS_BY_CODE.get(code, 400)


def status_for(exc: KvmError) -> int:
    for kind, status in STATUS:
        if isinstance(exc, kind):
            return status
    return 500


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except KvmError as exc:
        status = status_for(exc)
        if status == 500:
            log.exception("request %s %s failed", request.method, request.path)
        return error_response(status, exc.code, str(exc))
    except web.HTTPRequestEntityTooLarge as exc:
        return error_response(413, "too_large", f"request body is too large ({exc.text})")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = HTTP_CODES.get(exc.status, "http_error")
        # aiohttp's default text is "<status>: <reason>"; a text of our own says more
        default = exc.text is None or exc.text.startswith(f"{exc.status}: ")
        response = error_response(exc.status, code, exc.reason if default else str(exc.text))
        if exc.status == 408:  # the rest of a stalled body must not be waited for
            response.force_close()
        return response
