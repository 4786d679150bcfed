"""Parsing ``[[serial]]`` tables into EndpointSpec; every bad value names its key."""

from __future__ import annotations

import pytest

from kvmswitchd.core.permissions import Permission, Role, allows
from kvmswitchd.errors import ConfigError
from kvmswitchd.serial.aten import AtenDialect
from kvmswitchd.serial.endpoint import (
    ANYWHERE,
    DEFAULT_MAX_CLIENTS,
    LOOPBACK,
    MAX_CLIENTS,
    Dialect,
    EndpointSpec,
    LinkKind,
    build_core,
    busy_reply,
    parse_endpoint,
)
from kvmswitchd.serial.login import LoginThrottle
from kvmswitchd.serial.modem import ModemLine
from kvmswitchd.serial.tesmart import TesmartDialect
from kvmswitchd.serial.tesmart_unit import TesmartUnit
from kvmswitchd.serial.text import TextDialect


def parse(**table: object) -> EndpointSpec:
    return parse_endpoint(table, "serial[0]")


def test_a_pty_endpoint_gets_text_defaults() -> None:
    spec = parse(endpoint="pty:/run/kvmswitchd/ttyKVM0")
    assert spec.kind is LinkKind.PTY
    assert spec.path == "/run/kvmswitchd/ttyKVM0"
    assert spec.name == "ttyKVM0"
    assert (spec.dialect, spec.modem, spec.login_required, spec.echo) == (
        Dialect.TEXT,
        False,
        False,
        True,
    )
    assert spec.idle_timeout is None
    assert spec.warning is None


@pytest.mark.parametrize("endpoint", ["tty:/dev/ttyUSB0", "/dev/ttyUSB0"])
def test_tty_forms_and_line_settings(endpoint: str) -> None:
    spec = parse(endpoint=endpoint, name="rack", baud=38400, bytesize=7, parity="even", stopbits=2)
    assert (spec.kind, spec.path, spec.name) == (LinkKind.TTY, "/dev/ttyUSB0", "rack")
    assert (spec.baud, spec.bytesize, spec.parity, spec.stopbits) == (38400, 7, "E", 2)


def test_baud_defaults_follow_the_dialect() -> None:
    assert parse(endpoint="/dev/ttyS0").baud == 9600
    assert parse(endpoint="/dev/ttyS0", dialect="tesmart").baud == 9600
    assert parse(endpoint="/dev/ttyS0", dialect="aten").baud == 19200


def test_tcp_endpoints_require_login_and_time_out() -> None:
    spec = parse(endpoint="tcp://127.0.0.1:5000")
    assert spec.name == "tcp:5000"
    assert (spec.kind, spec.host, spec.port) == (LinkKind.TCP, "127.0.0.1", 5000)
    assert spec.login_required
    assert not spec.echo  # telnet and nc echo locally
    assert spec.idle_timeout == 300.0
    assert spec.allow == ANYWHERE


def test_tcp_host_forms() -> None:
    assert parse(endpoint="tcp://:5000").host == "127.0.0.1"
    assert parse(endpoint="tcp://[::1]:5000").host == "::1"
    assert parse(endpoint="tcp://kvm.local:5000").host == "kvm.local"


def test_tesmart_on_tcp_is_loopback_only_by_default_and_not_warned_about() -> None:
    spec = parse(endpoint="tcp://0.0.0.0:5000", dialect="tesmart")
    assert not spec.login_required
    assert spec.allow == LOOPBACK
    assert spec.warnings(auth=True) == spec.warnings(auth=False) == []
    assert spec.admits("127.0.0.1")
    assert spec.admits("::ffff:127.0.0.1")
    assert not spec.admits("192.168.1.20")


def test_an_explicit_allow_list() -> None:
    spec = parse(endpoint="tcp://0.0.0.0:5000", dialect="tesmart", allow=["192.168.1.0/24"])
    assert spec.allow == ("192.168.1.0/24",)
    assert spec.admits("192.168.1.20")
    assert not spec.admits("127.0.0.1")
    assert not spec.admits("not an address")


