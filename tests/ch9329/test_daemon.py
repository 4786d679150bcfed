"""The foundation's hotkey, HTTP and serial scenarios on a switch whose ports are ch9329
cables (each an emulated chip on its own pty, so every report crosses a real pty), and a
mixed switch of emulated and ch9329 ports from one config."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import serial_asyncio_fast

from kvmswitchd.console.records import encode_record
from kvmswitchd.core.eventlog import LogEntry
from kvmswitchd.switchboard import Switchboard
from kvmswitchd.targets.ch9329 import Ch9329Target
from kvmswitchd.targets.ch9329_link import LinkState
from kvmswitchd.targets.emulated import EmulatedTarget
from tests.daemon import test_console_pipeline as pipeline
from tests.daemon import test_http
from tests.daemon.conftest import Running, start

WAIT = 10.0


def ch9329_ports(count: int, **extra: Any) -> dict[str, Any]:
    port = {"target": "ch9329", "ch9329_device": "emulated", **extra}
    return {str(unit): dict(port) for unit in range(1, count + 1)}


def ch9329_targets(board: Switchboard) -> list[Ch9329Target]:
    return [p.target for p in board.links.values() if isinstance(p.target, Ch9329Target)]


async def settled(board: Switchboard) -> None:
    """Every ch9329 port that is online has delivered what it was given (and read its
    LEDs back); an offline one has nothing on the way."""
    async with asyncio.timeout(WAIT):
        for target in ch9329_targets(board):
            if target.link.online:
                await target.drained()


class Ch9329Running(Running):
    """``Running`` whose reads first wait for the ch9329 ports to deliver: on a serial
    cable a report arrives a reply later, not within the HTTP call that sent it."""

    async def get(self, path: str) -> Any:
        await settled(self.board)
        return await super().get(path)


async def ch9329_daemon(state: Path, doc: dict[str, Any]) -> Ch9329Running:
    daemon, board = await start(state, doc)
    async with asyncio.timeout(WAIT):
        for target in ch9329_targets(board):
            await target.wait_for(LinkState.ONLINE)
    return Ch9329Running(daemon, board, daemon.http_url, aiohttp.ClientSession())


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Ch9329Running]:
    run = await ch9329_daemon(tmp_path / "state", {"ports": ch9329_ports(4)})
    yield run
    await run.http.close()
    await run.daemon.stop()


Scenario = Callable[[Running], Awaitable[None]]
SCENARIOS: list[Scenario] = [
    test_http.test_switch_type_switch_type_lands_on_the_right_ports_and_is_logged,
    test_http.test_typing_shift_caps_lock_and_backspace_on_the_target,
    test_http.test_pointer_moves_and_clicks_on_the_target,
    test_http.test_bad_requests_get_clear_json_errors_and_the_daemon_keeps_serving,
    pipeline.test_console_events_over_http_pass_through_hotkey_detection,
    pipeline.test_front_panel_buttons_and_scan_over_http,
]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.__name__ for s in SCENARIOS])
async def test_the_foundation_http_and_hotkey_scenarios_pass_on_ch9329_ports(
    running: Ch9329Running, scenario: Scenario
) -> None:
    await scenario(running)


async def test_the_ports_target_view_shows_the_chip_and_its_line(running: Ch9329Running) -> None:
    target = await running.get("/ports/2/target")
    assert target["state"] == "online" and target["online"] is True and target["reason"] is None
    assert target["device"] == "emulated" and target["pty"].startswith("/dev/pts/")
    assert target["chip"] == {"version": "1.0", "usb_connected": True}
    assert target["baud"] == 9600
    assert (await running.get("/ports/2"))["target"] == "ch9329"
    async with running.http.get(running.url + "/api/v1/ports/2/screen") as resp:
        assert resp.status == 200 and (await resp.read()).startswith(b"\x89PNG")


async def test_hotkeys_from_a_console_fifo_land_on_the_right_ch9329_ports(tmp_path: Path) -> None:
    fifo = tmp_path / "console"
    doc = {
        "switch": {"ports": 12},
        "console": {"devices": [f"fifo:{fifo}"]},
        "ports": ch9329_ports(12),
    }
    run = await ch9329_daemon(tmp_path / "state", doc)
    try:
        switched: asyncio.Queue[LogEntry] = asyncio.Queue()
        run.board.journal.subscribe(
            lambda e: switched.put_nowait(e) if e.kind == "switch" else None
        )
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        try:

            def write(events: list[pipeline.Event]) -> None:
                os.write(fd, b"".join(encode_record(ty, co, va) for _, ty, co, va in events))

            write(pipeline.taps("KEY_H", "KEY_I"))
            write(pipeline.taps("KEY_SCROLLLOCK", "KEY_SCROLLLOCK", "KEY_1", "KEY_2", "KEY_ENTER"))
            entry = await asyncio.wait_for(switched.get(), WAIT)
            assert entry.detail["to"] == "12" and entry.source == "hotkey"
            write(pipeline.taps("KEY_O", "KEY_K"))
            write(pipeline.taps("KEY_SCROLLLOCK", "KEY_SCROLLLOCK", "KEY_3"))
            entry = await asyncio.wait_for(switched.get(), WAIT)
            assert entry.detail["to"] == "3"
        finally:
            os.close(fd)
        assert await run.text("1") == "hi"
        assert await run.text("12") == "ok"
        targets = ch9329_targets(run.board)
        computers = [t.computer for t in targets if t.computer is not None]
        assert len(computers) == 12
        assert not any(c.leds.scroll for c in computers)  # the hotkey never leaked
    finally:
        await run.http.close()
        await run.daemon.stop()


async def test_the_text_dialect_over_a_pty_switches_a_ch9329_switch(tmp_path: Path) -> None:
    link = tmp_path / "ttyKVM0"
    doc = {
        "switch": {"ports": 4},
        "serial": [{"endpoint": f"pty:{link}", "name": "console-line", "echo": False}],
        "ports": ch9329_ports(4),
    }
    run = await ch9329_daemon(tmp_path / "state", doc)
    try:
        reader, writer = await serial_asyncio_fast.open_serial_connection(
            url=str(link), baudrate=9600
        )
        writer.write(b"switch 3\r\n")
        async with asyncio.timeout(WAIT):
            assert await reader.readuntil(b"OK\r\n") == b"switched to 3\r\nOK\r\n"
        await run.post("/input", {"text": "via serial"})
        assert await run.text("3") == "via serial"
        assert await run.text("1") == ""
        writer.close()
    finally:
        await run.http.close()
        await run.daemon.stop()


async def test_a_mixed_switch_of_emulated_and_ch9329_ports_runs_from_one_config(
    tmp_path: Path,
) -> None:
    chip_port = {"target": "ch9329", "ch9329_device": "emulated", "mouse": "absolute"}
    doc = {"switch": {"ports": 3}, "ports": {"2": chip_port, "3": {"target": "emulated"}}}
    run = await ch9329_daemon(tmp_path / "state", doc)
    try:
        kinds = [type(run.board.links[u].target) for u in (1, 2, 3)]
        assert kinds == [EmulatedTarget, Ch9329Target, EmulatedTarget]
        for unit in ("1", "2", "3"):
            await run.post("/switch", {"port": unit})
            await run.post("/input", {"text": f"port{unit}"})
        assert [await run.text(u) for u in ("1", "2", "3")] == ["port1", "port2", "port3"]
        state = await run.get("/state")
        assert [p["target"] for p in state["ports"]] == ["emulated", "ch9329", "emulated"]
    finally:
        await run.http.close()
        await run.daemon.stop()


async def test_an_unplugged_cable_is_that_port_offline_only_and_it_comes_back(
    running: Ch9329Running,
) -> None:
    one, two = (running.board.links[u].target for u in (1, 2))
    assert isinstance(one, Ch9329Target) and isinstance(two, Ch9329Target)
    cable = one.chip_pty
    assert cable is not None
    cable.close()  # pull port 1's cable
    async with asyncio.timeout(WAIT):
        await one.wait_for(LinkState.CLOSED)
    async with running.http.get(running.url + "/api/v1/ports/1/target") as resp:
        view = await resp.json()
    assert view["online"] is False and view["state"] == "closed" and view["reason"]
    await running.post("/switch", {"port": "2"})
    await running.post("/input", {"text": "still here"})
    assert await running.text("2") == "still here"  # the other port never noticed
    cable.open()  # plugged back in
    async with asyncio.timeout(WAIT):
        await one.wait_for(LinkState.ONLINE)
    await running.post("/switch", {"port": "1"})
    await running.post("/input", {"text": "back"})
    assert await running.text("1") == "back"
