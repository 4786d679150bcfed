"""The bench rig: the daemon under test as a real process, its config, the peer processes,
and what the kernel says about them (CPU time, RSS).

Everything runs on this host, so ``CLOCK_MONOTONIC`` (``time.monotonic_ns``) is one clock
shared by every process: a timestamp taken in the writer is compared with one taken in
the reader directly.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
HEALTH = "/api/v1/health"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="kvmbench-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# -- the daemon ---------------------------------------------------------------------------


@dataclass
class Setup:
    """What one daemon run looks like: ports, which are gadgets, console and serial."""

    root: Path
    ports: int = 4
    gadgets: Sequence[int] = (1,)  # these ports write to FIFOs under root
    serial: bool = False
    tcp_serial: int | None = None  # a text endpoint on this TCP port (login required)
    ch9329: Sequence[int] = ()  # these ports are CH9329 cables on ptys under root
    http_port: int = field(default_factory=free_port)

    @property
    def console(self) -> Path:
        return self.root / "console"

    @property
    def pty(self) -> Path:
        return self.root / "ttyKVM0"

    def keyboard(self, unit: int) -> Path:
        return self.root / f"hidg-{unit}-kbd"

    def mouse(self, unit: int) -> Path:
        return self.root / f"hidg-{unit}-mouse"

    def chip(self, unit: int) -> Path:
        """The pty symlink of a ch9329 port's chip (``bench.peer chip`` makes it)."""
        return self.root / f"ttyCH9329-{unit}"

    def toml(self) -> str:
        lines = [
            f"[switch]\nports = {self.ports}",
            f'[http]\nlisten = "127.0.0.1:{self.http_port}"\nauth = false',
            f'[console]\ndevices = ["fifo:{self.console}"]',
            f'[state]\ndir = "{self.root / "state"}"',
            '[video]\ndrm_root = ""',
        ]
        if self.serial:
            lines.append(f'[[serial]]\nendpoint = "pty:{self.pty}"\necho = false')
        if self.tcp_serial is not None:
            lines.append(f'[[serial]]\nendpoint = "tcp://127.0.0.1:{self.tcp_serial}"')
        if not self.serial and self.tcp_serial is None:
            lines.insert(0, "serial = []")
        lines += (
            f'[ports.{unit}]\ntarget = "gadget"\n'
            f'hidg_keyboard = "{self.keyboard(unit)}"\nhidg_mouse = "{self.mouse(unit)}"'
            for unit in self.gadgets
        )
        lines += (
            f'[ports.{unit}]\ntarget = "ch9329"\nch9329_device = "{self.chip(unit)}"\n'
            "ch9329_baud = 115200"
            for unit in self.ch9329
        )
        return "\n\n".join(lines) + "\n"


class Daemon:
    """``python -m kvmswitchd --config bench.toml`` as a child process."""

    def __init__(self, setup: Setup, *, cpus: set[int] | None = None, profile: Path | None = None):
        self.setup = setup
        self.url_port = setup.http_port
        config = setup.root / "bench.toml"
        config.write_text(setup.toml())
        self.log_path = setup.root / "daemon.log"
        command = [PYTHON, "-m", "kvmswitchd", "--config", str(config), "--log-level", "WARNING"]
        if profile is not None:  # the whole run sampled by pyinstrument
            command = [PYTHON, "-m", "pyinstrument", "-i", "0.0002", "-o", str(profile)]
            command += ["-r", "text", "--show-all", "-m"]
            command += ["kvmswitchd", "--config", str(config), "--log-level", "WARNING"]
        self._log: IO[bytes] = self.log_path.open("wb")
        self.started_ns = time.monotonic_ns()
        self.proc = subprocess.Popen(command, cwd=ROOT, stdout=self._log, stderr=self._log)
        if cpus is not None:
            os.sched_setaffinity(self.proc.pid, cpus)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_healthy(self, timeout: float = 20.0) -> float:
        """Block until ``/health`` answers 200; seconds since the process was started."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the daemon exited ({self.proc.returncode}):\n{self.log()}")
            if health_ok(self.url_port):
                return (time.monotonic_ns() - self.started_ns) / 1e9
            time.sleep(0.002)
        raise RuntimeError(f"the daemon did not answer {HEALTH} in {timeout}s:\n{self.log()}")

    def cpu_ns(self) -> int:
        """CPU time of every thread so far (scheduler statistics, in nanoseconds)."""
        total = 0
        for task in Path(f"/proc/{self.pid}/task").iterdir():
            with contextlib.suppress(OSError):
                total += int((task / "schedstat").read_text().split()[0])
        return total

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT if self._profiled() else signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()

    def _profiled(self) -> bool:
        return "pyinstrument" in self.proc.args  # type: ignore[operator]  # a list here

    def __enter__(self) -> Daemon:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def health_ok(port: int) -> bool:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1.0)
        try:
            conn.request("GET", HEALTH)
            return conn.getresponse().status == 200
        finally:
            conn.close()
    except OSError:
        return False


# -- peer processes -----------------------------------------------------------------------


class Peer:
    """A ``python -m bench.peer ROLE`` process: it says ``ready`` on stdout when set up,
    stops when its stdin closes, and leaves its results as JSON in ``out``."""

    def __init__(self, role: str, args: Mapping[str, Any], out: Path, cpus: set[int] | None = None):
        self.out = out
        self.proc = subprocess.Popen(
            [PYTHON, "-m", "bench.peer", role, json.dumps({**args, "out": str(out)})],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        if cpus is not None:
            os.sched_setaffinity(self.proc.pid, cpus)
        assert self.proc.stdout is not None  # PIPE
        line = self.proc.stdout.readline()
        if line.strip() != b"ready":
            self.proc.kill()
            raise RuntimeError(f"bench.peer {role} did not start: {line!r}")

    def finish(self, timeout: float = 60.0) -> Any:
        """Close its stdin (the stop signal), wait, and load its results."""
        assert self.proc.stdin is not None  # PIPE
        self.proc.stdin.close()
        self.proc.wait(timeout)
        if self.proc.returncode != 0:
            raise RuntimeError(f"bench.peer exited with {self.proc.returncode}")
        return json.loads(self.out.read_text())

    def wait(self, timeout: float = 600.0) -> Any:
        """Wait for a peer that ends by itself (a writer)."""
        self.proc.wait(timeout)
        if self.proc.returncode != 0:
            raise RuntimeError(f"bench.peer exited with {self.proc.returncode}")
        return json.loads(self.out.read_text())

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class Interference:
    """CPU time used by processes that are not this run's (other users of the machine),
    from ``/proc/stat`` minus this process and its waited-for children."""

    def __init__(self) -> None:
        self._busy, self._ours, self._wall = self._sample()

    @staticmethod
    def _sample() -> tuple[float, float, float]:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + fields[4]  # idle + iowait
        busy = (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")
        t = os.times()
        ours = t.user + t.system + t.children_user + t.children_system
        return busy, ours, time.monotonic()

    def share(self) -> float:
        """Foreign CPU time since construction, as a % of all CPUs' time."""
        busy, ours, wall = self._sample()
        foreign = max(0.0, (busy - self._busy) - (ours - self._ours))
        return 100.0 * foreign / (max(wall - self._wall, 1e-9) * (os.cpu_count() or 1))


def machine() -> dict[str, Any]:
    """Where the figures came from."""
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    uname = os.uname()
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "kernel": f"{uname.sysname} {uname.release}",
        "python": sys.version.split()[0],
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
    }
