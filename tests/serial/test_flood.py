"""A flood into one serial link is parsed completely, in order, in bounded slices, while
the event loop keeps turning for everyone else (issue 12, item 4). Nothing here is timed:
a probe task counts the loop's turns, and a recording core notes the turn of each slice."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import serial_asyncio_fast

from kvmswitchd.core.commands import Rename, SwitchTo
from kvmswitchd.serial.adapter import INBOX_HIGH, MAX_TURN_BYTES, SerialEndpoint
from kvmswitchd.serial.channel import Action, ChannelCore
from kvmswitchd.serial.endpoint import EndpointSpec, parse_endpoint
from kvmswitchd.serial.login import LoginThrottle
from kvmswitchd.serial.text import MAX_LINE, TextDialect
from tests.serial.fakes import WAIT, FakeSwitch, assert_nothing_left_running


class Probe:
    """A task that runs once per loop turn and counts the turns."""

    def __init__(self) -> None:
        self.turns = 0
        self._task = asyncio.get_running_loop().create_task(self._spin())

    async def _spin(self) -> None:
        while True:
            self.turns += 1
            await asyncio.sleep(0)

    async def stop(self) -> None:
        if self._task.done():
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


class Recorder:
    """make_core for the endpoint: text cores that note (loop turn, bytes) per slice."""

    def __init__(self, probe: Probe, *, mark: int = 0) -> None:
        self.probe = probe
        self.slices: list[tuple[int, int]] = []
        self.fed = 0
        self.past_mark = asyncio.Event()  # set once ``mark`` bytes were parsed
        self._mark = mark

    def __call__(self, spec: EndpointSpec, throttle: LoginThrottle) -> ChannelCore:
        recorder = self

        class Recording(TextDialect):
            def receive_data(self, data: bytes, now: float) -> list[Action]:
                recorder.slices.append((recorder.probe.turns, len(data)))
                recorder.fed += len(data)
                if recorder.fed >= recorder._mark:
                    recorder.past_mark.set()
                return super().receive_data(data, now)

        return Recording(
            channel=spec.name,
            throttle=throttle,
            login_required=spec.login_required,
            echo=spec.echo,
            telnet=spec.kind.value == "tcp",
        )

    def most_in_one_turn(self) -> int:
        per_turn: Counter[int] = Counter()
        for turn, size in self.slices:
            per_turn[turn] += size
        return max(per_turn.values())


@pytest.fixture
async def probe() -> AsyncIterator[Probe]:
    probe = Probe()
    yield probe
    await probe.stop()


def flood(renames: int) -> tuple[bytes, list[Rename]]:
    """Over-long garbage lines (each answered ERR, no bus call) with a rename after every
    few, so the bus sees whether every part of the flood was parsed, and in order."""
    garbage = (b"x" * (MAX_LINE + 44) + b"\r\n") * 12
    parts, expected = [], []
    for i in range(renames):
        parts.append(garbage + f"name 2 n{i}\r\n".encode())
        expected.append(Rename("2", f"n{i}"))
    return b"".join(parts), expected


async def drain(reader: asyncio.StreamReader, into: bytearray, done: bytes) -> None:
    while done not in into[-200:]:
        chunk = await reader.read(65536)
        if not chunk:
            return
        into += chunk


async def test_a_tcp_flood_is_parsed_completely_in_order_in_bounded_slices_per_turn(
    probe: Probe,
) -> None:
    switch = FakeSwitch()
    recorder = Recorder(probe)
    spec = parse_endpoint({"endpoint": "tcp://127.0.0.1:0", "name": "lan"}, "serial[0]")
    endpoint = SerialEndpoint(spec, switch, make_core=recorder)
    await endpoint.start()
    try:
        assert endpoint.address is not None
        reader, writer = await asyncio.open_connection(*endpoint.address)
        writer.write(b"alice\r\nsecret\r\n")
        async with asyncio.timeout(WAIT):
            await reader.readuntil(b"logged in as alice\r\nOK\r\n")
        data, expected = flood(100)
        assert len(data) > 256 * 1024  # more than one read of the socket can return
        turns_before = probe.turns
        writer.write(data + b"port 3\r\n")
        seen = bytearray()
        async with asyncio.timeout(10 * WAIT):  # a safety net: the flood takes seconds
            await asyncio.gather(writer.drain(), drain(reader, seen, b"switched to 3\r\nOK\r\n"))
        assert [c for c in switch.executed() if isinstance(c, Rename)] == expected
        assert switch.executed()[-1] == SwitchTo("3")
        assert bytes(seen).endswith(b"switched to 3\r\nOK\r\n")
        assert recorder.fed == len(data) + len(b"port 3\r\n") + 15
        assert recorder.most_in_one_turn() <= MAX_TURN_BYTES
        assert probe.turns - turns_before >= len(data) // MAX_TURN_BYTES
        writer.close()
    finally:
        await endpoint.stop()
    await probe.stop()
    await assert_nothing_left_running()


async def test_other_clients_are_answered_while_a_flood_is_parsed_and_it_completes_after(
    probe: Probe,
) -> None:
    switch = FakeSwitch()
    recorder = Recorder(probe, mark=INBOX_HIGH)
    spec = parse_endpoint({"endpoint": "tcp://127.0.0.1:0"}, "serial[0]")
    endpoint = SerialEndpoint(spec, switch, make_core=recorder)
    await endpoint.start()
    try:
        assert endpoint.address is not None
        clients = [await asyncio.open_connection(*endpoint.address) for _ in range(2)]
        for reader, writer in clients:
            writer.write(b"alice\r\nsecret\r\n")
            async with asyncio.timeout(WAIT):
                await reader.readuntil(b"OK\r\n")
        (r1, w1), (r2, w2) = clients
        data, expected = flood(60)
        w1.write(data)  # not drained: the daemon stops reading once its inbox is full
        async with asyncio.timeout(WAIT):
            await recorder.past_mark.wait()
        w2.write(b"port 4\r\n")
        async with asyncio.timeout(WAIT):
            assert await r2.readuntil(b"OK\r\n") == b"switched to 4\r\nOK\r\n"
        assert recorder.fed < len(data)  # still flooding
        seen = bytearray()
        w1.write(b"port 2\r\n")
        async with asyncio.timeout(10 * WAIT):
            await asyncio.gather(w1.drain(), drain(r1, seen, b"switched to 2\r\nOK\r\n"))
        assert [c for c in switch.executed() if isinstance(c, Rename)] == expected
        executed = switch.executed()
        assert executed[-1] == SwitchTo("2")
        assert executed.index(SwitchTo("4")) < executed.index(expected[-1])  # mid-flood
        for _, writer in clients:
            writer.close()
    finally:
        await endpoint.stop()
    await probe.stop()
    await assert_nothing_left_running()


async def test_input_left_after_quit_on_a_local_line_goes_to_the_next_session_in_order(
    tmp_path: Path,
) -> None:
    link = tmp_path / "ttyKVM0"
    switch = FakeSwitch()
    endpoint = SerialEndpoint(
        parse_endpoint({"endpoint": f"pty:{link}", "echo": False}, "serial[0]"), switch
    )
    await endpoint.start()
    try:
        reader, writer = await serial_asyncio_fast.open_serial_connection(url=str(link))
        renames = [Rename("2", f"r{i}") for i in range(200)]
        lines = b"".join(f"name 2 {r.name}\r".encode() for r in renames)
        writer.write(b"quit\r" + lines + b"port 3\r")
        async with asyncio.timeout(WAIT):
            await reader.readuntil(b"switched to 3\r\nOK\r\n")
        assert switch.executed() == [*renames, SwitchTo("3")]
        writer.close()
        await writer.wait_closed()
    finally:
        await endpoint.stop()
