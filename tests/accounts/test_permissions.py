"""Every role, permission and per-port restriction (SPEC §9), against an independent table."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kvmswitchd.core.commands import Command, GetLog, GetStatus, Rename, SetScan, Step, SwitchTo
from kvmswitchd.core.permissions import (
    PORT_SCOPED,
    Permission,
    PortRestrictions,
    Role,
    allowed_ports,
    allows,
    authorize,
    canonical_port,
    command_permission,
    parse_restrictions,
    permissions_of,
    restrictions_json,
)
from kvmswitchd.errors import AuthError, InputError, KvmError, PermissionDenied

# What each role may do, written out by hand from SPEC §9 and the design (not derived
# from ROLE_PERMISSIONS, so a slip in the code shows up here).
GRANTS = {
    Role.ADMIN: {"view", "switch", "type", "storage", "configure", "power", "users"},
    Role.OPERATOR: {"view", "switch", "type", "storage", "power"},
    Role.VIEWER: {"view"},
}
PORTS = ["1", "2", "3", "4", "2.4"]
RESTRICTIONS: list[dict[str, set[str]]] = [
    {},  # the role's defaults: every port
    {"switch": {"1", "3"}, "type": {"1"}},
    {"view": {"2"}, "storage": set()},
    {"configure": {"4"}, "switch": set(), "type": {"2.4"}},
    {"power": {"2"}, "view": {"2", "3"}},
    {"power": set()},
]


@dataclass(frozen=True)
class FakeUser:
    name: str
    role: Role
    ports: PortRestrictions = field(default_factory=dict)


def expected(role: Role, restriction: dict[str, set[str]], permission: str, port: str) -> bool:
    if permission not in GRANTS[role]:
        return False
    if permission not in restriction:
        return True
    granted = restriction[permission]
    return port in granted or port.partition(".")[0] in granted


CASES = list(itertools.product(Role, range(len(RESTRICTIONS)), Permission, PORTS))


@pytest.mark.parametrize(("role", "which", "permission", "port"), CASES)
def test_every_role_permission_and_port_restriction_matches_the_table(
    role: Role, which: int, permission: Permission, port: str
) -> None:
    restriction = RESTRICTIONS[which]
    user = FakeUser("u", role, parse_restrictions({k: sorted(v) for k, v in restriction.items()}))
    want = expected(role, restriction, str(permission), port)
    if permission is Permission.USERS:  # unit-wide: a port never matters
        want = role is Role.ADMIN
    assert allows(user, permission, port) is want
    if want:
        authorize(user, permission, port)
    else:
        with pytest.raises(PermissionDenied):
            authorize(user, permission, port)


@pytest.mark.parametrize(
    ("role", "which", "permission"),
    list(itertools.product(Role, range(len(RESTRICTIONS)), Permission)),
)
def test_without_a_port_the_question_is_on_any_port(
    role: Role, which: int, permission: Permission
) -> None:
    restriction = RESTRICTIONS[which]
    user = FakeUser("u", role, parse_restrictions({k: sorted(v) for k, v in restriction.items()}))
    want = str(permission) in GRANTS[role] and restriction.get(str(permission), {"x"}) != set()
    assert allows(user, permission, None) is want


def test_nobody_logged_in_is_401_not_403() -> None:
    with pytest.raises(AuthError):
        authorize(None, Permission.VIEW)


def test_a_refusal_names_the_user_the_permission_and_the_port() -> None:
    user = FakeUser("bob", Role.OPERATOR, {Permission.SWITCH: frozenset({"1"})})
    with pytest.raises(PermissionDenied, match="bob may not switch on port 3"):
        authorize(user, Permission.SWITCH, "03")
    with pytest.raises(PermissionDenied, match="role viewer may not type"):
        authorize(FakeUser("eve", Role.VIEWER), Permission.TYPE, "1")


def test_restriction_never_widens_a_role() -> None:
    viewer = FakeUser("v", Role.VIEWER, {Permission.SWITCH: frozenset({"1"})})
    assert not allows(viewer, Permission.SWITCH, "1")


def test_allowed_ports_is_the_ring_a_restricted_user_cycles_through() -> None:
    user = FakeUser("u", Role.OPERATOR, {Permission.SWITCH: frozenset({"1", "3"})})
    assert allowed_ports(user, Permission.SWITCH, ["1", "2", "3", "4"]) == ["1", "3"]


def test_permissions_of_shows_each_permission_and_its_ports() -> None:
    user = FakeUser("u", Role.OPERATOR, {Permission.SWITCH: frozenset({"3", "1"})})
    assert permissions_of(user) == {
        "view": None,
        "switch": ["1", "3"],
        "type": None,
        "storage": None,
        "power": None,
    }
    assert set(permissions_of(FakeUser("a", Role.ADMIN))) == GRANTS[Role.ADMIN]


def test_restrictions_parse_and_print_canonical_port_ids() -> None:
    parsed = parse_restrictions({"switch": ["03", 1, " 2.04 "]})
    assert parsed == {Permission.SWITCH: frozenset({"3", "1", "2.4"})}
    assert restrictions_json(parsed) == {"switch": ["1", "2.4", "3"]}


@pytest.mark.parametrize(
    "bad",
    [
        ["switch"],
        {"fly": ["1"]},
        {"users": ["1"]},
        {"switch": "1"},
        {"switch": ["x"]},
        {"switch": ["99"]},
        {"switch": ["1"] * 1000},
    ],
)
def test_bad_restrictions_are_clean_input_errors(bad: object) -> None:
    with pytest.raises(KvmError):
        parse_restrictions(bad)


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=8),
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
        ),
        max_leaves=12,
    )
)
def test_arbitrary_json_restrictions_only_ever_give_clean_errors(value: object) -> None:
    try:
        parsed = parse_restrictions(value)
    except KvmError:
        return
    assert set(parsed) <= PORT_SCOPED


@given(st.integers(1, 64), st.none() | st.integers(1, 64))
def test_canonical_port_round_trips(unit: int, channel: int | None) -> None:
    text = str(unit) if channel is None else f"{unit}.{channel}"
    assert canonical_port(text) == text
    assert canonical_port(f" 0{text} ") == text


def test_canonical_port_rejects_garbage() -> None:
    with pytest.raises(InputError):
        canonical_port("next")


@pytest.mark.parametrize(
    ("command", "needs"),
    [
        (SwitchTo("2"), (Permission.SWITCH, "2")),
        (Step(1), (Permission.SWITCH, None)),
        (SetScan(True), (Permission.SWITCH, None)),
        (Rename("3", "x"), (Permission.CONFIGURE, "3")),
        (GetStatus(), (Permission.VIEW, None)),
        (GetLog(5), (Permission.VIEW, None)),
    ],
)
def test_every_bus_command_has_a_permission(command: Command, needs: object) -> None:
    assert command_permission(command) == needs
