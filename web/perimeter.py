"""What every request meets before any route, with authentication on or off (SPEC §9):

- the ``Host`` allow-list against DNS rebinding (421 for a name this switch doesn't
  answer to);
- the ``Origin`` / ``Sec-Fetch-Site`` check on every state-changing request and websocket
  upgrade, so a web page the admin visits can neither POST to ``/input`` nor open the
  websocket (403);
- the security headers on every response (no framing, no sniffing, no referrer, HSTS
  under TLS);
- ``expect_within(limit)``: an ``expect_handler`` that refuses an over-size body with 413
  before ``100 Continue`` goes out.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from aiohttp import hdrs, web
from aiohttp.typedefs import Middleware
from yarl import URL

from kvmswitchd.errors import PermissionDenied
from web.errors import error_response

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Refused = Callable[[web.Request, str], None]
ExpectHandler = Callable[[web.Request], Awaitable[web.StreamResponse | None]]

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# The body types a cross-site page may send without a CORS preflight. No route takes one
# (JSON routes want application/json, uploads application/octet-stream), so a state
# change carrying one is refused even when no Origin header came along (old browsers).
SIMPLE_FORM_TYPES = frozenset(
    {"text/plain", "application/x-www-form-urlencoded", "multipart/form-data"}
)
# Names that always mean this machine; answered on the port the request arrived on.
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
# A Host header longer than this is refused unparsed (a DNS name is at most 253 bytes).
MAX_HOST_LEN = 300

# frame-ancestors 'none' and X-Frame-Options: no clickjacking of the switch's buttons.
# The UI has no build step and no inline script or style (CSSOM assignments are allowed).
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}
HSTS = "max-age=31536000"
# Seconds a client may take to send a (JSON or EDID) body once its headers are in: a
# stalled body would otherwise hold a connection busy, outside every idle timeout.
BODY_TIMEOUT = 30.0
BODY_TIMEOUT_KEY = web.AppKey("body_timeout", float)


@dataclass(frozen=True, slots=True)
class HostNames:
    """The names a request's ``Host`` may carry.

    ``names`` are configured (``[http] hosts``): ``"kvm.example"`` matches on any port
    (a reverse proxy's), ``"kvm.example:8443"`` on that port only. ``local`` names (the
    listen address), loopback names and the IP address the connection arrived on match
    with the port it arrived on only."""

    names: frozenset[str] = frozenset()
    local: frozenset[str] = LOOPBACK_NAMES

    @classmethod
    def of(cls, names: Iterable[str], listen_host: str | None = None) -> HostNames:
        local = LOOPBACK_NAMES | ({_normal(listen_host)} if listen_host else set())
        return cls(frozenset(_normal(name) for name in names if name), frozenset(local))

    def allows(
        self, host: str, *, local_ip: str | None, local_port: int | None, default_port: int
    ) -> bool:
        """``host`` is the header's value (``name``, ``name:port``, ``[v6]:port``);
        ``local_ip``/``local_port`` where the connection arrived (None: unknown);
        ``default_port`` the scheme's, for a ``host`` without a port."""
        if len(host) > MAX_HOST_LEN:
            return False
        try:
            url = URL.build(scheme="http", authority=host)
        except (ValueError, TypeError):
            return False
        name = _normal(url.raw_host or "")
        if not name or url.user is not None:
            return False
        port = url.explicit_port
        if name in self.names or f"{name}:{port or default_port}" in self.names:
            return True
        ours = name in self.local or _same_ip(name, local_ip)
        return ours and (local_port is None or (port or default_port) == local_port)


def _normal(name: str) -> str:
    name = name.strip().lower().rstrip(".")
    if name.startswith("[") and "]" in name:  # "[::1]" or "[::1]:8080"
        inner, _, rest = name[1:].partition("]")
        return inner + rest
    return name


def _same_ip(name: str, local_ip: str | None) -> bool:
    if local_ip is None:
        return False
    try:
        asked = ipaddress.ip_address(name)
        local = ipaddress.ip_address(local_ip.partition("%")[0])
    except ValueError:
        return False
    if isinstance(local, ipaddress.IPv6Address) and local.ipv4_mapped is not None:
        local = local.ipv4_mapped
    return asked == local


def _local(request: web.Request) -> tuple[str | None, int | None]:
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    if isinstance(sockname, tuple) and len(sockname) >= 2:
        return str(sockname[0]), int(sockname[1])
    return None, None


def check_host(request: web.Request, hosts: HostNames) -> None:
    """421 unless the ``Host`` header names this switch. A request without one passes: no
    browser omits it, so it cannot be a rebinding attack."""
    host = request.headers.get(hdrs.HOST)
    if host is None:
        return
    local_ip, local_port = _local(request)
    default_port = 443 if request.secure else 80
    if not hosts.allows(host, local_ip=local_ip, local_port=local_port, default_port=default_port):
        raise web.HTTPMisdirectedRequest(
            text=f"this switch does not answer to the Host {host[:64]!r}; "
            "add the name to [http] hosts"
        )


