"""A whole modem conversation: the adapter on one end of a real pty, a scripted Hayes
modem (and the callers behind it) on the other."""

from __future__ import annotations

import os
import tty
from collections.abc import AsyncIterator

import pytest

from kvmswitchd.core.commands import Source, SwitchTo
from kvmswitchd.serial.adapter import SerialEndpoint
from kvmswitchd.serial.endpoint import parse_endpoint
from tests.serial.fakes import Events, FakeSwitch, PtyPeer, assert_nothing_left_running

INIT = ["ATZ", "ATE0", "ATS0=1"]


class ScriptedModem:
    """Plays a Hayes modem on a pty master: answers AT commands in command mode, rings
    and connects on ``ring()``, passes data to the caller's screen when online, leaves
    data mode on "+++" (guard times are not checked), drops carrier on request."""

    def __init__(self, master: int) -> None:
        self.peer = PtyPeer(master, on_data=self._from_daemon)
        self.online = False
        self.echo = True
        self.auto_answer = False
        self.commands: list[str] = []
        self.screen = bytearray()  # what the caller's terminal shows
        self._line = bytearray()

    def _from_daemon(self, data: bytes) -> None:
        if self.online:
            shown, escape, _ = data.partition(b"+++")
            self.screen += shown
            if escape:
                self.online = False
                self._result("OK")
            return
        for byte in data:
            if self.echo:
                self.peer.write(bytes((byte,)))
            if byte == 0x0D:
                self._command(self._line.decode("ascii", "replace"))
                self._line.clear()
            elif byte != 0x0A:
                self._line.append(byte)

    def _command(self, line: str) -> None:
        start = line.upper().find("AT")
        if start < 0:
            return  # junk: a real modem ignores text without the AT prefix
        command = line[start:].upper()
        self.commands.append(command)
        if command == "ATZ":
            self.echo, self.auto_answer = True, False
        elif command == "ATE0":
            self.echo = False
        elif command.startswith("ATS0="):
            self.auto_answer = command != "ATS0=0"
        self._result("OK")

    def _result(self, text: str) -> None:
        self.peer.write(b"\r\n" + text.encode() + b"\r\n")

    def ring(self) -> None:
        assert self.auto_answer and not self.online
        self._result("RING")
        self._result("CONNECT 9600")
        self.online = True
        self.screen.clear()

    def carrier_lost(self) -> None:
        self.online = False
        self._result("NO CARRIER")

    def type(self, data: bytes) -> None:
        """The caller types (only reaches the line while connected)."""
        assert self.online
        self.peer.write(data)

    async def sees(self, pattern: bytes) -> bytes:
        await self.peer.wait_for(lambda: pattern in self.screen)
        end = self.screen.index(pattern) + len(pattern)
        shown = bytes(self.screen[:end])
        del self.screen[:end]
        return shown

    async def answered(self, command: str, count: int) -> None:
        await self.peer.wait_for(lambda: self.commands.count(command) >= count)


@pytest.fixture
async def line() -> AsyncIterator[tuple[ScriptedModem, SerialEndpoint, FakeSwitch, Events]]:
    master, slave = os.openpty()
    tty.setraw(slave)
    modem = ScriptedModem(master)
    table = {
        "endpoint": f"tty:{os.ttyname(slave)}",
        "name": "modem0",
        "modem": True,
        "modem_guard": 0.05,
    }
    switch = FakeSwitch()
    events = Events()
    endpoint = SerialEndpoint(parse_endpoint(table, "serial[1]"), switch, events)
    await endpoint.start()
    yield modem, endpoint, switch, events
    await endpoint.stop()
    modem.peer.close()
    os.close(slave)
    await assert_nothing_left_running()


async def ready(events: Events, count: int) -> None:
    await events.wait_for(lambda: events.details("modem").count("modem0: ready") >= count)


async def test_two_callers_each_log_in_and_the_line_is_reset_between_them(
    line: tuple[ScriptedModem, SerialEndpoint, FakeSwitch, Events],
) -> None:
    modem, _endpoint, switch, events = line
    await ready(events, 1)
    assert modem.commands == INIT

    modem.ring()
    await modem.sees(b"login: ")
    modem.type(b"alice\r")
    await modem.sees(b"password: ")
    modem.type(b"secret\r")
    await modem.sees(b"logged in as alice\r\nOK\r\n> ")
    modem.type(b"port 2\r")
    await modem.sees(b"switched to 2\r\nOK\r\n> ")
    modem.type(b"status\r")
    assert b'port 2 "Port 2" km video audio usb\r\n' in await modem.sees(b"OK\r\n> ")

    modem.carrier_lost()  # the first caller hangs up
    await modem.answered("ATH", 1)
    await ready(events, 2)
    assert modem.commands == [*INIT, "ATH", *INIT]

    modem.ring()  # a second caller starts logged out
    await modem.sees(b"login: ")
    modem.type(b"port 4\r")
    await modem.sees(b"password: ")
    modem.type(b"x\r")
    await modem.sees(b"ERR login failed\r\nlogin: ")
    modem.type(b"bob\rhunter2\r")
    await modem.sees(b"logged in as bob\r\nOK\r\n> ")
    modem.type(b"port 3\r")
    await modem.sees(b"switched to 3\r\nOK\r\n> ")
    modem.type(b"logout\r")
    await modem.sees(b"bye\r\nOK\r\n")
    await modem.answered("ATH", 2)  # escaped with "+++" from online data, then hung up
    await ready(events, 3)

    switches = [(c, o) for c, o in switch.calls if isinstance(c, SwitchTo)]
    assert [(c, o.user) for c, o in switches] == [(SwitchTo("2"), "alice"), (SwitchTo("3"), "bob")]
    assert {(o.source, o.detail) for _, o in switches} == {(Source.SERIAL, "modem0")}
    assert [u for u, _ in switch.logins] == ["alice", "port 4", "bob"]
