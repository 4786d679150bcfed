"""A ``usbip`` port in the running daemon: typing over HTTP arrives at a USB/IP client."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import usbip
import usbip.host  # registers the host side

from tests.daemon.conftest import start

TIMEOUT = 5.0


async def call(fn: Any, *args: Any) -> Any:
    return await asyncio.wait_for(asyncio.to_thread(fn, *args), TIMEOUT)


async def test_a_usbip_port_carries_typed_keys_to_the_attached_client(tmp_path: Path) -> None:
    daemon, board = await start(
        tmp_path / "state",
        {"ports": {"2": {"target": "usbip"}}, "usbip": {"listen": "127.0.0.1:0"}},
    )
    try:
        host, port = board.backends.usbip.address
        assert any("USB/IP exports" in line for line in daemon.banner())
        handle = await call(lambda: usbip.attach(host, "1-2", port=port))
        try:
            board.switch("2", None, False, origin())
            pending = asyncio.ensure_future(call(handle.interrupt_in, 0x81, 8))
            board.type_input("a", None, origin())
            assert bytes(await pending) == bytes((0, 0, 4, 0, 0, 0, 0, 0))  # 'a' pressed
            assert bytes(await call(handle.interrupt_in, 0x81, 8)) == bytes(8)  # released
            assert board.target("2")["attached"] is True
        finally:
            handle.close()
    finally:
        await daemon.stop()


def origin() -> Any:
    from kvmswitchd.core.commands import Origin, Source

    return Origin(Source.HTTP, "test")


def test_a_ps2_keyboard_on_a_usbip_port_is_a_config_error() -> None:
    import pytest

    from kvmswitchd.config import parse_config
    from kvmswitchd.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        parse_config({"ports": {"2": {"target": "usbip", "keyboard": "ps2"}}})
    assert info.value.path == "ports.2.keyboard"


async def test_the_daemon_journals_imports_and_refuses_peers_outside_its_allow_list(
    tmp_path: Path,
) -> None:
    daemon, board = await start(
        tmp_path / "state",
        {
            "ports": {"2": {"target": "usbip"}},
            "usbip": {"listen": "127.0.0.1:0", "allow": ["127.0.0.1"]},
        },
    )
    try:
        host, port = board.backends.usbip.address
        reader, writer = await asyncio.open_connection(host, port, local_addr=("127.0.0.2", 0))
        writer.write(bytes.fromhex("0111800500000000"))  # OP_REQ_DEVLIST
        with contextlib.suppress(ConnectionResetError):  # aborted: nothing answered either
            assert await asyncio.wait_for(reader.read(), TIMEOUT) == b""
        writer.close()
        handle = await call(lambda: usbip.attach(host, "1-2", port=port))
        handle.close()
        entries = [e for e in board.journal.recent(100) if e.kind.startswith("usbip_")]
        assert [(e.kind, e.detail["peer"]) for e in entries][:2] == [
            ("usbip_refused", "127.0.0.2"),
            ("usbip_import", "127.0.0.1"),
        ]
        assert entries[1].ports == ("2",)
    finally:
        await daemon.stop()