def test_modem_endpoints_require_login_and_take_init_strings() -> None:
    spec = parse(endpoint="/dev/ttyS1", modem=True, modem_init=["AT&F", "ATS0=2"], modem_guard=0.5)
    assert spec.login_required
    assert spec.modem_init == ("AT&F", "ATS0=2")
    assert spec.modem_guard == 0.5
    assert spec.idle_timeout == 300.0


def test_idle_timeout_zero_turns_it_off() -> None:
    assert parse(endpoint="tcp://127.0.0.1:1", idle_timeout=0).idle_timeout is None


@pytest.mark.parametrize(
    ("table", "key", "fragment"),
    [
        ({}, "serial[0].endpoint", "pty:PATH"),
        ({"endpoint": 5}, "serial[0].endpoint", "pty:PATH"),
        ({"endpoint": "ttyUSB0"}, "serial[0].endpoint", "absolute path"),
        ({"endpoint": "pty:relative"}, "serial[0].endpoint", "absolute path"),
        ({"endpoint": "tcp://127.0.0.1"}, "serial[0].endpoint", "port number"),
        ({"endpoint": "tcp://127.0.0.1:70000"}, "serial[0].endpoint", "0..65535"),
        ({"endpoint": "tcp://bad host:1"}, "serial[0].endpoint", "host name"),
        ({"endpoint": "/dev/x", "colour": "red"}, "serial[0].colour", "unknown key"),
        ({"endpoint": "/dev/x", "dialect": "extron"}, "serial[0].dialect", '"tesmart"'),
        ({"endpoint": "/dev/x", "modem": "yes"}, "serial[0].modem", "true or false"),
        ({"endpoint": "/dev/x", "baud": 0}, "serial[0].baud", "baud rate"),
        ({"endpoint": "/dev/x", "baud": True}, "serial[0].baud", "baud rate"),
        ({"endpoint": "/dev/x", "bytesize": 9}, "serial[0].bytesize", "5, 6, 7, 8"),
        ({"endpoint": "/dev/x", "parity": "weird"}, "serial[0].parity", '"even"'),
        ({"endpoint": "/dev/x", "stopbits": 3}, "serial[0].stopbits", "1, 1.5 or 2"),
        ({"endpoint": "pty:/x", "baud": 9600}, "serial[0].baud", "only tty"),
        ({"endpoint": "/dev/x", "allow": ["1.2.3.4"]}, "serial[0].allow", "tcp"),
        ({"endpoint": "tcp://:1", "allow": []}, "serial[0].allow", "list"),
        ({"endpoint": "tcp://:1", "allow": ["nope"]}, "serial[0].allow[0]", "CIDR"),
        ({"endpoint": "tcp://:1", "login": False}, "serial[0].login", "require login"),
        ({"endpoint": "/dev/x", "modem": True, "login": False}, "serial[0].login", "require"),
        ({"endpoint": "tcp://:1", "modem": True}, "serial[0].modem", "not tcp"),
        ({"endpoint": "/dev/x", "dialect": "tesmart", "modem": True}, "serial[0].modem", "login"),
        (
            {"endpoint": "/dev/x", "dialect": "tesmart", "login": True},
            "serial[0].login",
            "no login",
        ),
        ({"endpoint": "/dev/x", "dialect": "aten", "echo": False}, "serial[0].echo", "text"),
        ({"endpoint": "/dev/x", "modem_guard": 1.0}, "serial[0].modem_guard", "modem = true"),
        (
            {"endpoint": "/dev/x", "modem": True, "modem_init": ["ZZ"]},
            "serial[0].modem_init[0]",
            '"AT..."',
        ),
        (
            {"endpoint": "/dev/x", "modem": True, "modem_guard": 9},
            "serial[0].modem_guard",
            "0..5.1",
        ),
        ({"endpoint": "/dev/x", "idle_timeout": -1}, "serial[0].idle_timeout", "seconds"),
        ({"endpoint": "/dev/x", "name": ""}, "serial[0].name", "printable name"),
        ({"endpoint": "/dev/x", "name": "a\nb"}, "serial[0].name", "printable name"),
        ({"endpoint": "/dev/x", "dialect": ["text"]}, "serial[0].dialect", '"tesmart"'),
        ({"endpoint": "/dev/x", "role": "root"}, "serial[0].role", '"operator"'),
        ({"endpoint": "/dev/x", "role": ["admin"]}, "serial[0].role", '"operator"'),
        ({"endpoint": "/dev/x", "ports": ["1"]}, "serial[0].ports", "table"),
        ({"endpoint": "/dev/x", "ports": {"fly": []}}, "serial[0].ports.fly", "unknown"),
        ({"endpoint": "/dev/x", "ports": {"users": []}}, "serial[0].ports.users", "per-port"),
        ({"endpoint": "/dev/x", "ports": {"switch": "1"}}, "serial[0].ports.switch", "list"),
        ({"endpoint": "/dev/x", "ports": {"switch": ["x"]}}, "serial[0].ports.switch", "number"),
        ({"endpoint": "/dev/x", "ports": {"view": ["99"]}}, "serial[0].ports.view", "no port"),
        ({"endpoint": "tcp://:1", "role": "viewer"}, "serial[0].role", "requires login"),
        ({"endpoint": "tcp://:1", "ports": {}}, "serial[0].ports", "requires login"),
        (
            {"endpoint": "/dev/x", "modem": True, "role": "admin"},
            "serial[0].role",
            "requires login",
        ),
        ({"endpoint": "/dev/x", "login": True, "ports": {}}, "serial[0].ports", "requires login"),
    ],
)
def test_bad_values_name_their_key(table: dict[str, object], key: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_endpoint(table, "serial[0]")
    assert caught.value.path == key
    assert fragment in caught.value.message


def test_build_core_picks_the_dialect_and_wraps_modems() -> None:
    throttle = LoginThrottle()
    assert isinstance(build_core(parse(endpoint="/dev/x"), throttle), TextDialect)
    assert isinstance(build_core(parse(endpoint="/dev/x", dialect="aten"), throttle), AtenDialect)
    tesmart = build_core(parse(endpoint="/dev/x", dialect="tesmart"), throttle)
    assert isinstance(tesmart, TesmartDialect)
    assert isinstance(build_core(parse(endpoint="/dev/x", modem=True), throttle), ModemLine)


# -- the local line's rights ------------------------------------------------------------


def test_a_line_without_login_acts_as_an_admin_by_default() -> None:
    spec = parse(endpoint="pty:/run/kvm/ttyKVM0")
    assert spec.role is Role.ADMIN
    assert dict(spec.ports) == {}


def test_a_line_without_login_carries_its_configured_role_and_port_restrictions() -> None:
    spec = parse(
        endpoint="/dev/ttyS0", role="operator", ports={"switch": ["1", " 02", "3.4"], "type": []}
    )
    assert spec.role is Role.OPERATOR
    assert dict(spec.ports) == {
        Permission.SWITCH: frozenset({"1", "2", "3.4"}),
        Permission.TYPE: frozenset(),
    }
    assert parse(endpoint="/dev/ttyS0", dialect="tesmart", role="viewer").role is Role.VIEWER


def test_the_parsed_restrictions_cannot_be_changed_through_the_spec() -> None:
    spec = parse(endpoint="/dev/ttyS0", ports={"switch": ["1"]})
    with pytest.raises(TypeError):
        spec.ports[Permission.VIEW] = frozenset()  # type: ignore[index]  # read-only on purpose


# -- warnings ---------------------------------------------------------------------------


def test_login_endpoints_without_accounts_are_warned_about_as_unusable() -> None:
    tables: list[dict[str, object]] = [
        {"endpoint": "tcp://127.0.0.1:5000"},
        {"endpoint": "/dev/ttyS1", "modem": True},
        {"endpoint": "/dev/ttyS2", "login": True},
    ]
    for index, table in enumerate(tables):
        spec = parse_endpoint(table, f"serial[{index}]")
        assert spec.warnings(auth=True) == []
        (warning,) = spec.warnings(auth=False)
        assert warning.startswith(f"serial[{index}]: {table['endpoint']} requires a login")
        assert "http.auth = false" in warning
    assert parse(endpoint="pty:/x").warnings(auth=False) == []


@pytest.mark.parametrize("allow", [["0.0.0.0/0"], ["10.0.0.0/8", "::/0"], ["0.0.0.0"]])
def test_tesmart_on_a_wide_open_allow_list_is_warned_about(allow: list[str]) -> None:
    spec = parse_endpoint(
        {"endpoint": "tcp://0.0.0.0:5000", "dialect": "tesmart", "allow": allow}, "serial[2]"
    )
    if allow == ["0.0.0.0"]:  # a single host, not the world
        assert spec.warnings(auth=True) == []
        return
    (warning,) = spec.warnings(auth=True)
    assert warning.startswith("serial[2]: the tesmart dialect has no login")
    assert "from anywhere" in warning
    assert spec.warning == warning


def test_a_line_s_spec_answers_permission_checks_as_a_user_would() -> None:
    spec = parse(endpoint="/dev/ttyS0", role="operator", ports={"switch": ["1", "2"]})
    assert allows(spec, Permission.SWITCH, "2")
    assert allows(spec, Permission.SWITCH, "2.3")
    assert not allows(spec, Permission.SWITCH, "12")
    assert allows(spec, Permission.VIEW, "12")
    assert not allows(spec, Permission.CONFIGURE, "1")
    assert allows(parse(endpoint="pty:/x"), Permission.CONFIGURE, "4")


# -- tesmart notify and the TCP client limit ------------------------------------------


def test_tcp_endpoints_take_a_client_limit_and_tesmart_a_notify_switch() -> None:
    assert parse(endpoint="tcp://127.0.0.1:1").max_clients == DEFAULT_MAX_CLIENTS == 8
    assert parse(endpoint="tcp://127.0.0.1:1", max_clients=MAX_CLIENTS).max_clients == 64
    spec = parse(endpoint="tcp://127.0.0.1:1", dialect="tesmart", notify=False, max_clients=1)
    assert (spec.notify, spec.max_clients) == (False, 1)
    core = build_core(spec, LoginThrottle())
    assert isinstance(core, TesmartDialect) and core.notify is False
    assert parse(endpoint="/dev/x", dialect="tesmart").notify is True


def test_tesmart_cores_of_one_endpoint_share_the_unit_they_are_built_with() -> None:
    unit = TesmartUnit()
    spec = parse(endpoint="tcp://127.0.0.1:1", dialect="tesmart")
    first, second = (build_core(spec, LoginThrottle(), tesmart=unit) for _ in range(2))
    assert isinstance(first, TesmartDialect) and isinstance(second, TesmartDialect)
    assert first.unit is second.unit is unit


def test_a_refused_client_is_told_why_in_its_dialect() -> None:
    assert busy_reply(parse(endpoint="tcp://127.0.0.1:1", dialect="tesmart")) == b""
    text = parse(endpoint="tcp://127.0.0.1:1", max_clients=3)
    assert busy_reply(text) == b"ERR too many clients (max 3); try again later\r\n"


@pytest.mark.parametrize(
    ("table", "key", "fragment"),
    [
        ({"endpoint": "tcp://:1", "max_clients": 0}, "serial[0].max_clients", "1..64"),
        ({"endpoint": "tcp://:1", "max_clients": 65}, "serial[0].max_clients", "1..64"),
        ({"endpoint": "tcp://:1", "max_clients": True}, "serial[0].max_clients", "1..64"),
        ({"endpoint": "tcp://:1", "max_clients": "8"}, "serial[0].max_clients", "1..64"),
        ({"endpoint": "/dev/x", "max_clients": 2}, "serial[0].max_clients", "tcp"),
        ({"endpoint": "/dev/x", "notify": False}, "serial[0].notify", "only the tesmart"),
        (
            {"endpoint": "/dev/x", "dialect": "tesmart", "notify": "no"},
            "serial[0].notify",
            "true or false",
        ),
    ],
)
def test_bad_limits_and_notify_settings_name_their_key(
    table: dict[str, object], key: str, fragment: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_endpoint(table, "serial[0]")
    assert caught.value.path == key
    assert fragment in caught.value.message
