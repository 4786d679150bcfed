"""Serial endpoint configuration: one ``[[serial]]`` table → a frozen ``EndpointSpec``.

``parse_endpoint(table, "serial[0]")`` raises ``ConfigError("serial[0].key", "expected
...")`` for every bad value, so ``--check-config`` can name the key; ``spec.warnings(auth=)``
names configs that are legal but unsafe or useless. ``build_core`` turns a spec into the
sans-IO core (dialect, wrapped in the modem dialogue if asked).

A line without login (a local tty or pty) acts as a configured actor: ``role`` and
``ports`` (the users' restriction table, ``ports = { switch = ["1", "2"] }``). Where a
login is required those keys are refused: the logged-in user's rights apply.
"""

from __future__ import annotations

import enum
import ipaddress
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from kvmswitchd import allowlist
from kvmswitchd.core.lease import LOCKABLE, MAX_LEASE_IDLE
from kvmswitchd.core.permissions import PortRestrictions, Role, parse_restrictions
from kvmswitchd.errors import ConfigError, InputError, PortError
from kvmswitchd.serial.aten import DEFAULT_LOCKS, LEASE_IDLE, AtenDialect
from kvmswitchd.serial.channel import ChannelCore
from kvmswitchd.serial.login import LoginThrottle
from kvmswitchd.serial.modem import DEFAULT_INIT, ModemLine
from kvmswitchd.serial.tesmart import TesmartDialect
from kvmswitchd.serial.tesmart_unit import TesmartUnit
from kvmswitchd.serial.text import TextDialect

LOOPBACK = ("127.0.0.0/8", "::1/128")
ANYWHERE = ("0.0.0.0/0", "::/0")
DEFAULT_IDLE_TIMEOUT = 300.0  # seconds; on modem and tcp endpoints unless configured
MAX_IDLE_TIMEOUT = 86400.0
# A modem's command buffer holds about 40-60 characters; longer init strings get cut.
MAX_INIT_LEN = 60
MAX_INIT_STRINGS = 16
MAX_GUARD = 5.1  # S12 = 255 fiftieths of a second
MAX_NAME_LEN = 64
# Concurrent clients of one TCP endpoint: the default, and the most ``max_clients`` may
# allow. Each client holds a file descriptor and a session; the cap stops a config from
# letting a connection flood exhaust the daemon's descriptors (HTTP keeps its own reserve).
DEFAULT_MAX_CLIENTS = 8
MAX_CLIENTS = 64
KEYS = (
    "endpoint",
    "name",
    "dialect",
    "modem",
    "baud",
    "bytesize",
    "parity",
    "stopbits",
    "login",
    "allow",
    "echo",
    "modem_init",
    "modem_guard",
    "idle_timeout",
    "role",
    "ports",
    "notify",
    "max_clients",
    "lease_idle",
    "lease_locks",
)
PARITY = {"none": "N", "even": "E", "odd": "O", "mark": "M", "space": "S"}
HOSTNAME = re.compile(
    r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
)
ENDPOINT_FORMS = '"pty:PATH", "tty:DEVICE", an absolute device path or "tcp://HOST:PORT"'


class LinkKind(enum.StrEnum):
    TTY = "tty"
    PTY = "pty"
    TCP = "tcp"


class Dialect(enum.StrEnum):
    TEXT = "text"
    TESMART = "tesmart"
    ATEN = "aten"


