"""The asyncio adapter on real ptys and sockets, against a fake bus."""

from __future__ import annotations

import asyncio
import os
import tty
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import serial_asyncio_fast

from kvmswitchd.core.commands import Command, Origin, Outcome, Rename, Source, SwitchTo
from kvmswitchd.errors import DeviceError
from kvmswitchd.serial.adapter import SerialEndpoint
from kvmswitchd.serial.channel import Action, ChannelCore
from kvmswitchd.serial.endpoint import DEFAULT_MAX_CLIENTS, EndpointSpec, parse_endpoint
from kvmswitchd.serial.login import LoginThrottle
from kvmswitchd.serial.text import TextDialect
from tests.serial.fakes import WAIT, Events, FakeSwitch, PtyPeer, assert_nothing_left_running


async def read_until(reader: asyncio.StreamReader, token: bytes) -> bytes:
    async with asyncio.timeout(WAIT):
        return await reader.readuntil(token)


class Served:
    def __init__(self, endpoint: SerialEndpoint, switch: FakeSwitch, events: Events) -> None:
        self.endpoint = endpoint
        self.switch = switch
        self.events = events


@pytest.fixture
async def serve() -> AsyncIterator[list[SerialEndpoint]]:
    started: list[SerialEndpoint] = []
    yield started
    for endpoint in started:
        await endpoint.stop()
    await assert_nothing_left_running()


async def start(
    started: list[SerialEndpoint],
    table: dict[str, object],
    switch: FakeSwitch | None = None,
    *,
    retry_initial: float = 1.0,
    retry_max: float = 30.0,
) -> Served:
    switch = switch or FakeSwitch()
    events = Events()
    spec = parse_endpoint(table, "serial[0]")
    endpoint = SerialEndpoint(
        spec, switch, events, retry_initial=retry_initial, retry_max=retry_max
    )
    await endpoint.start()
    started.append(endpoint)
    return Served(endpoint, switch, events)


# -- pty ------------------------------------------------------------------------------


async def test_pty_serves_a_pyserial_client_at_the_symlink(
    tmp_path: Path, serve: list[SerialEndpoint]
) -> None:
    link = tmp_path / "ttyKVM0"
    s = await start(serve, {"endpoint": f"pty:{link}", "name": "ttyKVM0", "echo": False})
    assert os.readlink(link) == s.endpoint.device
    assert s.endpoint.path == str(link)
    reader, writer = await serial_asyncio_fast.open_serial_connection(url=str(link), baudrate=9600)
    writer.write(b"port 2\r")
    assert await read_until(reader, b"OK\r\n") == b"switched to 2\r\nOK\r\n"
    assert s.switch.calls == [(SwitchTo("2"), Origin(Source.SERIAL, "ttyKVM0", None))]
    writer.close()
    await writer.wait_closed()


async def test_pty_far_end_reopened_gets_a_fresh_logged_out_session(
    tmp_path: Path, serve: list[SerialEndpoint]
) -> None:
    link = tmp_path / "ttyKVM0"
    s = await start(serve, {"endpoint": f"pty:{link}", "echo": False, "login": True})
    reader, writer = await serial_asyncio_fast.open_serial_connection(url=str(link))
    writer.write(b"alice\r")
    await read_until(reader, b"password: ")
    writer.write(b"secret\rport 2\r")
    assert (await read_until(reader, b"switched to 2\r\nOK\r\n")).startswith(b"logged in")
    writer.close()
    await writer.wait_closed()
    await s.events.wait("disconnected")

    reader, writer = await serial_asyncio_fast.open_serial_connection(url=str(link))
    writer.write(b"port 3\r")  # taken as a user name: nobody is logged in any more
    await read_until(reader, b"password: ")
    writer.write(b"x\r")
    await read_until(reader, b"ERR login failed\r\n")
    assert s.switch.focus["km"] == "2"
    writer.close()
    await writer.wait_closed()


async def test_pty_replaces_a_stale_symlink_and_removes_it_on_stop(tmp_path: Path) -> None:
    link = tmp_path / "ttyKVM0"
    link.symlink_to(tmp_path / "gone")
    endpoint = SerialEndpoint(parse_endpoint({"endpoint": f"pty:{link}"}, "s"), FakeSwitch())
    await endpoint.start()
    assert os.readlink(link) == endpoint.device
    await endpoint.stop()
    assert not link.is_symlink()


async def test_pty_refuses_to_clobber_a_regular_file(tmp_path: Path) -> None:
    target = tmp_path / "important"
    target.write_text("keep me")
    endpoint = SerialEndpoint(parse_endpoint({"endpoint": f"pty:{target}"}, "s"), FakeSwitch())
    with pytest.raises(DeviceError, match="not a symlink"):
        await endpoint.start()
    assert target.read_text() == "keep me"


# -- tcp ------------------------------------------------------------------------------


