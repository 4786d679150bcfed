"""Websocket input against the whole daemon on emulated ports: nothing sent is lost at a
fast typist's or a 1 kHz mouse's rate, and nothing a client held stays pressed once it is
gone — while what another client, HTTP or the console holds stays down."""

from __future__ import annotations

import asyncio
import string
from typing import Any

import aiohttp

from tests.daemon.conftest import Running
from tests.web.conftest import receive, receive_until

WS = "/api/v1/ws"
Json = dict[str, Any]
Socket = aiohttp.ClientWebSocketResponse


def key(code: str, value: int) -> Json:
    return {"type": "EV_KEY", "code": code, "value": value}


def rel(code: str, value: int) -> Json:
    return {"type": "EV_REL", "code": code, "value": value}


async def connect(live: Running) -> Socket:
    sock = await live.http.ws_connect(live.url + WS)
    assert (await receive(sock))["type"] == "state"
    return sock


async def handled(sock: Socket) -> None:
    """Everything sent on ``sock`` before this has been handled (messages are in order)."""
    await sock.send_json({"type": "ping", "id": "sync"})
    await receive_until(sock, "pong")


async def press(sock: Socket, *events: Json) -> None:
    await sock.send_json({"type": "input", "events": list(events), "id": "in"})
    ack = await receive_until(sock, "ack")
    assert ack["id"] == "in"


async def target(live: Running, port: str = "1") -> Json:
    view: Json = await live.get(f"/ports/{port}/target")
    return view


async def released_entry(observer: Socket) -> Json:
    """The ``keys_released`` log entry the daemon writes once a leaving client is released."""
    while True:
        message = await receive_until(observer, "log")
        if message["entry"]["kind"] == "keys_released":
            entry: Json = message["entry"]
            return entry


async def test_600_key_events_at_300_a_second_all_arrive_and_none_stays_held(
    live: Running,
) -> None:
    before = (await target(live))["reports"]["keyboard"]
    letters = string.ascii_lowercase
    typed = "".join(letters[n % 26] for n in range(300))
    async with await connect(live) as sock:
        for char in typed:  # one message per key event, as the UI sends them
            for value in (1, 0):
                await sock.send_json(
                    {"type": "input", "events": [key(f"KEY_{char.upper()}", value)]}
                )
                await asyncio.sleep(1 / 300)  # pacing only; nothing is timed
        await handled(sock)
    view = await target(live)
    assert view["reports"]["keyboard"] - before == 600  # every press and every release
    assert view["text"].replace("\n", "") == typed  # the screen wraps at 80 columns
    assert view["pressed"] == []
    assert live.board.holds.held() == frozenset()


async def test_5000_mouse_moves_at_1000_a_second_all_arrive_with_every_click(
    live: Running,
) -> None:
    start = await target(live)
    x, y = start["pointer"]["x"], start["pointer"]["y"]
    clicks = start["pointer"]["clicks"]["left"]
    async with await connect(live) as sock:
        for n in range(5000):
            dx, dy = (1, 0) if n % 2 else (-1, 1 if n % 50 == 0 else 0)  # net: 0, +100
            events = [rel("REL_X", dx)] + ([rel("REL_Y", dy)] if dy else [])
            if n % 500 == 0:
                events.append(key("BTN_LEFT", 1))
            elif n % 500 == 250:
                events.append(key("BTN_LEFT", 0))
            await sock.send_json({"type": "input", "events": events})
            if n % 10 == 9:
                await asyncio.sleep(10 / 1000)  # about 1,000/s: pacing only, nothing is timed
        await handled(sock)
    view = await target(live)
    # a move and a button change in one message are two reports: 5,000 + 20 clicks
    assert view["reports"]["mouse"] - start["reports"]["mouse"] == 5000 + 20
    assert (view["pointer"]["x"], view["pointer"]["y"]) == (x, y + 100)
    assert view["pointer"]["clicks"]["left"] - clicks == 10
    assert view["pointer"]["buttons"] == []
    assert live.board.holds.held() == frozenset()


async def test_a_client_that_leaves_holding_keys_and_a_button_leaves_nothing_pressed(
    live: Running,
) -> None:
    observer = await connect(live)
    async with await connect(live) as sock:
        await press(sock, key("KEY_LEFTSHIFT", 1), key("KEY_X", 1), key("BTN_RIGHT", 1))
        view = await target(live)
        assert len(view["pressed"]) == 2
        assert view["pointer"]["buttons"] == [1]
    entry = await released_entry(observer)
    assert (entry["ports"], entry["detail"]["released"]) == (["1"], 3)
    assert entry["detail"]["via"].startswith("ws ")
    view = await target(live)
    assert (view["pressed"], view["pointer"]["buttons"]) == ([], [])
    assert view["text"] == "X"
    await observer.close()


