"""A real rsyslogd (Debian's) for the tests: plain TCP, TLS (gtls, when rsyslog-gnutls is
installed) and UDP inputs on free loopback ports; every message it parses is written as
one JSON line with its RFC 5424 fields and its structured data parsed by rsyslog's own
``mmpstrucdata`` (so the SD escaping is checked by a real parser, not by ours)."""

from __future__ import annotations

import asyncio
import glob
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import in_ci, require_tool
from tests.syslog.collector import free_port

CONFIG = """
global(workDirectory="{dir}"
       defaultNetstreamDriverCAFile="{cert}"
       defaultNetstreamDriverCertFile="{cert}"
       defaultNetstreamDriverKeyFile="{key}")
module(load="imtcp")
module(load="imudp")
module(load="mmpstrucdata")
input(type="imtcp" port="{tcp}" address="127.0.0.1")
input(type="imudp" port="{udp}" address="127.0.0.1")
{tls_input}
template(name="kvmjson" type="list") {{
  constant(value="{{")
  property(outname="version" name="protocol-version" format="jsonf") constant(value=",")
  property(outname="facility" name="syslogfacility-text" format="jsonf") constant(value=",")
  property(outname="severity" name="syslogseverity-text" format="jsonf") constant(value=",")
  property(outname="host" name="hostname" format="jsonf") constant(value=",")
  property(outname="app" name="app-name" format="jsonf") constant(value=",")
  property(outname="msgid" name="msgid" format="jsonf") constant(value=",")
  property(outname="msg" name="msg" format="jsonf") constant(value=",")
  constant(value="\\"sd\\":") property(name="$!rfc5424-sd")
  constant(value="}}\\n")
}}
action(type="mmpstrucdata" sd_name.lowercase="off")
action(type="omfile" file="{out}" template="kvmjson")
"""
TLS_INPUT = (
    'input(type="imtcp" port="{tls}" address="127.0.0.1" streamDriver.name="gtls"'
    ' streamDriver.mode="1" streamDriver.authMode="anon")'
)


def gtls_available() -> bool:
    return bool(glob.glob("/usr/lib/*/rsyslog/lmnsd_gtls.so"))


def require_gtls() -> None:
    if not gtls_available():
        reason = "rsyslog's TLS driver is not installed (Debian package rsyslog-gnutls)"
        if in_ci():
            pytest.fail(f"{reason}; CI must install it (.ci/run)")
        pytest.skip(reason)


def make_cert(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for ``collector.test`` (and 127.0.0.1)."""
    openssl = require_tool("openssl", "makes the collector's test certificate")
    cert, key = directory / "collector.pem", directory / "collector.key"
    subprocess.run(
        [
            openssl,
            *("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
            *("-nodes", "-days", "1", "-subj", "/CN=collector.test"),
            *("-addext", "subjectAltName=DNS:collector.test,IP:127.0.0.1"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


class Rsyslog:
    def __init__(self, directory: Path) -> None:
        self.binary = require_tool("rsyslogd", "the syslog collector of the syslog tests")
        self.dir = directory
        self.out = directory / "received.jsonl"
        self.tcp, self.tls, self.udp = free_port(), free_port(), free_port(socket.SOCK_DGRAM)
        self.cert, self.key = make_cert(directory)
        self.tls_on = gtls_available()
        self.config = directory / "rsyslog.conf"
        self.config.write_text(
            CONFIG.format(
                dir=directory,
                cert=self.cert,
                key=self.key,
                tcp=self.tcp,
                udp=self.udp,
                out=self.out,
                tls_input=TLS_INPUT.format(tls=self.tls) if self.tls_on else "",
            )
        )
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start rsyslogd and return once its TCP inputs accept connections."""
        self.process = subprocess.Popen(
            [self.binary, "-n", "-f", str(self.config), "-i", str(self.dir / "rsyslogd.pid")],
            stdout=subprocess.DEVNULL,
            stderr=open(self.dir / "rsyslogd.stderr", "ab"),  # noqa: SIM115  # the child owns it
        )
        ports = [self.tcp, self.tls] if self.tls_on else [self.tcp]
        deadline = time.monotonic() + 15
        while ports:
            if self.process.poll() is not None:
                stderr = (self.dir / "rsyslogd.stderr").read_text(errors="replace")
                raise AssertionError(f"rsyslogd exited {self.process.returncode}: {stderr}")
            try:
                socket.create_connection(("127.0.0.1", ports[0]), timeout=1).close()
                ports.pop(0)
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError("rsyslogd did not open its inputs") from None
                time.sleep(0.05)  # waiting for another process to listen; no test timing

    def stop(self) -> None:
        """Stop rsyslogd (SIGTERM) and wait until it is gone."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGCONT)  # in case a test left it paused
            self.process.terminate()
            self.process.wait(timeout=15)
        self.process = None

    def pause(self) -> None:
        """SIGSTOP: a collector that hangs (its kernel still accepts and buffers)."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)

    def records(self) -> list[dict[str, Any]]:
        if not self.out.exists():
            return []
        lines = self.out.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    async def wait_for(
        self, match: Callable[[list[dict[str, Any]]], bool], what: str
    ) -> list[dict[str, Any]]:
        """Poll what rsyslogd wrote until ``match`` holds (15 s at most)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 15
        while True:
            records = self.records()
            if match(records):
                return records
            if loop.time() > deadline:
                raise AssertionError(f"rsyslogd never received {what}; it has {records[-5:]}")
            await asyncio.sleep(0.05)  # another process writes the file; no test timing
