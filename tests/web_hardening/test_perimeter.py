"""The perimeter, with auth off and on: Host allow-list (DNS rebinding), Origin and
Content-Type on state changes (CSRF), security headers, Expect: 100-continue."""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer, make_mocked_request

from tests.web.conftest import FakeService
from tests.web_hardening.conftest import Authed
from web import perimeter
from web.app import create_app

PREFIX = "/api/v1"
Client = TestClient[Any, Any]


def own(client: Client) -> str:
    return f"{client.host}:{client.port}"


# -- Host ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("127.0.0.1:8080", True),
        ("localhost:8080", True),
        ("LOCALHOST.:8080", True),
        ("[::1]:8080", True),
        ("10.0.0.5:8080", True),  # the address the connection arrived on
        ("kvm.example", True),  # configured without a port: any port (a reverse proxy)
        ("kvm.example:443", True),
        ("other.example:8443", True),  # configured with its port
        ("other.example:8080", False),
        ("127.0.0.1:9090", False),  # our names, another port: some other server
        ("localhost", False),  # port 80 implied, we listen on 8080
        ("10.0.0.6:8080", False),
        ("evil.example:8080", False),  # DNS rebinding: a foreign name
        ("127.0.0.1.evil.example:8080", False),
        ("user@127.0.0.1:8080", False),
        ("", False),
        ("x" * 400, False),
        ("[::1:8080", False),
        ("kvm.local:8080", True),  # the listen address: with the port we listen on
        ("kvm.local:9000", False),
    ],
)
def test_host_names_allow_only_configured_loopback_and_local_names(
    host: str, allowed: bool
) -> None:
    names = perimeter.HostNames.of(["kvm.example", "other.example:8443"], "kvm.local")
    got = names.allows(host, local_ip="10.0.0.5", local_port=8080, default_port=80)
    assert got is allowed


def test_an_ipv4_mapped_local_address_matches_its_ipv4_host() -> None:
    names = perimeter.HostNames()
    assert names.allows(
        "192.168.1.9:80", local_ip="::ffff:192.168.1.9", local_port=80, default_port=80
    )
    assert names.allows("192.168.1.9", local_ip="192.168.1.9", local_port=80, default_port=80)


async def test_a_foreign_host_gets_421_with_a_json_error_with_auth_off(
    fake_client: Client, service: FakeService
) -> None:
    for path in ("/", PREFIX + "/state", PREFIX + "/health"):
        resp = await fake_client.get(path, headers={"Host": f"evil.example:{fake_client.port}"})
        assert resp.status == 421
        body = await resp.json()
        assert body["error"] == "misdirected_request"
        assert "[http] hosts" in body["message"]
    resp = await fake_client.post(
        PREFIX + "/input", json={"text": "x"}, headers={"Host": "evil.example"}
    )
    assert resp.status == 421
    assert service.typed == []
    assert (await fake_client.get(PREFIX + "/state")).status == 200  # our own Host


async def test_a_foreign_host_gets_421_with_auth_on(authed: Authed) -> None:
    port = authed.url.rsplit(":", 1)[1]
    for path in ("/health", "/state", "/auth/state"):
        async with authed.http.get(
            authed.api(path), headers={"Host": f"rebind.example:{port}"}
        ) as resp:
            assert resp.status == 421, path
            assert (await resp.json())["error"] == "misdirected_request"
    async with authed.http.get(authed.api("/state"), headers={"Host": f"localhost:{port}"}) as r:
        assert r.status == 200


async def test_configured_hosts_are_served(tmp_path: Any) -> None:
    from tests.daemon.conftest import start

    daemon, _ = await start(tmp_path / "state", {"http": {"hosts": ["kvm.example"]}})
    try:
        async with aiohttp.ClientSession() as http:
            url = daemon.http_url + PREFIX + "/health"
            async with http.get(url, headers={"Host": "kvm.example"}) as resp:
                assert resp.status == 200
            async with http.get(url, headers={"Host": "kvm.example.evil"}) as resp:
                assert resp.status == 421
    finally:
        await daemon.stop()


# -- Origin and Content-Type with auth off --------------------------------------------


async def test_cross_site_state_changes_are_refused_with_auth_off(
    fake_client: Client, service: FakeService
) -> None:
    for headers in (
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Origin": f"http://{own(fake_client)}", "Sec-Fetch-Site": "cross-site"},
    ):
        resp = await fake_client.post(PREFIX + "/input", json={"text": "rm -rf ~"}, headers=headers)
        assert resp.status == 403, headers
        assert "cross-site" in (await resp.json())["message"]
        resp = await fake_client.post(PREFIX + "/switch", json={"port": "2"}, headers=headers)
        assert resp.status == 403, headers
    assert service.typed == []
    assert service.executed == []
    same = {"Origin": f"http://{own(fake_client)}", "Sec-Fetch-Site": "same-origin"}
    resp = await fake_client.post(PREFIX + "/input", json={"text": "ok"}, headers=same)
    assert resp.status == 200
    resp = await fake_client.post(PREFIX + "/input", json={"text": "curl"})  # no Origin: a script
    assert resp.status == 200