async def test_tcp_text_client_logs_in_and_switches(serve: list[SerialEndpoint]) -> None:
    s = await start(serve, {"endpoint": "tcp://127.0.0.1:0", "name": "lan"})
    assert s.endpoint.address is not None
    reader, writer = await asyncio.open_connection(*s.endpoint.address)
    await read_until(reader, b"login: ")
    writer.write(b"alice\r\n")
    await read_until(reader, b"password: ")
    writer.write(b"secret\r\nport 3\r\n")
    assert await read_until(reader, b"switched to 3\r\nOK\r\n") == (
        b"logged in as alice\r\nOK\r\nswitched to 3\r\nOK\r\n"
    )
    assert s.switch.calls[-1] == (SwitchTo("3"), Origin(Source.SERIAL, "lan", "alice"))
    writer.write(b"quit\r\n")
    async with asyncio.timeout(WAIT):
        assert (await reader.read()).endswith(b"bye\r\nOK\r\n")  # then the server closes
    writer.close()
    await s.events.wait("disconnected")


async def test_tesmart_on_tcp_answers_loopback_clients(serve: list[SerialEndpoint]) -> None:
    s = await start(serve, {"endpoint": "tcp://127.0.0.1:0", "dialect": "tesmart"})
    assert s.endpoint.address is not None
    reader, writer = await asyncio.open_connection(*s.endpoint.address)
    writer.write(bytes.fromhex("AABB030104EE"))
    async with asyncio.timeout(WAIT):
        assert await reader.readexactly(6) == bytes.fromhex("AABB031103EE")
    writer.close()


async def test_tcp_peer_outside_the_allow_list_is_refused(serve: list[SerialEndpoint]) -> None:
    s = await start(
        serve, {"endpoint": "tcp://127.0.0.1:0", "dialect": "tesmart", "allow": ["10.0.0.0/8"]}
    )
    assert s.endpoint.address is not None
    reader, writer = await asyncio.open_connection(*s.endpoint.address)
    writer.write(bytes.fromhex("AABB030104EE"))
    async with asyncio.timeout(WAIT):
        assert await reader.read() == b""
    writer.close()
    await s.events.wait("refused")
    assert s.switch.calls == []
    (detail,) = s.events.details("refused")
    port = writer.get_extra_info("sockname")[1]
    assert detail == f"tcp:0: 127.0.0.1:{port}: not in the allow-list"


async def test_a_text_client_past_the_default_limit_is_told_why_and_closed(
    serve: list[SerialEndpoint],
) -> None:
    s = await start(serve, {"endpoint": "tcp://127.0.0.1:0", "name": "lan"})
    assert s.endpoint.address is not None
    clients = [
        await asyncio.open_connection(*s.endpoint.address) for _ in range(DEFAULT_MAX_CLIENTS)
    ]
    for reader, _ in clients:
        await read_until(reader, b"login: ")
    reader, writer = await asyncio.open_connection(*s.endpoint.address)
    async with asyncio.timeout(WAIT):
        assert await reader.read() == b"ERR too many clients (max 8); try again later\r\n"
    await s.events.wait("refused")
    port = writer.get_extra_info("sockname")[1]
    assert s.events.details("refused") == [f"lan: 127.0.0.1:{port}: too many clients (max 8)"]
    for _, w in [*clients, (reader, writer)]:
        w.close()


async def test_a_tesmart_client_past_its_configured_limit_is_closed_without_a_word(
    serve: list[SerialEndpoint],
) -> None:
    table = {"endpoint": "tcp://127.0.0.1:0", "dialect": "tesmart", "max_clients": 2}
    s = await start(serve, table)
    assert s.endpoint.address is not None
    clients = [await asyncio.open_connection(*s.endpoint.address) for _ in range(2)]
    for reader, writer in clients:  # both are served
        writer.write(bytes.fromhex("AABB031000EE"))
        async with asyncio.timeout(WAIT):
            assert await reader.readexactly(6) == bytes.fromhex("AABB031100EE")
    reader, writer = await asyncio.open_connection(*s.endpoint.address)
    writer.write(bytes.fromhex("AABB031000EE"))
    async with asyncio.timeout(WAIT):
        assert await reader.read() == b""  # closed in order (not reset), nothing said
    await s.events.wait("refused")
    assert s.events.details("refused")[0].endswith(": too many clients (max 2)")
    assert (s.endpoint.describe()["clients"], s.endpoint.describe()["max_clients"]) == (2, 2)
    clients[0][1].close()
    await s.events.wait("disconnected")
    reader, late = await asyncio.open_connection(*s.endpoint.address)  # room again
    late.write(bytes.fromhex("AABB031000EE"))
    async with asyncio.timeout(WAIT):
        assert await reader.readexactly(6) == bytes.fromhex("AABB031100EE")
    for w in (clients[1][1], writer, late):
        w.close()


class FlakySwitch(FakeSwitch):
    """A bus with a bug: renaming raises."""

    def run(self, command: Command, origin: Origin) -> Outcome:
        if isinstance(command, Rename):
            raise RuntimeError("boom")
        return super().run(command, origin)


