"""Issue 14 acceptance for the tesmart dialect, against the whole daemon: the conformance
script of docs/serial-dialects.md byte-exact over a real pty and real TCP; a client
written from the public protocol finds the input count of 4-, 8- and 16-port units; a
client that only listens sees every switch, whichever channel made it; LAN settings are
the unit's, and survive a restart."""

from __future__ import annotations

import asyncio
import codecs
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import serial_asyncio_fast

from kvmswitchd.daemon import Daemon
from kvmswitchd.switchboard import Switchboard
from tests.console.test_gpio import FakeRequest
from tests.daemon.conftest import make_config, start
from tests.serial.tesmart_client import InputCountProbe, lan_query, lan_set, query, switch

WAIT = 10.0
DOC = Path(__file__).resolve().parents[2] / "docs" / "serial-dialects.md"
Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


def report(port: int) -> bytes:
    """``AA BB 03 11 <port-1> EE``."""
    return bytes.fromhex(f"AABB0311{port - 1:02x}EE")


def cell_bytes(cell: str) -> bytes:
    """A table cell: ``—`` (nothing), ``"ASCII"`` with escapes, or hex bytes."""
    cell = cell.strip().strip("`")
    if cell == "—":
        return b""
    if cell.startswith('"') and cell.endswith('"'):
        return codecs.decode(cell[1:-1], "unicode_escape").encode("latin-1")
    return bytes.fromhex(cell)


def conformance_script(section: str) -> list[tuple[bytes, bytes, str]]:
    """The rows (request, reply, what) of a section's conformance script, in order."""
    body = DOC.read_text().split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    table = body.split("### Conformance script", 1)[1]
    rows = [line for line in table.splitlines() if line.startswith("| ")]
    assert rows[0].startswith("| request | reply |"), "the script's header row"
    out = []
    for line in rows[1:]:
        request, reply, what = (c.strip() for c in line.strip().strip("|").split("|"))
        out.append((cell_bytes(request), cell_bytes(reply), what))
    return out


async def read(reader: asyncio.StreamReader, size: int) -> bytes:
    async with asyncio.timeout(WAIT):
        return await reader.readexactly(size)


async def http_post(daemon: Daemon, path: str, body: Any = None) -> Any:
    async with (
        aiohttp.ClientSession() as http,
        http.post(daemon.http_url + "/api/v1" + path, json=body) as resp,
    ):
        assert resp.status == 200, await resp.text()
        return await resp.json()


async def http_state(daemon: Daemon) -> Any:
    async with aiohttp.ClientSession() as http, http.get(daemon.http_url + "/api/v1/state") as r:
        return await r.json()


def tcp_address(board: Switchboard, name: str) -> tuple[str, int]:
    address = next(e["address"] for e in board.state()["serial"] if e["name"] == name)
    host, _, port = address.rpartition(":")
    return host, int(port)


@asynccontextmanager
async def tesmart_daemon(
    state_dir: Path, *endpoints: dict[str, Any], ports: int = 8
) -> AsyncIterator[tuple[Daemon, Switchboard]]:
    daemon, board = await start(state_dir, {"serial": list(endpoints), "switch": {"ports": ports}})
    try:
        yield daemon, board
    finally:
        await daemon.stop()


@asynccontextmanager
async def connected(board: Switchboard, kind: str, where: str) -> AsyncIterator[Stream]:
    if kind == "tcp":
        stream = await asyncio.open_connection(*tcp_address(board, where))
    else:
        stream = await serial_asyncio_fast.open_serial_connection(url=where, baudrate=9600)
    try:
        yield stream
    finally:
        stream[1].close()


def endpoint_for(kind: str, tmp_path: Path) -> tuple[dict[str, Any], str]:
    if kind == "tcp":
        return {"endpoint": "tcp://127.0.0.1:0", "dialect": "tesmart", "name": "lan"}, "lan"
    link = str(tmp_path / "ttyTES")
    return {"endpoint": f"pty:{link}", "dialect": "tesmart", "name": "rs232"}, link


