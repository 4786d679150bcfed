"""core.guard at the edges mutation testing showed open: the exact plan each command
resolves to (nothing more, nothing less), the exact code, reason and port of each refusal,
who a reason names, and the shortcuts that mean "every port"."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from kvmswitchd.core.commands import (
    GetLog,
    GetStatus,
    Origin,
    Rename,
    SetScan,
    Source,
    Step,
    SwitchTo,
)
from kvmswitchd.core.guard import (
    CONSOLE,
    SYSTEM,
    Actor,
    ActorKind,
    Actors,
    Plan,
    Refusal,
    World,
    decide,
    may_type,
    permitted_units,
    ports_visible,
    visible_units,
)
from kvmswitchd.core.permissions import Permission, PortRestrictions, Role
from kvmswitchd.core.ports import ALL_CHANNELS, Channel, PortId
from kvmswitchd.core.scan import MAX_DWELL, MIN_DWELL

P = Permission


def world(ports: int = 4, km: int = 1, usb: int | None = None) -> World:
    focus = dict.fromkeys(Channel, PortId(km))
    if usb is not None:
        focus[Channel.USB] = PortId(usb)
    return World(ports, focus)


def ann(role: Role = Role.OPERATOR, **ports: list[str]) -> Actor:
    return Actor("ann", role, {Permission(k): frozenset(v) for k, v in ports.items()})


@dataclass(frozen=True)
class Account:
    """A principal that is not an Actor (as ``core.accounts.User`` is)."""

    name: str
    role: Role
    ports: PortRestrictions = field(default_factory=dict)


# --- plans: exactly what was asked, on exactly the resolved port -----------------------


def test_a_switch_naming_channels_plans_exactly_those_channels() -> None:
    command = SwitchTo("3", ("km",))
    assert decide(command, SYSTEM, world()) == Plan(
        command, port=PortId(3), channels=frozenset({Channel.KM})
    )


def test_a_switch_naming_no_channels_plans_every_channel_with_no_notes() -> None:
    command = SwitchTo("3")
    assert decide(command, ann(), world()) == Plan(command, port=PortId(3), channels=ALL_CHANNELS)


def test_a_switch_that_leaves_usb_alone_needs_no_storage_right() -> None:
    # usb is not named, or is already on the port: the storage does not move
    km_only = SwitchTo("3", ("km",))
    assert decide(km_only, ann(storage=[]), world()) == Plan(
        km_only, port=PortId(3), channels=frozenset({Channel.KM})
    )
    here = SwitchTo("1")
    assert decide(here, ann(storage=[]), world(km=3, usb=1)) == Plan(
        here, port=PortId(1), channels=ALL_CHANNELS
    )


def test_a_switch_naming_usb_without_the_storage_right_is_refused_with_that_reason() -> None:
    refusal = decide(SwitchTo("3", ("km", "usb")), ann(storage=["1"]), world())
    assert refusal == Refusal("forbidden", "user ann may not storage on port 3", "3")


def test_a_refused_switch_names_the_port_and_the_reason() -> None:
    refusal = decide(SwitchTo("3"), ann(switch=["1"]), world())
    assert refusal == Refusal("forbidden", "user ann may not switch on port 3", "3")


def test_next_narrowed_by_storage_moves_the_rest_and_says_why_usb_stayed() -> None:
    # a step is never "explicit": a missing storage right narrows it, never refuses it
    assert decide(Step(1), ann(storage=["1"]), world()) == Plan(
        Step(1),
        port=PortId(2),
        channels=ALL_CHANNELS - {Channel.USB},
        notes=("usb stays on port 1: user ann has no storage right on port 2",),
    )


def test_next_plans_the_step_command_itself() -> None:
    assert decide(Step(-1), SYSTEM, world(km=1)) == Plan(
        Step(-1), port=PortId(4), channels=ALL_CHANNELS
    )


def test_a_step_of_any_other_size_is_a_bad_request() -> None:
    for direction in (0, 2, -2):
        refusal = decide(Step(direction), SYSTEM, world())
        assert refusal == Refusal("bad_request", "direction must be +1 or -1")


def test_rename_plans_the_resolved_port_and_the_cleaned_name() -> None:
    command = Rename("02", "  Build  ")
    assert decide(command, SYSTEM, world()) == Plan(command, port=PortId(2), name="Build")


def test_status_and_log_are_planned_for_a_reader_who_may_view_some_port() -> None:
    for command in (GetStatus(), GetLog(5)):
        assert decide(command, ann(view=["4"]), world()) == Plan(command)


def test_status_for_a_reader_who_may_view_no_port_is_refused_saying_so() -> None:
    refusal = decide(GetStatus(), ann(view=[]), world())
    assert refusal == Refusal("forbidden", "user ann may not view any port")


def test_something_that_is_not_a_command_is_a_bad_request_naming_its_type() -> None:
    refusal = decide(3.5, SYSTEM, world())  # type: ignore[arg-type]  # a caller's bug
    assert refusal == Refusal("bad_request", "unknown command float")


# --- scan -------------------------------------------------------------------------------


def test_stopping_a_scan_is_planned_for_anyone_who_may_switch() -> None:
    assert decide(SetScan(False), ann(), world()) == Plan(SetScan(False))


def test_scan_for_an_actor_who_may_switch_nowhere_is_refused_saying_so() -> None:
    refusal = decide(SetScan(True), ann(switch=[]), world())
    assert refusal == Refusal("forbidden", "user ann may not switch to any port")


@pytest.mark.parametrize("dwell", [MIN_DWELL, MAX_DWELL])
def test_a_dwell_at_either_limit_is_accepted(dwell: float) -> None:
    command = SetScan(True, dwell=dwell)
    assert decide(command, ann(view=["1", "3"]), world()) == Plan(command, ring=(1, 3))


@pytest.mark.parametrize("dwell", [MIN_DWELL - 0.01, MAX_DWELL + 0.01])
def test_a_dwell_outside_the_limits_is_a_bad_request_naming_them(dwell: float) -> None:
    refusal = decide(SetScan(True, dwell=dwell), SYSTEM, world())
    assert refusal == Refusal("bad_request", f"dwell must be {MIN_DWELL}..{MAX_DWELL} seconds")


def test_a_scan_over_fewer_than_two_visible_ports_is_refused_saying_why() -> None:
    refusal = decide(SetScan(True), ann(view=["2"]), world())
    assert refusal == Refusal(
        "forbidden", "user ann may view fewer than two ports: nothing to scan"
    )


# --- who a reason names -------------------------------------------------------------------


def test_a_refusal_names_a_user_a_serial_line_or_the_console_as_such() -> None:
    nowhere: PortRestrictions = {P.SWITCH: frozenset()}
    line = Actor("ttyS0", Role.OPERATOR, nowhere, ActorKind.LINE)
    console = Actor("console", Role.OPERATOR, nowhere, ActorKind.CONSOLE)
    account = Account("bob", Role.OPERATOR, nowhere)
    reasons = [decide(Step(1), who, world()) for who in (ann(switch=[]), line, console, account)]
    assert reasons == [
        Refusal("forbidden", "user ann may not switch to any port"),
        Refusal("forbidden", "serial line ttyS0 may not switch to any port"),
        Refusal("forbidden", "the console may not switch to any port"),
        Refusal("forbidden", "user bob may not switch to any port"),
    ]


# --- "every port" shortcuts ---------------------------------------------------------------


def test_an_actor_allowed_every_port_gets_none_meaning_no_filtering() -> None:
    # an operator is not the admin shortcut: the answer comes from checking each port
    assert visible_units(ann(), 4) is None
    assert may_type(ann(), 4) is None
    assert visible_units(ann(view=["1", "2"]), 2) is None


def test_permitted_units_are_exactly_the_units_of_this_switch() -> None:
    assert permitted_units(ann(), P.SWITCH, 4) == (1, 2, 3, 4)
    assert permitted_units(ann(switch=["4", "2"]), P.SWITCH, 4) == (2, 4)


def test_ports_visible_to_an_unfiltered_reader_and_cascaded_ports_by_their_unit() -> None:
    assert ports_visible(["3", "2.4"], None)
    assert ports_visible(["2.4"], frozenset({2}))
    assert not ports_visible(["3.1"], frozenset({2}))


# --- actors -------------------------------------------------------------------------------


def test_a_configured_serial_line_acts_with_its_own_rights_whatever_its_peer() -> None:
    viewer = Actor("lan", Role.VIEWER, kind=ActorKind.LINE)
    actors = Actors(accounts=lambda _: None, lines={"lan": viewer})
    assert actors.of(Origin(Source.SERIAL, detail="lan")) == viewer
    assert actors.of(Origin(Source.SERIAL, detail="lan:192.0.2.7:5555")) == viewer
    other = actors.of(Origin(Source.SERIAL, detail="ttyS1:x"))
    assert other == Actor("ttyS1", CONSOLE.role, CONSOLE.ports, ActorKind.LINE)


def test_an_actor_made_from_a_principal_keeps_the_kind_it_is_given() -> None:
    actor = Actor.of(Account("bob", Role.VIEWER), ActorKind.LINE)
    assert actor == Actor("bob", Role.VIEWER, {}, ActorKind.LINE)
