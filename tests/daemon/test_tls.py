"""Optional TLS: the API and UI over HTTPS with a configured certificate and key."""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path

import aiohttp
import pytest

from kvmswitchd.daemon import Daemon
from kvmswitchd.errors import ConfigError
from tests.conftest import require_tool
from tests.daemon.conftest import make_config, start


def make_cert(directory: Path) -> tuple[Path, Path]:
    openssl = require_tool("openssl", "makes a self-signed test certificate")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


async def test_the_daemon_serves_https_with_the_configured_certificate(tmp_path: Path) -> None:
    cert, key = make_cert(tmp_path)
    daemon, _board = await start(
        tmp_path / "state", {"http": {"tls_cert": str(cert), "tls_key": str(key)}}
    )
    try:
        assert daemon.http_url.startswith("https://")
        context = ssl.create_default_context(cafile=str(cert))
        async with aiohttp.ClientSession() as http:
            async with http.get(daemon.http_url + "/api/v1/health", ssl=context) as r:
                assert r.status == 200
            with pytest.raises(aiohttp.ClientConnectorCertificateError):
                await http.get(daemon.http_url + "/api/v1/health")  # an untrusted certificate
    finally:
        await daemon.stop()


async def test_an_unreadable_certificate_is_a_config_error(tmp_path: Path) -> None:
    bogus = tmp_path / "cert.pem"
    bogus.write_text("not a certificate")
    daemon = Daemon(
        make_config({"http": {"tls_cert": str(bogus), "tls_key": str(bogus)}}), tmp_path
    )
    try:
        with pytest.raises(ConfigError) as info:
            await daemon.start()
        assert info.value.path == "http.tls_cert"
    finally:
        await daemon.stop()
