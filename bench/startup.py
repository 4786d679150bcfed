"""Startup: ``kvmswitchd`` process start → ``/api/v1/health`` answering 200.

The daemon runs as the README runs it (defaults: emulated ports, authentication on, the
default serial pty), in a fresh state directory each time.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from bench.figures import percentile
from bench.rig import PYTHON, ROOT, free_port, health_ok

Say = Callable[[str], None]


def start_once(state: Path, ports: int) -> float:
    port = free_port()
    command = [PYTHON, "-m", "kvmswitchd", "--listen", f"127.0.0.1:{port}"]
    command += ["--state-dir", str(state), "--ports", str(ports), "--log-level", "WARNING"]
    t0 = time.monotonic_ns()
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not health_ok(port):
            if proc.poll() is not None:
                raise RuntimeError(f"kvmswitchd exited with {proc.returncode} during startup")
            if time.monotonic_ns() - t0 > 30e9:
                raise RuntimeError("kvmswitchd did not answer /health within 30 s")
            time.sleep(0.002)
        return (time.monotonic_ns() - t0) / 1e9
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def startup(root: Path, trials: int, say: Say) -> dict[str, float]:
    say(f"startup: {trials} starts at 4 ports, {trials} at 64")
    start_once(root / "warm", 4)  # bytecode caches written, page cache warm
    four = [start_once(root / f"s4-{i}", 4) for i in range(trials)]
    sixty_four = [start_once(root / f"s64-{i}", 64) for i in range(trials)]
    return {
        "startup_p50_s": percentile(four, 50),
        "startup_max_s": max(four),
        "startup_64_ports_p50_s": percentile(sixty_four, 50),
    }
