"""The target-side ``kvmswitchd-attach`` script, run by ``sh`` (and busybox sh, as in the
real-kernel guest) against a fake ``usbip`` on PATH that records its calls: the first
attach (module, run dir, usbip's arguments), re-attaching when the fake says the port is
gone, retrying while the switch is away, detaching on SIGTERM, and usage errors."""

from __future__ import annotations

import asyncio
import os
import signal
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import require_tool

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "target-side" / "kvmswitchd-attach"
FAKE_BIN = Path(__file__).resolve().parent / "fake_bin"
TIMEOUT = 10.0


@dataclass
class Run:
    proc: asyncio.subprocess.Process
    state: Path
    log: Path
    run_dir: Path

    async def said(self, text: str) -> str:
        """Wait for the script's next stderr line containing ``text`` (others skipped)."""
        assert self.proc.stderr is not None
        while True:
            line = await asyncio.wait_for(self.proc.stderr.readline(), TIMEOUT)
            assert line, f"the script ended before saying {text!r}"
            decoded = line.decode()
            if text in decoded:
                return decoded

    def calls(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []

    def usbip_calls(self) -> list[str]:
        return [c for c in self.calls() if not c.startswith("port")]


def shells() -> list[list[str]]:
    return [["sh"], ["busybox", "sh"]]


async def launch(tmp_path: Path, shell: list[str], *args: str) -> Run:
    if shell[0] == "busybox":
        require_tool("busybox")
    state = tmp_path / "vhci"
    state.mkdir(exist_ok=True)
    env = {
        **os.environ,
        "PATH": f"{FAKE_BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "FAKE_USBIP_LOG": str(tmp_path / "calls"),
        "FAKE_USBIP_STATE": str(state),
        "KVMSWITCHD_ATTACH_RUN_DIR": str(tmp_path / "run" / "vhci_hcd"),
        "KVMSWITCHD_ATTACH_SYSFS": str(tmp_path / "sys"),  # no vhci_hcd.0: modprobe runs
        "KVMSWITCHD_ATTACH_INTERVAL": "0.05",
        "MODPROBE": str(FAKE_BIN / "modprobe"),  # busybox sh runs its own applet first
    }
    proc = await asyncio.create_subprocess_exec(
        *shell, str(SCRIPT), *args, env=env, stderr=asyncio.subprocess.PIPE
    )
    return Run(proc, state, tmp_path / "calls", tmp_path / "run" / "vhci_hcd")


@pytest.fixture(params=shells(), ids=lambda s: " ".join(s))
def shell(request: pytest.FixtureRequest) -> list[str]:
    shell: list[str] = request.param
    return shell


async def stopped(run: Run) -> int:
    if run.proc.returncode is None:
        run.proc.send_signal(signal.SIGTERM)
    return await asyncio.wait_for(run.proc.wait(), TIMEOUT)


async def test_the_first_attach_loads_vhci_creates_the_run_dir_and_attaches(
    tmp_path: Path, shell: list[str]
) -> None:
    run = await launch(tmp_path, shell, "192.0.2.10:3241", "1-2")
    try:
        line = await run.said("attached")
        assert "attached 1-2 of 192.0.2.10:3241 on vhci port 00" in line
        assert run.run_dir.is_dir()
        assert run.usbip_calls() == [
            "modprobe vhci-hcd",
            "--tcp-port 3241 attach -r 192.0.2.10 -b 1-2",
        ]
    finally:
        assert await stopped(run) == 0


async def test_a_lost_port_is_attached_again(tmp_path: Path, shell: list[str]) -> None:
    run = await launch(tmp_path, shell, "kvm.example", "1-3")
    try:
        await run.said("attached 1-3 of kvm.example:3240 on vhci port 00")
        (run.state / "port00").unlink()  # the vhci driver dropped it: the switch restarted
        assert "the switch restarted or the network dropped" in await run.said("lost 1-3")
        await run.said("attached 1-3 of kvm.example:3240 on vhci port 00")
        attaches = [c for c in run.usbip_calls() if "attach" in c]
        assert attaches == ["--tcp-port 3240 attach -r kvm.example -b 1-3"] * 2
    finally:
        assert await stopped(run) == 0


async def test_while_the_switch_is_away_it_says_why_and_tries_again(
    tmp_path: Path, shell: list[str]
) -> None:
    (tmp_path / "vhci").mkdir()
    (tmp_path / "vhci" / "refuse").touch()
    run = await launch(tmp_path, shell, "[2001:db8::7]:3240", "1-1")
    try:
        line = await run.said("cannot attach")
        assert "1-1 of 2001:db8::7:3240: usbip: error: tcp connect" in line
        assert "trying again in 1s" in line
        (run.state / "refuse").unlink()
        await run.said("attached 1-1 of 2001:db8::7:3240 on vhci port 00")
    finally:
        assert await stopped(run) == 0


async def test_sigterm_detaches_its_own_port_and_exits_0(tmp_path: Path, shell: list[str]) -> None:
    (tmp_path / "vhci").mkdir()
    (tmp_path / "vhci" / "port00").write_text("usbip://192.0.2.10:3240/1-20\n")  # not ours
    run = await launch(tmp_path, shell, "192.0.2.10", "1-2")
    await run.said("attached 1-2 of 192.0.2.10:3240 on vhci port 01")
    assert await stopped(run) == 0
    assert run.usbip_calls()[-1] == "detach -p 01"
    assert sorted(p.name for p in run.state.iterdir()) == ["port00"]  # the other kept


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["kvm.example"], "expected two arguments"),
        (["kvm.example:http", "1-2"], "is not a number"),
        (["kvm.example", "2"], "is not a busid"),
        (["kvm.example", "1-2;reboot"], "is not a busid"),
        (["-r", "1-2"], "no switch host"),
    ],
)
async def test_a_usage_error_exits_2_and_touches_nothing(
    tmp_path: Path, args: list[str], problem: str
) -> None:
    run = await launch(tmp_path, ["sh"], *args)
    assert run.proc.stderr is not None
    err = (await asyncio.wait_for(run.proc.stderr.read(), TIMEOUT)).decode()
    assert await run.proc.wait() == 2
    assert problem in err and "usage:" in err
    assert run.calls() == []
