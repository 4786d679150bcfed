"""Fixtures for the web edge: a fake service behind the real aiohttp app, and the whole
daemon in-process on emulated ports."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from aiohttp.typedefs import Middleware

from kvmswitchd.core.commands import Command, Origin, Outcome, SwitchTo
from kvmswitchd.core.guard import visible_units
from kvmswitchd.core.holds import Holder
from kvmswitchd.core.permissions import Principal
from kvmswitchd.core.views import state_for
from kvmswitchd.errors import NotFoundError
from web import ws
from web.app import create_app

if TYPE_CHECKING:
    from tests.daemon.conftest import Running

Json = dict[str, Any]
CHANNELS = ("km", "video", "audio", "usb")


class FakeService:
    """A four-port switch that records what the web edge asked of it."""

    def __init__(self) -> None:
        self.names = {str(n): f"Port {n}" for n in range(1, 5)}
        self.focus = dict.fromkeys(CHANNELS, "1")
        self.typed: list[tuple[str | None, list[Json] | None, Origin]] = []
        self.typed_by: list[Holder | None] = []  # the holder of each type_input
        self.released: list[Holder] = []  # release_client calls, in order
        self.release_seen = asyncio.Event()  # set by every release_client call
        self.executed: list[tuple[Command, Origin]] = []
        self.listeners: list[Callable[[Json], None]] = []
        self.warnings: dict[str, list[Any]] = {}  # per port, as the daemon will report them
        self.extra: Json = {}  # more state keys (storage...)

    def health(self) -> Json:
        return {"ok": True, "ports": len(self.names)}

    def port(self, port_id: str) -> Json:
        focus = [c for c in CHANNELS if self.focus[c] == port_id]
        warnings = self.warnings.get(port_id, [])
        return {"id": port_id, "name": self.names[port_id], "focus": focus, "warnings": warnings}

    def visible(self, viewer: Principal | None) -> frozenset[int] | None:
        return visible_units(viewer, len(self.names)) if viewer is not None else None

    def ports(self, viewer: Principal | None = None) -> list[Json]:
        return [self.port(p) for p in self.names]

    def state(self, viewer: Principal | None = None) -> Json:
        doc = {"ports": self.ports(), "focus": dict(self.focus), **self.extra}
        return state_for(doc, self.visible(viewer))

    def target(self, port_id: str) -> Json:
        return {"port": port_id, "text": ""}

    async def execute(self, command: Command, origin: Origin) -> Outcome:
        self.executed.append((command, origin))
        if not isinstance(command, SwitchTo):
            return Outcome(False, message="not supported here", error="bad_request")
        return self.switch(command.port, command.channels, command.force, origin)

    def switch(
        self, port_id: str, channels: Sequence[str] | None, force: bool, origin: Origin
    ) -> Outcome:
        if port_id not in self.names:
            return Outcome(False, message=f"no port {port_id}", error="unknown_port")
        for channel in channels or CHANNELS:
            self.focus[channel] = port_id
        self.emit({"type": "state", "state": self.state()})
        return Outcome(True, message="switched")

    def inject_console(self, events: Sequence[Mapping[str, Any]], origin: Origin) -> int:
        return len(events)

    def type_input(
        self,
        text: str | None,
        events: Sequence[Mapping[str, Any]] | None,
        origin: Origin,
        client: Holder | None = None,
    ) -> Json:
        if text == "boom":
            raise RuntimeError("a bug in the service")
        self.typed.append((text, [dict(e) for e in events] if events is not None else None, origin))
        self.typed_by.append(client)
        return {"port": self.focus["km"], "inputs": len(text or "") + len(events or [])}

    def release_client(self, client: Holder, origin: Origin) -> int:
        self.released.append(client)
        self.release_seen.set()
        return 0

    def screen(self, port_id: str) -> bytes:
        raise NotFoundError(f"port {port_id} has no screen")

    def edid(self, port_id: str, fmt: str) -> bytes | Json:
        raise NotFoundError("no EDIDs here")

    def set_edid(self, port_id: str, body: Mapping[str, Any], origin: Origin) -> Json:
        raise NotFoundError("no EDIDs here")

    def log(self, params: Mapping[str, str], viewer: Principal | None = None) -> list[Json]:
        return []

    def metrics(self, viewer: Principal | None = None) -> Json:
        return {
            "switches": {},
            "events_routed": 0,
            "errors": 0,
            "focus": dict(self.focus),
            "ws_clients": len(self.listeners),
            "serial_sessions": 0,
            "ports": len(self.names),
        }

    def subscribe(self, listener: Callable[[Json], None]) -> Callable[[], None]:
        self.listeners.append(listener)
        return lambda: self.listeners.remove(listener)

    def emit(self, message: Json) -> None:
        for listener in list(self.listeners):
            listener(message)


@asynccontextmanager
async def serve(
    service: FakeService,
    *,
    limits: ws.Limits | None = None,
    authorize: ws.Authorize | None = None,
    middleware: Middleware | None = None,
) -> AsyncIterator[TestClient[Any, Any]]:
    app = create_app(service)
    if middleware is not None:
        app.middlewares.insert(0, middleware)
    if limits is not None:
        app[ws.LIMITS] = limits
    if authorize is not None:
        app[ws.AUTHORIZE] = authorize
    async with TestClient(TestServer(app)) as client:
        yield client


@pytest.fixture
def service() -> FakeService:
    return FakeService()


@pytest.fixture
async def client(service: FakeService) -> AsyncIterator[TestClient[Any, Any]]:
    async with serve(service) as client:
        yield client


async def receive(sock: aiohttp.ClientWebSocketResponse) -> Json:
    """The next JSON message (fails on close or a non-text frame)."""
    msg = await sock.receive(timeout=5)
    assert msg.type is aiohttp.WSMsgType.TEXT, (msg.type, msg.data, msg.extra)
    data: Json = msg.json()
    return data


async def receive_until(sock: aiohttp.ClientWebSocketResponse, kind: str) -> Json:
    """Skip messages until one of type ``kind`` arrives."""
    while True:
        message = await receive(sock)
        if message["type"] == kind:
            return message


async def closed(sock: aiohttp.ClientWebSocketResponse) -> aiohttp.WSMessage:
    """Read until the server closes; return the close frame."""
    while True:
        msg = await sock.receive(timeout=5)
        if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
            return msg
        assert msg.type is aiohttp.WSMsgType.TEXT, msg


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[Running]:
    """The whole daemon on emulated ports, on an ephemeral loopback port."""
    from tests.daemon.conftest import Running, start  # the daemon only when a test needs it

    daemon, board = await start(tmp_path / "state")
    async with aiohttp.ClientSession() as http:
        yield Running(daemon, board, daemon.http_url, http)
    await daemon.stop()