async def test_two_clients_holding_one_key_it_stays_down_until_the_last_one_leaves(
    live: Running,
) -> None:
    observer = await connect(live)
    one, two = await connect(live), await connect(live)
    await press(one, key("KEY_LEFTCTRL", 1), key("KEY_B", 1))
    await press(two, key("KEY_LEFTCTRL", 1))
    await one.close()
    assert (await released_entry(observer))["detail"]["released"] == 1  # B; two holds Ctrl
    assert (await target(live))["pressed_names"] == ["KEY_LEFTCTRL"]
    await press(two, key("KEY_B", 1), key("KEY_B", 0))  # two types on, Ctrl still down
    assert (await target(live))["pressed_names"] == ["KEY_LEFTCTRL"]
    await two.close()
    assert (await released_entry(observer))["detail"]["released"] == 1
    assert (await target(live))["pressed"] == []
    await observer.close()


async def test_a_key_held_through_post_input_survives_a_client_leaving(live: Running) -> None:
    await live.post("/input", {"events": [key("KEY_LEFTALT", 1)]})
    observer = await connect(live)
    async with await connect(live) as sock:
        await press(sock, key("KEY_LEFTALT", 1), key("KEY_TAB", 1))
        await press(sock, key("KEY_LEFTALT", 0))  # its own Alt up: HTTP's stays down
        assert (await target(live))["pressed_names"] == ["KEY_TAB", "KEY_LEFTALT"]
    assert (await released_entry(observer))["detail"]["released"] == 1
    assert (await target(live))["pressed_names"] == ["KEY_LEFTALT"]
    await live.post("/input", {"events": [key("KEY_LEFTALT", 0)]})
    assert (await target(live))["pressed"] == []
    await observer.close()


async def test_the_release_message_lets_go_of_everything_this_client_holds(
    live: Running,
) -> None:
    async with await connect(live) as sock:
        await press(sock, key("KEY_LEFTMETA", 1), key("BTN_LEFT", 1))
        await sock.send_json({"type": "release", "id": "r"})
        assert await receive_until(sock, "ack") == {"type": "ack", "id": "r", "released": 2}
        view = await target(live)
        assert (view["pressed"], view["pointer"]["buttons"]) == ([], [])
        await press(sock, key("KEY_LEFTMETA", 0))  # the UI's own key-up after it: harmless
        assert live.board.holds.held() == frozenset()
        await press(sock, key("BTN_LEFT", 1))  # released means released: pressing works again
        assert (await target(live))["pointer"]["buttons"] == [0]
        await sock.send_json({"type": "release"})
        await handled(sock)
        assert (await target(live))["pointer"]["clicks"]["left"] == 2


async def test_a_km_switch_clears_the_holds_on_the_port_it_leaves(live: Running) -> None:
    async with await connect(live) as sock:
        await press(sock, key("KEY_Q", 1))
        await live.post("/switch", {"port": "2"})
        assert (await target(live, "1"))["pressed"] == []  # release-all on the way out
        await press(sock, key("KEY_W", 1))
        assert live.board.holds.held() == {(2, 17)}  # KEY_W on port 2 only
        await sock.send_json({"type": "release", "id": "r"})
        assert (await receive_until(sock, "ack"))["released"] == 1
    assert (await target(live, "1"))["text"] == "q"
    assert (await target(live, "2"))["pressed"] == []


async def test_a_key_the_console_holds_stays_down_through_a_client_typing_with_it(
    live: Running,
) -> None:
    await live.post("/console/events", {"events": [key("KEY_LEFTSHIFT", 1)]})
    observer = await connect(live)
    async with await connect(live) as sock:
        await press(sock, key("KEY_LEFTSHIFT", 1), key("KEY_X", 1), key("KEY_X", 0))
        await press(sock, key("KEY_LEFTSHIFT", 0), key("KEY_Y", 1))  # its Shift up, Y held
        assert (await target(live))["pressed_names"] == ["KEY_Y", "KEY_LEFTSHIFT"]
    assert (await released_entry(observer))["detail"]["released"] == 1  # Y only
    assert (await target(live))["pressed_names"] == ["KEY_LEFTSHIFT"]
    await live.post("/console/events", {"events": [key("KEY_LEFTSHIFT", 0)]})
    view = await target(live)
    assert (view["pressed"], view["text"]) == ([], "XY")
    await observer.close()