async def test_a_failing_bus_call_is_an_error_reply_and_other_clients_carry_on(
    serve: list[SerialEndpoint],
) -> None:
    s = await start(serve, {"endpoint": "tcp://127.0.0.1:0"}, FlakySwitch())
    assert s.endpoint.address is not None
    clients = [await asyncio.open_connection(*s.endpoint.address) for _ in range(2)]
    for reader, writer in clients:
        await read_until(reader, b"login: ")
        writer.write(b"alice\rsecret\r")
        await read_until(reader, b"OK\r\n")
    (r1, w1), (r2, w2) = clients
    w1.write(b"name 2 x\r")
    assert await read_until(r1, b"\r\n") == b"ERR internal error\r\n"
    await s.events.wait("error")
    w2.write(b"port 2\r")
    assert await read_until(r2, b"OK\r\n") == b"switched to 2\r\nOK\r\n"
    w1.write(b"port 3\r")
    assert await read_until(r1, b"OK\r\n") == b"switched to 3\r\nOK\r\n"
    for _, writer in clients:
        writer.close()


class FaultyCore(TextDialect):
    """A core with a bug: the word "boom" makes it raise."""

    def receive_data(self, data: bytes, now: float) -> list[Action]:
        if b"boom" in data:
            raise ZeroDivisionError("core bug")
        return super().receive_data(data, now)


def faulty_core(spec: EndpointSpec, throttle: LoginThrottle) -> ChannelCore:
    return FaultyCore(channel=spec.name, throttle=throttle, echo=False)


async def test_a_core_that_raises_costs_only_its_own_connection(
    serve: list[SerialEndpoint],
) -> None:
    table: dict[str, object] = {"endpoint": "tcp://127.0.0.1:0", "dialect": "aten"}
    endpoint = SerialEndpoint(
        parse_endpoint(table, "s"), FakeSwitch(), (events := Events()), make_core=faulty_core
    )
    await endpoint.start()
    serve.append(endpoint)
    assert endpoint.address is not None
    (r1, w1), (r2, w2) = [await asyncio.open_connection(*endpoint.address) for _ in range(2)]
    w1.write(b"boom\r")
    async with asyncio.timeout(WAIT):
        assert await r1.read() == b""  # closed
    await events.wait("error")
    w2.write(b"port 2\r")
    assert await read_until(r2, b"OK\r\n") == b"switched to 2\r\nOK\r\n"
    w1.close()
    w2.close()


# -- tty ------------------------------------------------------------------------------


def new_pty(link: Path) -> tuple[int, int]:
    """A pty whose slave the link points at (atomically, like udev would)."""
    master, slave = os.openpty()
    tty.setraw(slave)
    temp = link.with_suffix(".new")
    temp.symlink_to(os.ttyname(slave))
    temp.replace(link)
    return master, slave


async def test_a_missing_tty_is_retried_until_it_appears_and_after_it_vanishes(
    tmp_path: Path, serve: list[SerialEndpoint]
) -> None:
    link = tmp_path / "ttyUSB-kvm"
    s = await start(
        serve,
        {"endpoint": f"tty:{link}", "echo": False},
        retry_initial=0.01,
        retry_max=0.05,
    )
    await s.events.wait("device_missing")
    assert not s.endpoint.connected

    master, slave = new_pty(link)
    await s.events.wait("device_open")
    peer = PtyPeer(master)
    peer.write(b"port 2\r")
    assert await peer.expect(b"OK\r\n") == b"switched to 2\r\nOK\r\n"

    peer.close()  # the adapter is unplugged
    os.close(slave)
    await s.events.wait("device_lost")
    await s.events.wait("device_missing", 2)

    master, slave = new_pty(link)  # and plugged in again
    await s.events.wait("device_open", 2)
    peer = PtyPeer(master)
    peer.write(b"next\r")
    assert await peer.expect(b"OK\r\n") == b"switched to 3\r\nOK\r\n"
    await s.endpoint.stop()
    peer.close()
    os.close(slave)


async def test_a_tcp_session_s_reports_name_its_peer_not_the_name_typed(
    serve: list[SerialEndpoint],
) -> None:
    s = await start(serve, {"endpoint": "tcp://127.0.0.1:0", "name": "lan"})
    assert s.endpoint.address is not None
    reader, writer = await asyncio.open_connection(*s.endpoint.address)
    await read_until(reader, b"login: ")
    writer.write(b"hunter2\r\nx\r\nalice\r\nsecret\r\n")
    await read_until(reader, b"logged in as alice\r\nOK\r\n")
    port = writer.get_extra_info("sockname")[1]
    assert s.events.details("login_failed") == [
        f"lan: 127.0.0.1:{port}: failed login (1 this session)"
    ]
    assert s.events.details("login") == [f"lan: 127.0.0.1:{port}: alice logged in"]
    writer.close()