@dataclass(frozen=True, slots=True)
class EndpointSpec:
    name: str  # the Origin detail of its commands; default: the device's file name
    kind: LinkKind
    endpoint: str  # as configured, for display
    path: str | None = None  # tty device, or the pty's symlink
    host: str = "127.0.0.1"
    port: int = 0
    baud: int = 9600
    bytesize: int = 8
    parity: str = "N"  # pyserial letter: N E O M S
    stopbits: float = 1
    dialect: Dialect = Dialect.TEXT
    modem: bool = False
    login_required: bool = False
    allow: tuple[str, ...] = LOOPBACK  # TCP peers admitted (CIDR)
    echo: bool = True  # text dialect: echo, line editing and a prompt (default off on tcp)
    modem_init: tuple[str, ...] = DEFAULT_INIT
    modem_guard: float = 1.0  # seconds of silence around "+++"
    idle_timeout: float | None = None  # seconds without input before the session ends
    # The rights of a line without login (ignored where login is required: the user's apply).
    role: Role = Role.ADMIN
    ports: PortRestrictions = field(default_factory=lambda: MappingProxyType({}))
    lease_idle: float = LEASE_IDLE  # aten: seconds without a command that end the lease
    lease_locks: tuple[str, ...] = DEFAULT_LOCKS  # aten: sources the lease locks out
    key: str = "serial"  # where it was configured ("serial[0]"): the prefix of its warnings
    # tesmart: send the unit's unsolicited input-change frames (false: request/reply only)
    notify: bool = True
    max_clients: int = DEFAULT_MAX_CLIENTS  # tcp: concurrent clients; the next is refused

    def warnings(self, *, auth: bool) -> list[str]:
        """Legal but unsafe or useless settings, each ``"serial[0]: ..."``. ``auth`` says
        whether the daemon has accounts (``http.auth``); without them nobody can log in."""
        out = []
        if self.login_required and not auth:
            out.append(
                f"{self.key}: {self.endpoint} requires a login, but http.auth = false leaves "
                "no accounts to log in with: the endpoint can never be used"
            )
        wide_open = [a for a in self.allow if allowlist.networks((a,))[0].prefixlen == 0]
        if self.kind is LinkKind.TCP and self.dialect is Dialect.TESMART and wide_open:
            out.append(
                f"{self.key}: the tesmart dialect has no login and {self.endpoint} accepts "
                f"connections from anywhere ({', '.join(wide_open)}): anyone who reaches it "
                "can switch ports; narrow allow"
            )
        return out

    @property
    def warning(self) -> str | None:
        """The warnings with accounts on, as one line (None when there are none)."""
        return "; ".join(self.warnings(auth=True)) or None

    def admits(self, address: str) -> bool:
        """Whether a TCP peer at ``address`` is in the allow-list."""
        return allowlist.admits(self.allow, address)


def busy_reply(spec: EndpointSpec) -> bytes:
    """What a TCP client refused for ``max_clients`` reads before the close: nothing for
    tesmart (the units just close), one line for the text and aten dialects."""
    if spec.dialect is Dialect.TESMART:
        return b""
    return f"ERR too many clients (max {spec.max_clients}); try again later\r\n".encode()


def build_core(
    spec: EndpointSpec, throttle: LoginThrottle, *, tesmart: TesmartUnit | None = None
) -> ChannelCore:
    """The core for one stream of ``spec`` (one per connection, per line, or per modem).
    ``tesmart``: the unit-wide settings every tesmart core shares (None: this core's own)."""
    idle = None if spec.modem else spec.idle_timeout  # the modem times the whole call

    def dialect() -> ChannelCore:
        match spec.dialect:
            case Dialect.TEXT:
                return TextDialect(
                    channel=spec.name,
                    throttle=throttle,
                    login_required=spec.login_required,
                    echo=spec.echo,
                    telnet=spec.kind is LinkKind.TCP,
                    idle_timeout=idle,
                )
            case Dialect.TESMART:
                return TesmartDialect(
                    channel=spec.name, unit=tesmart, notify=spec.notify, idle_timeout=idle
                )
            case Dialect.ATEN:
                return AtenDialect(
                    channel=spec.name,
                    throttle=throttle,
                    login_required=spec.login_required,
                    idle_timeout=idle,
                    lease_idle=spec.lease_idle,
                    lease_locks=spec.lease_locks,
                )

    if spec.modem:
        return ModemLine(
            dialect, init=spec.modem_init, guard=spec.modem_guard, idle_timeout=spec.idle_timeout
        )
    return dialect()


