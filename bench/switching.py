"""Switch latency from each command source, the HTTP round trip, and websocket fan-out.

A switch trial: this process (the commander, separate from the daemon) sends a switch
command at t0 — a hotkey on the console stream, ``port N`` on the serial pty, or
``POST /switch``. Ports 1 and 2 are ``gadget`` targets whose nodes are FIFOs of the
reader process. The switch sends the old port its release-all reports and then moves the
focus; the moment the old port's mouse release arrives, the reader types a probe key
into the console, so the first report on the new port is the first keystroke typed after
the switch became visible, and its time includes whatever the daemon still does for the
switch (event log, state broadcast) before it routes input again. A websocket client
process records when the switch event reaches it. Both are measured from t0 in other
processes, so each includes process wake-ups (the floor of the latency runs). The
daemon runs on one CPU and all the peers on the other.
"""

from __future__ import annotations

import http.client
import json
import math
import os
import select
import time
import tty
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.figures import FANOUT_CLIENTS, SOURCES, percentile
from bench.rig import Daemon, Peer, Setup
from kvmswitchd.console.records import EV_KEY, EV_SYN, RECORD, SYN_REPORT

KEY_SCROLLLOCK = 70
KEY_1 = 2  # KEY_2 = 3, ...
KEY_X = 45  # the probe: no meaning to the hotkey detector outside command mode
GAP = 0.03  # seconds of quiet between trials
REPORT = 8
MOUSE_REPORT = 5
# The daemon gets a CPU of its own and every peer (commander, reader, websocket client)
# shares the other, as the real console, hosts and browsers are elsewhere: on two CPUs
# a reader woken onto the daemon's busy CPU would otherwise wait out the daemon's time
# slice before it types its probe.
DAEMON_CPU = {1}
PEER_CPU = {0}

Say = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Plan:
    trials: int  # per source
    round_trips: int
    fanout_trials: int


FULL = Plan(trials=200, round_trips=300, fanout_trials=30)
QUICK = Plan(trials=20, round_trips=30, fanout_trials=5)


def key(code: int, value: int) -> bytes:
    return RECORD.pack(0, 0, EV_KEY, code, value) + RECORD.pack(0, 0, EV_SYN, SYN_REPORT, 0)


PROBE = key(KEY_X, 1) + key(KEY_X, 0)


def hotkey(port: int) -> bytes:
    """Scroll Lock twice, then the port's digit (ports 1..9)."""
    tap = key(KEY_SCROLLLOCK, 1) + key(KEY_SCROLLLOCK, 0)
    digit = KEY_1 + port - 1
    return tap + tap + key(digit, 1) + key(digit, 0)


