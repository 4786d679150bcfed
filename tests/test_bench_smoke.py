"""The benchmark suite's pure parts: percentile maths, the JSON shape, the bench config.

Nothing here times anything (benchmarks live in ``bench/`` and are run by ``./dev bench``).
"""

from __future__ import annotations

import json
import math
import tomllib
from pathlib import Path

import pytest

from bench.figures import (
    FIGURES,
    KEYS,
    SECTIONS,
    added,
    document,
    percentile,
    section_of,
    spread_pct,
    summary,
    table,
)
from bench.peer import EVENT_SIZE, event, sent_ns
from bench.rig import Setup
from kvmswitchd.config import parse_config
from kvmswitchd.console.events import ConsoleAssembler, KeyChange


def test_percentiles_interpolate_between_ranks_like_numpy() -> None:
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile(list(range(101)), 99) == 99
    assert percentile([3, 1, 2], 0) == 1
    assert percentile([3, 1, 2], 100) == 3
    assert percentile([7], 99.9) == 7
    assert percentile(list(range(1001)), 99.9) == pytest.approx(999.0)
    assert math.isnan(percentile([], 50))


def test_added_latency_is_each_percentile_minus_the_floors() -> None:
    floor = summary([10.0] * 1000)
    daemon = summary([50.0] * 990 + [400.0] * 10)
    assert set(daemon) == {"p50", "p99", "p999"}
    assert added(daemon, floor) == {
        "p50": 40.0,
        "p99": pytest.approx(daemon["p99"] - 10),
        "p999": 390.0,
    }


def test_the_cost_spread_is_the_worst_deviation_from_two_ports() -> None:
    assert spread_pct([2.0, 2.2, 1.9, 2.0]) == pytest.approx(10.0)
    assert spread_pct([3.0, 3.0]) == 0.0


def test_every_figure_key_is_unique_and_belongs_to_a_section() -> None:
    assert len(set(KEYS)) == len(KEYS)
    assert {section_of(key) for key in KEYS} == set(SECTIONS)


def test_the_document_has_every_key_once_with_null_for_figures_not_measured() -> None:
    doc = document(
        {"throughput_events_per_s": 150_000.0, "startup_max_s": 2.0, "fanout_all_max_ms": math.nan},
        meta={"command": "./dev bench"},
        notes=["section latency failed: x"],
    )
    assert list(doc["figures"]) == list(KEYS)
    assert doc["figures"]["throughput_events_per_s"] == 150_000.0
    assert doc["figures"]["latency_200_added_p50_us"] is None
    assert doc["figures"]["fanout_all_max_ms"] is None  # NaN is not JSON
    assert doc["budgets"]["throughput_events_per_s"]["ok"] is True
    assert doc["budgets"]["startup_max_s"]["ok"] is False
    assert doc["budgets"]["fanout_all_max_ms"]["ok"] is None
    assert set(doc["units"]) == set(KEYS)
    assert json.loads(json.dumps(doc, allow_nan=False)) == doc


def test_the_document_refuses_a_figure_that_is_not_catalogued() -> None:
    with pytest.raises(KeyError):
        document({"latency_typo": 1.0}, meta={})


def test_the_table_shows_every_figure_and_the_budget_verdicts() -> None:
    text = table(document({"throughput_events_per_s": 90_000.0}, meta={}))
    for figure in FIGURES:
        assert figure.label in text
    assert "NO" in text


def test_writer_events_carry_their_send_time_and_alternate_press_and_release() -> None:
    t = 1_234_567_890_123_456
    pair = event(0, t)
    assert len(pair) == EVENT_SIZE
    assert sent_ns(pair) == t // 1000 * 1000  # struct timeval: microseconds
    stream = b"".join(event(i) for i in range(6))
    batches = ConsoleAssembler(syn=None).feed_bytes(stream)
    changes = [item for batch in batches for item in batch]
    assert [c.pressed for c in changes if isinstance(c, KeyChange)] == [True, False] * 3


def test_the_bench_config_is_a_valid_daemon_config(tmp_path: Path) -> None:
    setup = Setup(tmp_path, ports=8, gadgets=(1, 2), serial=True, http_port=8123)
    config = parse_config(tomllib.loads(setup.toml()))
    assert config.ports == 8
    assert config.port(2).target == "gadget"
    assert config.port(2).hidg_keyboard == str(setup.keyboard(2))
    assert config.port(3).target == "emulated"
    assert not config.http.auth
    assert config.serial is not None
    assert len(config.serial) == 1
    assert parse_config(tomllib.loads(Setup(tmp_path, http_port=1).toml())).serial == ()


def test_the_flood_bench_config_has_a_tcp_text_endpoint_beside_the_pty(tmp_path: Path) -> None:
    setup = Setup(tmp_path, gadgets=(), serial=True, tcp_serial=5123, http_port=8123)
    serial = parse_config(tomllib.loads(setup.toml())).serial
    assert serial is not None
    assert [(s.endpoint, s.dialect.value, s.login_required) for s in serial] == [
        (f"pty:{setup.pty}", "text", False),
        ("tcp://127.0.0.1:5123", "text", True),
    ]