@pytest.mark.parametrize("kind", ["pty", "tcp"])
async def test_every_row_of_the_documented_conformance_script_is_byte_exact(
    tmp_path: Path, kind: str
) -> None:
    script = conformance_script("TESmart")
    assert len(script) > 20
    table, where = endpoint_for(kind, tmp_path)
    async with tesmart_daemon(tmp_path / "state", table) as (_daemon, board):
        async with connected(board, kind, where) as (reader, writer):
            active = report(1)
            for request, reply, what in script:
                # A query after each request pins its reply down to the byte: a reply
                # where none is due, or a missing one, shifts what comes back.
                writer.write(request + query())
                if reply[:4] == report(1)[:4]:
                    active = reply
                got = await read(reader, len(reply) + len(active))
                assert got == reply + active, f"{what}: sent {request!r}"
        assert board.core.focus_view()["km"] == "1"


@pytest.mark.parametrize("ports", [4, 8, 16])
async def test_a_public_protocol_client_finds_the_input_count_and_switches_every_port(
    tmp_path: Path, ports: int
) -> None:
    table, where = endpoint_for("tcp", tmp_path)
    async with tesmart_daemon(tmp_path / "state", table, ports=ports) as (daemon, board):
        async with connected(board, "tcp", where) as (reader, writer):
            probe = InputCountProbe()
            data = probe.start()
            while probe.count is None:
                writer.write(data)
                data = probe.receive_data(await read(reader, 6))
            assert probe.count == ports
            for port in range(1, ports + 1):
                writer.write(switch(port) + query())
                assert await read(reader, 12) == report(port) * 2
                assert (await http_state(daemon))["focus"]["km"] == str(port)


async def test_a_client_that_only_listens_sees_every_switch_from_every_channel(
    tmp_path: Path,
) -> None:
    link = str(tmp_path / "ttyTES")
    endpoints = (
        {"endpoint": "tcp://127.0.0.1:0", "dialect": "tesmart", "name": "lan"},
        {"endpoint": f"pty:{link}", "dialect": "tesmart", "name": "rs232"},
        {"endpoint": "tcp://127.0.0.2:0", "dialect": "tesmart", "name": "strict", "notify": False},
    )
    async with (
        tesmart_daemon(tmp_path / "state", *endpoints) as (daemon, board),
        connected(board, "tcp", "lan") as (listener, listener_writer),
        connected(board, "pty", link) as (line_listener, line_writer),
        connected(board, "tcp", "lan") as (other, other_writer),
        connected(board, "tcp", "strict") as (strict, strict_writer),
    ):
        clients = ((listener, listener_writer), (line_listener, line_writer), (other, other_writer))
        for reader, writer in clients:
            writer.write(query())  # served: the pty's far end is open (the daemon polls it)
            assert await read(reader, 6) == report(1)
        await http_post(daemon, "/switch", {"port": "3"})
        assert await read(listener, 6) == report(3)
        assert await read(line_listener, 6) == report(3)

        def key(name: str, value: int) -> list[dict[str, object]]:
            return [
                {"type": "EV_KEY", "code": name, "value": value},
                {"type": "EV_SYN", "code": "SYN_REPORT", "value": 0},
            ]

        taps = [
            e for name in ("KEY_SCROLLLOCK",) * 2 + ("KEY_5",) for e in key(name, 1) + key(name, 0)
        ]
        await http_post(daemon, "/console/events", {"events": taps})  # the hotkey
        assert await read(listener, 6) == report(5)
        assert await read(line_listener, 6) == report(5)
        await http_post(daemon, "/buttons/2")  # the front panel
        assert await read(listener, 6) == report(2)
        await http_post(daemon, "/buttons/next")
        assert await read(listener, 6) == report(3)
        seen = report(3) + report(5) + report(2) + report(3)
        assert await read(other, 24) == seen  # it listens too
        other_writer.write(switch(7))  # another TESmart client switches
        assert await read(other, 6) == report(7)  # its reply...
        assert await read(listener, 6) == report(7)
        assert await read(line_listener, 18) == report(2) + report(3) + report(7)
        await http_post(daemon, "/switch", {"port": "1"})
        assert await read(other, 6) == report(1)  # ...and no second frame for its switch
        assert await read(listener, 6) == report(1)
        strict_writer.write(query())  # notify = false: nothing came unasked
        assert await read(strict, 6) == report(1)
        sources = [e.source for e in board.journal.recent(20) if e.kind == "switch"]
        assert sources == ["http", "hotkey", "button", "button", "serial", "http"]


