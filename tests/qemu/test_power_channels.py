"""The power permission on every channel, against the whole daemon with a qemu port on
a fake QEMU: HTTP, kvmctl and the serial text dialect all carry the action for a user
who has the right, and refuse (and log) it for one who lacks it; nothing reaches the VM
then."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from kvmswitchd.core.commands import Origin, Source
from kvmswitchd.core.permissions import Permission, Role
from kvmswitchd.daemon import Daemon
from kvmswitchd.switchboard import Switchboard
from kvmswitchd.targets.qemu import QemuTarget
from tests.daemon.conftest import start
from tests.daemon.test_kvmctl import kvmctl
from tests.qemu.fake_qmp import FakeQmp

PASSWORD = "a long password"
# who, role, restrictions, may power port 2
PEOPLE = [
    ("ops", Role.OPERATOR, {}, True),
    ("nopower", Role.OPERATOR, {Permission.POWER: frozenset[str]()}, False),
    ("other", Role.OPERATOR, {Permission.POWER: frozenset({"1"})}, False),
    ("viewer", Role.VIEWER, {}, False),
]


@dataclass
class Unit:
    daemon: Daemon
    board: Switchboard
    vm: FakeQmp
    tokens: dict[str, str]
    serial: tuple[str, int]


@pytest.fixture
async def unit(tmp_path: Path, vm: FakeQmp) -> AsyncIterator[Unit]:
    doc = {
        "http": {"auth": True},
        "switch": {"ports": 2},
        "ports": {"2": {"target": "qemu", "qmp": f"unix:{vm.path}"}},
        "serial": [{"endpoint": "tcp://127.0.0.1:0", "name": "lan"}],
    }
    daemon, board = await start(tmp_path / "state", doc)
    try:
        accounts = daemon.accounts
        assert accounts is not None and daemon.setup_token is not None
        origin = Origin(Source.HTTP, "test")
        await accounts.setup(daemon.setup_token, "admin", PASSWORD, origin)
        tokens = {}
        for name, role, ports, _ in PEOPLE:
            await accounts.create_user(name, PASSWORD, role, ports, origin)
            _, tokens[name] = await accounts.create_token(name, "t", origin)
        target = board.links[2].target
        assert isinstance(target, QemuTarget)
        await target.connected.wait()
        host, _, port = next(e["address"] for e in board.state()["serial"]).rpartition(":")
        yield Unit(daemon, board, vm, tokens, (host, int(port)))
    finally:
        await daemon.stop()


def refusals(unit: Unit, user: str) -> int:
    return sum(1 for e in unit.board.journal.recent(500) if e.kind == "refused" and e.user == user)


def resets(unit: Unit) -> int:
    return sum(1 for name, _ in unit.vm.commands if name == "system_reset")


@pytest.mark.parametrize(("user", "allowed"), [(p[0], p[3]) for p in PEOPLE])
async def test_http_power_needs_the_power_right_on_the_port(
    unit: Unit, user: str, allowed: bool
) -> None:
    headers = {"Authorization": f"Bearer {unit.tokens[user]}"}
    url = unit.daemon.http_url + "/api/v1/ports/2/power"
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.post(url, json={"action": "reset"}) as reply:
            body = await reply.json()
    if allowed:
        assert reply.status == 200 and body["message"] == "port 2: reset"
        assert body["state"]["ports"][1]["power"]["status"] == "running"
        assert resets(unit) == 1
        entry = [e for e in unit.board.journal.recent(50) if e.kind == "power"][-1]
        assert (entry.user, entry.ports, entry.detail["action"]) == (user, ("2",), "reset")
    else:
        assert reply.status == 403, body
        assert resets(unit) == 0


@pytest.mark.parametrize(("user", "allowed"), [(p[0], p[3]) for p in PEOPLE])
async def test_kvmctl_power_needs_the_power_right_on_the_port(
    unit: Unit, user: str, allowed: bool
) -> None:
    env = {"KVMCTL_TOKEN": unit.tokens[user]}
    code, out, err = await kvmctl(unit.daemon.http_url, "power", "2", "pause", env=env)
    if allowed:
        assert code == 0 and out.startswith("port 2: paused"), err
        assert "[paused]" in out or "[running]" in out  # the VM's state in the listing
        assert ("stop", {}) in unit.vm.commands
    else:
        assert code == 1 and "403" in err
        assert "stop" not in unit.vm.names()


async def serial_session(unit: Unit, user: str, line: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(*unit.serial)
    try:
        async with asyncio.timeout(10):
            await reader.readuntil(b"login: ")
            writer.write(f"{user}\r\n".encode())
            await reader.readuntil(b"password: ")
            writer.write(f"{PASSWORD}\r\n".encode() + line + b"\r\n")
            reply = b""
            ends = 0
            while ends < 2:  # the login's answer, then the command's
                line = await reader.readuntil(b"\r\n")
                reply += line
                ends += line == b"OK\r\n" or line.startswith(b"ERR")
    finally:
        writer.close()
    return reply


@pytest.mark.parametrize(("user", "allowed"), [(p[0], p[3]) for p in PEOPLE])
async def test_serial_power_needs_the_power_right_on_the_port(
    unit: Unit, user: str, allowed: bool
) -> None:
    before = refusals(unit, user)
    reply = await serial_session(unit, user, b"power 2 reset")
    if allowed:
        assert b"port 2: reset\r\nOK" in reply
        assert resets(unit) == 1
    else:
        assert b"ERR" in reply and b"may not power" in reply
        assert resets(unit) == 0
        assert refusals(unit, user) == before + 1


async def test_serial_power_answers_a_bad_action_and_a_port_without_power(unit: Unit) -> None:
    reply = await serial_session(unit, "ops", b"power 2 explode")
    assert b"ERR unknown power action 'explode'" in reply
    reply = await serial_session(unit, "ops", b"power 1 reset")
    assert b"ERR port 1 has no power control" in reply
    assert resets(unit) == 0
