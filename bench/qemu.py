"""A qemu port's routing throughput and added latency, against a fake QEMU.

The port (``kvmswitchd.port.Port`` over ``QemuTarget``) runs in this process on its own
event loop; the fake QEMU answers QMP on a unix socket from a thread of its own, the way
QEMU's monitor would (greeting, capabilities, an empty return per command), and stamps
the moment each ``input-send-event`` arrives. No guest runs, so the figures are the
daemon's side only: what it costs to turn reports into QMP commands and wait for each
reply (``input_interval`` 0: paced by the replies alone).

* throughput: key changes per second reaching the fake QEMU, one command each;
* latency: ``Port.key()`` → the command read by the fake QEMU, at a low rate.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.figures import percentile
from hid import evcodes
from kvmswitchd.port import Port
from kvmswitchd.port_config import PortConfig
from kvmswitchd.targets.qemu import QemuTarget

Say = Callable[[str], None]
KEY_A = evcodes.CODES["KEY_A"]
GREETING = {"QMP": {"version": {"qemu": {"major": 7, "minor": 2, "micro": 0}}, "capabilities": []}}


@dataclass(frozen=True, slots=True)
class Plan:
    changes: int  # key changes in the throughput run
    samples: int  # latency samples
    gap: float  # seconds between latency samples


FULL = Plan(changes=20_000, samples=2_000, gap=0.002)
QUICK = Plan(changes=2_000, samples=200, gap=0.002)


class FakeQemu(threading.Thread):
    """QMP on ``path``, one client; ``arrivals`` holds monotonic_ns of each input command."""

    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.arrivals: list[int] = []
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(path))
        self.listener.listen(1)

    def run(self) -> None:
        with contextlib.suppress(OSError):
            conn, _ = self.listener.accept()
            with conn:
                self.serve(conn)

    def serve(self, conn: socket.socket) -> None:
        conn.sendall(json.dumps(GREETING).encode() + b"\r\n")
        decoder = json.JSONDecoder()
        buffer = ""
        while chunk := conn.recv(65536):
            buffer += chunk.decode()
            replies = []
            while buffer.strip():
                try:
                    message, end = decoder.raw_decode(buffer.lstrip())
                except ValueError:
                    break
                buffer = buffer.lstrip()[end:]
                command = message.get("execute")
                if command == "input-send-event":
                    self.arrivals.append(time.monotonic_ns())
                value: object = {}
                if command == "query-status":
                    value = {"status": "running", "running": True}
                elif command == "query-named-block-nodes":
                    value = []
                reply = {"return": value, **({"id": message["id"]} if "id" in message else {})}
                replies.append(json.dumps(reply).encode() + b"\r\n")
            conn.sendall(b"".join(replies))

    def close(self) -> None:
        self.listener.close()


async def _run(plan: Plan, say: Say) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="kvmq") as folder:
        path = Path(folder) / "vm.qmp"
        fake = FakeQemu(path)
        fake.start()
        target = QemuTarget(
            str(path),
            mouse="relative",
            name="bench",
            screens=Path(folder) / "screens",
            input_interval=0.0,
        )
        port = Port(PortConfig(unit=1, target="qemu", qmp=f"unix:{path}"), target)
        await target.start()
        try:
            await asyncio.wait_for(target.connected.wait(), 10)
            say(f"qemu: {plan.changes} key changes, paced by the replies")
            t0 = time.monotonic()
            for i in range(plan.changes):
                port.key(KEY_A, i % 2 == 0)
                if i % 64 == 63:
                    await asyncio.sleep(0)  # let the sender run, as a live console would
            await target.drained()
            rate = plan.changes / (time.monotonic() - t0)
            say(f"qemu: {plan.samples} latency samples")
            fake.arrivals.clear()
            sent: list[int] = []
            for i in range(plan.samples):
                sent.append(time.monotonic_ns())
                port.key(KEY_A, i % 2 == 0)
                await target.drained()
                await asyncio.sleep(plan.gap)
            latencies = [(got - at) / 1000 for at, got in zip(sent, fake.arrivals, strict=False)]
        finally:
            await target.stop()
            fake.close()
    return {
        "qemu_events_per_s": rate,
        "qemu_latency_p50_us": percentile(latencies, 50),
        "qemu_latency_p99_us": percentile(latencies, 99),
        "qemu_samples": float(len(latencies)),
    }


def qemu(plan: Plan, say: Say) -> dict[str, float]:
    return asyncio.run(_run(plan, say))
