"""A stateful property test of the one guarded path against the real daemon (issue 12).

Several users with random roles and per-port restrictions act through HTTP, the
websocket, a serial text line (TCP, logged in), web-console hotkeys and front-panel
buttons, with valid and invalid input (bad EDIDs, oversized names, unknown ports,
malformed JSON, ports they may not touch). After every step:

- no actor moved a focus to, typed into, moved storage to, or saw a port it lacks the
  right for (each user types its own letter, so a port's screen says who typed there);
- every refused request left the state (minus clocks) exactly as it was;
- no key is held on any port without km focus;
- and at random points the daemon is restarted on its state directory and shows the
  same state.

Run on units of 4 and of 16 ports (a grant on "1" must not cover "12").
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import aiohttp
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from kvmswitchd.core.commands import Origin, Source
from kvmswitchd.core.guard import Actor
from kvmswitchd.core.permissions import Permission, Role, allows, parse_restrictions
from tests.daemon.conftest import start
from tests.guard.conftest import PASSWORD

MARKERS = "jkmp"  # the letter each user types (user i types MARKERS[i])
BAD_EDID = "00ffffffffffff00" + "00" * 119 + "01"  # a header, then a wrong checksum


def person(ports: int) -> st.SearchStrategy[tuple[Role, dict[str, list[str]]]]:
    port_ids = st.integers(1, ports).map(str)
    table = st.dictionaries(
        st.sampled_from(["view", "switch", "type", "storage", "configure"]),
        st.lists(port_ids, max_size=3, unique=True),
        max_size=5,
    )
    return st.tuples(st.sampled_from(list(Role)), table)


class Serial:
    """A logged-in text session over TCP."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def command(self, line: str) -> str:
        self.writer.write(line.encode() + b"\r\n")
        out = b""
        while not (out.endswith(b"OK\r\n") or (b"ERR" in out and out.endswith(b"\r\n"))):
            out += await asyncio.wait_for(self.reader.read(4096), 10)
        return out.decode(errors="replace")

    def close(self) -> None:
        self.writer.close()