def check_origin(request: web.Request, allowed: frozenset[str] = frozenset()) -> None:
    """PermissionDenied for a cross-site browser request (CSRF, cross-site websocket).

    Requests without ``Origin`` (curl, kvmctl, scripts) pass: browsers always send it
    on the requests this guards, and such clients carry no ambient cookie."""
    if request.headers.get("Sec-Fetch-Site", "").lower() == "cross-site":
        raise PermissionDenied("cross-site request refused")
    origin = request.headers.get(hdrs.ORIGIN)
    if origin is None or origin in allowed:
        return
    if not same_origin(origin, request.host, request.scheme):
        raise PermissionDenied(f"cross-site request from {origin[:64]!r} refused")


def same_origin(origin: str | None, host: str | None, scheme: str) -> bool:
    """True when a browser's ``Origin`` names the host:port the request was sent to.

    No ``Origin`` (a script, not a browser) is allowed; ``null`` or garbage is not.
    """
    if origin is None:
        return True
    defaults = {"http": 80, "https": 443, "ws": 80, "wss": 443}
    try:
        seen = urlsplit(origin)
        asked = urlsplit(f"//{host or ''}")
        seen_port = seen.port or defaults.get(seen.scheme)
        asked_port = asked.port or defaults.get(scheme, 80)
    except ValueError:
        return False
    if seen.scheme not in defaults or not seen.hostname or not asked.hostname:
        return False
    return (seen.hostname, seen_port) == (asked.hostname, asked_port)


def is_upgrade(request: web.Request) -> bool:
    return request.headers.get(hdrs.UPGRADE, "").lower() == "websocket"


def perimeter_middleware(
    hosts: HostNames = HostNames(),
    allowed_origins: frozenset[str] = frozenset(),
    refused: Refused | None = None,
) -> Middleware:
    """Host and Origin checks for every request (runs inside ``error_middleware``);
    ``refused(request, reason)`` is told of every cross-site refusal (the audit log)."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        check_host(request, hosts)
        if request.method in UNSAFE_METHODS and request.content_type in SIMPLE_FORM_TYPES:
            raise web.HTTPUnsupportedMediaType(
                text=f"{request.content_type} bodies are not accepted: send application/json"
            )
        if request.method in UNSAFE_METHODS or is_upgrade(request):
            try:
                check_origin(request, allowed_origins)
            except PermissionDenied as exc:
                if refused is not None:
                    refused(request, str(exc))
                raise
        return await handler(request)

    return middleware


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: the headers every response carries."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    response.headers.setdefault("Content-Security-Policy", CSP)
    if request.secure:
        response.headers.setdefault("Strict-Transport-Security", HSTS)


async def read_body(request: web.Request) -> bytes:
    """The whole request body, within the app's body timeout (408 when it stalls)."""
    timeout = request.app.get(BODY_TIMEOUT_KEY, BODY_TIMEOUT)
    try:
        async with asyncio.timeout(timeout):
            return await request.read()
    except TimeoutError:
        raise web.HTTPRequestTimeout(
            text=f"the request body did not arrive within {timeout:g} s"
        ) from None


def expect_within(limit: int | Callable[[web.Request], int]) -> ExpectHandler:
    """An aiohttp ``expect_handler``: ``Expect: 100-continue`` with a ``Content-Length``
    over ``limit`` (bytes, or a function of the request) gets 413 and the connection is
    closed, before the client sends a byte of the body; other expectations get 417."""

    async def expect(request: web.Request) -> web.StreamResponse | None:
        expectation = request.headers.get(hdrs.EXPECT, "")
        if expectation.lower() != "100-continue":
            response = error_response(
                417, "expectation_failed", f"unsupported Expect: {expectation[:32]!r}"
            )
            response.force_close()
            return response
        cap = limit(request) if callable(limit) else limit
        length = request.content_length
        if length is not None and length > cap:
            response = error_response(
                413, "too_large", f"request body is too large ({length} > {cap} bytes)"
            )
            response.force_close()
            return response
        if request.version >= (1, 1):
            await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            request.writer.output_size = 0  # as aiohttp's own: the response is yet to come
        return None

    return expect


def with_expect(
    routes: Iterable[web.AbstractRouteDef], expect: ExpectHandler
) -> list[web.AbstractRouteDef]:
    """``routes`` with ``expect`` as the ``expect_handler`` of every route that has none."""
    out: list[web.AbstractRouteDef] = []
    for route in routes:
        if isinstance(route, web.RouteDef) and "expect_handler" not in route.kwargs:
            kwargs = {**route.kwargs, "expect_handler": expect}
            out.append(web.RouteDef(route.method, route.path, route.handler, kwargs))
        else:
            out.append(route)
    return out
