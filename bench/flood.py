"""A flood into a TCP serial endpoint while an HTTP client polls ``/api/v1/health``.

A peer process (``bench.peer flood``) pours ``size`` bytes of over-long lines into the
login prompt of a TCP text endpoint, as an unauthenticated attacker could, reading every
reply. Meanwhile this process asks ``/health`` every ``interval`` seconds over one
keep-alive connection and times each answer. The same polling without the flood, before
it, is the baseline. The daemon runs on one CPU, the flood peer on the other.
"""

from __future__ import annotations

import http.client
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.figures import percentile
from bench.rig import HEALTH, Daemon, Peer, Setup, free_port

DAEMON_CPU = {1}
PEER_CPU = {0}

Say = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Plan:
    size: int  # bytes of flood
    baseline: int  # health polls before the flood
    interval: float  # seconds between polls


FULL = Plan(size=4 * 1024 * 1024, baseline=500, interval=0.005)
QUICK = Plan(size=1024 * 1024, baseline=100, interval=0.005)


def poll_once(conn: http.client.HTTPConnection) -> float:
    """One GET /health; its latency in ms."""
    t0 = time.monotonic_ns()
    conn.request("GET", HEALTH)
    response = conn.getresponse()
    response.read()
    if response.status != 200:
        raise RuntimeError(f"{HEALTH} answered {response.status} during the flood")
    return (time.monotonic_ns() - t0) / 1e6


def flood(root: Path, plan: Plan, say: Say) -> dict[str, float]:
    setup = Setup(root, ports=4, gadgets=(), tcp_serial=free_port())
    assert setup.tcp_serial is not None
    with Daemon(setup, cpus=DAEMON_CPU) as daemon:
        daemon.wait_healthy()
        conn = http.client.HTTPConnection("127.0.0.1", setup.http_port, timeout=30.0)
        try:
            say(f"flood: {plan.baseline} health polls at rest")
            idle = []
            for _ in range(plan.baseline):
                idle.append(poll_once(conn))
                time.sleep(plan.interval)
            say(f"flood: {plan.size / 2**20:.0f} MiB into the tcp serial endpoint")
            peer = Peer(
                "flood",
                {"port": setup.tcp_serial, "size": plan.size},
                root / "flood.json",
                cpus=PEER_CPU,
            )
            during = []
            try:
                while peer.proc.poll() is None:
                    during.append(poll_once(conn))
                    time.sleep(plan.interval)
                result = peer.wait()
            finally:
                peer.kill()
        finally:
            conn.close()
    seconds = (result["end"] - result["start"]) / 1e9
    return {
        "flood_idle_health_p99_ms": percentile(idle, 99),
        "flood_health_p50_ms": percentile(during, 50),
        "flood_health_p99_ms": percentile(during, 99),
        "flood_health_max_ms": max(during),
        "flood_samples": float(len(during)),
        "flood_seconds": seconds,
        "flood_mb_per_s": result["bytes"] / 2**20 / seconds,
    }
