"""kvmctl against the running daemon: human and --json output, errors, tokens, follow."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
from pathlib import Path
from typing import Any

import pytest

from kvmswitchd import ctl
from kvmswitchd.core.commands import Origin, Source
from kvmswitchd.ctl.client import Client
from kvmswitchd.ctl.follow import follow
from tests.daemon.conftest import Running, start


async def kvmctl(url: str, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    def call() -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = ctl.main(["--url", url, *args])
        return code, out.getvalue(), err.getvalue()

    if env:
        with pytest.MonkeyPatch.context() as mp:
            for key, value in env.items():
                mp.setenv(key, value)
            return await asyncio.to_thread(call)
    return await asyncio.to_thread(call)


async def test_status_switch_next_prev_scan_rename_and_log(running: Running) -> None:
    url = running.url
    code, out, _ = await kvmctl(url, "switch", "3")
    assert code == 0 and "focus: km=3" in out
    code, out, _ = await kvmctl(url, "switch", "2", "--channels", "video,audio")
    assert "video=2" in out and "km=3" in out
    await kvmctl(url, "next")
    code, out, _ = await kvmctl(url, "--json", "status")
    assert json.loads(out)["focus"]["km"] == "4"
    await kvmctl(url, "prev")
    code, out, _ = await kvmctl(url, "scan", "on", "--dwell", "2")
    assert "auto-scan on, dwell 2.0 s" in out
    await kvmctl(url, "scan", "off")
    code, out, _ = await kvmctl(url, "rename", "2", "Build server")
    assert out.strip() == "port 2: Build server"
    code, out, _ = await kvmctl(url, "log", "--kind", "switch", "--source", "http")
    assert out.count("switch") == 4


async def test_errors_exit_non_zero_with_the_servers_message(running: Running) -> None:
    code, out, err = await kvmctl(running.url, "switch", "9")
    assert code == 1 and out == ""
    assert "404: no port 9" in err
    code, _, err = await kvmctl("http://127.0.0.1:1", "status")
    assert code == 1 and "cannot reach" in err


async def test_edid_get_set_and_idle(running: Running, tmp_path: Path) -> None:
    url = running.url
    code, out, _ = await kvmctl(url, "edid", "set", "2", "--preset", "4k60")
    assert code == 0 and "mode 3840x2160@60" in out
    code, out, _ = await kvmctl(url, "edid", "get", "2", "-o", str(tmp_path / "e.bin"))
    blob = (tmp_path / "e.bin").read_bytes()
    assert blob[:8] == bytes.fromhex("00ffffffffffff00")
    code, out, _ = await kvmctl(url, "edid", "set", "3", "--file", str(tmp_path / "e.bin"))
    assert "source blob" in out
    code, out, _ = await kvmctl(url, "edid", "get", "3", "--format", "hex")
    assert out.strip() == blob.hex()
    code, out, _ = await kvmctl(url, "edid", "idle", "3", "off")
    assert "idle monitor off" in out
    code, _, err = await kvmctl(url, "edid", "set", "3", "--hex", "00ff")
    assert code == 1 and "400" in err


async def test_log_follow_prints_entries_as_they_happen(running: Running) -> None:
    got: list[dict[str, Any]] = []
    connected = asyncio.Event()
    task = asyncio.create_task(
        follow(
            Client(running.url, None), {"kind": "switch"}, got.append, limit=1, ready=connected.set
        )
    )
    await asyncio.wait_for(connected.wait(), 10)
    await running.post("/switch", {"port": "4"})
    await asyncio.wait_for(task, 10)
    assert got[0]["detail"]["to"] == "4"


async def test_a_token_from_a_file_or_the_environment_is_sent_as_bearer(tmp_path: Path) -> None:
    daemon, _board = await start(tmp_path / "state", {"http": {"auth": True}})
    try:
        assert daemon.accounts is not None and daemon.setup_token is not None
        origin = Origin(Source.HTTP, "test")
        await daemon.accounts.setup(daemon.setup_token, "admin", "a long password", origin)
        _token, secret = await daemon.accounts.create_token("admin", "ctl", origin)
        code, _, err = await kvmctl(daemon.http_url, "status")
        assert code == 1 and "401" in err
        token_file = tmp_path / "token"
        token_file.write_text(secret + "\n")
        code, out, _ = await kvmctl(daemon.http_url, "--token-file", str(token_file), "status")
        assert code == 0 and "focus:" in out
        code, out, _ = await kvmctl(daemon.http_url, "switch", "2", env={"KVMCTL_TOKEN": secret})
        assert code == 0 and "km=2" in out
    finally:
        await daemon.stop()


async def test_tokens_lists_each_token_with_its_expiry(tmp_path: Path) -> None:
    daemon, _board = await start(tmp_path / "state", {"http": {"auth": True}})
    try:
        assert daemon.accounts is not None and daemon.setup_token is not None
        origin = Origin(Source.HTTP, "test")
        await daemon.accounts.setup(daemon.setup_token, "admin", "a long password", origin)
        _token, secret = await daemon.accounts.create_token("admin", "ctl", origin)
        brief, _ = await daemon.accounts.create_token("admin", "nightly", origin, expires_in=3600)
        env = {"KVMCTL_TOKEN": secret}
        code, out, _ = await kvmctl(daemon.http_url, "tokens", env=env)
        lines = out.splitlines()
        assert code == 0 and len(lines) == 2
        assert "ctl" in lines[0] and "never expires" in lines[0]
        assert lines[1].startswith(brief.id) and "nightly" in lines[1] and "expires 2" in lines[1]
        assert secret not in out
        code, out, _ = await kvmctl(daemon.http_url, "--json", "tokens", env=env)
        listed = json.loads(out)["tokens"]
        assert [t["expires"] is None for t in listed] == [True, False]
    finally:
        await daemon.stop()