async def test_a_cross_site_websocket_is_refused_with_auth_off(
    fake_client: Client, service: FakeService
) -> None:
    resp = await fake_client.get(
        PREFIX + "/ws",
        headers={"Upgrade": "websocket", "Connection": "Upgrade", "Sec-Fetch-Site": "cross-site"},
    )
    assert resp.status == 403
    assert service.listeners == []


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",  # what a cross-site form or no-cors fetch sends without a preflight
        "text/plain;charset=UTF-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        None,  # a no-cors fetch of a Blob without a type sends no Content-Type at all
    ],
)
async def test_a_json_route_refuses_a_body_that_is_not_sent_as_json(
    fake_client: Client, service: FakeService, content_type: str | None
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    body = b'{"text": "typed by another site"}'
    if content_type is None:
        # aiohttp's client adds a type for bytes; a raw request shows the header is absent
        reader, writer = await asyncio.open_connection(fake_client.host, fake_client.port)
        writer.write(
            b"POST /api/v1/input HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n"
            b"Connection: close\r\n\r\n%s" % (own(fake_client).encode(), len(body), body)
        )
        head = await reader.readline()
        writer.close()
        assert head.startswith(b"HTTP/1.1 415"), head
    else:
        resp = await fake_client.post(PREFIX + "/input", data=body, headers=headers)
        assert resp.status == 415
        reply = await resp.json()
        assert reply["error"] == "unsupported_media_type"
        assert "application/json" in reply["message"]
    assert service.typed == []


@pytest.mark.parametrize("path", ["/switch/next", "/switch/prev", "/scan", "/buttons/2"])
async def test_a_form_typed_body_is_refused_on_routes_that_read_no_json(
    fake_client: Client, service: FakeService, path: str
) -> None:
    """What an old browser without Origin would send cross-site: never acted on."""
    resp = await fake_client.post(PREFIX + path, data=b"x", headers={"Content-Type": "text/plain"})
    assert resp.status == 415
    assert service.executed == []


async def test_json_with_a_charset_is_accepted(fake_client: Client, service: FakeService) -> None:
    resp = await fake_client.post(
        PREFIX + "/input",
        data=b'{"text": "hi"}',
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert resp.status == 200
    assert service.typed[0][0] == "hi"


def test_the_origin_check_honours_configured_origins() -> None:
    request = make_mocked_request(
        "POST", "/x", headers={"Host": "127.0.0.1:8080", "Origin": "https://kvm.example"}
    )
    perimeter.check_origin(request, frozenset({"https://kvm.example"}))


# -- response headers --------------------------------------------------------------------


async def test_every_response_carries_the_security_headers(fake_client: Client) -> None:
    for method, path in (
        ("GET", "/"),
        ("GET", "/static/app.js"),
        ("GET", PREFIX + "/state"),
        ("GET", PREFIX + "/no-such-route"),
        ("POST", PREFIX + "/switch"),  # a 400
    ):
        resp = await fake_client.request(method, path)
        headers = resp.headers
        assert headers["X-Frame-Options"] == "DENY", path
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"], path
        assert headers["X-Content-Type-Options"] == "nosniff", path
        assert headers["Referrer-Policy"] == "no-referrer", path
        assert "Strict-Transport-Security" not in headers, path  # plain HTTP: no HSTS


async def test_hsts_is_sent_under_tls() -> None:
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    request = make_mocked_request("GET", "/", headers={"Host": "kvm.example"}, sslcontext=tls)
    response = web.Response()
    await perimeter.security_headers(request, response)
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


# -- Expect: 100-continue ----------------------------------------------------------------


async def raw_exchange(client: Client, head: bytes) -> bytes:
    """Send a request head and read what comes back before any body is sent."""
    reader, writer = await asyncio.open_connection(client.host, client.port)
    try:
        writer.write(head)
        return await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    finally:
        writer.close()


async def test_an_over_size_body_is_refused_before_100_continue() -> None:
    service = FakeService()
    app = create_app(service, max_body=4096)
    async with TestClient(TestServer(app)) as client:
        head = (
            b"POST /api/v1/input HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
            b"Content-Length: 4097\r\nExpect: 100-continue\r\n\r\n" % own(client).encode()
        )
        reply = await raw_exchange(client, head)
        assert reply.startswith(b"HTTP/1.1 413"), reply
        assert b"Connection: close" in reply
        small = head.replace(b"4097", b"14")
        assert (await raw_exchange(client, small)).startswith(b"HTTP/1.1 100 Continue")
    assert service.typed == []


async def test_an_unknown_expectation_gets_a_json_417() -> None:
    async with TestClient(TestServer(create_app(FakeService()))) as client:
        resp = await client.post(
            PREFIX + "/input", json={"text": "x"}, headers={"Expect": "200-ok"}
        )
        assert resp.status == 417
        assert (await resp.json())["error"] == "expectation_failed"


async def test_expect_within_takes_a_per_request_limit() -> None:
    """The hook other routes (uploads) pass as their ``expect_handler``."""
    expect = perimeter.expect_within(lambda request: 10)
    request = make_mocked_request(
        "PUT", "/x", headers={"Expect": "100-continue", "Content-Length": "11"}
    )
    refused = await expect(request)
    assert refused is not None
    assert refused.status == 413
