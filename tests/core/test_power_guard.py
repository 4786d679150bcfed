"""The power permission in the one guarded path (core.guard.decide on a Power command):
every actor, port and action against a rule written out here."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from kvmswitchd.core.commands import Power, PowerAction
from kvmswitchd.core.guard import Actor, ActorKind, Plan, Refusal, World, decide
from kvmswitchd.core.permissions import Permission, Role
from kvmswitchd.core.ports import Channel, PortId

PORTS = 4
POWERED = frozenset({2, 3})  # the ports whose target has a power path
WORLD = World(PORTS, {c: PortId(1) for c in Channel}, POWERED)
ACTIONS = [a.value for a in PowerAction] + ["explode", "RESET", ""]
PORT_IDS = ["1", "2", "3", "4", "2.1", "9", "x"]

actors = st.builds(
    Actor,
    name=st.sampled_from(["ann", "bob"]),
    role=st.sampled_from(list(Role)),
    ports=st.one_of(
        st.just({}),
        st.dictionaries(
            st.sampled_from([Permission.POWER, Permission.VIEW, Permission.SWITCH]),
            st.frozensets(st.sampled_from(["1", "2", "3", "4"])),
            max_size=2,
        ),
    ),
    kind=st.sampled_from([ActorKind.USER, ActorKind.LINE, ActorKind.CONSOLE]),
)


def expected(actor: Actor, port: str, action: str) -> str:
    """ok, or the refusal's code, by the rule: a bad id first, then the right, then
    what the port and the action are."""
    if port in ("9",):
        return "unknown_port"
    if port == "x":
        return "bad_request"
    if actor.role is Role.VIEWER:
        return "forbidden"
    granted = actor.ports.get(Permission.POWER)
    if granted is not None and port.partition(".")[0] not in granted:
        return "forbidden"
    if "." in port or action not in [a.value for a in PowerAction]:
        return "bad_request"
    if int(port) not in POWERED:
        return "bad_request"
    return "ok"


@given(actors, st.sampled_from(PORT_IDS), st.sampled_from(ACTIONS))
def test_power_is_allowed_exactly_by_the_rule(actor: Actor, port: str, action: str) -> None:
    decision = decide(Power(port, action), actor, WORLD)
    want = expected(actor, port, action)
    if want == "ok":
        assert isinstance(decision, Plan)
        assert decision.power is PowerAction(action)
        assert decision.port == PortId(int(port))
    else:
        assert isinstance(decision, Refusal)
        assert decision.code == want, decision.reason


def test_an_operator_may_power_and_a_narrowed_one_only_where_listed() -> None:
    operator = Actor("op", Role.OPERATOR)
    narrowed = Actor("op2", Role.OPERATOR, {Permission.POWER: frozenset({"3"})})
    assert isinstance(decide(Power("2", "reset"), operator, WORLD), Plan)
    refusal = decide(Power("2", "reset"), narrowed, WORLD)
    assert isinstance(refusal, Refusal)
    assert refusal.reason == "user op2 may not power on port 2"
    assert isinstance(decide(Power("3", "reset"), narrowed, WORLD), Plan)


def test_a_port_without_a_power_path_says_so_after_the_right_is_checked() -> None:
    refusal = decide(Power("1", "off"), Actor("a", Role.ADMIN), WORLD)
    assert isinstance(refusal, Refusal)
    assert refusal.reason == "port 1 has no power control"
    viewer = decide(Power("1", "off"), Actor("v", Role.VIEWER), WORLD)
    assert isinstance(viewer, Refusal) and viewer.code == "forbidden"
