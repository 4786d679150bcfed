"""Input latency against its floor, throughput at saturation, and scaling with ports.

Latency: a writer process sends key events into the daemon's ``fifo:`` console; the
focused port is a ``gadget`` target whose keyboard node is a FIFO read by a reader
process. In the same run the same writer sends the same records straight into a FIFO of
the same reader: the floor (two processes waking each other through a pipe, no daemon).
The writer takes turns between the two paths, event by event, so both see the same
moments of a noisy virtual machine. Each event's latency is its arrival time in the reader minus
its send time in the writer (``CLOCK_MONOTONIC``, one clock on this host).

Throughput and scaling: the writer saturates the console pipe; the daemon is pinned to one
CPU and the writer and reader to the other, and the daemon's CPU time per event comes from
the scheduler's own accounting.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.figures import PORT_COUNTS, RATES, added, spread_pct, summary
from bench.peer import EVENT_SIZE
from bench.rig import Daemon, Peer, Setup

WARMUP = 10  # events dropped at the start of every block (process and cache warm-up)
REPORT = 8  # boot keyboard report bytes
MOUSE_REPORT = 5
DAEMON_CPU = {1}  # saturation runs: the daemon alone on CPU 1...
PEER_CPU = {0}  # ...the writer and the reader on CPU 0

Say = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Plan:
    seconds: dict[int, float]  # of each latency run, per rate
    saturate: int  # events in the throughput run
    scale: int  # events per scaling run


FULL = Plan(seconds={200: 20.0, 1000: 10.0}, saturate=1_000_000, scale=300_000)
QUICK = Plan(seconds={200: 3.0, 1000: 2.0}, saturate=100_000, scale=50_000)


def latency(root: Path, plan: Plan, say: Say) -> dict[str, float]:
    setup = Setup(root, ports=4, gadgets=(1,))
    floor = root / "floor"
    reader = Peer(
        "reader",
        {
            "fifos": [str(floor), str(setup.keyboard(1)), str(setup.mouse(1))],
            "sizes": [EVENT_SIZE, REPORT, MOUSE_REPORT],
        },
        root / "reader.json",
    )
    sends: dict[int, list[list[int]]] = {}  # rate -> [floor sends, daemon sends]
    try:
        with Daemon(setup) as daemon:
            daemon.wait_healthy()
            for rate in RATES:
                count = int(rate * plan.seconds[rate])
                say(f"latency at {rate} events/s: {count:,} events each via floor and daemon")
                writer = Peer(
                    "writer",
                    {"paths": [str(floor), str(setup.console)], "rate": rate, "count": count},
                    root / "writer.json",
                )
                sends[rate] = writer.wait()["sends"]
                time.sleep(0.2)  # the last reports land
            arrived = reader.finish()  # before the daemon's release-all on shutdown
    finally:
        reader.kill()
    # each path's arrivals, in order: the first rate's events, then the next rate's
    streams = [
        iter([t for t, w in zip(arrived["times"], arrived["which"], strict=True) if w == i])
        for i in (0, 1)
    ]
    arrivals = {
        rate: [[next(s, 0) for _ in sends[rate][i]] for i, s in enumerate(streams)]
        for rate in RATES
    }
    leftover = [sum(1 for _ in s) for s in streams]
    figures: dict[str, float] = {}
    for rate in RATES:
        per_path = {}
        for i, path in enumerate(("floor", "daemon")):
            sent, got = sends[rate][i], arrivals[rate][i]
            if 0 in got or leftover[i]:
                raise RuntimeError(f"{path}: more or fewer reports arrived than events were sent")
            samples = [(a - s) / 1000 for s, a in zip(sent[WARMUP:], got[WARMUP:], strict=True)]
            per_path[path] = summary(samples)
            figures[f"latency_{rate}_samples"] = len(samples)
        per_path["added"] = added(per_path["daemon"], per_path["floor"])
        for path, stats in per_path.items():
            for pct, value in stats.items():
                figures[f"latency_{rate}_{path}_{pct}_us"] = value
    return figures


@dataclass(frozen=True, slots=True)
class Saturation:
    events: int
    seconds: float
    cpu_s: float
    rss_mb: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds

    @property
    def cost_us(self) -> float:
        return self.cpu_s / self.events * 1e6


def saturate(
    root: Path, ports: int, events: int, say: Say, profile: Path | None = None
) -> Saturation:
    """A fresh daemon with ``ports`` ports; ``events`` key events as fast as it takes them."""
    root.mkdir(parents=True, exist_ok=True)
    setup = Setup(root, ports=ports, gadgets=(1,))
    reader = Peer(
        "reader",
        {
            "fifos": [str(setup.keyboard(1)), str(setup.mouse(1))],
            "sizes": [REPORT, MOUSE_REPORT],
            "count_only": True,
        },
        root / "reader.json",
        cpus=PEER_CPU,
    )
    try:
        with Daemon(setup, cpus=DAEMON_CPU, profile=profile) as daemon:
            daemon.wait_healthy()
            warm = min(events // 10, 50_000)
            blast(root, setup, warm)  # allocator, caches and branch predictors warm up
            time.sleep(0.3)
            say(f"saturation: {events:,} events into {ports} ports")
            cpu = daemon.cpu_ns()
            run = blast(root, setup, events)
            time.sleep(0.5)  # the daemon drains the console pipe
            cpu = daemon.cpu_ns() - cpu
            rss = daemon.rss_mb()
            counted = reader.finish()  # before the daemon's release-all on shutdown
    finally:
        reader.kill()
    expected = (warm + events) * REPORT
    if counted["bytes"][0] != expected:
        raise RuntimeError(f"{expected} report bytes expected, {counted['bytes'][0]} arrived")
    seconds = (counted["last"] - run["start"]) / 1e9
    return Saturation(events, seconds, cpu / 1e9, rss)


def blast(root: Path, setup: Setup, events: int) -> dict[str, int]:
    writer = Peer(
        "writer",
        {"paths": [str(setup.console)], "rate": 0, "count": events},
        root / "blast.json",
        cpus=PEER_CPU,
    )
    result: dict[str, int] = writer.wait()
    return result


def throughput(root: Path, plan: Plan, say: Say, profile: Path | None = None) -> dict[str, float]:
    run = saturate(root / "throughput", 4, plan.saturate, say, profile)
    return {
        "throughput_events_per_s": run.rate,
        "throughput_cpu_s_per_million": run.cpu_s / run.events * 1e6,
    }


def scaling(root: Path, plan: Plan, say: Say) -> dict[str, float]:
    figures: dict[str, float] = {}
    costs = []
    for ports in PORT_COUNTS:
        run = saturate(root / f"scaling-{ports}", ports, plan.scale, say)
        figures[f"scaling_{ports}_cost_us"] = run.cost_us
        figures[f"scaling_{ports}_rss_mb"] = run.rss_mb
        costs.append(run.cost_us)
    figures["scaling_cost_spread_pct"] = spread_pct(costs)
    return figures
