"""Issue 4 acceptance at daemon level: each dialect driven from a separate client over a
real pty (pyserial on the far end) and over TCP, against the real switch."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path
from typing import Any

import aiohttp
import serial_asyncio_fast

from kvmswitchd.daemon import Daemon
from kvmswitchd.switchboard import Switchboard
from tests.daemon.conftest import start

WAIT = 10.0


async def read_until(reader: asyncio.StreamReader, token: bytes) -> bytes:
    async with asyncio.timeout(WAIT):
        return await reader.readuntil(token)


async def http_state(daemon: Daemon) -> Any:
    async with aiohttp.ClientSession() as http, http.get(daemon.http_url + "/api/v1/state") as r:
        return await r.json()


async def serial_daemon(tmp_path: Path, *endpoints: dict[str, Any]) -> tuple[Daemon, Switchboard]:
    return await start(tmp_path / "state", {"serial": list(endpoints), "switch": {"ports": 8}})


async def test_text_dialect_over_a_pty_switches_reports_status_and_logs(tmp_path: Path) -> None:
    link = tmp_path / "ttyKVM0"
    daemon, board = await serial_daemon(
        tmp_path, {"endpoint": f"pty:{link}", "name": "console-line", "echo": False}
    )
    try:
        reader, writer = await serial_asyncio_fast.open_serial_connection(
            url=str(link), baudrate=9600
        )
        writer.write(b"switch 3\r\n")
        assert await read_until(reader, b"OK\r\n") == b"switched to 3\r\nOK\r\n"
        state = await http_state(daemon)
        assert state["focus"]["km"] == "3"
        writer.write(b"switch 5 video\rstatus\r")
        await read_until(reader, b"OK\r\n")
        status = (await read_until(reader, b"OK\r\n")).decode()
        assert "3" in status and "5" in status
        writer.write(b"bogus\n")
        assert (await read_until(reader, b"\r\n")).startswith(b"ERR")
        writer.write(b"port 99\n")
        assert (await read_until(reader, b"\r\n")).startswith(b"ERR")
        writer.close()
        entries = board.journal.recent(20)
        switches = [e for e in entries if e.kind == "switch"]
        assert [(e.source, e.detail["to"], e.detail.get("via")) for e in switches] == [
            ("serial", "3", "console-line"),
            ("serial", "5", "console-line"),
        ]
        assert state["serial"][0]["path"] == str(link)
    finally:
        await daemon.stop()


async def test_tesmart_frames_over_a_pty_are_byte_exact(tmp_path: Path) -> None:
    link = tmp_path / "ttyTES"
    daemon, board = await serial_daemon(tmp_path, {"endpoint": f"pty:{link}", "dialect": "tesmart"})
    try:
        reader, writer = await serial_asyncio_fast.open_serial_connection(
            url=str(link), baudrate=9600
        )
        writer.write(bytes.fromhex("AABB030104EE"))  # switch to PC4
        async with asyncio.timeout(WAIT):
            assert await reader.readexactly(6) == bytes.fromhex("AABB031103EE")  # 0-based
        writer.write(b"\x00\xff garbage" + bytes.fromhex("AABB031000EE"))  # query after noise
        async with asyncio.timeout(WAIT):
            assert await reader.readexactly(6) == bytes.fromhex("AABB031103EE")
        assert (await http_state(daemon))["focus"]["km"] == "4"
        assert board.journal.recent(5)[-1].source == "serial"
        writer.close()
    finally:
        await daemon.stop()


async def test_aten_dialect_needs_an_open_lease(tmp_path: Path) -> None:
    link = tmp_path / "ttyATEN"
    daemon, _board = await serial_daemon(tmp_path, {"endpoint": f"pty:{link}", "dialect": "aten"})
    try:
        reader, writer = await serial_asyncio_fast.open_serial_connection(
            url=str(link), baudrate=19200
        )
        writer.write(b"sw i02\r\n")
        assert await read_until(reader, b"\r\n") == b"Command incorrect\r\n"
        writer.write(b"open\r\nsw i02\r\n")
        assert await read_until(reader, b"\r\n") == b"Command OK\r\n"
        assert await read_until(reader, b"\r\n") == b"Command OK\r\n"
        assert (await http_state(daemon))["focus"]["km"] == "2"
        writer.close()
    finally:
        await daemon.stop()


async def test_text_over_tcp_requires_a_login_against_the_accounts(tmp_path: Path) -> None:
    daemon, board = await start(
        tmp_path / "state",
        {"http": {"auth": True}, "serial": [{"endpoint": "tcp://127.0.0.1:0", "name": "lan"}]},
    )
    try:
        assert daemon.accounts is not None and daemon.setup_token is not None
        from kvmswitchd.core.commands import Origin, Source

        await daemon.accounts.setup(
            daemon.setup_token, "root", "long enough pw", Origin(Source.HTTP)
        )
        host, _, port = next(e["address"] for e in board.state()["serial"]).rpartition(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        await read_until(reader, b"login: ")
        writer.write(b"root\r\n")
        await read_until(reader, b"password: ")
        writer.write(b"wrong password\r\n")
        assert await read_until(reader, b"login: ") == b"ERR login failed\r\nlogin: "
        writer.write(b"root\r\n")
        await read_until(reader, b"password: ")
        writer.write(b"long enough pw\r\nport 3\r\n")
        await read_until(reader, b"switched to 3\r\nOK\r\n")
        entry = [e for e in board.journal.recent(20) if e.kind == "switch"][-1]
        assert (entry.source, entry.user, entry.detail["via"]) == ("serial", "root", "lan")
        writer.close()
    finally:
        await daemon.stop()


async def test_a_pty_endpoint_and_an_emulated_ch9329_chip_are_the_daemons_alone(
    tmp_path: Path,
) -> None:
    """openpty leaves the far end 0620 for group tty on a stock devpts (gid=5,mode=620);
    what is written there switches ports or types on a target, so both ptys the daemon
    makes are 0600. (On a host whose devpts is already mode=600, as in some containers,
    this holds without the fchmod too.)"""
    link = tmp_path / "ttyKVM0"
    daemon, _ = await start(
        tmp_path / "state",
        {
            "serial": [{"endpoint": f"pty:{link}"}],
            "ports": {"2": {"target": "ch9329", "ch9329_device": "emulated"}},
        },
    )
    try:
        target = daemon.board.links[2].target if daemon.board is not None else None
        chip = getattr(target, "chip_pty", None)
        assert chip is not None and chip.device is not None
        for pty in (os.path.realpath(link), chip.device):
            assert stat.S_IMODE(os.stat(pty).st_mode) == 0o600, pty
    finally:
        await daemon.stop()
