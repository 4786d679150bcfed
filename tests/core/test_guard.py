"""core.guard: resolve → authorize → validate, for any actor on any unit."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from kvmswitchd.core.commands import GetStatus, Origin, Rename, SetScan, Source, Step, SwitchTo
from kvmswitchd.core.eventlog import LogEntry
from kvmswitchd.core.guard import (
    ANYONE,
    SYSTEM,
    Actor,
    ActorKind,
    Actors,
    Plan,
    Refusal,
    World,
    decide,
    entry_visible,
    may_type,
    visible_units,
)
from kvmswitchd.core.permissions import Permission, Role
from kvmswitchd.core.ports import ALL_CHANNELS, Channel, PortId


def world(ports: int = 4, km: int = 1, usb: int | None = None) -> World:
    focus = dict.fromkeys(Channel, PortId(km))
    if usb is not None:
        focus[Channel.USB] = PortId(usb)
    return World(ports, focus)


def actor(role: Role = Role.OPERATOR, **ports: list[str]) -> Actor:
    return Actor("ann", role, {Permission(k): frozenset(v) for k, v in ports.items()})


def test_a_grant_on_port_1_does_not_cover_port_12_on_a_16_port_unit() -> None:
    ann = actor(switch=["1"], view=["1"])
    assert isinstance(decide(SwitchTo("12"), ann, world(16)), Refusal)
    assert isinstance(decide(SwitchTo("1"), ann, world(16, km=12)), Plan)
    assert visible_units(ann, 16) == frozenset({1})


def test_a_grant_on_a_port_covers_its_cascaded_ports_but_not_its_neighbours() -> None:
    ann = actor(switch=["2"])
    assert isinstance(decide(SwitchTo("2.3"), ann, world()), Plan)
    assert isinstance(decide(SwitchTo("3"), ann, world()), Refusal)


def test_next_skips_the_ports_the_actor_may_not_switch_to_and_wraps() -> None:
    ann = actor(switch=["1", "3"])
    plan = decide(Step(1), ann, world(km=1))
    assert isinstance(plan, Plan) and plan.port == PortId(3)
    plan = decide(Step(1), ann, world(km=3))
    assert isinstance(plan, Plan) and plan.port == PortId(1)
    plan = decide(Step(-1), ann, world(km=1))
    assert isinstance(plan, Plan) and plan.port == PortId(3)


def test_next_moves_only_the_channels_that_share_the_km_port() -> None:
    plan = decide(Step(1), SYSTEM, world(km=1, usb=4))
    assert isinstance(plan, Plan)
    assert plan.channels == frozenset({Channel.KM, Channel.VIDEO, Channel.AUDIO})


def test_next_for_an_actor_with_no_port_is_refused() -> None:
    refusal = decide(Step(1), actor(switch=[]), world())
    assert isinstance(refusal, Refusal) and refusal.code == "forbidden"


def test_a_switch_without_channels_leaves_usb_behind_without_the_storage_right() -> None:
    plan = decide(SwitchTo("3"), actor(storage=["1"]), world())
    assert isinstance(plan, Plan)
    assert plan.channels == ALL_CHANNELS - {Channel.USB}
    assert plan.notes and "usb stays on port 1" in plan.notes[0]


def test_a_switch_naming_usb_without_the_storage_right_is_refused_whole() -> None:
    refusal = decide(SwitchTo("3", ("km", "usb")), actor(storage=["1"]), world())
    assert isinstance(refusal, Refusal) and refusal.code == "forbidden"


def test_scan_cycles_over_the_ports_the_actor_may_view() -> None:
    plan = decide(SetScan(True), actor(view=["2", "4"]), world())
    assert isinstance(plan, Plan) and plan.ring == (2, 4)
    assert isinstance(decide(SetScan(True), actor(view=["2"]), world()), Refusal)
    assert isinstance(decide(SetScan(True, dwell=0.01), SYSTEM, world()), Refusal)


def test_a_viewer_may_not_start_or_stop_a_scan() -> None:
    assert isinstance(decide(SetScan(False), actor(Role.VIEWER), world()), Refusal)


def test_rename_needs_configure_on_that_port_and_a_valid_name() -> None:
    assert isinstance(decide(Rename("2", "x"), actor(), world()), Refusal)
    admin = actor(Role.ADMIN, configure=["2"])
    plan = decide(Rename("2", "  Build  "), admin, world())
    assert isinstance(plan, Plan) and plan.name == "Build"
    assert isinstance(decide(Rename("3", "x"), admin, world()), Refusal)
    assert decide(Rename("2", "x" * 65), admin, world()) == Refusal(
        "bad_request", "name is longer than 64 characters"
    )


def test_a_reader_with_no_view_is_refused_status() -> None:
    assert isinstance(decide(GetStatus(), actor(view=[]), world()), Refusal)


def test_unknown_and_malformed_ports_are_clean_refusals() -> None:
    unknown = decide(SwitchTo("9"), SYSTEM, world())
    assert isinstance(unknown, Refusal) and unknown.code == "unknown_port"
    malformed = decide(SwitchTo("x"), SYSTEM, world())
    assert isinstance(malformed, Refusal) and malformed.code == "bad_request"


def test_the_actor_of_an_origin() -> None:
    ops = actor()
    actors = Actors(accounts={"ops": ops}.get)
    assert actors.of(Origin(Source.HTTP, user="ops")) == ops
    assert actors.of(Origin(Source.HTTP, user="gone")) is None
    assert actors.of(Origin(Source.HTTP)) is None  # nobody logged in, accounts on
    assert actors.of(Origin(Source.SCAN)) is SYSTEM
    assert actors.of(Origin(Source.HOTKEY)) == actors.console
    line = actors.of(Origin(Source.SERIAL, detail="ttyKVM0"))
    assert line is not None and line.kind is ActorKind.LINE and line.name == "ttyKVM0"
    assert Actors().of(Origin(Source.HTTP)) is ANYONE  # accounts off


def test_log_entries_about_hidden_ports_or_other_people_are_not_visible() -> None:
    visible = frozenset({1, 2})
    assert entry_visible(LogEntry(0, "switch", "http", ("2", "1")), visible)
    assert not entry_visible(LogEntry(0, "switch", "http", ("3", "1")), visible)
    assert not entry_visible(LogEntry(0, "login", "http", ()), visible)
    assert entry_visible(LogEntry(0, "startup", "system", ()), visible)
    assert entry_visible(LogEntry(0, "login", "http", ()), None)


def test_an_unrestricted_admin_types_everywhere_without_a_lookup() -> None:
    assert may_type(SYSTEM, 64) is None
    assert may_type(actor(type=["1", "3"]), 4) == frozenset({1, 3})


restrictions = st.dictionaries(
    st.sampled_from(["view", "switch", "type", "storage"]),
    st.lists(st.integers(1, 16).map(str), max_size=6),
    max_size=4,
)


@given(
    st.sampled_from(list(Role)),
    restrictions,
    st.integers(2, 16),
    st.integers(1, 16),
    st.integers(1, 16),
    st.sampled_from(
        [
            Step(1),
            Step(-1),
            SetScan(True),
            SwitchTo("1"),
            SwitchTo("3"),
            SwitchTo("12"),
            SwitchTo("1.2"),
        ]
    ),
)
def test_no_plan_ever_reaches_a_port_the_actor_lacks_the_right_on(
    role: Role,
    ports: dict[str, list[str]],
    count: int,
    km: int,
    usb: int,
    command: Step | SetScan | SwitchTo,
) -> None:
    who = Actor("x", role, {Permission(k): frozenset(v) for k, v in ports.items()})
    where = world(count, min(km, count), min(usb, count))
    decision = decide(command, who, where)
    if isinstance(decision, Refusal):
        return
    from kvmswitchd.core.permissions import allows

    if decision.port is not None:
        assert allows(who, Permission.SWITCH, str(decision.port))
        if Channel.USB in decision.channels and where.focus[Channel.USB] != decision.port:
            assert allows(who, Permission.STORAGE, str(decision.port))
    for unit in decision.ring:
        assert allows(who, Permission.VIEW, str(unit))