class GuardedUnit(RuleBasedStateMachine):
    PORTS = 4

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.dir = Path(tempfile.mkdtemp(prefix="kvm-guard-"))
        self.people: list[tuple[str, Actor]] = []
        self.tokens: dict[str, str] = {}
        self.ws: dict[str, aiohttp.ClientWebSocketResponse] = {}
        self.serial: dict[str, Serial] = {}
        self.restarts = 0
        self.daemon: Any = None
        self.http: aiohttp.ClientSession | None = None

    # -- plumbing ---------------------------------------------------------------------

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    async def _open(self) -> None:
        doc = {
            "switch": {"ports": self.PORTS},
            "http": {"auth": True},
            "serial": [{"endpoint": "tcp://127.0.0.1:0", "name": "lan"}],
        }
        self.daemon, self.board = await start(self.dir / "state", doc)
        self.http = aiohttp.ClientSession()

    async def _connect(self, name: str) -> None:
        assert self.http is not None
        headers = {"Authorization": f"Bearer {self.tokens[name]}"}
        try:
            ws = await self.http.ws_connect(self.url + "/ws", headers=headers)
        except aiohttp.WSServerHandshakeError as exc:
            refused = exc.status  # a user who may view no port gets no stream (403)
            assert refused == 403
        else:
            self.ws[name] = ws
            await ws.receive_json()  # the state on connect
        address = next(e["address"] for e in self.board.state()["serial"])
        host, _, port = address.rpartition(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        line = Serial(reader, writer)
        await _read_until(reader, b"login: ")
        writer.write(name.encode() + b"\r\n")
        await _read_until(reader, b"password: ")
        writer.write(PASSWORD.encode() + b"\r\n")
        await _read_until(reader, b"\r\n")
        self.serial[name] = line

    async def _close(self) -> None:
        for ws in self.ws.values():
            await ws.close()
        for line in self.serial.values():
            line.close()
        self.ws, self.serial = {}, {}
        if self.http is not None:
            await self.http.close()
        if self.daemon is not None:
            await self.daemon.stop()

    @property
    def url(self) -> str:
        return str(self.daemon.http_url) + "/api/v1"

    async def call(self, who: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        assert self.http is not None
        headers = {"Authorization": f"Bearer {self.tokens[who]}"}
        kwargs: dict[str, Any] = {"headers": headers}
        if isinstance(body, bytes):
            kwargs["data"] = body
            headers["Content-Type"] = "application/json"
        elif body is not None:
            kwargs["json"] = body
        async with self.http.request(method, self.url + path, **kwargs) as resp:
            text = await resp.text()
        try:
            return resp.status, json.loads(text)
        except ValueError:
            return resp.status, text

    def snapshot(self) -> dict[str, Any]:
        """The state as an admin reads it, minus clocks and sessions."""
        state = self.board.state()
        state.pop("serial", None)
        storage = state.get("storage")
        if isinstance(storage, dict):
            storage.pop("busy", None)
        return state

    def teardown(self) -> None:
        self.run(self._close())
        self.loop.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- who may do what ----------------------------------------------------------------

    def actor(self, who: int) -> tuple[str, Actor]:
        return self.people[who % len(self.people)]

    def may(self, actor: Actor, permission: Permission, port: str) -> bool:
        return allows(actor, permission, port)

    def check_moves(self, actor: Actor, before: dict[str, str]) -> None:
        after = dict(self.board.core.focus_view())
        for channel in ("km", "video", "audio"):
            if after[channel] != before[channel]:
                assert self.may(actor, Permission.SWITCH, after[channel]), (actor, channel)
        if after["usb"] != before["usb"]:
            assert self.may(actor, Permission.STORAGE, after["usb"]), actor

    def acted(self, actor: Actor, status: int, before_focus: dict[str, str], before: Any) -> None:
        self.check_moves(actor, before_focus)
        if status >= 400:
            assert self.snapshot() == before, f"a refused request ({status}) changed state"

    # -- setup ------------------------------------------------------------------------

    @initialize(people=st.lists(person(16), min_size=2, max_size=3))
    def create(self, people: list[tuple[Role, dict[str, list[str]]]]) -> None:
        self.run(self._create(people))

    async def _create(self, people: list[tuple[Role, dict[str, list[str]]]]) -> None:
        await self._open()
        accounts = self.daemon.accounts
        origin = Origin(Source.SYSTEM, detail="test")
        await accounts.setup(self.daemon.setup_token, "root", PASSWORD, origin)
        self.tokens["root"] = (await accounts.create_token("root", "t", origin))[1]
        for i, (role, table) in enumerate(people):
            name = f"u{i}"
            ports = {k: [p for p in v if int(p) <= self.PORTS] for k, v in table.items()}
            restrictions = parse_restrictions(ports)
            await accounts.create_user(name, PASSWORD, role, restrictions, origin)
            self.tokens[name] = (await accounts.create_token(name, "t", origin))[1]
            self.people.append((name, Actor(name, role, restrictions)))
            await self._connect(name)

    # -- actions ----------------------------------------------------------------------

    def _act(self, who: int, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        name, actor = self.actor(who)
        before, focus = self.snapshot(), dict(self.board.core.focus_view())
        status, reply = self.run(self.call(name, method, path, body))
        assert status < 500, (method, path, status, reply)
        self.acted(actor, status, focus, before)
        return status, reply

    port_ids = st.one_of(
        st.integers(1, 16).map(str), st.sampled_from(["0", "99", "x", "1.2", "", "2.99"])
    )
    channel_sets = st.one_of(
        st.none(), st.lists(st.sampled_from(["km", "video", "audio", "usb", "bogus"]), max_size=3)
    )

    @rule(who=st.integers(0, 2), port=port_ids, channels=channel_sets)
    def http_switch(self, who: int, port: str, channels: list[str] | None) -> None:
        body: dict[str, Any] = {"port": port}
        if channels is not None:
            body["channels"] = channels
        status, reply = self._act(who, "POST", "/switch", body)
        _, actor = self.actor(who)
        valid = port.isdigit() and 1 <= int(port) <= self.PORTS
        if valid and channels is None and self.may(actor, Permission.SWITCH, port):
            # allowed requests are carried out, not only refused ones left alone
            assert status == 200, reply
            assert self.board.core.focus_view()["km"] == port

    @rule(who=st.integers(0, 2), port=st.integers(1, 4))
    def http_switch_to_a_real_port(self, who: int, port: int) -> None:
        self.http_switch(who, str(port), None)

    @rule(who=st.integers(0, 2), path=st.sampled_from(["/switch/next", "/switch/prev"]))
    def http_step(self, who: int, path: str) -> None:
        self._act(who, "POST", path)

    @rule(who=st.integers(0, 2), button=st.sampled_from(["next", "prev", "1", "3", "12", "x"]))
    def front_panel_button(self, who: int, button: str) -> None:
        self._act(who, "POST", f"/buttons/{button}")

    @rule(who=st.integers(0, 2), port=port_ids, name=st.sampled_from(["Build", "x" * 65, "", 7]))
    def rename(self, who: int, port: str, name: object) -> None:
        self._act(who, "PATCH", f"/ports/{port or '1'}", {"name": name})

    @rule(who=st.integers(0, 2), port=st.integers(1, 16), preset=st.booleans())
    def set_edid(self, who: int, port: int, preset: bool) -> None:
        body = {"preset": "1080p60"} if preset else {"hex": BAD_EDID}
        self._act(who, "PUT", f"/ports/{port}/edid", body)

    @rule(who=st.integers(0, 2), body=st.sampled_from([b"{", b"[1,2]", b'{"port": [' * 50]))
    def malformed_json(self, who: int, body: bytes) -> None:
        self._act(who, "POST", "/switch", body)

    @rule(who=st.integers(0, 2))
    def http_type(self, who: int) -> None:
        name, _ = self.actor(who)
        self._act(who, "POST", "/input", {"text": MARKERS[int(name[1:])]})

    @rule(who=st.integers(0, 2), port=st.integers(1, 16))
    def web_console_hotkey_then_type(self, who: int, port: int) -> None:
        name, _ = self.actor(who)
        digits = [f"KEY_{d}" for d in str(port)]
        keys = ["KEY_SCROLLLOCK", "KEY_SCROLLLOCK", *digits]
        if self.PORTS >= 10:
            keys.append("KEY_ENTER")
        keys.append(f"KEY_{MARKERS[int(name[1:])].upper()}")
        events = [{"type": "EV_KEY", "code": k, "value": v} for k in keys for v in (1, 0)]
        self._act(who, "POST", "/console/events", {"events": events})

    @rule(who=st.integers(0, 2), hold=st.booleans())
    def websocket_type(self, who: int, hold: bool) -> None:
        name, actor = self.actor(who)
        key = f"KEY_{MARKERS[int(name[1:])].upper()}"
        events = [{"type": "EV_KEY", "code": key, "value": 1}]
        if not hold:
            events.append({"type": "EV_KEY", "code": key, "value": 0})
        if name not in self.ws:
            return
        focus = dict(self.board.core.focus_view())
        self.run(self._ws_send(name, {"type": "input", "events": events, "id": 1}))
        self.check_moves(actor, focus)

    async def _ws_send(self, name: str, message: dict[str, Any]) -> dict[str, Any]:
        ws = self.ws[name]
        await ws.send_json(message)
        while True:
            reply = await asyncio.wait_for(ws.receive_json(), 10)
            if reply.get("id") == message["id"]:
                return dict(reply)

    @rule(who=st.integers(0, 2), port=port_ids)
    def websocket_switch(self, who: int, port: str) -> None:
        name, actor = self.actor(who)
        if name not in self.ws:
            return
        before, focus = self.snapshot(), dict(self.board.core.focus_view())
        reply = self.run(self._ws_send(name, {"type": "switch", "port": port, "id": 2}))
        self.acted(actor, 400 if reply["type"] == "error" else 200, focus, before)

    @rule(
        who=st.integers(0, 2),
        line=st.sampled_from(["next", "prev", "switch 3", "switch 12", "port 2", "status", "x"]),
    )
    def serial_text(self, who: int, line: str) -> None:
        name, actor = self.actor(who)
        before, focus = self.snapshot(), dict(self.board.core.focus_view())
        reply = self.run(self.serial[name].command(line))
        self.acted(actor, 400 if "ERR" in reply else 200, focus, before)
        if line == "status":
            for row in reply.splitlines():
                if row.startswith("port "):
                    assert self.may(actor, Permission.VIEW, row.split()[1]), (actor, row)

    @rule(who=st.integers(0, 2))
    def scan_starts_over_the_visible_ports_and_stops(self, who: int) -> None:
        status, _ = self._act(who, "POST", "/scan", {"on": True, "dwell": 60})
        _, actor = self.actor(who)
        if status == 200:
            assert all(self.may(actor, Permission.VIEW, str(u)) for u in self.board.scan.ring)
            self.run(self.call("root", "POST", "/scan", {"on": False}))

    @rule(who=st.integers(0, 2))
    def read_state_and_log(self, who: int) -> None:
        name, actor = self.actor(who)
        status, state = self.run(self.call(name, "GET", "/state"))
        if status == 200:
            for port in state["ports"]:
                assert self.may(actor, Permission.VIEW, port["id"])
        status, log = self.run(self.call(name, "GET", "/log?limit=200"))
        if status == 200:
            for entry in log["entries"]:
                for port in entry["ports"]:
                    assert self.may(actor, Permission.VIEW, port), entry

    @precondition(lambda self: self.restarts < 2)
    @rule()
    def restart(self) -> None:
        self.restarts += 1
        before = self.board.snapshot()
        self.run(self._restart())
        assert self.board.snapshot() == before

    async def _restart(self) -> None:
        await self._close()
        await self._open()
        for name, _ in self.people:
            await self._connect(name)

    # -- invariants ---------------------------------------------------------------------

    @invariant()
    def nobody_typed_where_they_may_not(self) -> None:
        if self.daemon is None or not self.people:
            return
        for unit, port in self.board.links.items():
            text = str(port.target.view().get("text", ""))
            for i, (_, actor) in enumerate(self.people):
                if MARKERS[i] in text:
                    assert self.may(actor, Permission.TYPE, str(unit)), (actor, unit, text)

    @invariant()
    def no_key_is_held_on_a_port_without_km_focus(self) -> None:
        if self.daemon is None:
            return
        km = self.board.router.km
        for unit, port in self.board.links.items():
            if unit != km:
                assert not port.target.view().get("pressed"), (unit, km)


async def _read_until(reader: asyncio.StreamReader, marker: bytes) -> bytes:
    out = b""
    while not out.endswith(marker):
        chunk = await asyncio.wait_for(reader.read(4096), 10)
        assert chunk, f"connection closed before {marker!r}: {out!r}"
        out += chunk
    return out


class GuardedSixteenPortUnit(GuardedUnit):
    PORTS = 16


GuardedUnit.TestCase.settings = settings(max_examples=6, stateful_step_count=25, deadline=None)
GuardedSixteenPortUnit.TestCase.settings = settings(
    max_examples=3, stateful_step_count=25, deadline=None
)
TestGuardedUnit = GuardedUnit.TestCase
TestGuardedSixteenPortUnit = GuardedSixteenPortUnit.TestCase
