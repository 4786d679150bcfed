"""The systemd unit gives the daemon what the state-dir and connection rules assume."""

from __future__ import annotations

import configparser
from pathlib import Path

UNIT = Path(__file__).resolve().parents[2] / "systemd" / "kvmswitchd.service"


def service() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read_string(UNIT.read_text())
    return parser["Service"]


def test_the_unit_raises_the_fd_limit_for_the_connection_budget() -> None:
    assert int(service()["LimitNOFILE"]) >= 65536


def test_the_unit_creates_the_state_directory_private() -> None:
    assert service()["StateDirectoryMode"] == "0700"
