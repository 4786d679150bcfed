"""Roles and per-user per-port permissions (SPEC §9), and what each command needs.

A role grants a set of permissions on every port; a user's ``ports`` table can only
narrow that: ``{SWITCH: {"1", "3"}}`` limits switching to ports 1 and 3 (and the
cascaded ports behind them, ``"3.2"``), while a permission absent from the table keeps
the role's "every port". Narrowing never widens: a viewer listed for ``SWITCH`` still
cannot switch. Pure: no I/O, no clock.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from typing import Protocol

from kvmswitchd.core.commands import (
    Command,
    GetLog,
    GetStatus,
    Power,
    Rename,
    SetScan,
    Step,
    SwitchTo,
)
from kvmswitchd.core.ports import MAX_PORTS, parse_port_id
from kvmswitchd.errors import AuthError, InputError, PermissionDenied

# Ports one restriction may list (a 64-port unit with cascades fits easily); stops a
# PATCH /users body from storing an arbitrarily long list in the users file.
MAX_RESTRICTED_PORTS = 512


class Role(enum.StrEnum):
    ADMIN = "admin"
    OPERATOR = "operator"
    VIEWER = "viewer"


class Permission(enum.StrEnum):
    """What a request needs. All but ``USERS`` (unit-wide) are per port."""

    VIEW = "view"  # see a port: state, screen, target view, log
    SWITCH = "switch"  # move focus to a port (switch, next/prev, scan, buttons)
    TYPE = "type"  # keyboard/mouse into a port (console events, /input, websocket input)
    STORAGE = "storage"  # attach/eject/upload images for a port
    CONFIGURE = "configure"  # rename a port, set its EDID
    POWER = "power"  # power a port's machine on/off, reset, pause (ports with a power path)
    USERS = "users"  # manage accounts (admin only)


PORT_SCOPED: frozenset[Permission] = frozenset(
    {
        Permission.VIEW,
        Permission.SWITCH,
        Permission.TYPE,
        Permission.STORAGE,
        Permission.CONFIGURE,
        Permission.POWER,
    }
)

ROLE_PERMISSIONS: Mapping[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    # an operator runs the machines: it may type Ctrl-Alt-Del already, so it may power
    # them too (narrow it per port with ``ports = {power = [...]}``)
    Role.OPERATOR: frozenset(
        {Permission.VIEW, Permission.SWITCH, Permission.TYPE, Permission.STORAGE, Permission.POWER}
    ),
    Role.VIEWER: frozenset({Permission.VIEW}),
}

PortRestrictions = Mapping[Permission, frozenset[str]]


class Principal(Protocol):
    """Who is asking: ``kvmswitchd.core.accounts.User`` satisfies this."""

    @property
    def name(self) -> str: ...

    @property
    def role(self) -> Role: ...

    @property
    def ports(self) -> PortRestrictions: ...


def canonical_port(text: object) -> str:
    """``" 03 "`` → ``"3"``, ``"2.04"`` → ``"2.4"``; InputError/PortError when malformed."""
    return str(parse_port_id(text, MAX_PORTS))


def _covers(granted: frozenset[str], port: str) -> bool:
    # A grant of "2" covers port 2 and every cascaded port behind it ("2.4").
    return port in granted or port.partition(".")[0] in granted


def allows(user: Principal, permission: Permission, port: str | None = None) -> bool:
    """True when ``user`` may do ``permission`` on ``port``.

    ``port=None`` asks "on some port" (GET /state, next/prev, scan): allowed when the
    role grants the permission and the user's restriction (if any) leaves any port.
    """
    return refusal(user, permission, port) is None


def refusal(user: Principal, permission: Permission, port: str | None) -> str | None:
    """Why ``user`` may not do ``permission`` on ``port``, or None when it may."""
    if permission not in ROLE_PERMISSIONS[user.role]:
        return f"role {user.role} may not {permission} (user {user.name})"
    granted = user.ports.get(permission) if permission in PORT_SCOPED else None
    if granted is None:
        return None
    if port is None:
        return None if granted else f"user {user.name} may not {permission} on any port"
    if _covers(granted, canonical_port(port)):
        return None
    return f"user {user.name} may not {permission} on port {canonical_port(port)}"


def authorize(user: Principal | None, permission: Permission, port: str | None = None) -> None:
    """Raise AuthError when nobody is logged in, PermissionDenied with the reason when
    ``user`` lacks ``permission`` on ``port``; return quietly otherwise."""
    if user is None:
        raise AuthError("log in first")
    reason = refusal(user, permission, port)
    if reason is not None:
        raise PermissionDenied(reason)


def allowed_ports(user: Principal, permission: Permission, ports: Iterable[str]) -> list[str]:
    """The subset of ``ports`` (in order) ``user`` may do ``permission`` on; e.g. the ring
    next/prev should cycle through for a restricted user."""
    return [p for p in ports if allows(user, permission, p)]


def permissions_of(user: Principal) -> dict[str, list[str] | None]:
    """Each permission the user has → the ports it is limited to, or None for all ports.
    The shape ``/auth/state`` and ``/users`` show."""
    out: dict[str, list[str] | None] = {}
    for permission in Permission:
        if permission not in ROLE_PERMISSIONS[user.role]:
            continue
        granted = user.ports.get(permission) if permission in PORT_SCOPED else None
        out[str(permission)] = None if granted is None else sorted(granted, key=_port_key)
    return out


def _port_key(port: str) -> tuple[int, int]:
    unit, _, channel = port.partition(".")
    return int(unit), int(channel or 0)


def parse_restrictions(value: object, path: str = "ports") -> dict[Permission, frozenset[str]]:
    """``{"switch": ["1", "3"], "type": []}`` → the table; InputError naming the bad key."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InputError(f'{path} must be an object like {{"switch": ["1", "3"]}}')
    out: dict[Permission, frozenset[str]] = {}
    for key, ports in value.items():
        try:
            permission = Permission(key)
        except ValueError:
            raise InputError(f"{path}: unknown permission {str(key)[:32]!r}") from None
        if permission not in PORT_SCOPED:
            raise InputError(f"{path}: {permission} is not a per-port permission")
        if not isinstance(ports, list | tuple) or len(ports) > MAX_RESTRICTED_PORTS:
            raise InputError(f"{path}.{permission} must be a list of port ids")
        out[permission] = frozenset(canonical_port(p) for p in ports)
    return out


def restrictions_json(ports: PortRestrictions) -> dict[str, list[str]]:
    return {str(k): sorted(v, key=_port_key) for k, v in sorted(ports.items())}


def command_permission(command: Command) -> tuple[Permission, str | None]:
    """What a bus command needs (serial dialects, hotkeys, HTTP all send these)."""
    match command:
        case SwitchTo(port=port):
            return Permission.SWITCH, port
        case Step() | SetScan():
            return Permission.SWITCH, None
        case Rename(port=port):
            return Permission.CONFIGURE, port
        case Power(port=port):
            return Permission.POWER, port
        case GetStatus() | GetLog():
            return Permission.VIEW, None
    raise InputError(f"no permission rule for {type(command).__name__}")  # pragma: no cover
