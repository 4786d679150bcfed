"""Permissions are checked on the port a command RESOLVES to, on every channel (issue 12,
first section): an operator allowed only ports 1-2 never reaches ports 3-4, by next/prev,
buttons, serial, scan, hotkeys typed on the web console, input after the focus moved, or
storage following the focus; and reads show it only ports 1-2."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp

from kvmswitchd.core.commands import GetLog, GetStatus, Origin, Source, Step, SwitchTo
from kvmswitchd.core.ports import Channel
from tests.daemon.conftest import start
from tests.guard.conftest import Unit


def taps(*keys: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for key in keys:
        events += [
            {"type": "EV_KEY", "code": key, "value": 1},
            {"type": "EV_KEY", "code": key, "value": 0},
        ]
    return events


async def test_next_and_prev_cycle_only_over_the_ports_the_user_may_switch_to(unit: Unit) -> None:
    assert (await unit.call("root", "POST", "/switch", {"port": "2"})).status == 200
    seen = set()
    for path in ["/switch/next"] * 5 + ["/switch/prev"] * 5:
        reply = await unit.call("ops", "POST", path)
        assert reply.status == 200, reply.body
        seen.add(unit.focus()["km"])
    assert seen == {"1", "2"}


async def test_next_from_a_port_outside_the_users_ring_goes_to_its_next_permitted_port(
    unit: Unit,
) -> None:
    await unit.call("root", "POST", "/switch", {"port": "3"})
    assert (await unit.call("ops", "POST", "/switch/next")).status == 200
    assert unit.focus()["km"] == "1"  # wraps past 4 to the first port it may use
    await unit.call("root", "POST", "/switch", {"port": "3"})
    assert (await unit.call("ops", "POST", "/switch/prev")).status == 200
    assert unit.focus()["km"] == "2"


async def test_the_front_panel_buttons_pressed_over_http_act_as_the_signed_in_user(
    unit: Unit,
) -> None:
    for _ in range(4):
        assert (await unit.call("ops", "POST", "/buttons/next")).status == 200
        assert unit.focus()["km"] in {"1", "2"}
    assert (await unit.call("ops", "POST", "/buttons/3")).status == 403
    assert unit.focus()["km"] in {"1", "2"}


async def test_a_serial_next_by_a_restricted_user_stays_on_its_ports(unit: Unit) -> None:
    origin = Origin(Source.SERIAL, detail="lan", user="ops")
    await unit.call("root", "POST", "/switch", {"port": "2"})
    for _ in range(4):
        outcome = await unit.board.execute(Step(1), origin)
        assert outcome.ok, outcome.message
        assert unit.focus()["km"] in {"1", "2"}


async def test_a_restricted_scan_cycles_only_over_the_ports_the_user_may_view(unit: Unit) -> None:
    seen: list[str] = []
    done = asyncio.get_running_loop().create_future()

    def listen(message: dict[str, Any]) -> None:
        if message["type"] == "state":
            seen.append(message["state"]["focus"]["video"])
            if len(seen) >= 4 and not done.done():
                done.set_result(None)

    unsubscribe = unit.board.subscribe(listen)
    try:
        reply = await unit.call("ops", "POST", "/scan", {"on": True, "dwell": 0.5})
        assert reply.status == 200, reply.body
        await asyncio.wait_for(done, 10)
    finally:
        unsubscribe()
        await unit.call("ops", "POST", "/scan", {"on": False})
    assert set(seen) <= {"1", "2"}
    assert "2" in seen


async def test_a_hotkey_typed_on_the_web_console_switches_with_that_users_rights(
    unit: Unit,
) -> None:
    reply = await unit.call(
        "ops",
        "POST",
        "/console/events",
        {"events": taps("KEY_SCROLLLOCK", "KEY_SCROLLLOCK", "KEY_3", "KEY_X")},
    )
    assert reply.status == 200
    assert unit.focus()["km"] == "1"  # the switch to 3 was refused
    assert "x" not in unit.text(3)
    assert "x" in unit.text(1)  # the key after the refused hotkey stays where it was typed
    refused = [e for e in unit.board.journal.recent(20) if e.kind == "refused"]
    assert refused and refused[-1].user == "ops" and refused[-1].ports == ("3",)
    events = taps("KEY_SCROLLLOCK", "KEY_SCROLLLOCK", "KEY_2", "KEY_Y")
    assert (await unit.call("ops", "POST", "/console/events", {"events": events})).status == 200
    assert unit.focus()["km"] == "2"
    assert "y" in unit.text(2)


async def test_web_console_keys_never_reach_a_port_the_user_may_not_type_on(unit: Unit) -> None:
    await unit.call("root", "POST", "/switch", {"port": "4"})
    events = taps("KEY_Q", "KEY_W")
    assert (await unit.call("ops", "POST", "/console/events", {"events": events})).status == 200
    assert unit.text(4).strip() == ""


async def test_input_is_checked_against_the_port_it_reaches_when_it_is_routed(unit: Unit) -> None:
    assert (await unit.call("ops", "POST", "/input", {"text": "a"})).status == 200
    await unit.call("root", "POST", "/switch", {"port": "3"})  # the focus moves away
    reply = await unit.call("ops", "POST", "/input", {"text": "b"})
    assert reply.status == 403
    assert "b" not in unit.text(3)
    assert "a" in unit.text(1)


async def test_storage_does_not_follow_the_focus_into_a_port_without_the_storage_right(
    unit: Unit,
) -> None:
    reply = await unit.call("nostore", "POST", "/switch", {"port": "3"})
    assert reply.status == 200
    assert unit.focus() == {"km": "3", "video": "3", "audio": "3", "usb": "1"}
    assert "usb stays on port 1" in reply.body["message"]
    explicit = await unit.call("nostore", "POST", "/switch", {"port": "4", "channels": ["usb"]})
    assert explicit.status == 403
    assert unit.focus()["usb"] == "1"
    # where it has the right, storage moves with the rest
    assert (await unit.call("nostore", "POST", "/switch", {"port": "1"})).status == 200
    assert unit.focus()["usb"] == "1"


async def test_state_ports_and_log_show_a_reader_only_the_ports_it_may_view(unit: Unit) -> None:
    await unit.call("root", "POST", "/switch", {"port": "3"})
    await unit.call("root", "PATCH", "/ports/4", {"name": "Secret box"})
    state = (await unit.call("ops", "GET", "/state")).body
    assert [p["id"] for p in state["ports"]] == ["1", "2"]
    assert state["focus"]["km"] == "-"
    assert "Secret box" not in json.dumps(state)
    ports = (await unit.call("ops", "GET", "/ports")).body["ports"]
    assert [p["id"] for p in ports] == ["1", "2"]
    assert (await unit.call("ops", "GET", "/log?port=3")).body["entries"] == []
    entries = (await unit.call("ops", "GET", "/log")).body["entries"]
    assert all(set(e["ports"]) <= {"1", "2"} for e in entries)
    assert not any(e["kind"] in ("login", "token_created", "user_created") for e in entries)
    assert (await unit.call("ops", "GET", "/ports/3")).status == 403
    # an admin still sees everything
    assert len((await unit.call("root", "GET", "/state")).body["ports"]) == 4


async def test_serial_status_and_log_show_only_the_ports_the_user_may_view(unit: Unit) -> None:
    await unit.call("root", "PATCH", "/ports/3", {"name": "Hidden"})
    origin = Origin(Source.SERIAL, detail="lan", user="watcher")
    status = (await unit.board.execute(GetStatus(), origin)).status
    assert status is not None
    assert [p.id for p in status.ports] == ["2"]
    log = (await unit.board.execute(GetLog(50), origin)).log
    assert not any("Hidden" in line.text for line in log)


async def test_websocket_pushes_show_a_reader_only_the_ports_it_may_view(unit: Unit) -> None:
    headers = {"Authorization": f"Bearer {unit.tokens['ops']}"}
    async with unit.http.ws_connect(unit.url + "/ws", headers=headers) as ws:
        first = await ws.receive_json()
        assert [p["id"] for p in first["state"]["ports"]] == ["1", "2"]
        await unit.call("root", "POST", "/switch", {"port": "4"})
        await unit.call("root", "POST", "/switch", {"port": "2"})
        got: list[dict[str, Any]] = []
        while not any(m["type"] == "state" and m["state"]["focus"]["km"] == "2" for m in got):
            got.append(await asyncio.wait_for(ws.receive_json(), 5))
    for message in got:
        if message["type"] == "state":
            assert [p["id"] for p in message["state"]["ports"]] == ["1", "2"]
            assert message["state"]["focus"]["km"] in {"1", "2", "-"}
        if message["type"] == "log":
            assert set(message["entry"]["ports"]) <= {"1", "2"}


async def test_metrics_labels_show_a_restricted_reader_no_hidden_port(unit: Unit) -> None:
    await unit.call("root", "POST", "/switch", {"port": "4"})
    headers = {"Authorization": f"Bearer {unit.tokens['ops']}"}
    async with unit.http.get(unit.daemon.http_url + "/metrics", headers=headers) as resp:
        body = await resp.text()
    assert resp.status == 200
    assert 'kvmswitchd_focus{channel="km"}' not in body
    async with (
        aiohttp.ClientSession() as anonymous,
        anonymous.get(unit.daemon.http_url + "/metrics") as resp,
    ):
        assert 'kvmswitchd_focus{channel="km"} 4.0' in await resp.text()


async def test_input_whose_body_arrives_after_the_focus_moved_is_refused(unit: Unit) -> None:
    headers_sent = asyncio.Event()
    moved = asyncio.Event()

    async def body() -> Any:
        headers_sent.set()
        await moved.wait()
        yield json.dumps({"text": "z"}).encode()

    async def post() -> int:
        headers = {
            "Authorization": f"Bearer {unit.tokens['ops']}",
            "Content-Type": "application/json",
        }
        async with unit.http.post(unit.url + "/input", data=body(), headers=headers) as resp:
            return resp.status

    task = asyncio.create_task(post())
    await headers_sent.wait()
    await asyncio.sleep(0.05)  # let the server take the headers (the old check ran here)
    await unit.call("root", "POST", "/switch", {"port": "3"})
    moved.set()
    assert await task == 403
    assert "z" not in unit.text(3)


async def test_a_local_serial_line_without_login_acts_with_its_configured_rights(
    tmp_path: Path,
) -> None:
    line = {
        "endpoint": f"pty:{tmp_path / 'tty'}",
        "name": "desk",
        "role": "operator",
        "ports": {"switch": ["1", "2"], "view": ["1", "2"]},
    }
    daemon, board = await start(tmp_path / "state", {"serial": [line]})
    try:
        origin = Origin(Source.SERIAL, detail="desk")  # what the line's core sends
        for _ in range(3):
            assert (await board.execute(Step(1), origin)).ok
            assert board.core.focus_of(Channel.KM).unit in {1, 2}
        refused = await board.execute(SwitchTo("3"), origin)
        assert not refused.ok and refused.error == "forbidden"
        status = (await board.execute(GetStatus(), origin)).status
        assert status is not None and [p.id for p in status.ports] == ["1", "2"]
    finally:
        await daemon.stop()


async def test_a_login_line_with_nobody_logged_in_has_no_rights_of_its_own(
    tmp_path: Path,
) -> None:
    line = {"endpoint": "tcp://127.0.0.1:0", "name": "lan"}
    daemon, board = await start(tmp_path / "state", {"http": {"auth": True}, "serial": [line]})
    try:
        outcome = await board.execute(SwitchTo("2"), Origin(Source.SERIAL, detail="lan"))
        assert not outcome.ok and outcome.error == "forbidden"
    finally:
        await daemon.stop()
