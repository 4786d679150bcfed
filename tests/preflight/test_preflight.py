"""preflight(): the one set of start-time checks, run by --check-config and the daemon."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from kvmswitchd.config import Config, HttpConfig, parse_config
from kvmswitchd.errors import ConfigError
from kvmswitchd.preflight import (
    MAX_TLS_FILE_BYTES,
    Finding,
    Findings,
    is_loopback,
    preflight,
    server_tls,
)
from tests.preflight.certs import make_pems


def with_tls(cert: Path, key: Path) -> Config:
    return replace(Config(), http=HttpConfig(tls_cert=cert, tls_key=key))


def test_the_default_config_has_nothing_to_report() -> None:
    assert preflight(Config()) == Findings()


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.10", False),
        ("kvm.example", False),
        ("", False),
    ],
)
def test_loopback_means_the_loopback_addresses_and_localhost(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_a_finding_reads_as_its_key_path_and_message_and_raises_the_same() -> None:
    finding = Finding("auth_off_network", "http.auth", "auth = false is allowed ...")
    assert str(finding) == "http.auth: auth = false is allowed ... [auth_off_network]"
    error = finding.error()
    assert (error.path, error.message) == ("http.auth", "auth = false is allowed ...")
    with pytest.raises(ConfigError) as raised:
        Findings(errors=(finding,)).raise_first()
    assert str(raised.value) == "http.auth: auth = false is allowed ..."
    Findings(warnings=(finding,)).raise_first()  # warnings never stop the start


def test_files_false_checks_only_the_configuration_itself(tmp_path: Path) -> None:
    config = with_tls(tmp_path / "cert.pem", tmp_path / "key.pem")
    assert preflight(config, files=False) == Findings()
    (error,) = preflight(config).errors
    assert (error.name, error.path) == ("tls_unusable", "http.tls_cert")
    assert "does not exist" in error.message
    wide_open = replace(config, http=replace(config.http, auth=False, listen_host="0.0.0.0"))
    assert [e.name for e in preflight(wide_open, files=False).errors] == ["auth_off_network"]


def test_every_refusal_is_reported_not_only_the_first(tmp_path: Path) -> None:
    config = with_tls(tmp_path / "cert.pem", tmp_path / "key.pem")
    config = replace(config, http=replace(config.http, auth=False, listen_host="0.0.0.0"))
    assert [e.name for e in preflight(config).errors] == ["auth_off_network", "tls_unusable"]


def test_a_tls_file_over_the_cap_is_refused_without_reading_it(tmp_path: Path) -> None:
    big = tmp_path / "huge.pem"
    with big.open("wb") as handle:
        handle.truncate(MAX_TLS_FILE_BYTES + 1)  # sparse: the check must look at the size
    with pytest.raises(ConfigError) as info:
        server_tls(HttpConfig(tls_cert=big, tls_key=big))
    assert info.value.path == "http.tls_cert"
    assert f"{MAX_TLS_FILE_BYTES + 1} bytes" in info.value.message


def test_a_fifo_named_as_a_tls_file_is_refused_without_blocking(tmp_path: Path) -> None:
    pems = make_pems(tmp_path)
    fifo = tmp_path / "key.fifo"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError) as info:
        server_tls(HttpConfig(tls_cert=pems.cert, tls_key=fifo))
    assert info.value.path == "http.tls_key"
    assert "not a regular file" in info.value.message


def test_a_matching_pair_gives_a_server_context(tmp_path: Path) -> None:
    pems = make_pems(tmp_path)
    assert server_tls(HttpConfig()) is None
    assert server_tls(HttpConfig(tls_cert=pems.cert, tls_key=pems.key)) is not None
    assert preflight(with_tls(pems.cert, pems.key)) == Findings()


def test_an_existing_pty_symlink_or_fifo_is_reused_not_refused(tmp_path: Path) -> None:
    (tmp_path / "tty").symlink_to("/dev/null")
    os.mkfifo(tmp_path / "console")
    config = parse_config(
        {
            "serial": [{"endpoint": f"pty:{tmp_path}/tty"}],
            "console": {"devices": [f"fifo:{tmp_path}/console", f"fifo:{tmp_path}/new"]},
        }
    )
    assert preflight(config).errors == ()


def test_a_wide_open_tesmart_endpoint_and_an_auth_off_login_are_both_warned_about() -> None:
    config = parse_config(
        {
            "http": {"auth": False},
            "serial": [
                {"endpoint": "tcp://127.0.0.1:5000", "dialect": "tesmart", "allow": ["0.0.0.0/0"]},
                {"endpoint": "tcp://127.0.0.1:5001", "dialect": "aten"},
            ],
        }
    )
    findings = preflight(config)
    assert findings.errors == ()
    assert [(w.name, w.path) for w in findings.warnings] == [
        ("serial_no_login", "serial[0].dialect"),
        ("serial_login_impossible", "serial[1].login"),
    ]


def test_tls_or_loopback_silences_the_plaintext_warning(tmp_path: Path) -> None:
    pems = make_pems(tmp_path)
    wide = replace(Config(), http=HttpConfig(listen_host="0.0.0.0"))
    assert [w.name for w in preflight(wide).warnings] == ["http_plaintext"]
    secured = replace(wide, http=replace(wide.http, tls_cert=pems.cert, tls_key=pems.key))
    assert preflight(secured) == Findings()


def test_a_console_fifo_is_found_through_a_symlink_as_the_daemon_finds_it(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "real")
    (tmp_path / "via").symlink_to(tmp_path / "real")
    (tmp_path / "dangling").symlink_to(tmp_path / "nothing")
    (tmp_path / "file").write_text("")
    config = parse_config(
        {
            "console": {
                "devices": [
                    f"fifo:{tmp_path}/via",
                    f"fifo:{tmp_path}/dangling",
                    f"fifo:{tmp_path}/file/console",
                ]
            }
        }
    )
    errors = preflight(config).errors
    assert [(e.name, e.path) for e in errors] == [
        ("console_path_unusable", "console.devices[1]"),
        ("console_path_unusable", "console.devices[2]"),
    ]
    assert "symlink to nothing" in errors[0].message
    assert f"{tmp_path}/file is not a directory" in errors[1].message
