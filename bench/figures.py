"""The figures the suite reports, their budgets (SPEC §11), and the pure maths behind them.

Every figure has one fixed key, so the JSON a run writes always has the same shape: a
figure that was not measured (a section skipped or failed) is ``null``, never missing.
Nothing here does I/O or reads a clock (the smoke test runs it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

SCHEMA = "kvmswitchd-bench/1"
RATES = (200, 1000)  # events/s of the latency runs
PORT_COUNTS = (2, 8, 32, 64)  # the scaling runs
SOURCES = ("hotkey", "serial", "http")  # switch command sources
FANOUT_CLIENTS = 200


@dataclass(frozen=True, slots=True)
class Figure:
    key: str
    unit: str
    label: str
    limit: float | None = None  # the budget, if this figure has one
    at_least: bool = False  # the budget is a floor (throughput), not a ceiling


def _catalogue() -> tuple[Figure, ...]:
    figures: list[Figure] = []
    for rate in RATES:
        for path in ("floor", "daemon", "added"):
            for pct, name in (("p50", "p50"), ("p99", "p99"), ("p999", "p99.9")):
                limit = None
                if path == "added":
                    limit = {"p50": 100.0, "p99": 200.0}.get(pct)
                what = {
                    "floor": "floor, writer→reader direct",
                    "daemon": "writer→daemon→reader",
                    "added": "added by the daemon",
                }[path]
                figures.append(
                    Figure(
                        f"latency_{rate}_{path}_{pct}_us", "µs", f"{rate}/s {what} {name}", limit
                    )
                )
        figures.append(Figure(f"latency_{rate}_samples", "", f"{rate}/s samples per path"))
    figures += [
        Figure("throughput_events_per_s", "ev/s", "saturation, daemon on one core", 100_000, True),
        Figure("throughput_cpu_s_per_million", "s", "daemon CPU per million events"),
    ]
    for source in SOURCES:
        figures += [
            Figure(f"switch_{source}_new_port_p50_ms", "ms", f"{source}: → first report, p50"),
            Figure(f"switch_{source}_new_port_p99_ms", "ms", f"{source}: → first report, p99", 2),
            Figure(f"switch_{source}_ws_p50_ms", "ms", f"{source}: → websocket event, p50"),
            Figure(f"switch_{source}_ws_p99_ms", "ms", f"{source}: → websocket event, p99", 2),
        ]
    figures += [
        Figure("switch_http_round_trip_p50_ms", "ms", "POST /switch round trip p50"),
        Figure("switch_http_round_trip_p99_ms", "ms", "POST /switch round trip p99", 10),
    ]
    for count in PORT_COUNTS:
        figures += [
            Figure(f"scaling_{count}_cost_us", "µs", f"{count} ports: CPU per event"),
            Figure(
                f"scaling_{count}_rss_mb", "MB", f"{count} ports: RSS", 80 if count == 64 else None
            ),
        ]
    figures += [
        Figure("scaling_cost_spread_pct", "%", "per-event cost vs 2 ports, worst", 15),
        Figure("fanout_all_p50_ms", "ms", f"{FANOUT_CLIENTS} ws clients all have it, p50"),
        Figure("fanout_all_max_ms", "ms", f"{FANOUT_CLIENTS} ws clients all have it, max", 50),
        Figure("startup_p50_s", "s", "start → /health answers, p50"),
        Figure("startup_max_s", "s", "start → /health answers, max", 1.5),
        Figure("startup_64_ports_p50_s", "s", "start → /health at 64 ports, p50"),
        Figure("flood_idle_health_p99_ms", "ms", "GET /health at rest, p99"),
        Figure("flood_health_p50_ms", "ms", "GET /health during a tcp serial flood, p50"),
        Figure("flood_health_p99_ms", "ms", "GET /health during a tcp serial flood, p99", 20),
        Figure("flood_health_max_ms", "ms", "GET /health during a tcp serial flood, worst"),
        Figure("flood_samples", "", "health polls during the flood"),
        Figure("flood_seconds", "s", "time to parse the flood"),
        Figure("flood_mb_per_s", "MiB/s", "flood parsing rate"),
        Figure("ch9329_events_per_s", "ev/s", "ch9329 pty port: saturation, reports/s"),
        Figure("ch9329_latency_p50_ms", "ms", "ch9329 pty port: console→chip p50"),
        Figure("ch9329_latency_p99_ms", "ms", "ch9329 pty port: console→chip p99"),
        Figure("ch9329_added_p50_ms", "ms", "ch9329 pty port: added by the daemon p50"),
        Figure("ch9329_added_p99_ms", "ms", "ch9329 pty port: added by the daemon p99"),
        Figure("qemu_events_per_s", "ev/s", "qemu port (fake QEMU): key changes/s"),
        Figure("qemu_latency_p50_us", "µs", "qemu port: key → QMP command read, p50"),
        Figure("qemu_latency_p99_us", "µs", "qemu port: key → QMP command read, p99"),
        Figure("qemu_samples", "", "qemu port latency samples"),
    ]
    return tuple(figures)


FIGURES = _catalogue()
KEYS = tuple(f.key for f in FIGURES)
SECTIONS = (
    "latency",
    "throughput",
    "switch",
    "scaling",
    "fanout",
    "startup",
    "flood",
    "ch9329",
    "qemu",
)


def section_of(key: str) -> str:
    """The section that measures a figure: its key's first word."""
    return key.split("_", 1)[0]


