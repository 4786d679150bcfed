"""Issue 14 acceptance (ATEN lease) at daemon level: an ATEN session that holds the
control lease locks the unit against a second session, a text session, a front-panel
button and a hotkey, with the documented replies; admins see and break it over HTTP
(logged); it expires after the configured time; a session that goes away gives it back.
Real ptys with pyserial clients, a real TCP client, the real HTTP API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import serial_asyncio_fast

from kvmswitchd.core.eventlog import LogEntry
from kvmswitchd.daemon import Daemon
from kvmswitchd.switchboard import Switchboard
from tests.daemon.conftest import start

WAIT = 10.0
OK = b"Command OK\r\n"
INCORRECT = b"Command incorrect\r\n"
LOCKED = b"ERR the unit is locked by the control link of serial session ttyA#"


@dataclass
class Line:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    async def ask(self, line: bytes, until: bytes = b"\r\n") -> bytes:
        self.writer.write(line + b"\r\n")
        async with asyncio.timeout(WAIT):
            return await self.reader.readuntil(until)


@dataclass
class Unit:
    daemon: Daemon
    board: Switchboard
    http: aiohttp.ClientSession
    tmp: Path

    async def line(self, name: str) -> Line:
        url = str(self.tmp / name)
        reader, writer = await serial_asyncio_fast.open_serial_connection(url=url, baudrate=19200)
        return Line(reader, writer)

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        url = self.daemon.http_url + "/api/v1" + path
        async with self.http.request(method, url, json=body) as resp:
            return resp.status, await resp.json()

    def entries(self, kind: str) -> list[LogEntry]:
        return [e for e in self.board.journal.recent(200) if e.kind == kind]


@asynccontextmanager
async def unit(tmp_path: Path, **aten: Any) -> AsyncIterator[Unit]:
    serial = [
        {"endpoint": f"pty:{tmp_path / 'ttyA'}", "dialect": "aten", **aten},
        {"endpoint": f"pty:{tmp_path / 'ttyB'}", "dialect": "aten"},
        {"endpoint": f"pty:{tmp_path / 'ttyT'}", "echo": False},
    ]
    daemon, board = await start(tmp_path / "state", {"serial": serial, "switch": {"ports": 4}})
    try:
        async with aiohttp.ClientSession() as http:
            yield Unit(daemon, board, http, tmp_path)
    finally:
        await daemon.stop()


def hotkey(port: int) -> list[dict[str, object]]:
    """Scroll Lock, Scroll Lock, <port>: the default hotkey, as console events."""
    out: list[dict[str, object]] = []
    for name in ("KEY_SCROLLLOCK", "KEY_SCROLLLOCK", f"KEY_{port}"):
        for value in (1, 0):
            out.append({"type": "EV_KEY", "code": name, "value": value})
            out.append({"type": "EV_SYN", "code": "SYN_REPORT", "value": 0})
    return out


async def test_a_held_lease_locks_out_other_sessions_buttons_and_hotkeys_until_an_admin_breaks_it(
    tmp_path: Path,
) -> None:
    async with unit(tmp_path) as u:
        a, b, text = await u.line("ttyA"), await u.line("ttyB"), await u.line("ttyT")
        assert await a.ask(b"open") == OK
        assert await a.ask(b"sw i02") == OK
        # a second ATEN session: no link for it, so no switching either
        assert await b.ask(b"open") == INCORRECT
        assert await b.ask(b"sw i03") == INCORRECT
        # a text session: refused with the holder named
        reply = await text.ask(b"switch 3")
        assert reply.startswith(LOCKED) and reply.endswith(b" on ttyA\r\n")
        assert (await text.ask(b"status", b"OK\r\n")).startswith(b'port 1 "Port 1"\r\nport 2')
        # the front panel and the hotkeys, as on the units
        status, body = await u.call("POST", "/buttons/3")
        assert status == 409 and body["error"] == "busy" and "ttyA" in body["message"]
        status, _ = await u.call("POST", "/console/events", {"events": hotkey(4)})
        assert status == 200
        _, state = await u.call("GET", "/state")
        assert state["focus"]["km"] == "2"
        refused = [(e.source, e.detail["reason"]) for e in u.entries("refused")]
        assert [s for s, _ in refused] == ["serial", "serial", "button", "hotkey"]
        assert all("locked by the control link" in why for _, why in refused)
        # the admin sees who holds it...
        lease = state["lease"]
        assert lease["endpoint"] == "ttyA" and lease["session"].startswith("ttyA#")
        assert lease["locks"] == ["button", "hotkey", "serial"]
        assert 0 < lease["expires_in"] <= 120
        # ...and breaks it (logged); the old holder has to open again
        status, body = await u.call("DELETE", "/serial/lease")
        assert status == 200 and "ttyA" in body["message"]
        assert u.entries("lease")[-1].detail["action"] == "broken"
        assert (await u.call("GET", "/state"))[1]["lease"] is None
        assert await a.ask(b"sw i04") == INCORRECT
        assert (await u.call("POST", "/buttons/3"))[0] == 200
        assert await b.ask(b"open") == OK  # the other session may take it now
        assert await a.ask(b"open") == INCORRECT
        assert (await u.call("DELETE", "/serial/lease"))[0] == 200
        assert (await u.call("DELETE", "/serial/lease"))[0] == 404  # nothing to break
        for line in (a, b, text):
            line.writer.close()


async def test_the_lease_expires_after_the_configured_idle_time(tmp_path: Path) -> None:
    async with unit(tmp_path, lease_idle=1.0) as u:
        ended: asyncio.Future[LogEntry] = asyncio.get_running_loop().create_future()

        def watch(entry: LogEntry) -> None:
            if entry.kind == "lease" and entry.detail["action"] != "opened" and not ended.done():
                ended.set_result(entry)

        u.board.journal.subscribe(watch)
        a = await u.line("ttyA")
        assert await a.ask(b"open") == OK
        assert (await u.call("POST", "/buttons/3"))[0] == 409
        async with asyncio.timeout(WAIT):
            entry = await ended
        assert entry.detail["action"] == "expired"
        assert (await u.call("POST", "/buttons/3"))[0] == 200
        assert await a.ask(b"sw i02") == INCORRECT  # the link is closed
        a.writer.close()


async def test_a_lease_locking_http_refuses_http_switches_too(tmp_path: Path) -> None:
    async with unit(tmp_path, lease_locks=["button", "hotkey", "http"]) as u:
        a = await u.line("ttyA")
        assert await a.ask(b"open") == OK
        status, body = await u.call("POST", "/switch", {"port": "3"})
        assert status == 409 and body["error"] == "busy"
        a.writer.close()


async def test_a_tcp_client_that_disconnects_gives_the_lease_back(tmp_path: Path) -> None:
    from kvmswitchd.core.commands import Origin, Source

    daemon, board = await start(
        tmp_path / "state",
        {
            "http": {"auth": True},
            "serial": [{"endpoint": "tcp://127.0.0.1:0", "dialect": "aten", "name": "lan"}],
        },
    )
    try:
        assert daemon.accounts is not None and daemon.setup_token is not None
        await daemon.accounts.setup(
            daemon.setup_token, "root", "long enough pw", Origin(Source.HTTP)
        )
        host, _, port = board.state()["serial"][0]["address"].rpartition(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        tcp = Line(reader, writer)
        assert await tcp.ask(b"login u root p long enough pw") == OK
        assert await tcp.ask(b"open") == OK
        lease = board.lease_view()
        assert lease is not None and lease["user"] == "root" and lease["endpoint"] == "lan"
        released: asyncio.Future[LogEntry] = asyncio.get_running_loop().create_future()

        def watch(entry: LogEntry) -> None:
            if entry.kind == "lease" and not released.done():
                released.set_result(entry)

        board.journal.subscribe(watch)
        writer.close()
        async with asyncio.timeout(WAIT):
            entry = await released
        assert entry.detail["action"] == "session ended" and board.lease_view() is None
    finally:
        await daemon.stop()