def parse_endpoint(table: Mapping[str, object], path: str) -> EndpointSpec:
    """Validate one ``[[serial]]`` table; ``path`` (``serial[0]``) prefixes error keys."""
    if not isinstance(table, Mapping):
        raise ConfigError(path, "expected a table")
    for key in table:
        if key not in KEYS:
            raise ConfigError(f"{path}.{key}", f"unknown key; expected one of {', '.join(KEYS)}")
    raw = table.get("endpoint")
    if not isinstance(raw, str) or not raw:
        raise ConfigError(f"{path}.endpoint", f"expected {ENDPOINT_FORMS}")
    kind, dev, host, port = _address(raw, f"{path}.endpoint")
    default_name = f"tcp:{port}" if dev is None else dev.rstrip("/").rpartition("/")[2]
    name = table.get("name", default_name[:MAX_NAME_LEN] or raw[:MAX_NAME_LEN])
    if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME_LEN or not name.isprintable():
        raise ConfigError(f"{path}.name", f"expected a printable name of 1..{MAX_NAME_LEN} chars")
    dialect_text = table.get("dialect", "text")
    if not isinstance(dialect_text, str) or dialect_text not in {d.value for d in Dialect}:
        raise ConfigError(f"{path}.dialect", 'expected "text", "tesmart" or "aten"')
    dialect = Dialect(dialect_text)
    modem = _bool(table, "modem", False, path)
    if modem and kind is LinkKind.TCP:
        raise ConfigError(f"{path}.modem", "expected false: a modem sits on a serial line, not tcp")
    if modem and dialect is Dialect.TESMART:
        raise ConfigError(f"{path}.modem", "expected false: tesmart has no login; modems need one")
    login_default = (modem or kind is LinkKind.TCP) and dialect is not Dialect.TESMART
    login = _bool(table, "login", login_default, path)
    if login and dialect is Dialect.TESMART:
        raise ConfigError(f"{path}.login", "expected false: the tesmart dialect has no login")
    if login_default and not login:
        raise ConfigError(f"{path}.login", "expected true: modem and tcp endpoints require login")
    serial_keys = ("baud", "bytesize", "parity", "stopbits")
    if kind is not LinkKind.TTY:
        for key in (k for k in serial_keys if k in table):
            raise ConfigError(
                f"{path}.{key}", "expected no line settings: only tty endpoints have them"
            )
    if "allow" in table and kind is not LinkKind.TCP:
        raise ConfigError(f"{path}.allow", "expected no allow-list: it applies to tcp endpoints")
    if "echo" in table and dialect is not Dialect.TEXT:
        raise ConfigError(f"{path}.echo", "expected no echo setting: only the text dialect echoes")
    if "notify" in table and dialect is not Dialect.TESMART:
        raise ConfigError(
            f"{path}.notify", "expected no notify setting: only the tesmart dialect notifies"
        )
    if "max_clients" in table and kind is not LinkKind.TCP:
        raise ConfigError(f"{path}.max_clients", "expected no client limit: it applies to tcp")
    for key in ("modem_init", "modem_guard"):
        if key in table and not modem:
            raise ConfigError(f"{path}.{key}", "expected modem = true for modem settings")
    idle_default = DEFAULT_IDLE_TIMEOUT if modem or kind is LinkKind.TCP else 0.0
    idle = _number(
        table, "idle_timeout", default=idle_default, low=0.0, high=MAX_IDLE_TIMEOUT, path=path
    )
    for key in ("lease_idle", "lease_locks"):
        if key in table and dialect is not Dialect.ATEN:
            raise ConfigError(f"{path}.{key}", "expected no lease setting: only aten has a lease")
    lease_idle = _number(
        table, "lease_idle", default=LEASE_IDLE, low=1.0, high=MAX_LEASE_IDLE, path=path
    )
    for key in ("role", "ports"):
        if key in table and login:
            raise ConfigError(
                f"{path}.{key}",
                "expected no local rights on an endpoint that requires login "
                "(the logged-in user's rights apply)",
            )
    return EndpointSpec(
        name=name,
        kind=kind,
        endpoint=raw,
        path=dev,
        host=host,
        port=port,
        baud=_baud(table, dialect, path),
        bytesize=_int_choice(table, "bytesize", 8, (5, 6, 7, 8), path),
        parity=_parity(table, path),
        stopbits=_stopbits(table, path),
        dialect=dialect,
        modem=modem,
        login_required=login,
        allow=_allow(table, dialect, path),
        echo=_bool(table, "echo", kind is not LinkKind.TCP, path),  # TCP clients echo locally
        modem_init=_init_strings(table, path),
        modem_guard=_number(table, "modem_guard", default=1.0, low=0.0, high=MAX_GUARD, path=path),
        idle_timeout=idle or None,
        role=_role(table, path),
        ports=_restrictions(table, path),
        lease_idle=lease_idle,
        lease_locks=_lease_locks(table, path),
        key=path,
        notify=_bool(table, "notify", True, path),
        max_clients=_max_clients(table, path),
    )


def _max_clients(table: Mapping[str, object], path: str) -> int:
    value = table.get("max_clients", DEFAULT_MAX_CLIENTS)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_CLIENTS:
        raise ConfigError(f"{path}.max_clients", f"expected an integer 1..{MAX_CLIENTS}")
    return value


def _lease_locks(table: Mapping[str, object], path: str) -> tuple[str, ...]:
    value = table.get("lease_locks", list(DEFAULT_LOCKS))
    names = sorted(s.value for s in LOCKABLE)
    if (
        not isinstance(value, list)
        or not all(isinstance(v, str) and v in names for v in value)
        or len(set(value)) != len(value)
    ):
        raise ConfigError(
            f"{path}.lease_locks",
            f"expected a list of the sources the lease locks out: some of {', '.join(names)} "
            "(the other serial sessions are always locked out)",
        )
    return tuple(str(v) for v in value)


def _role(table: Mapping[str, object], path: str) -> Role:
    value = table.get("role", Role.ADMIN.value)
    if not isinstance(value, str) or value not in {r.value for r in Role}:
        raise ConfigError(f"{path}.role", 'expected "admin", "operator" or "viewer"')
    return Role(value)


