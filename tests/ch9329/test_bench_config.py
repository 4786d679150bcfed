"""The ch9329 bench case's daemon config is valid and puts a CH9329 cable on port 1."""

from __future__ import annotations

import tomllib
from pathlib import Path

from bench.figures import KEYS, SECTIONS, section_of
from bench.rig import Setup
from kvmswitchd.config import parse_config


def test_the_ch9329_bench_config_has_a_ch9329_port_on_the_chips_pty(tmp_path: Path) -> None:
    setup = Setup(tmp_path, ports=2, gadgets=(), ch9329=(1,), http_port=8123)
    config = parse_config(tomllib.loads(setup.toml()))
    port = config.port(1)
    assert (port.target, port.ch9329_device, port.ch9329_baud) == (
        "ch9329",
        str(setup.chip(1)),
        115200,
    )
    assert config.port(2).target == "emulated"


def test_the_ch9329_figures_are_a_section_of_their_own() -> None:
    assert "ch9329" in SECTIONS
    assert {k for k in KEYS if section_of(k) == "ch9329"} == {
        "ch9329_events_per_s",
        "ch9329_latency_p50_ms",
        "ch9329_latency_p99_ms",
        "ch9329_added_p50_ms",
        "ch9329_added_p99_ms",
    }
