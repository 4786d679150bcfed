"""The websocket against the whole daemon on emulated ports, as a browser would use it."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from tests.daemon.conftest import Running
from tests.web.conftest import closed, receive, receive_until

WS = "/api/v1/ws"


async def test_connect_gets_the_same_state_as_get_state(live: Running) -> None:
    async with live.http.ws_connect(live.url + WS) as sock:
        first = await receive(sock)
    assert first == {"type": "state", "state": await live.get("/state")}


async def test_a_switch_made_over_http_arrives_as_state_and_log_messages(live: Running) -> None:
    async with live.http.ws_connect(live.url + WS) as sock:
        await receive(sock)
        await live.post("/switch", {"port": "3", "channels": ["video"]})
        got: dict[str, Any] = {}
        while set(got) != {"state", "log"}:  # the daemon logs, then notifies the new state
            message = await receive(sock)
            got[message["type"]] = message
        assert got["state"]["state"]["focus"]["video"] == "3"
        assert got["state"]["state"]["focus"]["km"] == "1"
        entry = got["log"]["entry"]
        assert (entry["kind"], entry["source"], entry["detail"]["to"]) == ("switch", "http", "3")


async def test_input_typed_over_the_websocket_lands_on_the_focused_port(live: Running) -> None:
    await live.post("/switch", {"port": "2"})
    async with live.http.ws_connect(live.url + WS) as sock:
        await receive(sock)
        await sock.send_json({"type": "input", "text": "Hi ws", "id": "t1"})
        ack = await receive_until(sock, "ack")
        assert (ack["id"], ack["port"]) == ("t1", "2")
        keys = [
            {"type": "EV_KEY", "code": "KEY_LEFTSHIFT", "value": 1},
            {"type": "EV_KEY", "code": "KEY_1", "value": 1},
            {"type": "EV_KEY", "code": "KEY_1", "value": 0},
            {"type": "EV_KEY", "code": "KEY_LEFTSHIFT", "value": 0},
        ]
        await sock.send_json({"type": "input", "events": keys, "id": "t2"})
        assert (await receive_until(sock, "ack"))["id"] == "t2"
    assert await live.text("2") == "Hi ws!"
    assert await live.text("1") == ""


async def test_a_switch_over_the_websocket_is_logged_as_coming_from_it(live: Running) -> None:
    async with live.http.ws_connect(live.url + WS) as sock:
        await receive(sock)
        await sock.send_json({"type": "switch", "port": "4", "id": 1})
        assert (await receive_until(sock, "ack"))["id"] == 1
        await sock.send_json({"type": "switch", "port": "99", "id": 2})
        error = await receive_until(sock, "error")
        assert (error["error"], error["id"]) == ("unknown_port", 2)
    assert (await live.get("/state"))["focus"]["km"] == "4"
    entries = (await live.get("/log?kind=switch"))["entries"]
    assert entries[-1]["detail"]["via"].startswith("ws ")


async def test_bad_input_over_the_websocket_is_an_error_and_the_socket_survives(
    live: Running,
) -> None:
    async with live.http.ws_connect(live.url + WS) as sock:
        await receive(sock)
        await sock.send_json({"type": "input", "events": [{"type": "EV_KEY", "code": "KEY_NOPE"}]})
        assert (await receive_until(sock, "error"))["error"] == "bad_request"
        await sock.send_json({"type": "input", "text": "snow ☃"})
        assert (await receive_until(sock, "error"))["error"] == "bad_request"
        await sock.send_json({"type": "ping", "id": 1})
        assert await receive_until(sock, "pong") == {"type": "pong", "id": 1}


async def test_an_oversized_message_closes_the_socket(live: Running) -> None:
    async with live.http.ws_connect(live.url + WS) as sock:
        await receive(sock)
        await sock.send_str('{"type": "input", "text": "' + "x" * 100_000 + '"}')
        await closed(sock)
        assert sock.close_code == aiohttp.WSCloseCode.MESSAGE_TOO_BIG
    assert await live.text("1") == ""


async def test_a_cross_site_origin_is_refused_with_403(live: Running) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
        await live.http.ws_connect(live.url + WS, headers={"Origin": "http://evil.example"})
    assert caught.value.status == 403
    async with live.http.ws_connect(live.url + WS, headers={"Origin": live.url}) as sock:
        assert (await receive(sock))["type"] == "state"
