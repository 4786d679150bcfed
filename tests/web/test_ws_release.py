"""Every way a websocket client goes away releases what it held (against a fake service
that records each release): closed, cut off, timed out, dropped, server shut down."""

from __future__ import annotations

from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient

from kvmswitchd.core.commands import Origin
from kvmswitchd.core.holds import Holder
from tests.web.conftest import FakeService, receive, receive_until, serve
from web import ws

WS = "/api/v1/ws"
Client = TestClient[Any, Any]
KEY_A_DOWN = [{"type": "EV_KEY", "code": "KEY_A", "value": 1}]


async def typed_holder(sock: aiohttp.ClientWebSocketResponse, service: FakeService) -> Holder:
    """Press a key over ``sock``; the holder the service was told it belongs to."""
    await sock.send_json({"type": "input", "events": KEY_A_DOWN, "id": "down"})
    await receive_until(sock, "ack")
    holder = service.typed_by[-1]
    assert holder is not None
    return holder


async def test_each_connection_types_as_its_own_holder(
    client: Client, service: FakeService
) -> None:
    async with client.ws_connect(WS) as one, client.ws_connect(WS) as two:
        await receive(one)
        await receive(two)
        first = await typed_holder(one, service)
        second = await typed_holder(two, service)
    assert first != second
    assert first.kind == second.kind == "ws"


async def test_a_client_closing_releases_what_it_holds(
    client: Client, service: FakeService
) -> None:
    async with client.ws_connect(WS) as sock:
        await receive(sock)
        holder = await typed_holder(sock, service)
    await service.release_seen.wait()
    assert service.released == [holder]


async def test_a_client_cut_off_without_a_close_releases_what_it_holds(
    client: Client, service: FakeService
) -> None:
    sock = await client.ws_connect(WS)
    await receive(sock)
    holder = await typed_holder(sock, service)
    sock._response.connection.transport.abort()  # type: ignore[union-attr]  # the network drops
    await service.release_seen.wait()
    assert service.released == [holder]
    await sock.close()


async def test_a_client_that_stops_answering_pings_is_timed_out_and_released(
    service: FakeService,
) -> None:
    async with serve(service, limits=ws.Limits(heartbeat=0.2)) as client:
        # autoping off: this client never answers the server's pings (a dead peer)
        async with client.ws_connect(WS, autoping=False) as sock:
            await receive(sock)
            holder = await typed_holder(sock, service)
            await service.release_seen.wait()  # without anything sent by the client
            assert service.released == [holder]


async def test_a_client_dropped_for_being_too_slow_is_released_at_once(
    service: FakeService,
) -> None:
    async with serve(service, limits=ws.Limits(queue_size=4)) as client:
        async with client.ws_connect(WS) as sock:
            await receive(sock)
            holder = await typed_holder(sock, service)
            for n in range(10):  # no await in between: the pump can't drain the queue
                service.emit({"type": "log", "entry": {"seq": n}})
            assert service.released == [holder]  # in the drop itself, before the close


async def test_server_shutdown_releases_every_client(service: FakeService) -> None:
    async with serve(service) as client:
        sock = await client.ws_connect(WS)
        await receive(sock)
        holder = await typed_holder(sock, service)
    assert holder in service.released
    await sock.close()


async def test_the_release_message_releases_this_client_and_acks(
    client: Client, service: FakeService
) -> None:
    async with client.ws_connect(WS) as sock:
        await receive(sock)
        holder = await typed_holder(sock, service)
        await sock.send_json({"type": "release", "id": 9})
        assert await receive_until(sock, "ack") == {"type": "ack", "id": 9, "released": 0}
        assert service.released == [holder]
        await sock.send_json({"type": "release", "keys": ["KEY_A"], "id": 10})
        error = await receive_until(sock, "error")
        assert (error["error"], error["id"]) == ("bad_request", 10)
        assert "unknown field 'keys'" in error["message"]


class BrokenRelease(FakeService):
    def release_client(self, client: Holder, origin: Origin) -> int:
        raise RuntimeError("a bug in the service")


async def test_a_release_that_fails_in_the_service_is_logged_and_the_socket_survives() -> None:
    async with serve(BrokenRelease()) as client, client.ws_connect(WS) as sock:
        await receive(sock)
        await sock.send_json({"type": "release", "id": 1})
        assert await receive_until(sock, "ack") == {"type": "ack", "id": 1, "released": 0}
        await sock.send_json({"type": "ping", "id": 2})
        assert await receive_until(sock, "pong") == {"type": "pong", "id": 2}
