"""``./dev bench`` (``python -m bench``): the performance suite of SPEC §11.

Runs every section, prints one table and writes the figures as JSON to
``bench/results/latest.json`` (and a time-stamped copy, and ``--json PATH`` if given).
``--quick`` is a smoke run: every figure, from far fewer samples.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from bench import ch9329, flood, latency, qemu, startup, switching
from bench.figures import SECTIONS, document, table
from bench.rig import ROOT, Interference, machine, workdir

RESULTS = ROOT / "bench" / "results"
# Other processes' share of the CPUs above which a section's figures are flagged.
FOREIGN_LIMIT = 3.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="./dev bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a fast smoke run (fewer samples)")
    parser.add_argument("--json", type=Path, help="also write the JSON document here")
    parser.add_argument(
        "--only", action="append", choices=SECTIONS, help="run only this section (repeatable)"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="run the throughput and switch daemons under pyinstrument (bench/results)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    load_before = os.getloadavg()[0]

    def say(message: str) -> None:
        print(f"[{time.monotonic() - started:6.1f}s] {message}", file=sys.stderr, flush=True)

    lat = latency.QUICK if args.quick else latency.FULL
    sw = switching.QUICK if args.quick else switching.FULL
    fl = flood.QUICK if args.quick else flood.FULL
    RESULTS.mkdir(parents=True, exist_ok=True)
    profiles = {s: RESULTS / f"profile-{s}.txt" for s in ("throughput", "switch")}
    profile = profiles if args.profile else {}
    wanted = args.only or list(SECTIONS)
    figures: dict[str, float | None] = {}
    notes: list[str] = []
    foreign: dict[str, float] = {}
    with workdir() as root:
        runs: dict[str, Callable[[], dict[str, float]]] = {
            "latency": lambda: latency.latency(root / "latency", lat, say),
            "throughput": lambda: latency.throughput(root, lat, say, profile.get("throughput")),
            "switch": lambda: switching.switching(root / "switch", sw, say, profile.get("switch")),
            "scaling": lambda: latency.scaling(root, lat, say),
            "fanout": lambda: switching.fanout(root / "fanout", sw, say),
            "startup": lambda: startup.startup(root / "startup", 2 if args.quick else 5, say),
            "flood": lambda: flood.flood(root / "flood", fl, say),
            "ch9329": lambda: ch9329.ch9329(
                root / "ch9329", ch9329.QUICK if args.quick else ch9329.FULL, say
            ),
            "qemu": lambda: qemu.qemu(qemu.QUICK if args.quick else qemu.FULL, say),
        }
        for name in SECTIONS:
            if name not in wanted:
                continue
            (root / name).mkdir(exist_ok=True)
            interference = Interference()
            try:
                figures.update(runs[name]())
            except Exception as exc:  # one broken section must not hide the others
                traceback.print_exc()
                notes.append(f"section {name} failed: {exc}")
            foreign[name] = round(interference.share(), 1)
            if foreign[name] > FOREIGN_LIMIT:
                notes.append(
                    f"section {name}: other processes used {foreign[name]}% of the CPUs "
                    "during it; its figures are disturbed"
                )
    for name, path in profile.items():
        if name in wanted:
            notes.append(f"{name} ran under pyinstrument (its figures are inflated); see {path}")
    meta = {
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": " ".join(["./dev bench", *(argv if argv is not None else sys.argv[1:])]),
        "quick": args.quick,
        "sections": wanted,
        "seconds": round(time.monotonic() - started, 1),
        "machine": machine(),
        "load_before": round(load_before, 2),
        "foreign_cpu_pct": foreign,
    }
    doc = document(figures, meta=meta, notes=notes)
    text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    for path in (RESULTS / "latest.json", RESULTS / f"bench-{stamp}.json", args.json):
        if path is not None:
            path.write_text(text)
    print(table(doc))
    for note in notes:
        print(f"note: {note}")
    print(f"JSON: {RESULTS / 'latest.json'}" + (f" and {args.json}" if args.json else ""))
    return 1 if any("failed" in note for note in notes) else 0


if __name__ == "__main__":
    sys.exit(main())
