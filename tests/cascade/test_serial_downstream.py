"""Issue 16 acceptance, the serial kind: our own daemon's serial endpoints play the
hardware (TESmart over TCP, the text and ATEN dialects on a pty), and the downstream
driver switches them, paced and confirmed, on an injected clock."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kvmswitchd.cascade.downstream import UpstreamSide
from kvmswitchd.cascade.serial_config import parse_serial_cascade
from kvmswitchd.cascade.serial_link import SerialDownstream
from kvmswitchd.core.commands import Origin, Source
from kvmswitchd.core.ports import ALL_CHANNELS, Channel
from kvmswitchd.daemon import Daemon
from kvmswitchd.errors import DeviceError
from kvmswitchd.switchboard import Switchboard
from tests.cascade.fake_clock import FakeClock
from tests.cascade.views import Views
from tests.daemon.conftest import start
from tests.daemon.test_tesmart import http_post, http_state, tcp_address

START = 100.0  # the fake clock's start


@asynccontextmanager
async def hardware(
    state_dir: Path, endpoint: dict[str, Any], ports: int = 8
) -> AsyncIterator[tuple[Daemon, Switchboard]]:
    """A kvmswitchd whose one serial endpoint plays the downstream switch."""
    daemon, board = await start(
        state_dir, {"serial": [{"name": "hw", **endpoint}], "switch": {"ports": ports}}
    )
    try:
        yield daemon, board
    finally:
        await daemon.stop()


@asynccontextmanager
async def driver(
    clock: FakeClock, views: Views, **table: object
) -> AsyncIterator[SerialDownstream]:
    config = parse_serial_cascade({"kind": "serial", **table}, "ports.2.cascade")
    side = UpstreamSide(2, lambda _code, _pressed: None, clock.sleep, clock.monotonic)
    down = SerialDownstream(config, side)
    await down.start(views, lambda _event: None)
    try:
        yield down
    finally:
        await down.close()


async def focus(daemon: Daemon) -> str:
    return str((await http_state(daemon))["focus"]["km"])


@dataclass
class Rig:
    daemon: Daemon
    down: SerialDownstream
    clock: FakeClock
    views: Views
    device: str


@asynccontextmanager
async def tesmart(
    tmp_path: Path, *, ports: int = 8, notify: bool = True, **table: object
) -> AsyncIterator[Rig]:
    """Our TESmart endpoint over TCP as the unit, and the driver connected to it (past
    its query at connect: channel 1)."""
    endpoint = {"endpoint": "tcp://127.0.0.1:0", "dialect": "tesmart", "notify": notify}
    async with hardware(tmp_path / "hw", endpoint, ports) as (daemon, board):
        host, port = tcp_address(board, "hw")
        device = f"tcp:{host}:{port}"
        clock, views = FakeClock(auto=False, start=START), Views()
        async with driver(clock, views, dialect="tesmart", device=device, ports=8, **table) as down:
            first = await views.until(lambda v: v.active == (1,))
            assert first.reachable and "read at connect" in first.detail
            yield Rig(daemon, down, clock, views, device)


async def test_a_tesmart_switch_waits_the_pacing_gap_and_is_confirmed_by_the_units_reply(
    tmp_path: Path,
) -> None:
    async with tesmart(tmp_path) as rig:
        clock = rig.clock
        select = asyncio.create_task(rig.down.select((3,), ALL_CHANNELS))
        await clock.sleeping(2)  # the poller, and the switch held back by the pacer
        assert START + 1.0 in clock.deadlines()  # 1 s after the query: TESmart's gap
        assert await focus(rig.daemon) == "1"  # nothing was sent early
        await clock.advance(1.0)
        async with asyncio.timeout(10):
            await select
        assert await focus(rig.daemon) == "3"
        assert rig.down.view().active == (3,)
        assert rig.down.view().detail == "confirmed: channel 3 active"
        # a second switch right away waits its own gap after the first
        select = asyncio.create_task(rig.down.select((5,), ALL_CHANNELS))
        await clock.sleeping(2)
        assert clock.deadlines() == [START + 2.0, START + 10.0]  # the gap; the poll
        await clock.advance(1.0)
        async with asyncio.timeout(10):
            await select
        assert await focus(rig.daemon) == "5"


async def test_a_switch_at_the_downstreams_own_channel_shows_up_by_polling(
    tmp_path: Path,
) -> None:
    # notify = false: the unit pushes nothing, so only the poll can see the change
    async with tesmart(tmp_path, notify=False, poll=10) as rig:
        await http_post(rig.daemon, "/switch", {"port": "6"})  # someone at the unit
        await rig.clock.sleeping(1)
        assert rig.clock.deadlines() == [START + 10.0]  # the poll, 10 s after the last query
        await rig.clock.advance(9.9)
        assert rig.views.seen[-1].active == (1,)
        await rig.clock.advance(0.1)
        polled = await rig.views.until(lambda v: v.active == (6,))
        assert polled.detail == "polled: channel 6 active"


async def test_a_tesmart_unit_that_pushes_its_change_is_seen_without_waiting_for_the_poll(
    tmp_path: Path,
) -> None:
    async with tesmart(tmp_path) as rig:
        await http_post(rig.daemon, "/buttons/4")  # the front panel
        pushed = await rig.views.until(lambda v: v.active == (4,))
        assert pushed.detail == "pushed by the switch"
        assert rig.clock.now == START  # no time passed: it was not polled


async def test_a_port_the_unit_lacks_is_not_confirmed_and_the_error_names_the_hop(
    tmp_path: Path,
) -> None:
    async with tesmart(tmp_path, ports=4) as rig:  # configured with 8 channels
        clock = rig.clock
        select = asyncio.create_task(rig.down.select((6,), ALL_CHANNELS))
        await clock.advance(1.0)  # the pacing gap; the unit stays silent
        await clock.sleeping(2)
        assert START + 6.0 in clock.deadlines()  # the 5 s reply timeout
        await clock.advance(5.0)  # then the read-back: still port 1
        with pytest.raises(DeviceError) as caught:
            async with asyncio.timeout(10):
                await select
        assert str(caught.value) == (
            f"port 2's tesmart switch ({rig.device}) did not confirm channel 6: it reports 1"
        )
        assert await focus(rig.daemon) == "1"
        assert rig.down.view().reachable and rig.down.view().active == (1,)


async def test_an_unreachable_downstream_is_offline_refuses_switches_and_recovers(
    tmp_path: Path,
) -> None:
    with socket.socket() as probe:  # a free port, closed again: nothing listens there
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    clock, views = FakeClock(auto=False, start=START), Views()
    device = f"tcp:127.0.0.1:{free}"
    async with driver(clock, views, dialect="tesmart", device=device, ports=8) as down:
        offline = await views.until(lambda v: not v.reachable)
        assert offline.detail.startswith("unreachable: ")
        assert not any(p.online for p in offline.ports) and offline.active is None
        with pytest.raises(DeviceError, match=r"port 2's tesmart switch \(tcp:127\.0\.0\.1:"):
            await down.select((2,), ALL_CHANNELS)
        endpoint = {"endpoint": f"tcp://127.0.0.1:{free}", "dialect": "tesmart"}
        async with hardware(tmp_path / "hw", endpoint):
            await clock.sleeping(1)
            await clock.advance(1.0)  # the first retry
            back = await views.until(lambda v: v.reachable)
            assert back.active == (1,) and all(p.online for p in back.ports)


async def test_the_text_dialect_switches_a_downstream_kvmswitchd_and_reads_it_back(
    tmp_path: Path,
) -> None:
    link = str(tmp_path / "ttyDOWN")
    endpoint = {"endpoint": f"pty:{link}", "dialect": "text"}
    async with hardware(tmp_path / "hw", endpoint, ports=4) as (daemon, _board):
        clock, views = FakeClock(auto=False, start=START), Views()
        async with driver(clock, views, dialect="text", device=link, ports=8) as down:
            await views.until(lambda v: v.active == (1,))
            await down.select((3,), ALL_CHANNELS)
            assert await focus(daemon) == "3"
            assert down.view().ports[0].name == "Port 1"  # learnt from its status
            await down.select((2,), frozenset({Channel.VIDEO}))
            state = await http_state(daemon)
            assert state["focus"]["video"] == "2" and state["focus"]["km"] == "3"
            # configured with 8 channels, the switch has 4: its own refusal is passed on
            with pytest.raises(DeviceError, match="refused channel 6: no port 6"):
                await down.select((6,), ALL_CHANNELS)
            assert down.view().active == (3,)


async def test_the_aten_dialect_opens_the_link_switches_and_closes_it_again(
    tmp_path: Path,
) -> None:
    link = str(tmp_path / "ttyATEN")
    async with hardware(tmp_path / "hw", {"endpoint": f"pty:{link}", "dialect": "aten"}) as (
        daemon,
        _board,
    ):
        clock, views = FakeClock(auto=False, start=START), Views()
        table = {"dialect": "aten", "device": link, "ports": 8, "pacing": 0}
        async with driver(clock, views, **table) as down:
            await views.until(lambda v: v.active == (1,))
            await down.select((4,), ALL_CHANNELS)
            assert await focus(daemon) == "4"
            await http_post(daemon, "/buttons/2")  # the front panel works again: link closed
            assert await focus(daemon) == "2"


async def test_the_text_dialect_over_tcp_logs_in_with_the_password_file(tmp_path: Path) -> None:
    daemon, board = await start(
        tmp_path / "hw",
        {"http": {"auth": True}, "serial": [{"endpoint": "tcp://127.0.0.1:0", "name": "hw"}]},
    )
    try:
        assert daemon.accounts is not None and daemon.setup_token is not None
        await daemon.accounts.setup(
            daemon.setup_token, "root", "long enough pw", Origin(Source.HTTP)
        )
        host, port = tcp_address(board, "hw")
        good, bad = tmp_path / "good.pw", tmp_path / "bad.pw"
        good.write_text("long enough pw\n")
        bad.write_text("wrong\n")
        clock, views = FakeClock(auto=False, start=START), Views()
        table = {"dialect": "text", "device": f"tcp:{host}:{port}", "ports": 8, "user": "root"}
        async with driver(clock, views, **table, password_file=str(good)) as down:
            await views.until(lambda v: v.active == (1,))
            await down.select((3,), ALL_CHANNELS)
            entry = [e for e in board.journal.recent(20) if e.kind == "switch"][-1]
            assert (entry.source, entry.user, entry.detail["to"]) == ("serial", "root", "3")
        clock, views = FakeClock(auto=False, start=START), Views()
        async with driver(clock, views, **table, password_file=str(bad)):
            refused = await views.until(lambda v: not v.reachable and "login" in v.detail)
            assert refused.detail == "unreachable: login refused: login failed"
            await clock.sleeping(1)
            assert clock.deadlines() == [START + 30.0]  # not retried at once: the longest wait
    finally:
        await daemon.stop()
