"""The guarded state directory, seen from outside: real daemon processes."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import aiohttp

from kvmswitchd.accounts import SETUP_FILE
from kvmswitchd.cli import EXIT_CONFIG
from tests.statedir.process import daemon_process, free_port, output, stop, wait_healthy


def snapshot(directory: Path) -> dict[str, tuple[int, int, int, bytes]]:
    """Every entry's mode, size, mtime and (for regular files) content."""
    out = {}
    for path in sorted(directory.rglob("*")):
        st = path.lstat()
        data = path.read_bytes() if stat.S_ISREG(st.st_mode) else b""
        out[str(path.relative_to(directory))] = (st.st_mode, st.st_size, st.st_mtime_ns, data)
    return out


async def test_a_second_daemon_on_the_same_state_dir_exits_2_naming_the_first_one_s_pid(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    first_port, second_port = free_port(), free_port()
    with daemon_process(
        ["--listen", f"127.0.0.1:{first_port}", "--state-dir", str(state)], tmp_path
    ) as first:
        await wait_healthy(f"http://127.0.0.1:{first_port}", first)
        token = (state / SETUP_FILE).read_text()
        before = snapshot(state)
        with daemon_process(
            ["--listen", f"127.0.0.1:{second_port}", "--state-dir", str(state)], tmp_path
        ) as second:
            assert second.wait(timeout=30) == EXIT_CONFIG
            message = output(second)
        assert f"in use by another kvmswitchd (PID {first.pid})" in message
        assert snapshot(state) == before  # not one byte written, not one file touched
        assert (state / SETUP_FILE).read_text() == token
        assert stop(first) == 0


async def test_a_relative_state_dir_is_resolved_once_against_the_working_directory(
    tmp_path: Path,
) -> None:
    port = free_port()
    with daemon_process(
        ["--listen", f"127.0.0.1:{port}", "--state-dir", "rel/state"], tmp_path
    ) as proc:
        await wait_healthy(f"http://127.0.0.1:{port}", proc)
        assert stop(proc) == 0
        banner = output(proc)
    state = tmp_path / "rel" / "state"
    assert f"state in {state}\n" in banner
    assert f"ttyKVM0 on {state / 'ttyKVM0'}" in banner
    assert json.loads((state / "state.json").read_text())["version"] == 1


async def test_after_a_full_start_the_dir_is_0700_and_every_file_in_it_0600(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    os.chmod(state, 0o755)  # as systemd's StateDirectory= or a careless mkdir leaves it
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with daemon_process(["--listen", f"127.0.0.1:{port}", "--state-dir", str(state)], tmp_path) as proc:  # fmt: skip
        await wait_healthy(url, proc)
        assert stat.S_IMODE((state / SETUP_FILE).stat().st_mode) == 0o600
        token = (state / SETUP_FILE).read_text().strip()
        body = {"token": token, "name": "admin", "password": "correct horse battery"}
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            async with http.post(url + "/api/v1/auth/setup", json=body) as r:
                assert r.status in (200, 201), await r.text()
            async with http.post(url + "/api/v1/switch", json={"port": "2"}) as r:
                assert r.status == 200, await r.text()
        assert stop(proc) == 0
        assert "tightened to 0700" in output(proc)
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    modes = {
        str(path.relative_to(state)): stat.S_IMODE(path.lstat().st_mode)
        for path in state.rglob("*")
        if not path.is_symlink()  # the pty link: a symlink has no mode of its own
    }
    for name in ("state.json", "events.jsonl", "users.json", "lock"):
        assert name in modes
    assert {name: mode for name, mode in modes.items() if mode != 0o600} == {"images": 0o700}


async def test_a_symlink_planted_for_the_event_log_stops_the_daemon_with_exit_2(
    tmp_path: Path,
) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    (state / "events.jsonl").symlink_to(victim)
    port = free_port()
    with daemon_process(
        ["--listen", f"127.0.0.1:{port}", "--state-dir", str(state)], tmp_path
    ) as proc:
        assert proc.wait(timeout=30) == EXIT_CONFIG
        message = output(proc)
    assert f"{state / 'events.jsonl'} is a symbolic link; refusing to follow it" in message
    assert "Traceback" not in message
    assert victim.read_text() == "precious\n"
    assert not (state / SETUP_FILE).exists()  # nothing else was started or written
