"""Through the real ``UsbipServer``: a burst pushed at once (a paste) reaches a host that
polls one interrupt URB at a time, complete and in order."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from kvmswitchd.targets.usbip_export import UsbipServer
from tests.targets.test_usbip_export import RawClient

RELEASE = bytes(8)


@pytest.fixture
async def server() -> AsyncIterator[UsbipServer]:
    srv = UsbipServer("127.0.0.1", 0)
    yield srv
    await srv.stop()


async def test_a_2000_report_burst_reaches_a_host_polling_one_urb_at_a_time(
    server: UsbipServer,
) -> None:
    target = server.add_port(1)
    await target.start()
    client = await RawClient.importing(server, "1-1")
    try:
        client.submit(1, 0x80, 2, setup=bytes((0x80, 0, 0, 0, 0, 0, 2, 0)))  # GET_STATUS
        assert (await client.reply())[:3] == (3, 1, 0)  # the import is being served
        burst = [bytes((0, 0, 4 + i % 26, i % 256, 0, 0, 0, 0)) for i in range(2000)]
        for report in burst:
            target.write_keyboard(report)
        got = []
        for seq in range(2, 2 + len(burst)):
            client.submit(seq, 0x81, 8)
            command, done, status, data = await client.reply()
            assert (command, done, status) == (3, seq, 0)
            got.append(data)
        assert got == burst
        assert target.view()["dropped"] == 0
    finally:
        await client.close()
