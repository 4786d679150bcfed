"""The [http] keys of the perimeter and the connection budget: parsed, checked with the
key path in the message, and used by the daemon."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from kvmswitchd.config import parse_config
from kvmswitchd.errors import ConfigError


def test_the_defaults() -> None:
    http = parse_config({}).http
    assert http.hosts == ()
    assert (http.header_timeout, http.idle_timeout, http.max_connections) == (10.0, 60.0, 256)
    assert http.body_timeout == 30.0


def test_the_keys_are_read() -> None:
    http = parse_config(
        {
            "http": {
                "hosts": ["kvm.example", "kvm.example:8443", "[fd00::1]:8080", "10.0.0.2"],
                "header_timeout": 2,
                "idle_timeout": 30.5,
                "body_timeout": 5,
                "max_connections": 64,
            }
        }
    ).http
    assert http.hosts == ("kvm.example", "kvm.example:8443", "[fd00::1]:8080", "10.0.0.2")
    assert (http.header_timeout, http.idle_timeout, http.max_connections) == (2.0, 30.5, 64)
    assert http.body_timeout == 5.0


@pytest.mark.parametrize(
    ("http", "path"),
    [
        ({"hosts": "kvm.example"}, "http.hosts"),
        ({"hosts": ["https://kvm.example"]}, "http.hosts"),
        ({"hosts": ["kvm.example/path"]}, "http.hosts"),
        ({"hosts": ["user@kvm.example"]}, "http.hosts"),
        ({"hosts": [""]}, "http.hosts"),
        ({"hosts": [7]}, "http.hosts"),
        ({"header_timeout": 0}, "http.header_timeout"),
        ({"idle_timeout": "60"}, "http.idle_timeout"),
        ({"body_timeout": -1}, "http.body_timeout"),
        ({"max_connections": 2}, "http.max_connections"),
        ({"max_connections": True}, "http.max_connections"),
    ],
)
def test_bad_values_name_their_key(http: dict[str, Any], path: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"http": http})
    assert caught.value.path == path


async def test_the_daemon_uses_the_configured_header_timeout(tmp_path: Path) -> None:
    from tests.daemon.conftest import start

    daemon, _ = await start(tmp_path / "state", {"http": {"header_timeout": 0.2}})
    try:
        host, port = daemon.http_url.removeprefix("http://").rsplit(":", 1)
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(b"POST /api/v1/input HTTP/1.1\r\nHost: ")
        assert await asyncio.wait_for(reader.read(), 10.0) == b""  # dropped, not served
        writer.close()
    finally:
        await daemon.stop()