def _restrictions(table: Mapping[str, object], path: str) -> PortRestrictions:
    value = table.get("ports", {})
    if not isinstance(value, Mapping):
        raise ConfigError(f"{path}.ports", 'expected a table like { switch = ["1", "2"] }')
    for permission, ports in value.items():
        try:
            parse_restrictions({permission: ports}, "ports")
        except (InputError, PortError) as exc:
            reason = str(exc).removeprefix("ports: ").removeprefix(f"ports.{permission} ")
            raise ConfigError(f"{path}.ports.{permission}", reason) from None
    return MappingProxyType(parse_restrictions(value, "ports"))


def _address(raw: str, key: str) -> tuple[LinkKind, str | None, str, int]:
    if raw.startswith("tcp://"):
        rest = raw.removeprefix("tcp://")
        host, colon, port_text = rest.rpartition(":")
        if not colon or not port_text.isascii() or not port_text.isdigit():
            raise ConfigError(key, 'expected "tcp://HOST:PORT" with a port number')
        port = int(port_text)
        if port > 65535:
            raise ConfigError(key, "expected a tcp port 0..65535")
        host = host.removeprefix("[").removesuffix("]") or "127.0.0.1"
        try:
            ipaddress.ip_address(host)
        except ValueError:
            if len(host) > 253 or not HOSTNAME.fullmatch(host):
                raise ConfigError(
                    key, "expected an IP address or host name in tcp://HOST:PORT"
                ) from None
        return LinkKind.TCP, None, host, port
    kind, _, dev = raw.partition(":") if raw.startswith(("pty:", "tty:")) else ("tty", "", raw)
    if not dev.startswith("/") or "\0" in dev:
        raise ConfigError(key, f"expected {ENDPOINT_FORMS} (an absolute path)")
    return LinkKind(kind), dev, "127.0.0.1", 0


def _bool(table: Mapping[str, object], key: str, default: bool, path: str) -> bool:
    value = table.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{path}.{key}", "expected true or false")
    return value


def _number(
    table: Mapping[str, object], key: str, *, default: float, low: float, high: float, path: str
) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{path}.{key}", f"expected a number of seconds {low:g}..{high:g}")
    if not low <= value <= high:
        raise ConfigError(f"{path}.{key}", f"expected a number of seconds {low:g}..{high:g}")
    return float(value)


def _int_choice(
    table: Mapping[str, object], key: str, default: int, allowed: tuple[int, ...], path: str
) -> int:
    value = table.get(key, default)
    if isinstance(value, bool) or value not in allowed:
        raise ConfigError(f"{path}.{key}", f"expected one of {', '.join(map(str, allowed))}")
    assert isinstance(value, int)  # narrowing for mypy: allowed holds ints only
    return value


def _baud(table: Mapping[str, object], dialect: Dialect, path: str) -> int:
    value = table.get("baud", 19200 if dialect is Dialect.ATEN else 9600)
    if isinstance(value, bool) or not isinstance(value, int) or not 50 <= value <= 4_000_000:
        raise ConfigError(f"{path}.baud", "expected a baud rate 50..4000000, e.g. 9600")
    return value


def _parity(table: Mapping[str, object], path: str) -> str:
    value = table.get("parity", "none")
    if not isinstance(value, str) or value.lower() not in PARITY:
        raise ConfigError(f"{path}.parity", 'expected "none", "even", "odd", "mark" or "space"')
    return PARITY[value.lower()]


def _stopbits(table: Mapping[str, object], path: str) -> float:
    value = table.get("stopbits", 1)
    if isinstance(value, bool) or value not in (1, 1.5, 2):
        raise ConfigError(f"{path}.stopbits", "expected 1, 1.5 or 2")
    assert isinstance(value, int | float)  # narrowing for mypy: checked just above
    return value


def _allow(table: Mapping[str, object], dialect: Dialect, path: str) -> tuple[str, ...]:
    if "allow" not in table:
        return LOOPBACK if dialect is Dialect.TESMART else ANYWHERE
    return allowlist.parse(table["allow"], f"{path}.allow")


def _init_strings(table: Mapping[str, object], path: str) -> tuple[str, ...]:
    value = table.get("modem_init", list(DEFAULT_INIT))
    if not isinstance(value, list) or len(value) > MAX_INIT_STRINGS:
        raise ConfigError(
            f"{path}.modem_init", f'expected a list of up to {MAX_INIT_STRINGS} "AT..." strings'
        )
    for i, item in enumerate(value):
        if (
            not isinstance(item, str)
            or not item[:2].upper() == "AT"
            or len(item) > MAX_INIT_LEN
            or not (item.isascii() and item.isprintable())
        ):
            raise ConfigError(
                f"{path}.modem_init[{i}]",
                f'expected a printable "AT..." string of at most {MAX_INIT_LEN} chars',
            )
    return tuple(str(v) for v in value)
