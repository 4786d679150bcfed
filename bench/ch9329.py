"""Routing to a ch9329 port: throughput and added latency over a real pty.

Port 1 of the daemon is a ``ch9329`` cable whose chip is the emulated one in a peer
process (``bench.peer chip``) on a pty, at 115200 baud (a pty does not pace by baud:
this measures the daemon, the reply-paced link and the pty, not a UART). A writer sends
key events into the daemon's ``fifo:`` console, one report each.

Latency: the writer takes turns, event by event, between the console and a FIFO read
directly by a reader (the floor, as in ``bench.latency``); each event's latency is when
the chip decoded its report minus its send time. Throughput: events as fast as the
console pipe takes them; reports per second from the first send to the last report the
chip decoded, all of them counted.
"""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.figures import summary
from bench.peer import EVENT_SIZE
from bench.rig import Daemon, Peer, Setup

RATE = 200  # events/s of the latency run
WARMUP = 10

Say = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Plan:
    seconds: float  # of the latency run
    saturate: int  # events in the throughput run


FULL = Plan(seconds=10.0, saturate=20_000)
QUICK = Plan(seconds=2.0, saturate=2_000)


def wait_online(http_port: int, unit: int, timeout: float = 20.0) -> None:
    """Block until the port's target view says online (the chip answered GET_INFO)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        conn = http.client.HTTPConnection("127.0.0.1", http_port, timeout=1.0)
        try:
            conn.request("GET", f"/api/v1/ports/{unit}/target")
            if json.loads(conn.getresponse().read()).get("online"):
                return
        except (OSError, ValueError):
            pass
        finally:
            conn.close()
        time.sleep(0.02)
    raise RuntimeError(f"port {unit}'s chip did not come online in {timeout}s")


def ch9329(root: Path, plan: Plan, say: Say) -> dict[str, float]:
    setup = Setup(root, ports=2, gadgets=(), ch9329=(1,))
    floor = root / "floor"
    count = int(RATE * plan.seconds)
    expected = count + plan.saturate
    chip = Peer("chip", {"link": str(setup.chip(1)), "expect": expected}, root / "chip.json")
    reader = Peer("reader", {"fifos": [str(floor)], "sizes": [EVENT_SIZE]}, root / "reader.json")
    try:
        with Daemon(setup) as daemon:
            daemon.wait_healthy()
            wait_online(setup.http_port, 1)
            say(f"ch9329: {count:,} events at {RATE}/s each via floor and the daemon")
            paced = Peer(
                "writer",
                {"paths": [str(floor), str(setup.console)], "rate": RATE, "count": count},
                root / "paced.json",
            ).wait()
            time.sleep(0.3)
            say(f"ch9329: {plan.saturate:,} events as fast as the port takes them")
            blast = Peer(
                "writer",
                {"paths": [str(setup.console)], "rate": 0, "count": plan.saturate},
                root / "blast.json",
            ).wait()
            arrived = chip.wait(timeout=300)  # it ends once every report has come
            floor_times = reader.finish()["times"]
    finally:
        chip.kill()
        reader.kill()
    times = arrived["times"]
    if len(times) != expected:
        raise RuntimeError(f"{expected} reports expected at the chip, {len(times)} arrived")
    sends_floor, sends_daemon = paced["sends"]
    daemon_ms = [(a - s) / 1e6 for s, a in zip(sends_daemon, times[:count], strict=True)]
    floor_ms = [(a - s) / 1e6 for s, a in zip(sends_floor, floor_times, strict=True)]
    lat, base = summary(daemon_ms[WARMUP:]), summary(floor_ms[WARMUP:])
    seconds = (times[-1] - blast["start"]) / 1e9
    return {
        "ch9329_events_per_s": plan.saturate / seconds,
        "ch9329_latency_p50_ms": lat["p50"],
        "ch9329_latency_p99_ms": lat["p99"],
        "ch9329_added_p50_ms": lat["p50"] - base["p50"],
        "ch9329_added_p99_ms": lat["p99"] - base["p99"],
    }
