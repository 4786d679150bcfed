"""A websocket whose session ends elsewhere (logout, revoked token) stops receiving."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from kvmswitchd.core.commands import Origin, Source
from tests.daemon.conftest import start
from web import ws


async def test_a_revoked_token_ends_the_stream_at_the_next_broadcast(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ws, "RECHECK_INTERVAL", 0.0)
    daemon, board = await start(tmp_path / "state", {"http": {"auth": True}})
    try:
        accounts = daemon.accounts
        assert accounts is not None and daemon.setup_token is not None
        origin = Origin(Source.HTTP, "test")
        await accounts.setup(daemon.setup_token, "admin", "a long password", origin)
        token, secret = await accounts.create_token("admin", "ws", origin)
        headers = {"Authorization": f"Bearer {secret}"}
        async with aiohttp.ClientSession() as http:
            async with http.ws_connect(daemon.http_url + "/api/v1/ws", headers=headers) as sock:
                first = await asyncio.wait_for(sock.receive_json(), 5)
                assert first["type"] == "state"
                await accounts.revoke_token("admin", token.id, origin)
                board.switch("2", None, False, Origin(Source.HTTP))  # a broadcast
                while True:
                    msg = await asyncio.wait_for(sock.receive(), 5)
                    if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                        break
                    assert msg.json()["type"] != "log", "a revoked client got a broadcast"
                assert sock.close_code == aiohttp.WSCloseCode.POLICY_VIOLATION
    finally:
        await daemon.stop()