async def test_lan_settings_written_on_one_connection_read_back_on_another_and_after_restart(
    tmp_path: Path,
) -> None:
    state_dir = tmp_path / "state"
    link = str(tmp_path / "ttyTES")
    endpoints = (
        {"endpoint": "tcp://127.0.0.1:0", "dialect": "tesmart", "name": "lan"},
        {"endpoint": f"pty:{link}", "dialect": "tesmart", "name": "rs232"},
    )
    async with tesmart_daemon(state_dir, *endpoints) as (daemon, board):
        async with connected(board, "tcp", "lan") as (reader, writer):
            writer.write(lan_set("IP", "10.1.2.3") + lan_set("PT", "6000"))
            assert await read(reader, 4) == b"OKOK"
            writer.write(bytes.fromhex("AABB030200EE AABB03031EEE".replace(" ", "")) + query())
            assert await read(reader, 6) == report(1)  # settings are not answered
        async with connected(board, "tcp", "lan") as (reader, writer):
            writer.write(lan_query("IP", semicolon=False))
            assert await read(reader, 19) == b"IP:010.001.002.003;"
        async with connected(board, "pty", link) as (reader, writer):
            writer.write(lan_query("PT"))
            assert await read(reader, 9) == b"PT:06000;"
        shown = (await http_state(daemon))["tesmart"]
        assert (shown["ip"], shown["port"], shown["buzzer"], shown["led_timeout"]) == (
            "10.1.2.3",
            6000,
            False,
            30,
        )
    async with tesmart_daemon(state_dir, *endpoints) as (daemon, board):
        async with connected(board, "tcp", "lan") as (reader, writer):
            writer.write(lan_query("IP") + lan_query("PT"))
            assert await read(reader, 28) == b"IP:010.001.002.003;PT:06000;"
        shown = (await http_state(daemon))["tesmart"]
        assert (shown["buzzer"], shown["led_timeout"], shown["gateway"]) == (
            False,
            30,
            "192.168.1.1",
        )
        assert [e for e in board.journal.recent(50) if e.kind == "state_reset"] == []


async def test_a_press_on_a_gpio_front_panel_line_reaches_a_listening_client(
    tmp_path: Path,
) -> None:
    # preflight wants the chip to exist under /dev; the fake line request stands in for gpiod
    doc = {
        "serial": [{"endpoint": "tcp://127.0.0.1:0", "dialect": "tesmart", "name": "lan"}],
        "buttons": {"chip": "/dev/null", "lines": {"4": 17, "next": 22}},
    }
    fake = FakeRequest()
    daemon = Daemon(make_config(doc), tmp_path / "state")
    daemon.gpio_opener = lambda _spec: fake
    try:
        board = await daemon.start()
        async with connected(board, "tcp", "lan") as (listener, writer):
            writer.write(query())
            assert await read(listener, 6) == report(1)
            fake.press(17)
            assert await read(listener, 6) == report(4)
            fake.press(22)
            assert await read(listener, 6) == report(1)  # next, wrapping on a 4-port unit
        entries = [e for e in board.journal.recent(10) if e.kind == "switch"]
        assert [(e.source, e.detail["via"]) for e in entries] == [
            ("button", "gpio button 4"),
            ("button", "gpio button next"),
        ]
    finally:
        await daemon.stop()
