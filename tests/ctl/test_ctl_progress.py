"""Each long kvmctl command shows progress on a terminal and nothing when piped: upload,
create, and storage hand-over waits (``pin --wait``, ``switch --wait``)."""

from __future__ import annotations

import asyncio
import io
import os
import pty
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from kvmswitchd import ctl
from kvmswitchd.ctl.client import CtlError
from kvmswitchd.ctl.storage import wait_for_handover
from tests.ctl.test_progress import FakeTty
from tests.daemon.conftest import Running
from tests.storage_service.conftest import Bench, make_app, new_bench

ROOT = Path(__file__).resolve().parents[2]


def run_ctl(url: str, args: list[str], stderr: io.StringIO) -> tuple[int, str]:
    out = io.StringIO()
    with redirect_stdout(out), redirect_stderr(stderr):
        code = ctl.main(["--url", url, *args])
    return code, out.getvalue()


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[tuple[Bench, str]]:
    bench = new_bench(tmp_path)
    server = TestServer(make_app(bench.service))
    await server.start_server()
    try:
        yield bench, str(server.make_url("")).rstrip("/")
    finally:
        await server.close()
        bench.service.close()


async def test_an_upload_on_a_terminal_shows_a_bar_that_reaches_100_percent(
    live: tuple[Bench, str], tmp_path: Path
) -> None:
    _bench, url = live
    source = tmp_path / "disk.iso"
    source.write_bytes(b"\x5a" * (256 << 10))
    tty = FakeTty()
    code, out = await asyncio.to_thread(
        run_ctl, url, ["storage", "upload", "d.img", str(source)], tty
    )
    assert code == 0 and "d.img" in out
    drawn = tty.getvalue()
    assert "\rupload disk.iso as d.img [" in drawn
    assert "100%" in drawn and "256.0 KiB / 256.0 KiB" in drawn
    assert drawn.endswith("\r")  # cleared: the result is printed on a clean line


async def test_piped_upload_and_create_print_only_their_results(
    live: tuple[Bench, str], tmp_path: Path
) -> None:
    _bench, url = live
    source = tmp_path / "disk.iso"
    source.write_bytes(b"\x00" * 4096)
    for args in (
        ["storage", "upload", "d.img", str(source)],
        ["storage", "create", "b.img", "64K"],
    ):
        pipe = io.StringIO()
        code, out = await asyncio.to_thread(run_ctl, url, args, pipe)
        assert code == 0 and out and pipe.getvalue() == ""


class Views:
    """A fake kvmctl Client whose GET /storage answers come from a list."""

    def __init__(self, *views: dict[str, Any]) -> None:
        self.views = list(views)
        self.asked = 0

    def request(self, method: str, path: str, body: Any = None) -> Any:
        assert (method, path) == ("GET", "/storage")
        self.asked += 1
        return self.views.pop(0)


HELD = {"pending": "3", "held_by": "1", "held_reason": "host active", "quiet_period": 5.0}
MOVED = {"pending": None, "port": "3", "quiet_period": 5.0}


def test_a_hand_over_wait_polls_until_the_move_is_done_with_a_bar(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client, tty, now = Views(HELD, MOVED), FakeTty(), [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    with redirect_stderr(tty):
        view = wait_for_handover(client, HELD, 60, clock=lambda: now[0], sleep=sleep)
    assert view == MOVED and client.asked == 2
    assert "\rusb to port 3: port 1 is busy [" in tty.getvalue()


def test_a_hand_over_that_stays_held_times_out_naming_the_holder() -> None:
    client, now = Views(*[HELD] * 50), [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    with pytest.raises(CtlError) as caught, redirect_stderr(io.StringIO()):
        wait_for_handover(client, HELD, 2, clock=lambda: now[0], sleep=sleep)
    assert "still held by port 1 (host active) after 2 s; use --force" in str(caught.value)


def test_nothing_pending_means_no_wait_and_no_request() -> None:
    client = Views()
    assert wait_for_handover(client, MOVED, 60) == MOVED
    assert client.asked == 0


async def test_pin_wait_against_the_server_reports_a_host_that_stays_busy(
    live: tuple[Bench, str],
) -> None:
    bench, url = live
    for args in (["storage", "create", "a.img", "64K"], ["storage", "attach", "a.img"]):
        assert (await asyncio.to_thread(run_ctl, url, args, io.StringIO()))[0] == 0
    bench.service.host_for(1).lock(True)  # the host locked the medium: the move is held
    err = io.StringIO()
    code, _ = await asyncio.to_thread(run_ctl, url, ["storage", "pin", "3", "--wait", "0.3"], err)
    assert code == 1
    assert "still held by port 1 (medium locked by host) after 0.3 s" in err.getvalue()


async def test_a_real_terminal_gets_the_bar_and_a_pipe_does_not(
    live: tuple[Bench, str], tmp_path: Path
) -> None:
    """kvmctl as a process, its stderr a real pty (isatty is the kernel's answer)."""
    _bench, url = live
    source = tmp_path / "disk.iso"
    source.write_bytes(b"\x01" * (64 << 10))
    command = [sys.executable, "-c", "import sys; from kvmswitchd import ctl; sys.exit(ctl.main())"]
    env = dict(os.environ, PYTHONPATH=str(ROOT), TERM="xterm")

    def piped() -> subprocess.CompletedProcess[bytes]:
        args = ["--url", url, "storage", "upload", "p.img", str(source)]
        return subprocess.run(
            [*command, *args], check=True, capture_output=True, env=env, timeout=60
        )

    def on_a_pty() -> tuple[int, bytes]:
        master, slave = pty.openpty()
        args = ["--url", url, "storage", "upload", "t.img", str(source)]
        with subprocess.Popen(
            [*command, *args], stdout=subprocess.PIPE, stderr=slave, env=env
        ) as proc:
            os.close(slave)
            drawn = b""
            while True:  # read as it draws: a full pty buffer would block kvmctl
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: kvmctl exited and everything was read
                    break
                if not chunk:
                    break
                drawn += chunk
            os.close(master)
            assert proc.stdout is not None
            proc.stdout.read()
            return proc.wait(timeout=60), drawn

    code, drawn = await asyncio.to_thread(on_a_pty)
    assert code == 0 and b"100%" in drawn and b"upload disk.iso as t.img" in drawn
    done = await asyncio.to_thread(piped)
    assert done.returncode == 0 and done.stderr == b"" and b"p.img" in done.stdout


async def test_switch_wait_waits_for_the_storage_to_follow_and_says_who_holds_it(
    running: Running,
) -> None:
    url = running.url
    for args in (["storage", "create", "a.img", "64K"], ["storage", "attach", "a.img"]):
        assert (await asyncio.to_thread(run_ctl, url, args, io.StringIO()))[0] == 0
    code, out = await asyncio.to_thread(run_ctl, url, ["switch", "3", "--wait"], io.StringIO())
    assert code == 0 and "km=3" in out  # the host was idle: nothing to wait for
    assert running.board.storage is not None
    running.board.storage.host_for(3).lock(True)  # now port 3's host holds the medium
    err = io.StringIO()
    code, _ = await asyncio.to_thread(run_ctl, url, ["switch", "1", "--wait", "0.3"], err)
    assert code == 1
    assert "still held by port 3 (medium locked by host) after 0.3 s" in err.getvalue()
