"""Preflight of [syslog]: unusable TLS files refuse the start naming the key; a collector
reached in clear over the network is warned about."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kvmswitchd.config import parse_config
from kvmswitchd.preflight import preflight
from tests.preflight.certs import make_pems


def findings(table: dict[str, Any]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    found = preflight(parse_config({"syslog": table}))
    return [(f.name, f.path) for f in found.errors], [(f.name, f.path) for f in found.warnings]


def test_a_loopback_collector_or_tls_draws_no_warning(tmp_path: Path) -> None:
    pems = make_pems(tmp_path)
    assert findings({"target": "tcp://127.0.0.1:514"}) == ([], [])
    assert findings({"target": "tls://logs.example", "tls_ca": str(pems.cert)}) == ([], [])


@pytest.mark.parametrize("target", ["udp://logs.example", "tcp://192.0.2.7:514"])
def test_a_collector_in_clear_over_the_network_is_warned_about(target: str) -> None:
    assert findings({"target": target}) == ([], [("syslog_plaintext", "syslog.target")])


def test_unusable_tls_files_are_refused_naming_the_key(tmp_path: Path) -> None:
    pems = make_pems(tmp_path)
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    base = {"target": "tls://logs.example"}
    for table, key in (
        ({"tls_ca": str(tmp_path / "missing.pem")}, "syslog.tls_ca"),
        ({"tls_ca": str(junk)}, "syslog.tls_ca"),
        ({"tls_cert": str(pems.cert), "tls_key": str(pems.other_key)}, "syslog.tls_cert"),
        ({"tls_cert": str(pems.cert), "tls_key": str(tmp_path / "gone.key")}, "syslog.tls_key"),
        ({"tls_cert": str(pems.cert), "tls_key": str(pems.encrypted_key)}, "syslog.tls_key"),
    ):
        errors, _ = findings(base | table)
        assert errors == [("syslog_tls_unusable", key)], table


def test_a_client_certificate_and_its_key_are_accepted(tmp_path: Path) -> None:
    pems = make_pems(tmp_path)
    table = {"target": "tls://logs.example", "tls_cert": str(pems.cert), "tls_key": str(pems.key)}
    assert findings(table) == ([], [])
