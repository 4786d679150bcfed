"""The TOML configuration, validated into frozen dataclasses (SPEC §10).

Every error names its key path (``ports.2.keyboard``) and what was expected. The
defaults make ``kvmswitchd`` with no arguments run the emulated 4-port switch.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from kvmswitchd import allowlist

# The typed key readers live in config_keys (port_config uses them too); the sections
# below keep calling them by their short private names.
from kvmswitchd.config_keys import boolean as _bool
from kvmswitchd.config_keys import check_keys as _check_keys
from kvmswitchd.config_keys import choice as _choice
from kvmswitchd.config_keys import file_path as _path
from kvmswitchd.config_keys import integer as _int
from kvmswitchd.config_keys import number as _float
from kvmswitchd.config_keys import parse_listen
from kvmswitchd.config_keys import size as _size
from kvmswitchd.config_keys import table as _table
from kvmswitchd.console.gpio import GpioSpec, parse_gpio
from kvmswitchd.console.sources import DeviceSpec, parse_device_specs
from kvmswitchd.core.hotkeys import DEFAULT_PROFILE, HotkeyProfile, profile_from_config
from kvmswitchd.core.permissions import Permission, PortRestrictions, Role, parse_restrictions
from kvmswitchd.core.ports import MAX_PORTS, MIN_PORTS
from kvmswitchd.errors import ConfigError, KvmError
from kvmswitchd.port_config import PortConfig, parse_ports
from kvmswitchd.serial.endpoint import EndpointSpec, parse_endpoint
from kvmswitchd.syslog.settings import SyslogConfig, parse_syslog

# A config file bigger than this is a mistake (a wrong path given to --config).
MAX_CONFIG_BYTES = 1 << 20
# Longer than any group name useradd(8) accepts (32); a longer one is a typo or garbage.
MAX_GROUP_NAME = 64

__all__ = [
    "MAX_CONFIG_BYTES",
    "Config",
    "ConsoleConfig",
    "GadgetConfig",
    "HttpConfig",
    "LogConfig",
    "PortConfig",  # re-exported: the [ports.N] tables are parsed in port_config
    "load_config",
    "parse_config",
    "parse_listen",
    "with_overrides",
]


@dataclass(frozen=True, slots=True)
class HttpConfig:
    listen_host: str = "127.0.0.1"
    listen_port: int = 8080
    max_body: int = 1 << 20
    auth: bool = True
    tls_cert: Path | None = None
    tls_key: Path | None = None
    allowed_origins: tuple[str, ...] = ()
    # Host names served besides loopback names and the listen address (DNS rebinding).
    hosts: tuple[str, ...] = ()
    # Seconds a client may take to send a request's headers once it started (slowloris).
    header_timeout: float = 10.0
    # Seconds an idle keep-alive connection is kept open between requests.
    idle_timeout: float = 60.0
    # Seconds a JSON (or EDID) request body may take to arrive once its headers are in.
    body_timeout: float = 30.0
    # Open connections at most (websockets included); at capacity idle ones are shed.
    max_connections: int = 256


# A [http] hosts entry: a DNS name or IP address, optionally with ":port" (no scheme).
HOST_NAME = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9.])?"  # a DNS name or IPv4 address
    r"|\[[0-9A-Fa-f:.]{2,45}\])"  # an IPv6 address in brackets
    r"(?::\d{1,5})?"  # a port
)


@dataclass(frozen=True, slots=True)
class ConsoleConfig:
    devices: tuple[DeviceSpec, ...] = ()
    hotkeys: HotkeyProfile = DEFAULT_PROFILE
    keypad_digits: bool = True
    replay_held: bool = False
    # What the physical console (its hotkeys, the front-panel buttons) may do: by
    # default everything, as on every hardware switch; a role and per-port narrowing
    # (the shape of a user's) make it a restricted actor (core.guard.Actors.console).
    role: Role = Role.ADMIN
    ports: PortRestrictions = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LogConfig:
    max_bytes: int = 1 << 20
    keep: int = 5
    group: str | None = None  # event log files 0640 and owned by this group (else 0600)


@dataclass(frozen=True, slots=True)
class GadgetConfig:
    """Where ``kvmswitchd gadget`` and gadget ports find the kernel's trees (``[gadget]``;
    other roots serve tests and chroots)."""

    configfs: Path = Path("/sys/kernel/config")
    sysfs: Path = Path("/sys")  # class/udc, dev/char
    dev: Path = Path("/dev")


def _gadget(raw: object) -> GadgetConfig:
    section = _table(raw, "gadget")
    _check_keys(section, "gadget", {"configfs", "sysfs", "dev"})
    roots: dict[str, Path] = {}
    defaults = GadgetConfig()
    for key in ("configfs", "sysfs", "dev"):
        value = section.get(key, str(getattr(defaults, key)))
        if not isinstance(value, str) or not value.startswith("/") or "\0" in value:
            raise ConfigError(f"gadget.{key}", "expected an absolute directory path")
        roots[key] = Path(value)
    return GadgetConfig(**roots)


@dataclass(frozen=True, slots=True)
class Config:
    ports: int = 4
    state_dir: Path | None = None
    http: HttpConfig = field(default_factory=HttpConfig)
    console: ConsoleConfig = field(default_factory=ConsoleConfig)
    scan_dwell: float = 5.0
    log: LogConfig = field(default_factory=LogConfig)
    serial: tuple[EndpointSpec, ...] | None = None  # None = the default pty endpoint
    port_configs: Mapping[int, PortConfig] = field(default_factory=dict)
    drm_root: Path | None = Path("/sys/class/drm")
    usbip_host: str = "127.0.0.1"
    usbip_port: int = 3240
    # USB/IP peers admitted (CIDR strings); None: not configured, i.e. loopback only
    # (and a non-loopback listen is refused by preflight until an allow-list is given).
    usbip_allow: tuple[str, ...] | None = None
    buttons: GpioSpec | None = None  # front-panel buttons on GPIO lines (real mode)
    storage_quiet_period: float = 5.0
    max_image_size: int = 16 << 30
    storage_quota: int = 0  # bytes of images per user; 0 = unlimited
    storage_reserve: int = 64 << 20  # bytes kept free on the state disk for state saves
    upload_idle_timeout: float = 30.0  # seconds without a byte before an upload is dropped
    gadget: GadgetConfig = field(default_factory=GadgetConfig)
    syslog: SyslogConfig | None = None  # [syslog]: forward the event log (None: don't)

    def port(self, unit: int) -> PortConfig:
        return self.port_configs.get(unit) or PortConfig(unit)


# -- sections ------------------------------------------------------------------------


def _console_section(raw: object) -> ConsoleConfig:
    table = _table(raw, "console")
    _check_keys(
        table, "console", {"devices", "hotkeys", "keypad_digits", "replay_held", "role", "ports"}
    )
    devices = parse_device_specs(table.get("devices", []), "console.devices")
    hotkeys = table.get("hotkeys", "scrolllock")
    if not isinstance(hotkeys, str | dict):
        raise ConfigError("console.hotkeys", "expected a profile name or a table")
    return ConsoleConfig(
        devices=devices,
        hotkeys=profile_from_config(hotkeys, "console.hotkeys"),
        keypad_digits=_bool(table, "keypad_digits", "console", True),
        replay_held=_bool(table, "replay_held", "console", False),
        role=Role(_choice(table, "role", "console", Role.ADMIN.value, tuple(Role))),
        ports=_restrictions(table.get("ports"), "console.ports"),
    )


def _restrictions(value: object, path: str) -> dict[Permission, frozenset[str]]:
    try:
        return parse_restrictions(value, path)
    except KvmError as exc:
        raise ConfigError(path, str(exc)) from None


def _check_unique(specs: tuple[EndpointSpec, ...]) -> None:
    names: set[str] = set()
    places: set[str] = set()
    for index, spec in enumerate(specs):
        if spec.name in names:
            raise ConfigError(f"serial[{index}].name", f"the name {spec.name!r} is used twice")
        if spec.endpoint in places:
            raise ConfigError(f"serial[{index}].endpoint", f"{spec.endpoint} is used twice")
        names.add(spec.name)
        places.add(spec.endpoint)


def parse_config(doc: Mapping[str, Any]) -> Config:
    _check_keys(
        doc,
        "",
        {
            "switch",
            "http",
            "console",
            "serial",
            "ports",
            "scan",
            "log",
            "state",
            "video",
            "usbip",
            "storage",
            "buttons",
            "gadget",
            "syslog",
        },
    )
    buttons = doc.get("buttons")
    storage = _table(doc.get("storage", {}), "storage")
    _check_keys(
        storage,
        "storage",
        {"quiet_period", "max_image_size", "quota", "reserve", "upload_idle_timeout"},
    )
    usbip = _table(doc.get("usbip", {}), "usbip")
    _check_keys(usbip, "usbip", {"listen", "allow"})
    usbip_host, usbip_port = parse_listen(usbip.get("listen", "127.0.0.1:3240"), "usbip.listen")
    usbip_allow = allowlist.parse(usbip["allow"], "usbip.allow") if "allow" in usbip else None
    video = _table(doc.get("video", {}), "video")
    _check_keys(video, "video", {"drm_root"})
    drm_root = video.get("drm_root", "/sys/class/drm")
    if not isinstance(drm_root, str):
        raise ConfigError("video.drm_root", 'expected a directory path string ("" to not learn)')
    gadget = _gadget(doc.get("gadget", {}))
    switch = _table(doc.get("switch", {}), "switch")
    _check_keys(switch, "switch", {"ports"})
    ports = _int(switch, "ports", "switch", 4, MIN_PORTS, MAX_PORTS)

    http = _table(doc.get("http", {}), "http")
    _check_keys(
        http,
        "http",
        {"listen", "max_body", "auth", "tls_cert", "tls_key", "allowed_origins", "hosts"}
        | {"header_timeout", "idle_timeout", "body_timeout", "max_connections"},
    )
    host, port = parse_listen(http.get("listen", "127.0.0.1:8080"), "http.listen")
    tls = [_path(http, key, "http") for key in ("tls_cert", "tls_key")]
    if (tls[0] is None) != (tls[1] is None):
        raise ConfigError("http.tls_key", "expected both tls_cert and tls_key, or neither")
    origins = http.get("allowed_origins", [])
    if not isinstance(origins, list) or not all(
        isinstance(o, str) and o.startswith(("http://", "https://")) for o in origins
    ):
        raise ConfigError("http.allowed_origins", 'expected a list like ["https://kvm.example"]')
    hosts = http.get("hosts", [])
    if not isinstance(hosts, list) or not all(
        isinstance(h, str) and HOST_NAME.fullmatch(h) for h in hosts
    ):
        raise ConfigError("http.hosts", 'expected a list of names like ["kvm.example"]')
    http_config = HttpConfig(
        host,
        port,
        _int(http, "max_body", "http", 1 << 20, 1024, 1 << 30),
        auth=_bool(http, "auth", "http", True),
        tls_cert=tls[0],
        tls_key=tls[1],
        allowed_origins=tuple(origins),
        hosts=tuple(hosts),
        header_timeout=_float(http, "header_timeout", "http", 10.0, 0.1),
        idle_timeout=_float(http, "idle_timeout", "http", 60.0, 0.1),
        body_timeout=_float(http, "body_timeout", "http", 30.0, 0.1),
        max_connections=_int(http, "max_connections", "http", 256, 8, 1 << 16),
    )

    state = _table(doc.get("state", {}), "state")
    _check_keys(state, "state", {"dir"})
    state_dir = state.get("dir")
    if state_dir is not None and (not isinstance(state_dir, str) or not state_dir):
        raise ConfigError("state.dir", "expected a directory path string")

    scan = _table(doc.get("scan", {}), "scan")
    _check_keys(scan, "scan", {"dwell"})
    log_table = _table(doc.get("log", {}), "log")
    _check_keys(log_table, "log", {"max_bytes", "keep", "group"})
    log_group = log_table.get("group")
    if log_group is not None and (
        not isinstance(log_group, str) or not 1 <= len(log_group) <= MAX_GROUP_NAME
    ):
        raise ConfigError("log.group", f"expected a group name of 1..{MAX_GROUP_NAME} characters")

    serial_raw = doc.get("serial")
    serial: tuple[EndpointSpec, ...] | None = None
    if serial_raw is not None:
        if not isinstance(serial_raw, list):
            raise ConfigError("serial", "expected an array of tables ([[serial]])")
        serial = tuple(
            parse_endpoint(_table(item, f"serial[{i}]"), f"serial[{i}]")
            for i, item in enumerate(serial_raw)
        )
        _check_unique(serial)

    return Config(
        ports=ports,
        state_dir=Path(state_dir).expanduser() if isinstance(state_dir, str) else None,
        http=http_config,
        console=_console_section(doc.get("console", {})),
        scan_dwell=_float(scan, "dwell", "scan", 5.0, 0.5),
        log=LogConfig(
            max_bytes=_int(log_table, "max_bytes", "log", 1 << 20, 4096, 1 << 30),
            keep=_int(log_table, "keep", "log", 5, 1, 100),
            group=log_group,
        ),
        serial=serial,
        port_configs=parse_ports(doc.get("ports", {}), ports),
        drm_root=Path(drm_root) if drm_root else None,
        gadget=gadget,
        usbip_host=usbip_host,
        usbip_port=usbip_port,
        usbip_allow=usbip_allow,
        storage_quiet_period=_float(storage, "quiet_period", "storage", 5.0, 0.0),
        max_image_size=_size(storage, "max_image_size", "storage", 16 << 30, 1 << 20, 1 << 41),
        storage_quota=_size(storage, "quota", "storage", 0, 0, 1 << 50),
        storage_reserve=_size(storage, "reserve", "storage", 64 << 20, 0, 1 << 50),
        upload_idle_timeout=_float(storage, "upload_idle_timeout", "storage", 30.0, 0.1),
        buttons=parse_gpio(_table(buttons, "buttons"), ports) if buttons is not None else None,
        syslog=parse_syslog(doc.get("syslog")),
    )


def load_config(path: Path | None) -> Config:
    """Read and validate ``path`` (None = defaults). Raises ConfigError, never a traceback."""
    if path is None:
        return Config()
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError("", f"cannot read config file {path}: {exc.strerror or exc}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError("", f"config file {path} is larger than {MAX_CONFIG_BYTES} bytes")
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError("", f"config file {path} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("", f"{path} is not valid TOML: {exc}") from None
    return parse_config(doc)


def with_overrides(
    config: Config,
    *,
    ports: int | None = None,
    listen: str | None = None,
    state_dir: Path | None = None,
) -> Config:
    """Apply command-line flags on top of the file."""
    if ports is not None:
        if not MIN_PORTS <= ports <= MAX_PORTS:
            raise ConfigError("--ports", f"expected {MIN_PORTS}..{MAX_PORTS}, got {ports}")
        extra = [u for u in config.port_configs if u > ports]
        if extra:
            raise ConfigError(f"ports.{extra[0]}", f"configured, but --ports is {ports}")
        config = replace(config, ports=ports)
    if listen is not None:
        host, port = parse_listen(listen, "--listen")
        config = replace(config, http=replace(config.http, listen_host=host, listen_port=port))
    if state_dir is not None:
        config = replace(config, state_dir=state_dir)
    return config
