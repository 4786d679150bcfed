"""``--check-config`` and the daemon agree (issue 12 item 7): each config below goes
through the check (a process) and the daemon's start (in-process). A refused config is
refused by both with the same message naming the key; a legal-but-unsafe one starts
with the same named warnings the check prints (logged and journaled)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from kvmswitchd.config import load_config
from kvmswitchd.daemon import Daemon
from kvmswitchd.errors import ConfigError
from kvmswitchd.preflight import preflight
from tests.preflight.certs import Pems, make_pems


@dataclass(frozen=True, slots=True)
class Case:
    name: str  # the finding expected
    path: str  # its key path
    toml: Callable[[Path, Pems], str]  # the config file, given a scratch dir

    def __str__(self) -> str:
        return self.name


LOOPBACK_NO_AUTH = '[http]\nauth = false\nlisten = "127.0.0.1:0"\n'


def tls(cert: Path, key: Path) -> str:
    return f'[http]\nlisten = "127.0.0.1:0"\ntls_cert = "{cert}"\ntls_key = "{key}"\n'


def junk(directory: Path) -> Path:
    path = directory / "junk.pem"
    path.write_text("not a PEM file\n")
    return path


def regular_file(directory: Path) -> Path:
    path = directory / "occupied"
    path.write_text("someone's file\n")
    return path


REFUSED = [
    Case(
        "auth_off_network", "http.auth", lambda d, p: '[http]\nauth = false\nlisten = "0.0.0.0:0"\n'
    ),
    Case("tls_unusable", "http.tls_cert", lambda d, p: tls(d / "missing.pem", p.key)),
    Case("tls_unusable", "http.tls_key", lambda d, p: tls(p.cert, d / "missing.pem")),
    Case("tls_unusable", "http.tls_cert", lambda d, p: tls(d, p.key)),  # a directory
    Case("tls_unusable", "http.tls_cert", lambda d, p: tls(junk(d), p.key)),
    Case("tls_unusable", "http.tls_key", lambda d, p: tls(p.cert, junk(d))),
    Case("tls_unusable", "http.tls_key", lambda d, p: tls(p.cert, p.other_key)),
    Case("tls_unusable", "http.tls_key", lambda d, p: tls(p.cert, p.encrypted_key)),
    Case(
        "serial_path_unusable",
        "serial[0].endpoint",
        lambda d, p: LOOPBACK_NO_AUTH + f'[[serial]]\nendpoint = "pty:{d}/no/such/dir/tty"\n',
    ),
    Case(
        "serial_path_unusable",
        "serial[0].endpoint",
        lambda d, p: LOOPBACK_NO_AUTH + f'[[serial]]\nendpoint = "pty:{regular_file(d)}"\n',
    ),
    Case(
        "console_path_unusable",
        "console.devices[0]",
        lambda d, p: LOOPBACK_NO_AUTH + f'[console]\ndevices = ["fifo:{regular_file(d)}"]\n',
    ),
    Case(
        "usbip_no_allow_list",
        "usbip.allow",
        lambda d, p: (
            '[http]\nlisten = "127.0.0.1:0"\n[usbip]\nlisten = "0.0.0.0:0"\n'
            '[ports.2]\ntarget = "usbip"\n'
        ),
    ),
    Case(
        "usbip_no_allow_list",
        "usbip.allow",
        lambda d, p: '[http]\nlisten = "127.0.0.1:0"\n[usbip]\nlisten = "[::]:0"\n',
    ),
    Case(
        "gpio_chip_missing",
        "buttons.chip",
        lambda d, p: LOOPBACK_NO_AUTH + '[buttons]\nchip = "/dev/gpiochip999"\nlines = {"1" = 3}\n',
    ),
]

WARNED = [
    Case(
        "serial_login_impossible",
        "serial[0].login",
        lambda d, p: LOOPBACK_NO_AUTH + '[[serial]]\nendpoint = "tcp://127.0.0.1:0"\n',
    ),
    Case(
        "serial_no_login",
        "serial[0].dialect",
        lambda d, p: (
            '[http]\nlisten = "127.0.0.1:0"\n'
            '[[serial]]\nendpoint = "tcp://127.0.0.1:0"\ndialect = "tesmart"\nallow = ["0.0.0.0/0"]\n'
        ),
    ),
    Case("http_plaintext", "http.listen", lambda d, p: '[http]\nlisten = "0.0.0.0:0"\n'),
    Case(
        "usbip_no_login",
        "usbip.listen",
        lambda d, p: (
            '[http]\nlisten = "127.0.0.1:0"\n[usbip]\nlisten = "0.0.0.0:0"\n'
            'allow = ["192.0.2.10", "10.0.0.0/24"]\n[ports.2]\ntarget = "usbip"\n'
        ),
    ),
]


@pytest.fixture(scope="module")
def pems(tmp_path_factory: pytest.TempPathFactory) -> Pems:
    return make_pems(tmp_path_factory.mktemp("pems"))


def check_config(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kvmswitchd", "--check-config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )


def write(case: Case, directory: Path, pems: Pems) -> Path:
    path = directory / "kvm.toml"
    path.write_text(case.toml(directory, pems))
    return path


@pytest.mark.parametrize("case", REFUSED, ids=lambda c: f"{c.name}-{c.path}")
async def test_a_config_the_daemon_refuses_the_check_refuses_with_the_same_message(
    case: Case, tmp_path: Path, pems: Pems
) -> None:
    path = write(case, tmp_path, pems)
    checked = check_config(path)
    daemon = Daemon(load_config(path), tmp_path / "state")
    try:
        with pytest.raises(ConfigError) as refused:
            await daemon.start()
    finally:
        await daemon.stop()
    assert refused.value.path == case.path
    assert checked.returncode == 2, checked.stderr
    assert f"kvmswitchd: configuration error: {refused.value}\n" in checked.stderr
    assert "Traceback" not in checked.stderr
    assert preflight(load_config(path)).errors[0].name == case.name
    assert not (tmp_path / "state").exists()  # refused before anything was opened


@pytest.mark.parametrize("case", WARNED, ids=str)
async def test_a_legal_but_unsafe_config_gives_the_same_named_warning_in_both(
    case: Case, tmp_path: Path, pems: Pems, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(case, tmp_path, pems)
    checked = check_config(path)
    daemon = Daemon(load_config(path), tmp_path / "state")
    with caplog.at_level(logging.WARNING, logger="kvmswitchd.daemon"):
        board = await daemon.start()
    try:
        assert [(w.name, w.path) for w in daemon.warnings] == [(case.name, case.path)]
        (warning,) = daemon.warnings
        assert checked.returncode == 0, checked.stderr
        assert f"kvmswitchd: warning: {warning}\n" in checked.stderr
        assert str(warning) in caplog.messages
        journaled = [e.detail for e in board.journal.recent(100) if e.kind == "config_warning"]
        assert journaled == [{"warning": case.name, "detail": str(warning)}]
    finally:
        await daemon.stop()
