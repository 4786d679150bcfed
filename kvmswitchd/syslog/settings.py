"""The ``[syslog]`` table: where the event log is forwarded, and how.

::

    [syslog]
    target = "tls://logs.example:6514"   # udp://HOST[:514], tcp://HOST[:514], tls://HOST[:6514]
    facility = "local0"                  # kern..local7 (RFC 5424 §6.2.1 names)
    app_name = "kvmswitchd"
    hostname = "kvm-rack-3"              # default: this machine's host name
    queue = 1000                         # records held while the collector is unreachable
    max_message = 2048                   # bytes per message (RFC 5424 §6.1 minimum 2048)
    retry_max = 30.0                     # seconds between reconnect attempts, at most
    tls_ca = "/etc/kvmswitchd/logs-ca.pem"   # verify the collector (default: system CAs)
    tls_cert = "/etc/kvmswitchd/client.pem"  # our certificate, if the collector asks
    tls_key = "/etc/kvmswitchd/client.key"
    tls_name = "logs.example"            # name the collector's certificate must carry
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from kvmswitchd.config_keys import check_keys, file_path, integer, number, table
from kvmswitchd.errors import ConfigError
from kvmswitchd.syslog.format import (
    MAX_APP_NAME,
    MAX_HOSTNAME,
    MAX_MESSAGE_BYTES,
    MIN_MESSAGE_BYTES,
    Facility,
)

KEYS = {
    "target",
    "facility",
    "app_name",
    "hostname",
    "queue",
    "max_message",
    "retry_max",
    "tls_ca",
    "tls_cert",
    "tls_key",
    "tls_name",
}
# max_message: its default, least and most.
MESSAGE_BYTES = (MIN_MESSAGE_BYTES, MIN_MESSAGE_BYTES, MAX_MESSAGE_BYTES)
# Records held for an unreachable collector at most, and the bytes they may take at worst
# (queue x max_message): a long outage costs bounded memory on a small board.
MAX_QUEUE = 100_000
MAX_QUEUE_BYTES = 256 << 20


class Transport(Enum):
    UDP = "udp"  # RFC 5426
    TCP = "tcp"  # RFC 6587, octet counting
    TLS = "tls"  # RFC 5425


DEFAULT_PORT = {Transport.UDP: 514, Transport.TCP: 514, Transport.TLS: 6514}


@dataclass(frozen=True, slots=True)
class SyslogConfig:
    transport: Transport
    host: str
    port: int
    facility: Facility = Facility.LOCAL0
    app_name: str = "kvmswitchd"
    hostname: str | None = None  # None: the machine's host name
    queue: int = 1000
    max_message: int = MIN_MESSAGE_BYTES
    retry_max: float = 30.0
    tls_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_name: str | None = None

    @property
    def target(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.transport.value}://{host}:{self.port}"


def _target(value: object) -> tuple[Transport, str, int]:
    where, expected = "syslog.target", 'expected "udp://HOST:PORT", "tcp://..." or "tls://..."'
    if not isinstance(value, str) or len(value) > 300:
        raise ConfigError(where, expected)
    try:
        url = urllib.parse.urlsplit(value)
        port = url.port
    except ValueError:
        raise ConfigError(where, f"{expected}, got {value!r}") from None
    if url.scheme not in {t.value for t in Transport} or not url.hostname:
        raise ConfigError(where, f"{expected}, got {value!r}")
    if url.path not in ("", "/") or url.query or url.fragment or url.username:
        raise ConfigError(where, f"{expected} (no path, query or user), got {value!r}")
    transport = Transport(url.scheme)
    return transport, url.hostname, port if port else DEFAULT_PORT[transport]


def _text(section: Mapping[str, Any], key: str, default: str | None, limit: int) -> str | None:
    value = section.get(key, default)
    if value is None:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= limit:
        raise ConfigError(f"syslog.{key}", f"expected 1..{limit} characters")
    if any(not 0x21 <= ord(c) <= 0x7E for c in value):
        raise ConfigError(f"syslog.{key}", "expected printable ASCII without spaces")
    return value


def parse_syslog(raw: object) -> SyslogConfig | None:
    """The ``[syslog]`` table (None when absent: nothing is forwarded)."""
    if raw is None:
        return None
    section = table(raw, "syslog")
    check_keys(section, "syslog", KEYS)
    if "target" not in section:
        raise ConfigError("syslog.target", 'required, e.g. "tcp://logs.example:514"')
    transport, host, port = _target(section["target"])
    facility = section.get("facility", "local0")
    names = [f.name.lower() for f in Facility]
    if not isinstance(facility, str) or facility.lower() not in names:
        raise ConfigError("syslog.facility", f"expected one of {', '.join(names)}")
    tls = {key: file_path(section, key, "syslog") for key in ("tls_ca", "tls_cert", "tls_key")}
    tls_name = _text(section, "tls_name", None, MAX_HOSTNAME)
    if transport is not Transport.TLS and (any(tls.values()) or tls_name):
        raise ConfigError("syslog.target", "tls_* keys are given: expected a tls:// target")
    if tls["tls_key"] is not None and tls["tls_cert"] is None:
        raise ConfigError("syslog.tls_cert", "expected a certificate to go with tls_key")
    queue = integer(section, "queue", "syslog", 1000, 1, MAX_QUEUE)
    max_message = integer(section, "max_message", "syslog", *MESSAGE_BYTES)
    if queue * max_message > MAX_QUEUE_BYTES:
        raise ConfigError(
            "syslog.queue",
            f"queue x max_message may hold {queue * max_message} bytes; "
            f"at most {MAX_QUEUE_BYTES} (lower one of them)",
        )
    return SyslogConfig(
        transport,
        host,
        port,
        facility=Facility[facility.upper()],
        app_name=_text(section, "app_name", "kvmswitchd", MAX_APP_NAME) or "kvmswitchd",
        hostname=_text(section, "hostname", None, MAX_HOSTNAME),
        queue=integer(section, "queue", "syslog", 1000, 1, MAX_QUEUE),
        max_message=integer(
            section,
            "max_message",
            "syslog",
            MIN_MESSAGE_BYTES,
            MIN_MESSAGE_BYTES,
            MAX_MESSAGE_BYTES,
        ),
        retry_max=number(section, "retry_max", "syslog", 30.0, 0.1, 3600.0),
        tls_ca=tls["tls_ca"],
        tls_cert=tls["tls_cert"],
        tls_key=tls["tls_key"],
        tls_name=tls_name,
    )
