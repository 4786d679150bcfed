from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from kvmswitchd.config import Config, load_config, parse_config, with_overrides
from kvmswitchd.errors import ConfigError


def test_defaults_run_the_emulated_four_port_switch() -> None:
    config = load_config(None)
    assert config == Config()
    assert config.ports == 4
    assert (config.http.listen_host, config.http.listen_port) == ("127.0.0.1", 8080)
    assert config.port(2).target == "emulated"


def test_a_full_config_is_read(tmp_path: Path) -> None:
    path = tmp_path / "kvm.toml"
    path.write_text(
        """
[switch]
ports = 8
[http]
listen = "127.0.0.1:9000"
[console]
devices = ["fifo:/tmp/x"]
hotkeys = "ctrl"
[ports.2]
name = "Build server"
keyboard = "ps2"
"""
    )
    config = load_config(path)
    assert config.ports == 8
    assert config.http.listen_port == 9000
    assert [(d.kind, d.path) for d in config.console.devices] == [("fifo", "/tmp/x")]
    assert config.console.hotkeys.name == "ctrl"
    assert config.port(2).name == "Build server"
    assert config.port(2).keyboard == "ps2"


@pytest.mark.parametrize(
    ("doc", "path"),
    [
        ({"switch": {"ports": 65}}, "switch.ports"),
        ({"switch": {"ports": "4"}}, "switch.ports"),
        ({"switch": {"portz": 4}}, "switch.portz"),
        ({"http": {"listen": "nohost"}}, "http.listen"),
        ({"ports": {"2": {"keyboard": "serial"}}}, "ports.2.keyboard"),
        ({"ports": {"9": {"name": "x"}}}, "ports.9"),
        ({"ports": {"2": {"target": "ch9329"}}}, "ports.2.ch9329_device"),
        ({"console": {"devices": ["/dev/input/event0"]}}, "console.devices[0]"),
        ({"console": {"devices": "evdev:auto"}}, "console.devices"),
        ({"scan": {"dwell": -1}}, "scan.dwell"),
        ({"bogus": {}}, "bogus"),
    ],
)
def test_every_error_names_its_key_path(doc: dict[str, object], path: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(doc)
    assert info.value.path == path
    assert "expected" in info.value.message or "not available" in info.value.message


def test_command_line_overrides_are_validated() -> None:
    with pytest.raises(ConfigError, match="--ports"):
        with_overrides(Config(), ports=100)
    assert with_overrides(Config(), listen="127.0.0.1:1234").http.listen_port == 1234


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kvmswitchd", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_check_config_exits_2_with_the_key_path_and_no_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[switch]\nports = 100\n")
    result = run_cli("--check-config", str(bad))
    assert result.returncode == 2
    assert "switch.ports" in result.stderr
    assert "Traceback" not in result.stderr


def test_check_config_rejects_broken_toml_cleanly(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[switch\nports = ")
    result = run_cli("--check-config", str(bad))
    assert result.returncode == 2
    assert "not valid TOML" in result.stderr
    assert "Traceback" not in result.stderr


def test_check_config_accepts_a_good_file(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text("[switch]\nports = 2\n")
    result = run_cli("--check-config", str(good))
    assert result.returncode == 0, result.stderr


def test_auth_off_is_refused_on_a_non_loopback_address(tmp_path: Path) -> None:
    config = tmp_path / "kvm.toml"
    config.write_text('[http]\nauth = false\nlisten = "0.0.0.0:8080"\n')
    result = run_cli("--config", str(config), "--state-dir", str(tmp_path))
    assert result.returncode == 2
    assert "http.auth" in result.stderr
    assert "loopback" in result.stderr


def test_tls_needs_both_certificate_and_key() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"http": {"tls_cert": "/x.pem"}})
    assert info.value.path == "http.tls_key"


def test_the_readme_config_example_is_valid() -> None:
    import re
    import tomllib

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    blocks = re.findall(r"```toml\n(.*?)```", readme, re.S)
    assert blocks, "the README has a full config example"
    config = parse_config(tomllib.loads(blocks[0]))
    assert config.port(2).name == "Build server"
    assert config.serial is not None and config.serial[0].dialect == "text"
    assert config.buttons is not None and config.buttons.lines["next"] == 22


def test_check_config_applies_the_flags_the_daemon_would(tmp_path: Path) -> None:
    config = tmp_path / "kvm.toml"
    config.write_text("[http]\nauth = false\n")
    assert run_cli("--check-config", str(config)).returncode == 0
    result = run_cli("--check-config", str(config), "--listen", "0.0.0.0:8080")
    assert result.returncode == 2
    assert "http.auth: auth = false is allowed on a loopback address only" in result.stderr


def test_a_device_the_daemon_cannot_open_stops_it_cleanly_without_a_traceback(
    tmp_path: Path,
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = tmp_path / "kvm.toml"
        config.write_text(
            f'[http]\nlisten = "127.0.0.1:0"\n[usbip]\nlisten = "127.0.0.1:{port}"\n'
            '[ports.1]\ntarget = "usbip"\n'
        )
        result = run_cli("--config", str(config), "--state-dir", str(tmp_path / "state"))
    assert result.returncode == 1
    assert f"kvmswitchd: cannot start: USB/IP cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr
