"""Issue 16 acceptance, the hotkeys kind: upstream port 2's emulated computer is the
console of a downstream kvmswitchd (what the computer receives is written into the
downstream's ``fifo:`` console), and the typed hotkey switches the downstream, at the
configured times on the injected clock."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from hid import keymap
from hid.evcodes import EV_KEY, EV_SYN, KEY_1, KEY_2, KEY_3, KEY_ENTER, KEY_SCROLLLOCK, SYN_REPORT
from kvmswitchd.cascade.downstream import UpstreamSide
from kvmswitchd.cascade.hotkey_config import parse_hotkeys_cascade
from kvmswitchd.cascade.hotkey_link import HotkeyDownstream
from kvmswitchd.console.records import encode_record
from kvmswitchd.core.eventlog import LogEntry
from kvmswitchd.core.holds import Holder
from kvmswitchd.core.ports import ALL_CHANNELS
from kvmswitchd.errors import DeviceError
from kvmswitchd.port import Port
from kvmswitchd.switchboard import Switchboard
from kvmswitchd.targets.emulated import EmulatedTarget
from tests.cascade.fake_clock import FakeClock
from tests.cascade.views import Views
from tests.daemon.conftest import start
from tests.daemon.test_tesmart import tcp_address

CASCADE = Holder("cascade")
START = 100.0


class Cable:
    """Port N's emulated computer plugged into the downstream's console: every key the
    computer sees go down or up is written to the downstream's fifo as evdev records."""

    def __init__(self, port: Port, fd: int, clock: FakeClock) -> None:
        assert isinstance(port.target, EmulatedTarget)
        self.computer = port.target.computer
        self.port = port
        self.fd = fd
        self.clock = clock
        self.typed: list[tuple[float, int, bool]] = []  # (injected time, code, pressed)

    def key(self, code: int, pressed: bool) -> None:
        self.typed.append((round(self.clock.now - START, 6), code, pressed))
        before = set(self.computer.pressed)
        self.port.key(code, pressed, CASCADE)  # through port 2's encoder into its target
        after = set(self.computer.pressed)
        records = b""
        for usage, value in [(u, 0) for u in before - after] + [(u, 1) for u in after - before]:
            evdev = keymap.evdev_for(usage)
            assert evdev is not None
            records += encode_record(EV_KEY, evdev, value) + encode_record(EV_SYN, SYN_REPORT, 0)
        os.write(self.fd, records)


@asynccontextmanager
async def chain(
    tmp_path: Path, ports: int, *, auto: bool = True, **down: Any
) -> AsyncIterator[tuple[Switchboard, Switchboard, Cable, FakeClock]]:
    fifo = tmp_path / "down-console"
    up_daemon, upstream = await start(tmp_path / "up", {"switch": {"ports": 2}})
    console = {"devices": [f"fifo:{fifo}"], **down.pop("console", {})}
    down_daemon, downstream = await start(
        tmp_path / "down", {"switch": {"ports": ports}, "console": console, **down}
    )
    fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    clock = FakeClock(start=START, auto=auto)
    try:
        yield upstream, downstream, Cable(upstream.links[2], fd, clock), clock
    finally:
        os.close(fd)
        await down_daemon.stop()
        await up_daemon.stop()


async def switched(board: Switchboard, select: asyncio.Future[None]) -> LogEntry:
    entries: asyncio.Queue[LogEntry] = asyncio.Queue()
    board.journal.subscribe(lambda e: entries.put_nowait(e) if e.kind == "switch" else None)
    await select
    async with asyncio.timeout(10):
        return await entries.get()


async def test_the_typed_hotkey_switches_the_downstream_with_the_configured_delays(
    tmp_path: Path,
) -> None:
    async with chain(tmp_path, ports=4) as (_upstream, downstream, cable, clock):
        table = {"preset": "kvmswitchd", "ports": 4, "delay": 0.2, "hold": 0.05}
        config = parse_hotkeys_cascade(table, "ports.2.cascade")
        down = HotkeyDownstream(config, UpstreamSide(2, cable.key, clock.sleep, clock.monotonic))
        entry = await switched(downstream, asyncio.ensure_future(down.select((3,), ALL_CHANNELS)))
        assert entry.source == "hotkey" and entry.detail["to"] == "3"
        assert cable.typed == [
            (0.0, KEY_SCROLLLOCK, True),
            (0.05, KEY_SCROLLLOCK, False),
            (0.25, KEY_SCROLLLOCK, True),  # hold + delay after the first tap
            (0.3, KEY_SCROLLLOCK, False),
            (0.5, KEY_3, True),
            (0.55, KEY_3, False),
        ]
        assert down.view().active == (3,)
        assert cable.computer.pressed == set()  # nothing left down on port 2


