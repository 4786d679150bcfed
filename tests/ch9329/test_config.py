"""The ch9329 port keys: defaults, every refusal naming its key, preflight's warnings."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from kvmswitchd.config import parse_config
from kvmswitchd.errors import ConfigError
from kvmswitchd.preflight import preflight


def port(**keys: Any) -> dict[str, Any]:
    return {"ports": {"2": {"target": "ch9329", "ch9329_device": "/dev/ttyUSB0", **keys}}}


def test_a_ch9329_port_has_the_chips_defaults() -> None:
    config = parse_config(port())
    p = config.port(2)
    assert (p.target, p.ch9329_device, p.ch9329_baud, p.ch9329_address) == (
        "ch9329",
        "/dev/ttyUSB0",
        9600,
        0,
    )
    assert p.ch9329_kinds == ("keyboard", "mouse")
    custom = parse_config(
        port(ch9329_baud=115200, ch9329_address=0x10, ch9329_kinds=["mouse"], mouse="absolute")
    ).port(2)
    assert (custom.ch9329_baud, custom.ch9329_address, custom.ch9329_kinds) == (
        115200,
        16,
        ("mouse",),
    )
    assert parse_config(port(ch9329_device="emulated")).port(2).ch9329_device == "emulated"


@pytest.mark.parametrize(
    ("doc", "key"),
    [
        ({"ports": {"2": {"target": "ch9329"}}}, "ports.2.ch9329_device"),
        (port(ch9329_device="ttyUSB0"), "ports.2.ch9329_device"),
        (port(ch9329_device=5), "ports.2.ch9329_device"),
        (port(ch9329_device="/dev/tty\0"), "ports.2.ch9329_device"),
        (port(ch9329_baud=9601), "ports.2.ch9329_baud"),
        (port(ch9329_baud=True), "ports.2.ch9329_baud"),
        (port(ch9329_baud="9600"), "ports.2.ch9329_baud"),
        (port(ch9329_address=0xFF), "ports.2.ch9329_address"),
        (port(ch9329_address=-1), "ports.2.ch9329_address"),
        (port(ch9329_address="0"), "ports.2.ch9329_address"),
        (port(ch9329_kinds=[]), "ports.2.ch9329_kinds"),
        (port(ch9329_kinds=["keyboard", "keyboard"]), "ports.2.ch9329_kinds"),
        (port(ch9329_kinds=["joystick"]), "ports.2.ch9329_kinds"),
        (port(ch9329_kinds="keyboard"), "ports.2.ch9329_kinds"),
        (port(keyboard="ps2"), "ports.2.keyboard"),
        (port(nkro=True), "ports.2.nkro"),
        (port(poll_interval=0.01), "ports.2.poll_interval"),
        ({"ports": {"2": {"ch9329_baud": 9600}}}, "ports.2.ch9329_baud"),
        (
            {"ports": {"1": {"target": "gadget", "ch9329_device": "/dev/x"}}},
            "ports.1.ch9329_device",
        ),
        (
            {
                "ports": {
                    "1": {"target": "ch9329", "ch9329_device": "/dev/ttyUSB0"},
                    "3": {"target": "ch9329", "ch9329_device": "/dev/ttyUSB0"},
                }
            },
            "ports.3.ch9329_device",
        ),
    ],
)
def test_every_bad_ch9329_key_is_refused_naming_it(doc: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(doc)
    assert info.value.path == key
    assert "expected" in info.value.message or "already" in info.value.message


def test_two_emulated_chips_are_two_ports_not_a_clash() -> None:
    emulated = {"target": "ch9329", "ch9329_device": "emulated"}
    config = parse_config({"ports": {"1": emulated, "2": emulated}})
    assert config.port(1).target == config.port(2).target == "ch9329"


def test_a_missing_device_is_a_warning_the_port_waits_for_it(tmp_path: Path) -> None:
    config = parse_config(port(ch9329_device=str(tmp_path / "ttyUSB9")))
    findings = preflight(config)
    assert not findings.errors
    assert [(w.name, w.path) for w in findings.warnings] == [
        ("ch9329_device_missing", "ports.2.ch9329_device")
    ]
    there = tmp_path / "ttyUSB0"
    there.touch()
    assert not preflight(parse_config(port(ch9329_device=str(there)))).warnings
    assert not preflight(parse_config(port(ch9329_device="emulated"))).warnings


def test_the_readmes_ch9329_example_is_a_valid_config() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("### CH9329 ports", 1)[1]
    block = re.findall(r"```toml\n(.*?)```", section, re.S)[0]
    config = parse_config(tomllib.loads(block))
    assert config.port(3).target == "ch9329" and config.port(3).mouse == "absolute"
    assert "kvmswitchd ch9329-chip --link" in section  # exercised by test_cli