# -- statistics ---------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), interpolated linearly between closest ranks (numpy's
    default method). NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary(values: Sequence[float]) -> dict[str, float]:
    """p50, p99 and p99.9 (keys ``p50``, ``p99``, ``p999``)."""
    return {
        "p50": percentile(values, 50),
        "p99": percentile(values, 99),
        "p999": percentile(values, 99.9),
    }


def added(measured: Mapping[str, float], floor: Mapping[str, float]) -> dict[str, float]:
    """The latency the daemon adds: each percentile minus the floor's (SPEC §11)."""
    return {key: measured[key] - floor[key] for key in measured}


def spread_pct(costs: Sequence[float]) -> float:
    """The worst deviation of any cost from the first one (2 ports), in percent."""
    base = costs[0]
    return max(abs(c / base - 1.0) for c in costs) * 100.0


# -- the document -------------------------------------------------------------------------


def verdict(figure: Figure, value: float | None) -> bool | None:
    if figure.limit is None or value is None or math.isnan(value):
        return None
    return value >= figure.limit if figure.at_least else value <= figure.limit


def clean(value: float | None) -> float | None:
    if value is None or math.isnan(value) or math.isinf(value):
        return None
    return round(value, 3)


def document(
    figures: Mapping[str, float | None], *, meta: Mapping[str, Any], notes: Sequence[str] = ()
) -> dict[str, Any]:
    """The JSON written by a run: every key of ``FIGURES`` once, plus budgets and context."""
    unknown = sorted(set(figures) - set(KEYS))
    if unknown:
        raise KeyError(f"not a catalogued figure: {unknown[0]}")
    values = {key: clean(figures.get(key)) for key in KEYS}
    budgets = {
        f.key: {"limit": f.limit, "at_least": f.at_least, "ok": verdict(f, values[f.key])}
        for f in FIGURES
        if f.limit is not None
    }
    return {
        "schema": SCHEMA,
        **meta,
        "figures": values,
        "units": {f.key: f.unit for f in FIGURES},
        "budgets": budgets,
        "notes": list(notes),
    }


def table(doc: Mapping[str, Any]) -> str:
    """The figures as a text table: section, figure, value, budget, verdict."""
    values: Mapping[str, float | None] = doc["figures"]
    lines = [f"{'figure':<48} {'value':>12}  {'budget':<12} ok"]
    section = ""
    for f in FIGURES:
        if section_of(f.key) != section:
            section = section_of(f.key)
            lines.append(f"-- {section}")
        value = values.get(f.key)
        if value is None:
            shown = "—"
        elif not f.unit:  # a count
            shown = f"{value:,.0f}"
        else:
            shown = f"{value:,.1f}" if abs(value) >= 100 else f"{value:.3g}"
        budget = ""
        if f.limit is not None:
            budget = f"{'≥' if f.at_least else '≤'} {f.limit:g} {f.unit}".strip()
        ok = verdict(f, value)
        mark = "" if ok is None else "yes" if ok else "NO"
        lines.append(f"{f.label:<48} {shown:>9} {f.unit:<3} {budget:<12} {mark}")
    return "\n".join(lines)
