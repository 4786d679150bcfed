"""The daemon as a process: the README run command, clean shutdown, SIGKILL mid-burst."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from kvmswitchd.accounts import SETUP_FILE

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_healthy(url: str, proc: subprocess.Popen[bytes]) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(600):
            if proc.poll() is not None:
                out = proc.stdout.read().decode() if proc.stdout else ""
                pytest.fail(f"daemon exited with {proc.returncode}: {out}")
            try:
                async with http.get(url + "/api/v1/health") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)  # polling a process we don't control; not an assertion
    pytest.fail("daemon did not answer /api/v1/health")


def spawn(args: list[str], state: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ, XDG_STATE_HOME=str(state))
    return subprocess.Popen(
        args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )


async def test_the_readme_run_command_serves_health_and_stops_cleanly_on_sigterm(
    tmp_path: Path,
) -> None:
    readme = (ROOT / "README.md").read_text()
    assert "./dev run" in readme
    port = free_port()
    proc = spawn(
        ["./dev", "run", "--listen", f"127.0.0.1:{port}", "--state-dir", str(tmp_path)], tmp_path
    )
    try:
        await wait_healthy(f"http://127.0.0.1:{port}", proc)
        token = (tmp_path / SETUP_FILE).read_text().strip()
        api = f"http://127.0.0.1:{port}/api/v1"
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            async with http.post(api + "/switch", json={"port": "3"}) as r:
                assert r.status == 401  # no default password: nothing works before setup
            body = {"token": token, "name": "admin", "password": "correct horse battery"}
            async with http.post(api + "/auth/setup", json=body) as r:
                assert r.status in (200, 201), await r.text()
            async with http.post(api + "/switch", json={"port": "3"}) as r:
                assert r.status == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    state = json.loads((tmp_path / "state.json").read_text())
    assert state["focus"]["km"] == "3"
    assert not (tmp_path / SETUP_FILE).exists()  # the one-time token is gone
    assert proc.stdout is not None
    banner = proc.stdout.read().decode()
    assert f"setup token {token}" in banner
    assert f"serial text endpoint ttyKVM0 on {tmp_path / 'ttyKVM0'}" in banner
    log = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert log[-1]["kind"] == "shutdown"


async def test_sigint_also_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    proc = spawn(
        [
            sys.executable,
            "-m",
            "kvmswitchd",
            "--listen",
            f"127.0.0.1:{port}",
            "--state-dir",
            str(tmp_path),
        ],
        tmp_path,
    )
    try:
        await wait_healthy(f"http://127.0.0.1:{port}", proc)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


async def test_sigkill_during_a_burst_of_switches_never_leaves_a_corrupt_state(
    tmp_path: Path,
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    config = tmp_path / "kvm.toml"
    config.write_text("[http]\nauth = false\n")
    args = [
        sys.executable,
        "-m",
        "kvmswitchd",
        "--config",
        str(config),
        "--ports",
        "8",
        "--listen",
        f"127.0.0.1:{port}",
        "--state-dir",
        str(tmp_path),
    ]
    for round_ in range(3):
        proc = spawn(args, tmp_path)
        try:
            await wait_healthy(url, proc)
            async with aiohttp.ClientSession() as http:
                state = await (await http.get(url + "/api/v1/state")).json()
                assert "focus" in state, state
                if round_:
                    assert state["focus"]["km"] in {str(p) for p in range(1, 9)}

                midway = asyncio.Event()

                async def burst(midway: asyncio.Event = midway, round_: int = round_) -> None:
                    for i in range(400):
                        async with http.post(
                            url + "/api/v1/switch", json={"port": str(i % 8 + 1)}
                        ) as r:
                            await r.read()
                        if i == 40 + 37 * round_:
                            midway.set()

                task = asyncio.create_task(burst())
                await midway.wait()
                proc.kill()  # somewhere in the middle of the burst
                proc.wait()
                with pytest.raises(aiohttp.ClientError):
                    await task
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert not list(tmp_path.glob("state.json.corrupt-*"))
        if (tmp_path / "state.json").exists():
            doc = json.loads((tmp_path / "state.json").read_text())
            assert doc["focus"]["km"] in {str(p) for p in range(1, 9)}


async def test_readiness_is_notified_to_systemd(tmp_path: Path) -> None:
    sock_path = tmp_path / "notify.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(sock_path))
    listener.setblocking(False)
    port = free_port()
    env = dict(os.environ, NOTIFY_SOCKET=str(sock_path), WATCHDOG_USEC="2000000")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kvmswitchd",
            "--listen",
            f"127.0.0.1:{port}",
            "--state-dir",
            str(tmp_path),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    loop = asyncio.get_running_loop()
    try:
        messages: set[str] = set()
        while not {"READY=1", "WATCHDOG=1"} <= messages:
            data = await asyncio.wait_for(loop.sock_recv(listener, 256), 30)
            messages.add(data.decode())
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        listener.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
