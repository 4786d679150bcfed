"""Independent TESmart client software against the daemon: ``tesmartctl`` (PyPI, MIT; its
import name is ``tesmart``), a library and CLI written for the real units, over TCP and
over the pty with its own pyserial transport. Skipped where it is not installed."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from kvmswitchd.switchboard import Switchboard
from tests.daemon.conftest import start

tesmart_switch = pytest.importorskip(
    "tesmart.switch", reason="tesmartctl (PyPI, MIT) is not installed: pip install tesmartctl"
)
tesmart_transport = pytest.importorskip("tesmart.transport")

WAIT = 30.0  # the client's own reply timeouts are its business; this is a safety net


def tcp_address(board: Switchboard) -> tuple[str, int]:
    address = next(e["address"] for e in board.state()["serial"] if e["name"] == "lan")
    host, _, port = address.rpartition(":")
    return host, int(port)


async def in_thread(call: Any, *args: Any) -> Any:
    """The library blocks on its socket: run it beside the daemon's event loop."""
    async with asyncio.timeout(WAIT):
        return await asyncio.to_thread(call, *args)


async def test_tesmartctl_reads_switches_and_writes_lan_settings_over_tcp(tmp_path: Path) -> None:
    lan = {"endpoint": "tcp://127.0.0.1:0", "dialect": "tesmart", "name": "lan"}
    daemon, board = await start(tmp_path / "state", {"serial": [lan], "switch": {"ports": 8}})
    try:
        transport = await in_thread(tesmart_transport.TcpTransport, *tcp_address(board))
        switch = tesmart_switch.TesmartSwitch(transport, input_count=8, command_interval=0)
        try:
            assert await in_thread(switch.get_active_input) == 1
            assert await in_thread(switch.set_input, 4) == 4
            assert board.core.focus_view()["km"] == "4"
            written = await in_thread(
                lambda: switch.write_network_config(ip="10.0.0.9", port="5002", gateway="10.0.0.1")
            )
            assert written.all_verified, written
            network = (await in_thread(switch.get_network_config)).to_dict()
            assert network == {
                "ip": "10.0.0.9",
                "port": "5002",
                "gateway": "10.0.0.1",
                "mask": "255.255.255.0",
            }
            assert board.tesmart.view()["ip"] == "10.0.0.9"
            # settings are not answered: nothing is left over as a stray "report"
            await in_thread(switch.set_buzzer, False)
            await in_thread(switch.set_led_timeout, tesmart_switch.LedTimeout.SECONDS_30)
            status = await in_thread(lambda: switch.read_status(include_network=False))
            assert (status.active_input, status.unsolicited_reports) == (4, [])
            assert (board.tesmart.settings.buzzer, board.tesmart.settings.led_timeout) == (
                False,
                30,
            )
            # a switch made over HTTP reaches its monitor as the unit's unsolicited report
            async with (
                aiohttp.ClientSession() as http,
                http.post(daemon.http_url + "/api/v1/switch", json={"port": "6"}) as resp,
            ):
                assert resp.status == 200
            assert await in_thread(lambda: next(switch.monitor(poll_interval=0.1))) == 6
        finally:
            switch.close()
    finally:
        await daemon.stop()


async def test_tesmartctl_drives_the_pty_with_its_own_serial_transport(tmp_path: Path) -> None:
    link = tmp_path / "ttyTES"
    line = {"endpoint": f"pty:{link}", "dialect": "tesmart", "name": "rs232"}
    daemon, board = await start(tmp_path / "state", {"serial": [line], "switch": {"ports": 4}})
    try:
        transport = await in_thread(tesmart_transport.SerialTransport, str(link))
        switch = tesmart_switch.TesmartSwitch(transport, input_count=4, command_interval=0)
        try:
            for port in (2, 4, 1):
                assert await in_thread(switch.set_input, port) == port
                assert board.core.focus_view()["km"] == str(port)
            assert (await in_thread(switch.get_network_config)).ip == "192.168.1.10"
        finally:
            switch.close()
    finally:
        await daemon.stop()