async def test_on_a_downstream_with_ten_ports_or_more_the_number_ends_with_enter(
    tmp_path: Path,
) -> None:
    async with chain(tmp_path, ports=12) as (_upstream, downstream, cable, clock):
        config = parse_hotkeys_cascade({"preset": "kvmswitchd", "ports": 12}, "ports.2.cascade")
        down = HotkeyDownstream(config, UpstreamSide(2, cable.key, clock.sleep, clock.monotonic))
        entry = await switched(downstream, asyncio.ensure_future(down.select((12,), ALL_CHANNELS)))
        assert entry.detail["to"] == "12"
        assert [c for _, c, p in cable.typed if p] == [
            KEY_SCROLLLOCK, KEY_SCROLLLOCK, KEY_1, KEY_2, KEY_ENTER,
        ]  # fmt: skip
        times = [t for t, _, _ in cable.typed]
        assert times[-1] == 0.85  # 5 taps of 0.05 s, 0.15 s after each but the last: defaults


TESMART = {"serial": [{"endpoint": "tcp://127.0.0.1:0", "dialect": "tesmart", "name": "hw"}]}


def with_readback(board: Switchboard, **table: Any) -> dict[str, Any]:
    host, port = tcp_address(board, "hw")
    readback = {"dialect": "tesmart", "device": f"tcp:{host}:{port}", "poll": 0}
    return {"preset": "kvmswitchd", "ports": 4, "confirm": "serial", "readback": readback, **table}


async def test_confirm_serial_reads_the_switch_back_after_the_hotkey_and_shows_what_it_says(
    tmp_path: Path,
) -> None:
    async with chain(tmp_path, ports=4, auto=False, **TESMART) as (_up, downstream, cable, clock):
        config = parse_hotkeys_cascade(with_readback(downstream), "ports.2.cascade")
        down = HotkeyDownstream(config, UpstreamSide(2, cable.key, clock.sleep, clock.monotonic))
        views = Views()
        await down.start(views, lambda _e: None)
        try:
            first = await views.until(lambda v: v.reachable)
            assert first.active == (1,)  # asked at connect: no longer unknown
            select = asyncio.ensure_future(down.select((3,), ALL_CHANNELS))
            await clock.run(select, until=START + 2.0)
            await select
            view = down.view()
            assert view.active == (3,)
            assert view.detail == "serial read-back: read back after a hotkey: channel 3 active"
            assert cable.typed[-1][0] == 0.45  # the last release; settle 0.5 s, then...
            assert START + 0.95 in clock.slept_until  # ...the read-back was due, and it
            assert clock.now == pytest.approx(START + 1.0)  # kept TESmart's gap after connect
        finally:
            await down.close()


async def test_a_hotkey_the_switch_ignored_is_not_confirmed(tmp_path: Path) -> None:
    async with chain(tmp_path, ports=4, auto=False, console={"hotkeys": "off"}, **TESMART) as (
        _up,
        downstream,
        cable,
        clock,
    ):
        config = parse_hotkeys_cascade(with_readback(downstream), "ports.2.cascade")
        down = HotkeyDownstream(config, UpstreamSide(2, cable.key, clock.sleep, clock.monotonic))
        views = Views()
        await down.start(views, lambda _e: None)
        try:
            await views.until(lambda v: v.reachable)
            select = asyncio.ensure_future(down.select((3,), ALL_CHANNELS))
            await clock.run(select, until=START + 2.0)
            with pytest.raises(DeviceError, match=r"did not confirm channel 3: it reports 1"):
                await select
            assert down.view().active == (1,)
        finally:
            await down.close()


async def test_with_its_readback_line_down_nothing_is_typed(tmp_path: Path) -> None:
    clock, cable_typed = FakeClock(auto=False, start=START), []
    table = {
        "preset": "aten",
        "ports": 4,
        "confirm": "serial",
        "readback": {"dialect": "tesmart", "device": "/nonexistent/ttyUSB9"},
    }
    config = parse_hotkeys_cascade(table, "ports.2.cascade")
    side = UpstreamSide(2, lambda c, p: cable_typed.append((c, p)), clock.sleep, clock.monotonic)
    down = HotkeyDownstream(config, side)
    views = Views()
    await down.start(views, lambda _e: None)
    try:
        offline = await views.until(lambda v: not v.reachable)
        assert not any(p.online for p in offline.ports)
        with pytest.raises(DeviceError, match="nothing typed, it cannot be confirmed"):
            await down.select((2,), ALL_CHANNELS)
        assert cable_typed == []
    finally:
        await down.close()