class Commander:
    """The three command sources, driven from this process."""

    def __init__(self, setup: Setup) -> None:
        self.console = os.open(setup.console, os.O_WRONLY)
        self.http = http.client.HTTPConnection("127.0.0.1", setup.http_port, timeout=10)
        self.pty = -1
        if setup.serial:
            self.pty = os.open(setup.pty, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
            tty.setraw(self.pty)
            self.drain_pty(wait=1.0)  # the daemon notices the opener and greets it

    def drain_pty(self, wait: float = 0.0) -> bytes:
        out = b""
        while select.select([self.pty], [], [], wait)[0]:
            try:
                chunk = os.read(self.pty, 4096)
            except BlockingIOError:
                break
            if not chunk:
                break
            out += chunk
            wait = 0.0
        return out

    def switch(self, source: str, port: int) -> int:
        """Send the switch command; t0 in ns."""
        t0 = time.monotonic_ns()
        if source == "hotkey":
            os.write(self.console, hotkey(port))
        elif source == "serial":
            os.write(self.pty, f"port {port}\r".encode())
        else:
            body = json.dumps({"port": str(port)})
            self.http.request("POST", "/api/v1/switch", body, {"Content-Type": "application/json"})
            reply = self.http.getresponse()
            reply.read()
            if reply.status != 200:
                raise RuntimeError(f"POST /switch answered {reply.status}")
        return t0

    def round_trip(self, port: int) -> float:
        t0 = time.monotonic_ns()
        self.http.request(
            "POST",
            "/api/v1/switch",
            json.dumps({"port": str(port)}),
            {"Content-Type": "application/json"},
        )
        reply = self.http.getresponse()
        reply.read()
        if reply.status != 200:
            raise RuntimeError(f"POST /switch answered {reply.status}")
        return (time.monotonic_ns() - t0) / 1e6

    def close(self) -> None:
        os.close(self.console)
        if self.pty >= 0:
            os.close(self.pty)
        self.http.close()


def pin_self(cpus: set[int]) -> set[int]:
    """Move this process (the commander) to ``cpus``; the CPUs it had before."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    return before


def first_after(times: Sequence[int], start: int, end: int) -> float:
    """ms from ``start`` to the first of ``times`` in [start, end); NaN if none."""
    for t in times:
        if start <= t < end:
            return (t - start) / 1e6
    return math.nan


def switching(root: Path, plan: Plan, say: Say, profile: Path | None = None) -> dict[str, float]:
    setup = Setup(root, ports=4, gadgets=(1, 2), serial=True)
    fifos = [setup.keyboard(1), setup.keyboard(2), setup.mouse(1), setup.mouse(2)]
    os.mkfifo(setup.console)  # the daemon uses it as it finds it; the reader writes probes
    pinned = pin_self(PEER_CPU)
    reader = Peer(
        "reader",
        {
            "fifos": [str(f) for f in fifos],
            "sizes": [REPORT, REPORT, MOUSE_REPORT, MOUSE_REPORT],
            "probe": PROBE.hex(),
            "probe_on": [2, 3],  # the mouse nodes: only release-all writes there
            "probe_to": str(setup.console),
        },
        root / "reader.json",
        cpus=PEER_CPU,
    )
    trials: list[tuple[str, int, int]] = []  # (source, new port, t0)
    round_trips: list[float] = []
    ws: Peer | None = None
    try:
        with Daemon(setup, cpus=DAEMON_CPU, profile=profile) as daemon:
            daemon.wait_healthy()
            ws = Peer("ws", {"port": setup.http_port, "clients": 1}, root / "ws.json", PEER_CPU)
            commander = Commander(setup)
            try:
                port = 1
                for source in SOURCES:
                    say(f"switch from {source}: {plan.trials} trials")
                    for _ in range(plan.trials):
                        port = 3 - port
                        trials.append((source, port, commander.switch(source, port)))
                        time.sleep(GAP)
                        if source == "serial":
                            commander.drain_pty()
                say(f"POST /switch round trip: {plan.round_trips} trials")
                for _ in range(plan.round_trips):
                    port = 3 - port
                    round_trips.append(commander.round_trip(port))
                    time.sleep(0.005)
            finally:
                commander.close()
            events = ws.finish()["switches"][0]
            arrivals = reader.finish()  # before the daemon's release-all on shutdown
    finally:
        reader.kill()
        if ws is not None:
            ws.kill()
        os.sched_setaffinity(0, pinned)
    on_port: dict[int, list[int]] = {1: [], 2: []}
    for t, which in zip(arrivals["times"], arrivals["which"], strict=True):
        if which < 2:
            on_port[which + 1].append(t)
    figures: dict[str, float] = {}
    ends = [t0 for _, _, t0 in trials[1:]] + [time.monotonic_ns()]
    for source in SOURCES:
        new_port, to_ws = [], []
        for (src, port, t0), end in zip(trials, ends, strict=True):
            if src == source:
                new_port.append(first_after(on_port[port], t0, end))
                to_ws.append(first_after(events, t0, end))
        for name, values in (("new_port", new_port), ("ws", to_ws)):
            missing = sum(math.isnan(v) for v in values)
            if missing:
                raise RuntimeError(f"switch from {source}: {missing} trials without {name}")
            figures[f"switch_{source}_{name}_p50_ms"] = percentile(values, 50)
            figures[f"switch_{source}_{name}_p99_ms"] = percentile(values, 99)
    figures["switch_http_round_trip_p50_ms"] = percentile(round_trips, 50)
    figures["switch_http_round_trip_p99_ms"] = percentile(round_trips, 99)
    return figures


def fanout(root: Path, plan: Plan, say: Say) -> dict[str, float]:
    setup = Setup(root, ports=4, gadgets=())
    starts: list[int] = []
    pinned = pin_self(PEER_CPU)
    try:
        with Daemon(setup, cpus=DAEMON_CPU) as daemon:
            daemon.wait_healthy()
            clients = {"port": setup.http_port, "clients": FANOUT_CLIENTS}
            ws = Peer("ws", clients, root / "ws.json", PEER_CPU)
            try:
                say(f"fan-out to {FANOUT_CLIENTS} websocket clients: {plan.fanout_trials} switches")
                commander = Commander(setup)
                try:
                    port = 1
                    for _ in range(plan.fanout_trials):
                        port = 3 - port
                        time.sleep(0.2)
                        starts.append(time.monotonic_ns())
                        commander.round_trip(port)
                finally:
                    commander.close()
                time.sleep(0.2)
                per_client = ws.finish()["switches"]
            finally:
                ws.kill()
    finally:
        os.sched_setaffinity(0, pinned)
    ends = [*starts[1:], time.monotonic_ns()]
    alls = []
    for start, end in zip(starts, ends, strict=True):
        got = [first_after(times, start, end) for times in per_client]
        alls.append(math.nan if any(math.isnan(v) for v in got) else max(got))
    if any(math.isnan(v) for v in alls):
        raise RuntimeError("fan-out: some client never got a switch event")
    return {"fanout_all_p50_ms": percentile(alls, 50), "fanout_all_max_ms": max(alls)}
