"""The [syslog] table: what it accepts, and errors that name the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kvmswitchd.config import parse_config
from kvmswitchd.errors import ConfigError
from kvmswitchd.syslog.format import Facility
from kvmswitchd.syslog.settings import Transport, parse_syslog


def test_no_syslog_table_forwards_nothing() -> None:
    assert parse_config({}).syslog is None


def test_a_full_tls_table_is_read() -> None:
    config = parse_syslog(
        {
            "target": "tls://logs.example",
            "facility": "AUTHPRIV",
            "app_name": "kvm",
            "hostname": "rack3",
            "queue": 50,
            "max_message": 8192,
            "retry_max": 2.5,
            "tls_ca": "/etc/ca.pem",
            "tls_cert": "/etc/c.pem",
            "tls_key": "/etc/c.key",
            "tls_name": "collector.example",
        }
    )
    assert config is not None
    assert (config.transport, config.host, config.port) == (Transport.TLS, "logs.example", 6514)
    assert config.facility is Facility.AUTHPRIV
    assert (config.app_name, config.hostname, config.queue) == ("kvm", "rack3", 50)
    assert (config.max_message, config.retry_max) == (8192, 2.5)
    assert config.tls_ca == Path("/etc/ca.pem")
    assert config.target == "tls://logs.example:6514"


def test_ports_default_per_transport_and_ipv6_is_bracketed() -> None:
    udp = parse_syslog({"target": "udp://[::1]"})
    tcp = parse_syslog({"target": "tcp://127.0.0.1:1514"})
    assert udp is not None and tcp is not None
    assert (udp.host, udp.port, udp.target) == ("::1", 514, "udp://[::1]:514")
    assert (tcp.transport, tcp.port, tcp.facility) == (Transport.TCP, 1514, Facility.LOCAL0)


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ({}, "syslog.target"),
        ({"target": "http://x"}, "syslog.target"),
        ({"target": "tcp://"}, "syslog.target"),
        ({"target": "tcp://x:99999"}, "syslog.target"),
        ({"target": "tcp://x/path"}, "syslog.target"),
        ({"target": 5}, "syslog.target"),
        ({"target": "tcp://x", "facility": "local9"}, "syslog.facility"),
        ({"target": "tcp://x", "app_name": "has space"}, "syslog.app_name"),
        ({"target": "tcp://x", "app_name": "a" * 49}, "syslog.app_name"),
        ({"target": "tcp://x", "hostname": ""}, "syslog.hostname"),
        ({"target": "tcp://x", "queue": 0}, "syslog.queue"),
        ({"target": "tcp://x", "max_message": 480}, "syslog.max_message"),
        ({"target": "tcp://x", "retry_max": float("inf")}, "syslog.retry_max"),
        ({"target": "tcp://x", "tls_ca": "/ca.pem"}, "syslog.target"),
        ({"target": "tls://x", "tls_key": "/k.pem"}, "syslog.tls_cert"),
        ({"target": "tcp://x", "colour": "red"}, "syslog.colour"),
        ({"target": "tcp://x", "queue": 100_000, "max_message": 65507}, "syslog.queue"),
    ],
)
def test_a_bad_table_names_its_key(table: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"syslog": table})
    assert caught.value.path == key


def test_the_readme_syslog_example_is_valid() -> None:
    import re
    import tomllib

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    blocks = [b for b in re.findall(r"```toml\n(.*?)```", readme, re.S) if "[syslog]\n" in b]
    assert blocks, "the README has a [syslog] example"
    config = parse_config(tomllib.loads(blocks[0])).syslog
    assert config is not None and config.target == "tls://logs.example:6514"
