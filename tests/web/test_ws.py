"""The websocket against a fake service: message shapes, limits, Origin, permissions."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from hypothesis import given
from hypothesis import strategies as st

from kvmswitchd.core.commands import Origin, Source, SwitchTo
from kvmswitchd.errors import PermissionDenied
from tests.web.conftest import FakeService, closed, receive, serve
from web import perimeter, ws

WS = "/api/v1/ws"
Client = TestClient[Any, Any]


async def test_full_state_is_the_first_message_on_connect(
    client: Client, service: FakeService
) -> None:
    async with client.ws_connect(WS) as sock:
        assert await receive(sock) == {"type": "state", "state": service.state()}


async def test_state_changes_and_log_entries_are_forwarded_in_order(
    client: Client, service: FakeService
) -> None:
    async with client.ws_connect(WS) as sock:
        await receive(sock)
        entry = {"seq": 7, "kind": "switch", "source": "serial", "ports": ["2"], "detail": {}}
        service.emit({"type": "log", "entry": entry})
        await service.execute(SwitchTo("3"), service_origin())
        assert await receive(sock) == {"type": "log", "entry": entry}
        update = await receive(sock)
        assert update["type"] == "state"
        assert update["state"]["focus"]["km"] == "3"


def service_origin() -> Origin:
    return Origin(Source.SERIAL, "test")


async def test_every_client_gets_every_broadcast(client: Client, service: FakeService) -> None:
    async with client.ws_connect(WS) as one, client.ws_connect(WS) as two:
        await receive(one)
        await receive(two)
        assert ws.client_count(client.app) == 2
        service.emit({"type": "log", "entry": {"seq": 1}})
        assert (await receive(one))["entry"] == {"seq": 1}
        assert (await receive(two))["entry"] == {"seq": 1}
    assert service.listeners == []  # the last client gone, the hub unsubscribes


async def test_input_is_typed_into_the_service_and_acked_with_the_id(
    client: Client, service: FakeService
) -> None:
    events = [{"type": "EV_KEY", "code": "KEY_A", "value": 1}]
    async with client.ws_connect(WS) as sock:
        await receive(sock)
        await sock.send_json({"type": "input", "text": "hi", "events": events, "id": 5})
        assert await receive(sock) == {"type": "ack", "id": 5, "port": "1", "inputs": 3}
    text, sent, origin = service.typed[0]
    assert (text, sent) == ("hi", events)
    assert origin.source is Source.HTTP
    assert origin.detail.startswith("ws ")


async def test_input_without_an_id_gets_no_reply(client: Client, service: FakeService) -> None:
    async with client.ws_connect(WS) as sock:
        await receive(sock)
        await sock.send_json({"type": "input", "text": "a"})
        await sock.send_json({"type": "ping", "id": "p"})
        assert await receive(sock) == {"type": "pong", "id": "p"}
    assert [t for t, _, _ in service.typed] == ["a"]


async def test_switch_message_runs_a_switch_and_an_unknown_port_is_an_error(
    client: Client, service: FakeService
) -> None:
    async with client.ws_connect(WS) as sock:
        await receive(sock)
        await sock.send_json({"type": "switch", "port": "2", "channels": ["video"], "id": 1})
        assert (await receive(sock))["state"]["focus"]["video"] == "2"
        assert await receive(sock) == {"type": "ack", "id": 1, "message": "switched"}
        await sock.send_json({"type": "switch", "port": "9", "id": 2})
        reply = await receive(sock)
        assert reply == {"type": "error", "error": "unknown_port", "message": "no port 9", "id": 2}
    command, _ = service.executed[0]
    assert command == SwitchTo("2", ("video",), False)


BAD_MESSAGES: list[tuple[str | bytes, str]] = [
    ("{not json", "malformed JSON"),
    ("[1, 2]", "JSON object"),
    ('"ping"', "JSON object"),
    ("{}", "type is required"),
    ('{"type": 5}', "type is required"),
    ('{"type": "dance"}', "unknown message type"),
    ('{"type": "input"}', "text and/or events"),
    ('{"type": "input", "text": 5}', "text must be a string"),
    ('{"type": "input", "events": "KEY_A"}', "events must be a list"),
    ('{"type": "input", "events": [1]}', "events must be a list"),
    ('{"type": "input", "text": "a", "colour": "red"}', "unknown field 'colour'"),
    ('{"type": "switch"}', "port is required"),
    ('{"type": "switch", "port": true}', "port is required"),
    ('{"type": "switch", "port": "2", "channels": "km"}', "channels must be a list"),
    ('{"type": "switch", "port": "2", "force": "yes"}', "force must be true or false"),
    ('{"type": "ping", "id": [1]}', "id must be a string or an integer"),
    ('{"type": "ping", "id": "' + "x" * 65 + '"}', "id is longer"),
    (b"\x00\x01", "JSON text messages"),
]


async def test_bad_messages_get_error_replies_and_the_socket_stays_open(
    client: Client, service: FakeService
) -> None:
    async with client.ws_connect(WS) as sock:
        await receive(sock)
        for data, expected in BAD_MESSAGES:
            if isinstance(data, bytes):
                await sock.send_bytes(data)
            else:
                await sock.send_str(data)
            reply = await receive(sock)
            assert reply["type"] == "error", data
            assert reply["error"] == "bad_request", data
            assert expected in reply["message"], (data, reply)
        await sock.send_json({"type": "ping", "id": 1})
        assert await receive(sock) == {"type": "pong", "id": 1}
    assert service.typed == []
    assert service.executed == []


async def test_a_failing_service_is_an_internal_error_reply_not_a_disconnect(
    client: Client,
) -> None:
    async with client.ws_connect(WS) as sock:
        await receive(sock)
        await sock.send_json({"type": "input", "text": "boom", "id": 3})
        reply = await receive(sock)
        assert (reply["error"], reply["id"]) == ("internal_error", 3)
        await sock.send_json({"type": "ping"})
        assert await receive(sock) == {"type": "pong"}


async def test_an_oversized_message_closes_the_socket_with_1009(service: FakeService) -> None:
    async with serve(service, limits=ws.Limits(max_message=1024)) as client:
        async with client.ws_connect(WS) as sock:
            await receive(sock)
            await sock.send_json({"type": "input", "text": "x" * 2000})
            msg = await closed(sock)
            assert sock.close_code == aiohttp.WSCloseCode.MESSAGE_TOO_BIG, msg
    assert service.typed == []


async def test_a_client_that_falls_behind_is_closed_with_a_reason(service: FakeService) -> None:
    async with serve(service, limits=ws.Limits(queue_size=4)) as client:
        async with client.ws_connect(WS) as sock:
            await receive(sock)
            for n in range(10):  # no await in between: the pump can't drain the queue
                service.emit({"type": "log", "entry": {"seq": n}})
            msg = await closed(sock)
            assert sock.close_code == aiohttp.WSCloseCode.POLICY_VIOLATION
            assert "too slow" in (msg.extra or "")
    assert service.listeners == []


async def test_a_flood_is_paced_not_dropped_every_message_is_handled_in_order(
    service: FakeService,
) -> None:
    limits = ws.Limits(rate=400.0, burst=3)
    async with serve(service, limits=limits) as client:
        async with client.ws_connect(WS) as sock:
            await receive(sock)
            for n in range(100):  # far over the burst, sent without waiting
                await sock.send_json({"type": "input", "text": str(n % 10)})
            await sock.send_json({"type": "ping", "id": "end"})
            assert await receive(sock) == {"type": "pong", "id": "end"}  # no error first
    assert [text for text, _, _ in service.typed] == [str(n % 10) for n in range(100)]


def test_throttle_paces_by_debt_and_refills_up_to_the_burst() -> None:
    throttle = ws.Throttle(rate=10.0, burst=2.0, now=0.0)
    assert throttle.delay(0.0) == 0.0
    assert throttle.delay(0.0) == 0.0
    assert throttle.delay(0.0) == pytest.approx(0.1)  # one token short: wait its refill
    assert throttle.delay(0.1) == pytest.approx(0.1)  # the debt was paid, one more owed
    assert throttle.delay(0.2, cost=5) == pytest.approx(0.5)  # a big frame costs more
    assert throttle.delay(100.0) == 0.0  # never more than the burst comes back
    assert throttle.delay(100.0) == 0.0
    assert throttle.delay(100.0) > 0.0


def test_throttle_refuses_a_rate_that_could_never_pay_back() -> None:
    with pytest.raises(ValueError, match="rate"):
        ws.Throttle(rate=0.0, burst=1.0, now=0.0)


def test_a_frame_costs_one_token_plus_its_size_and_what_it_typed() -> None:
    limits = ws.Limits(cost_bytes=1024, cost_inputs=8)
    small = aiohttp.WSMessage(aiohttp.WSMsgType.TEXT, '{"type": "ping"}', None)
    big = aiohttp.WSMessage(aiohttp.WSMsgType.TEXT, "x" * 5000, None)
    assert (limits.cost(small), limits.cost(big)) == (1, 5)
    assert (limits.cost(small, inputs=7), limits.cost(small, inputs=4000)) == (1, 501)


def test_limits_refuse_a_rate_or_cost_that_could_never_pay_back() -> None:
    with pytest.raises(ValueError, match="rate"):
        ws.Limits(rate=0.0)
    with pytest.raises(ValueError, match="cost_inputs"):
        ws.Limits(cost_inputs=0)


async def test_a_big_paste_is_paced_by_what_it_types_not_only_by_its_size(
    service: FakeService,
) -> None:
    async with serve(service, limits=ws.Limits(rate=1000.0, burst=1.0)) as client:
        async with client.ws_connect(WS) as sock:
            await receive(sock)
            await sock.send_json({"type": "input", "text": "x" * 100, "id": 1})
            assert (await receive(sock))["inputs"] == 100  # the fake: one input per char
            # 1 + 100 // 8 tokens spent from a burst of 1: twelve owed, so pacing began
            session = next(iter(client.app[ws.HUB].sessions))
            assert session.throttle.tokens < -10


@given(
    st.lists(
        st.tuples(st.floats(min_value=0, max_value=2), st.integers(1, 20)),
        max_size=60,
    )
)
def test_a_paced_client_never_gets_more_than_burst_plus_refill(
    frames: list[tuple[float, int]],
) -> None:
    """The adapter reads a frame, handles it, then waits ``delay`` before the next read:
    by any moment, what was handled costs at most the burst plus the refill since."""
    throttle = ws.Throttle(rate=5.0, burst=3.0, now=0.0)
    now, spent = 0.0, 0
    for gap, cost in frames:
        now += gap  # the client's next frame is there (or arrives) this much later
        spent += cost
        assert spent <= 3.0 + 5.0 * now + cost + 1e-6  # handled now; the cost is owed at most
        wait = throttle.delay(now, cost)
        assert 0.0 <= wait <= cost / 5.0 + 1e-9  # the debt is never more than one frame
        now += wait
        assert spent <= 3.0 + 5.0 * now + 1e-6


@pytest.mark.parametrize(
    ("origin", "host", "scheme", "allowed"),
    [
        (None, "127.0.0.1:8080", "http", True),
        ("http://127.0.0.1:8080", "127.0.0.1:8080", "http", True),
        ("http://KVM.example:8080", "kvm.example:8080", "http", True),
        ("http://kvm.example", "kvm.example", "http", True),
        ("http://kvm.example:80", "kvm.example", "http", True),
        ("https://kvm.example", "kvm.example", "https", True),
        ("http://[::1]:8080", "[::1]:8080", "http", True),
        ("http://evil.example:8080", "127.0.0.1:8080", "http", False),
        ("http://127.0.0.1:9090", "127.0.0.1:8080", "http", False),
        ("http://localhost:8080", "127.0.0.1:8080", "http", False),
        ("https://kvm.example", "kvm.example", "http", False),
        ("null", "127.0.0.1:8080", "http", False),
        ("", "127.0.0.1:8080", "http", False),
        ("file://", "127.0.0.1:8080", "http", False),
        ("http://127.0.0.1:99999", "127.0.0.1:8080", "http", False),
        ("http://127.0.0.1:8080", None, "http", False),
    ],
)
def test_same_origin_allows_absent_or_same_host_and_port_only(
    origin: str | None, host: str | None, scheme: str, allowed: bool
) -> None:
    assert perimeter.same_origin(origin, host, scheme) is allowed


async def test_a_cross_site_origin_is_refused_with_403_before_the_upgrade(
    client: Client, service: FakeService
) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
        await client.ws_connect(WS, headers={"Origin": "http://evil.example"})
    assert caught.value.status == 403
    assert service.listeners == []
    upgrade = {"Origin": "http://evil.example", "Upgrade": "websocket", "Connection": "Upgrade"}
    async with client.get(WS, headers=upgrade) as resp:
        assert resp.status == 403
        body = await resp.json()
        assert body["error"] == "forbidden"
        assert "cross-site" in body["message"]


async def test_a_same_site_origin_is_accepted(client: Client) -> None:
    host = f"{client.host}:{client.port}"
    async with client.ws_connect(WS, headers={"Origin": f"http://{host}"}) as sock:
        assert (await receive(sock))["type"] == "state"


async def test_a_plain_get_is_a_400_json_error(client: Client) -> None:
    async with client.get(WS) as resp:
        assert resp.status == 400
        assert "websocket" in (await resp.json())["message"]


async def test_the_authorize_hook_can_refuse_messages_and_connections(
    service: FakeService,
) -> None:
    seen: list[str] = []

    def authorize(request: Any, message: Mapping[str, Any]) -> None:
        seen.append(message["type"])
        if message["type"] == "switch" or request.headers.get("X-Nobody"):
            raise PermissionDenied("not allowed to switch")

    async with serve(service, authorize=authorize) as client:
        async with client.ws_connect(WS) as sock:
            await receive(sock)
            await sock.send_json({"type": "switch", "port": "2", "id": 1})
            reply = await receive(sock)
            assert (reply["error"], reply["id"]) == ("forbidden", 1)
            await sock.send_json({"type": "ping"})
            assert await receive(sock) == {"type": "pong"}
        with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
            await client.ws_connect(WS, headers={"X-Nobody": "1"})
        assert caught.value.status == 403
    assert seen[:3] == ["connect", "switch", "ping"]
    assert service.executed == []


async def test_an_async_authorize_hook_is_awaited(service: FakeService) -> None:
    async def authorize(request: Any, message: Mapping[str, Any]) -> None:
        if message["type"] == "input":
            raise PermissionDenied("viewer")

    async with serve(service, authorize=authorize) as client:
        async with client.ws_connect(WS) as sock:
            await receive(sock)
            await sock.send_json({"type": "input", "text": "a", "id": 9})
            assert (await receive(sock))["error"] == "forbidden"
    assert service.typed == []


async def test_shutdown_closes_open_sockets_with_going_away(service: FakeService) -> None:
    async with serve(service) as client:
        sock = await client.ws_connect(WS)
        await receive(sock)
        service.emit({"type": "log", "entry": {"seq": 1}})
        stopping = asyncio.ensure_future(client.server.close())
        assert (await receive(sock))["entry"] == {"seq": 1}  # queued messages go out first
        msg = await closed(sock)
        assert (sock.close_code, msg.extra) == (
            aiohttp.WSCloseCode.GOING_AWAY,
            "server shutting down",
        )
        await stopping
        await sock.close()


async def test_messages_are_json_text_frames(client: Client) -> None:
    async with client.ws_connect(WS) as sock:
        msg = await sock.receive(timeout=5)
        assert msg.type is aiohttp.WSMsgType.TEXT
        assert json.loads(msg.data)["type"] == "state"
