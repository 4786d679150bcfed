"""``[usbip] allow``: parsed into networks, each bad entry named; a listen beyond loopback
needs an explicit list (the refusal itself is checked against the daemon's start in
tests/daemon/test_config_agreement.py)."""

from __future__ import annotations

from typing import Any

import pytest

from kvmswitchd.allowlist import MAX_ENTRIES as MAX_USBIP_ALLOW
from kvmswitchd.config import parse_config
from kvmswitchd.errors import ConfigError
from kvmswitchd.preflight import preflight


def usbip(**table: Any) -> dict[str, Any]:
    return {"usbip": table, "ports": {"2": {"target": "usbip"}}}


def test_allow_entries_become_networks_in_their_order() -> None:
    config = parse_config(usbip(allow=["192.0.2.10", "10.0.0.7/24", "::1", "2001:db8::/32"]))
    assert config.usbip_allow == ("192.0.2.10/32", "10.0.0.0/24", "::1/128", "2001:db8::/32")


def test_without_allow_the_list_is_unset_and_the_listener_serves_loopback_only() -> None:
    assert parse_config(usbip()).usbip_allow is None


@pytest.mark.parametrize(
    ("allow", "path"),
    [
        (["192.0.2.10", "not-an-address"], "usbip.allow[1]"),
        (["192.0.2.300"], "usbip.allow[0]"),
        (["10.0.0.0/33"], "usbip.allow[0]"),
        (["::1", "::1/129"], "usbip.allow[1]"),
        ([""], "usbip.allow[0]"),
        ([], "usbip.allow"),  # an empty list would admit nobody: a mistake
        ("192.0.2.10", "usbip.allow"),  # a string, not a list
        ([10], "usbip.allow"),
        (["127.0.0.1"] * (MAX_USBIP_ALLOW + 1), "usbip.allow"),
    ],
)
def test_a_bad_allow_list_is_a_config_error_naming_the_entry(allow: Any, path: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(usbip(allow=allow))
    assert info.value.path == path


@pytest.mark.parametrize("listen", ["0.0.0.0:3240", "192.0.2.1:3240", "[::]:3240"])
def test_a_network_listen_without_an_allow_list_is_refused(listen: str) -> None:
    (error,) = preflight(parse_config(usbip(listen=listen)), files=False).errors
    assert (error.name, error.path) == ("usbip_no_allow_list", "usbip.allow")
    assert "no login or encryption" in error.message


@pytest.mark.parametrize("listen", ["127.0.0.1:3240", "localhost:3240", "[::1]:3240"])
def test_a_loopback_listen_needs_no_allow_list(listen: str) -> None:
    assert preflight(parse_config(usbip(listen=listen)), files=False).errors == ()


def test_a_network_listen_with_an_allow_list_starts_with_a_warning_naming_the_list() -> None:
    findings = preflight(
        parse_config(usbip(listen="0.0.0.0:3240", allow=["192.0.2.10"])), files=False
    )
    assert findings.errors == ()
    (warning,) = findings.warnings
    assert warning.name == "usbip_no_login"
    assert "192.0.2.10/32" in warning.message


def test_a_port_allow_list_is_parsed_for_a_usbip_port() -> None:
    config = parse_config({"ports": {"2": {"target": "usbip", "usbip_allow": ["10.0.0.5"]}}})
    assert config.port(2).usbip_allow == ("10.0.0.5/32",)
    assert config.port(1).usbip_allow is None


@pytest.mark.parametrize(
    ("port", "path", "message"),
    [
        (
            {"target": "emulated", "usbip_allow": ["10.0.0.5"]},
            "ports.2.usbip_allow",
            'only target = "usbip"',
        ),
        (
            {"target": "usbip", "usbip_allow": ["10.0.0.5", "x"]},
            "ports.2.usbip_allow[1]",
            "'x' is not an IP address",
        ),
        ({"target": "usbip", "usbip_allow": []}, "ports.2.usbip_allow", "expected a list of 1.."),
    ],
)
def test_a_bad_port_allow_list_is_a_config_error_naming_it(
    port: Any, path: str, message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"ports": {"2": port}})
    assert info.value.path == path
    assert message in info.value.message


def test_a_port_allow_entry_outside_the_listener_list_is_named_as_useless() -> None:
    config = parse_config(
        {
            "usbip": {"listen": "0.0.0.0:3240", "allow": ["10.0.0.0/24", "::1"]},
            "ports": {"2": {"target": "usbip", "usbip_allow": ["10.0.0.5", "10.0.1.5", "::1"]}},
        }
    )
    findings = preflight(config, files=False)
    useless = [w for w in findings.warnings if w.name == "usbip_port_allow_unreachable"]
    assert [w.path for w in useless] == ["ports.2.usbip_allow[1]"]
    assert "10.0.1.5/32 is outside usbip.allow" in useless[0].message
