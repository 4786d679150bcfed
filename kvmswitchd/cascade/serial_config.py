"""``[ports.N.cascade]`` with ``kind = "serial"``: a switch driven by its control dialect.

::

    [ports.2.cascade]
    kind = "serial"
    dialect = "tesmart"          # "tesmart" | "aten" | "text" (another kvmswitchd's line)
    device = "/dev/ttyUSB0"      # or "tcp:192.168.1.10:5000"
    baud = 9600                  # tty only; default per dialect (aten 19200, else 9600)
    ports = 8                    # channels of the downstream switch
    pacing = 1.0                 # seconds between commands (default per dialect)
    poll = 10.0                  # seconds between polls of the active port (0: never)
    timeout = 5.0                # seconds to wait for a reply
    names = ["web", "db"]        # optional: names of channels 1, 2, ...
    user = "cascade"             # text only, for a line that requires a login
    password_file = "/etc/kvmswitchd/downstream.pw"

Every error is a ConfigError naming its key.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Mapping
from dataclasses import dataclass

from kvmswitchd.core.ports import MAX_CASCADE_CHANNEL
from kvmswitchd.errors import ConfigError
from kvmswitchd.serial.endpoint import HOSTNAME, Dialect
from kvmswitchd.serial.login import MAX_USER_LEN
from kvmswitchd.serial.tesmart import MAX_PORT_BYTE

KIND = "serial"
KEYS = (
    "kind", "ports", "names", "dialect", "device", "baud", "pacing", "poll", "timeout",
    "user", "password_file",
)  # fmt: skip
# Seconds. A gap or timeout past these is a typo that would stall every switch.
MAX_PACING = 10.0
MIN_POLL, MAX_POLL = 1.0, 3600.0
MIN_TIMEOUT, MAX_TIMEOUT = 0.05, 30.0


@dataclass(frozen=True, slots=True)
class DialectDefaults:
    baud: int
    pacing: float  # the units need this long between commands
    timeout: float
    max_ports: int  # what one command can address


DEFAULTS: Mapping[Dialect, DialectDefaults] = {
    # TESmart: ~1 s between commands; PiKVM waits up to 5 s for a reply (reference §2.1)
    Dialect.TESMART: DialectDefaults(9600, 1.0, 5.0, min(MAX_PORT_BYTE, MAX_CASCADE_CHANNEL)),
    # ATEN: 19200 8N1 (VS1814T); two-digit port numbers
    Dialect.ATEN: DialectDefaults(19200, 0.1, 2.0, min(99, MAX_CASCADE_CHANNEL)),
    Dialect.TEXT: DialectDefaults(9600, 0.0, 2.0, MAX_CASCADE_CHANNEL),
}
DEFAULT_POLL = 10.0
# A downstream channel's name (as port names: shown in the UI and logs).
MAX_NAME_LEN = 64  # PiKVM polls its TESmart every 10 s


@dataclass(frozen=True, slots=True)
class SerialCascade:
    dialect: Dialect
    device: str  # as configured, for display
    ports: int
    path: str | None = None  # the tty; None for TCP
    host: str = ""
    port: int = 0
    baud: int = 9600
    pacing: float = 1.0
    poll: float | None = DEFAULT_POLL
    timeout: float = 5.0
    names: tuple[str, ...] = ()
    user: str | None = None
    password_file: str | None = None

    def name_of(self, channel: int) -> str:
        return self.names[channel - 1] if channel <= len(self.names) else f"Port {channel}"


def parse_serial_cascade(table: Mapping[str, object], path: str) -> SerialCascade:
    """Validate one ``[ports.N.cascade]`` table of kind ``serial``."""
    check_table(table, KIND, KEYS, path)
    text = table.get("dialect")
    if not isinstance(text, str) or text not in {d.value for d in Dialect}:
        raise ConfigError(f"{path}.dialect", 'expected "tesmart", "aten" or "text"')
    dialect = Dialect(text)
    defaults = DEFAULTS[dialect]
    device = table.get("device")
    if not isinstance(device, str) or not device:
        raise ConfigError(f"{path}.device", 'expected a tty path or "tcp:HOST:PORT"')
    tty, host, port = _device(device, f"{path}.device")
    if tty is None and "baud" in table:
        raise ConfigError(f"{path}.baud", "expected no baud rate: the device is tcp")
    baud = table.get("baud", defaults.baud)
    if isinstance(baud, bool) or not isinstance(baud, int) or not 50 <= baud <= 4_000_000:
        raise ConfigError(f"{path}.baud", "expected a baud rate 50..4000000, e.g. 9600")
    ports = table.get("ports")
    high = defaults.max_ports
    if isinstance(ports, bool) or not isinstance(ports, int) or not 1 <= ports <= high:
        raise ConfigError(f"{path}.ports", f"expected the number of channels 1..{high}")
    poll = parse_seconds(table, "poll", DEFAULT_POLL, 0.0, MAX_POLL, path)
    if 0 < poll < MIN_POLL:
        raise ConfigError(f"{path}.poll", f"expected 0 (never) or {MIN_POLL:g}..{MAX_POLL:g}")
    user, password_file = _login(table, dialect, path)
    return SerialCascade(
        dialect=dialect,
        device=device,
        ports=ports,
        path=tty,
        host=host,
        port=port,
        baud=baud,
        pacing=parse_seconds(table, "pacing", defaults.pacing, 0.0, MAX_PACING, path),
        poll=poll or None,
        timeout=parse_seconds(table, "timeout", defaults.timeout, MIN_TIMEOUT, MAX_TIMEOUT, path),
        names=parse_names(table, ports, path),
        user=user,
        password_file=password_file,
    )


def _device(text: str, key: str) -> tuple[str | None, str, int]:
    """``/dev/ttyUSB0`` → the tty; ``tcp:HOST:PORT`` (or ``tcp://HOST:PORT``) → host, port."""
    if text.startswith("/"):
        if "\0" in text:
            raise ConfigError(key, "expected a tty path without NUL")
        return text, "", 0
    if not text.startswith("tcp:"):
        raise ConfigError(key, 'expected an absolute tty path or "tcp:HOST:PORT"')
    host, colon, port_text = text.removeprefix("tcp:").removeprefix("//").rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not colon or not host or not port_text.isascii() or not port_text.isdigit():
        raise ConfigError(key, 'expected "tcp:HOST:PORT" with a port number')
    port = int(port_text)
    if not 0 < port < 65536:
        raise ConfigError(key, "expected a tcp port 1..65535")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if len(host) > 253 or not HOSTNAME.fullmatch(host):
            raise ConfigError(key, "expected an IP address or host name in tcp:HOST:PORT") from None
    return None, host, port


def _login(
    table: Mapping[str, object], dialect: Dialect, path: str
) -> tuple[str | None, str | None]:
    for key in ("user", "password_file"):
        if key in table and dialect is not Dialect.TEXT:
            raise ConfigError(f"{path}.{key}", "expected no login: only the text dialect has one")
    user = table.get("user")
    password_file = table.get("password_file")
    if user is None and password_file is None:
        return None, None
    if not isinstance(user, str) or not 0 < len(user) <= MAX_USER_LEN or not user.isprintable():
        raise ConfigError(f"{path}.user", f"expected a user name of 1..{MAX_USER_LEN} characters")
    if " " in user:
        raise ConfigError(f"{path}.user", "expected a user name without spaces")
    if not isinstance(password_file, str) or not password_file.startswith("/"):
        raise ConfigError(f"{path}.password_file", "expected the absolute path of a file")
    return user, password_file


def check_table(table: object, kind: str, keys: tuple[str, ...], path: str) -> None:
    """A table of kind ``kind`` with no key outside ``keys`` (shared with the hotkeys kind)."""
    if not isinstance(table, Mapping):
        raise ConfigError(path, "expected a table")
    for key in table:
        if key not in keys:
            raise ConfigError(f"{path}.{key}", f"unknown key; expected one of {', '.join(keys)}")
    if table.get("kind", kind) != kind:
        raise ConfigError(f"{path}.kind", f'expected "{kind}"')


def parse_names(table: Mapping[str, object], ports: int, path: str) -> tuple[str, ...]:
    """``names = ["web", "db"]``: the first channels' names (shared with the hotkeys kind)."""
    value = table.get("names", [])
    if not isinstance(value, list) or len(value) > ports:
        raise ConfigError(f"{path}.names", f"expected a list of at most {ports} names")
    for i, name in enumerate(value):
        if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME_LEN or not name.isprintable():
            raise ConfigError(
                f"{path}.names[{i}]", f"expected a printable name of 1..{MAX_NAME_LEN} characters"
            )
    return tuple(str(name) for name in value)


def parse_seconds(
    table: Mapping[str, object], key: str, default: float, low: float, high: float, path: str
) -> float:
    """``table[key]`` as seconds in ``low..high`` (shared with the hotkeys kind)."""
    value = table.get(key, default)
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not low <= value <= high
    ):
        raise ConfigError(f"{path}.{key}", f"expected a number of seconds {low:g}..{high:g}")
    return float(value)
