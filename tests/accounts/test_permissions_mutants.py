"""Per-port grants at the edges mutation testing and an independent probe showed open: a
grant on port 1 of a 16-port unit covers 1 and the switches cascaded behind it, never 10-16;
unit-wide permissions ignore port tables; port lists are shown in port order."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from kvmswitchd.core.permissions import (
    MAX_RESTRICTED_PORTS,
    Permission,
    PortRestrictions,
    Role,
    allowed_ports,
    allows,
    authorize,
    parse_restrictions,
    permissions_of,
    restrictions_json,
)
from kvmswitchd.errors import AuthError, InputError, PermissionDenied

SIXTEEN = [str(n) for n in range(1, 17)]


@dataclass(frozen=True)
class FakeUser:
    name: str
    role: Role
    ports: PortRestrictions = field(default_factory=dict)


def operator(**grants: list[str]) -> FakeUser:
    return FakeUser("op", Role.OPERATOR, parse_restrictions(grants))


def test_a_grant_on_port_1_never_covers_ports_10_to_16() -> None:
    user = operator(switch=["1"])
    assert allowed_ports(user, Permission.SWITCH, SIXTEEN) == ["1"]
    assert allows(user, Permission.SWITCH, "1.12")  # a switch cascaded behind port 1
    for port in ["12", "12.1", "10", "16.1"]:
        assert not allows(user, Permission.SWITCH, port)
        with pytest.raises(PermissionDenied):
            authorize(user, Permission.SWITCH, port)


def test_a_grant_on_port_12_covers_neither_1_nor_2() -> None:
    user = operator(type=["12"])
    assert allowed_ports(user, Permission.TYPE, SIXTEEN) == ["12"]
    assert allows(user, Permission.TYPE, "12.3")
    assert not allows(user, Permission.TYPE, "1.2")
    assert not allows(user, Permission.TYPE, "2")


def test_a_grant_on_a_cascaded_port_covers_only_that_channel() -> None:
    user = operator(view=["1.2"])
    assert allows(user, Permission.VIEW, "1.2")
    assert not allows(user, Permission.VIEW, "1")
    assert not allows(user, Permission.VIEW, "1.20")
    assert not allows(user, Permission.VIEW, "12")


def test_a_unit_wide_permission_ignores_a_port_table_entry_for_it() -> None:
    # the users permission has no port: a stray table entry can neither narrow nor widen it
    admin = FakeUser("root", Role.ADMIN, {Permission.USERS: frozenset()})
    assert allows(admin, Permission.USERS)
    authorize(admin, Permission.USERS)
    assert permissions_of(admin)["users"] is None


def test_nobody_logged_in_is_told_to_log_in() -> None:
    with pytest.raises(AuthError, match=r"^log in\b"):
        authorize(None, Permission.VIEW, "1")


def test_port_lists_are_shown_in_port_order_not_text_order() -> None:
    ports = ["10", "2", "2.10", "2.3", "3", "3.1", "4.1", "4", "5", "5.1"]
    user = operator(switch=ports)
    shown = ["2", "2.3", "2.10", "3", "3.1", "4", "4.1", "5", "5.1", "10"]
    assert permissions_of(user)["switch"] == shown
    assert restrictions_json(user.ports) == {"switch": shown}


def test_a_restriction_table_of_exactly_the_cap_is_accepted() -> None:
    parsed = parse_restrictions({"switch": ["1"] * MAX_RESTRICTED_PORTS})
    assert parsed == {Permission.SWITCH: frozenset({"1"})}
    with pytest.raises(InputError):
        parse_restrictions({"switch": ["1"] * (MAX_RESTRICTED_PORTS + 1)})


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (["switch"], 'ports must be an object like {"switch": ["1", "3"]}'),
        ({"fly": ["1"]}, "ports: unknown permission 'fly'"),
        ({"f" * 40: ["1"]}, f"ports: unknown permission {'f' * 32!r}"),
        ({"users": ["1"]}, "ports: users is not a per-port permission"),
        ({"switch": "1"}, "ports.switch must be a list of port ids"),
    ],
)
def test_a_bad_restriction_table_is_refused_naming_the_key(value: object, message: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_restrictions(value)
    assert str(caught.value) == message
