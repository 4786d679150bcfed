"""The listener with raw sockets: a slowloris client is dropped after the header
timeout, an idle keep-alive one after the idle timeout, at capacity idle connections
make room for a new client, and with none idle a new one gets 503. The daemon raises
its soft open-file limit."""

from __future__ import annotations

import asyncio
import resource
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import pytest

from tests.web.conftest import FakeService
from web.app import create_app
from web.connections import Limits
from web.listener import UNLIMITED_SOFT, raise_open_file_limit, serve

# Small timeouts so the tests end quickly; they await the server's close, never sleep.
SHORT = 0.3
WAIT = 10.0  # a bound on how long the server may take to act


@asynccontextmanager
async def listening(
    limits: Limits, service: FakeService | None = None, body_timeout: float = 30.0
) -> AsyncIterator[tuple[str, int]]:
    app = create_app(service or FakeService(), body_timeout=body_timeout)
    runner = await serve(app, "127.0.0.1", 0, limits=limits)
    try:
        host, port = runner.addresses[0][:2]
        yield host, port
    finally:
        await runner.cleanup()


def request(port: int, path: str = "/api/v1/health") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()


async def read_response(reader: asyncio.StreamReader) -> bytes:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT)
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    return head + await asyncio.wait_for(reader.readexactly(length), WAIT)


async def closed_by_server(reader: asyncio.StreamReader) -> bool:
    """True once the server closes (EOF); raises TimeoutError if it never does."""
    data = await asyncio.wait_for(reader.read(), WAIT)
    return data == b""


async def test_a_client_that_sends_half_a_header_is_dropped_after_the_header_timeout() -> None:
    async with listening(Limits(header_timeout=SHORT, idle_timeout=60.0)) as (host, port):
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0")  # and nothing more
        assert await closed_by_server(reader)  # within WAIT: long before the idle timeout
        writer.close()


async def test_an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() -> None:
    async with listening(Limits(header_timeout=60.0, idle_timeout=SHORT)) as (host, port):
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(request(port))
        assert (await read_response(reader)).startswith(b"HTTP/1.1 200")
        assert await closed_by_server(reader)
        writer.close()


async def test_with_the_budget_full_of_idle_connections_a_new_client_is_served() -> None:
    limits = Limits(header_timeout=60.0, idle_timeout=60.0, max_connections=4)
    async with listening(limits) as (host, port):
        idle = []
        for _ in range(4):
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(request(port))
            assert (await read_response(reader)).startswith(b"HTTP/1.1 200")
            idle.append((reader, writer))  # kept alive, doing nothing
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(request(port))
        assert (await read_response(reader)).startswith(b"HTTP/1.1 200")
        assert await closed_by_server(idle[0][0])  # the longest idle made room
        for _, w in [*idle, (reader, writer)]:
            w.close()


async def test_with_the_budget_full_of_busy_connections_a_new_client_gets_503() -> None:
    limits = Limits(header_timeout=60.0, idle_timeout=60.0, max_connections=4)
    async with listening(limits) as (host, port):
        busy = []
        for _ in range(4):  # websockets: busy for as long as they are open
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(
                f"GET /api/v1/ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n".encode()
            )
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT)
            assert head.startswith(b"HTTP/1.1 101"), head
            busy.append(writer)
        reader, writer = await asyncio.open_connection(host, port)
        reply = await read_response(reader)
        assert reply.startswith(b"HTTP/1.1 503"), reply
        assert b'"error": "busy"' in reply
        assert await closed_by_server(reader)
        for w in [*busy, writer]:
            w.close()


@contextmanager
def lowered_soft_limit(low: int = 256) -> Iterator[int]:
    """The soft open-file limit lowered for the test; yields the limit it should be
    raised to (the hard limit, or UNLIMITED_SOFT under an unlimited one)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(low, soft), hard))
    try:
        yield UNLIMITED_SOFT if hard == resource.RLIM_INFINITY else hard
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_the_soft_open_file_limit_is_raised_to_the_hard_limit() -> None:
    with lowered_soft_limit() as expected:
        assert raise_open_file_limit() == expected
        assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == expected


async def test_the_daemon_raises_its_soft_open_file_limit_at_start(tmp_path: Path) -> None:
    from tests.daemon.conftest import start

    with lowered_soft_limit() as expected:
        daemon, _ = await start(tmp_path / "state")
        try:
            assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == expected
        finally:
            await daemon.stop()


@pytest.mark.parametrize(
    "path",
    ["/api/v1/input", "/api/v1/switch"],  # /switch: the auth edge reads it too
)
async def test_a_json_body_that_stalls_gets_408_and_the_connection_closes(path: str) -> None:
    service = FakeService()
    async with listening(Limits(), service, body_timeout=SHORT) as (host, port):
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(
            f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
            '{"text": "a'.encode()  # and the other 89 bytes never come
        )
        reply = await read_response(reader)
        assert reply.startswith(b"HTTP/1.1 408"), reply
        assert b"request_timeout" in reply
        assert await closed_by_server(reader)
        writer.close()
    assert service.typed == []
