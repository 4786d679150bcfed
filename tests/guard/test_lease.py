"""The control lease (core.lease) and its gate in the one guarded path (Switchboard.run):
who is locked out, renewal, expiry by ``now``, release, break, and sessions that lost it.
The property test drives two real ATEN cores against the real switchboard."""

from __future__ import annotations

import asyncio
import itertools
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import serial_asyncio_fast
from hypothesis import given, settings
from hypothesis import strategies as st

from kvmswitchd.assembly import build_board
from kvmswitchd.config import parse_config
from kvmswitchd.core.commands import (
    BreakLease,
    GetLog,
    GetStatus,
    HoldLease,
    Origin,
    ReleaseLease,
    SetScan,
    Source,
    Step,
    SwitchTo,
)
from kvmswitchd.core.guard import Actor, Plan, Refusal, World, decide
from kvmswitchd.core.lease import LeaseTable, locked_out
from kvmswitchd.core.permissions import Role
from kvmswitchd.core.ports import Channel, PortId
from kvmswitchd.serial.aten import AtenDialect
from kvmswitchd.serial.channel import Action, Close, Execute, Send
from kvmswitchd.serial.login import LoginThrottle
from kvmswitchd.switchboard import Switchboard
from tests.guard.conftest import open_unit

A = Origin(Source.SERIAL, "ttyA", None, session="ttyA#1")
B = Origin(Source.SERIAL, "ttyB", None, session="ttyB#2")
A_LATER = Origin(Source.SERIAL, "ttyA", None, session="ttyA#3")  # a new session, same line
BUTTON = Origin(Source.BUTTON, "button 3")
HOTKEY = Origin(Source.HOTKEY, "console")
HTTP = Origin(Source.HTTP, "127.0.0.1")
SCAN = Origin(Source.SCAN)
HOLD = HoldLease(120.0, ("button", "hotkey"))


def held(at: float = 0.0, origin: Origin = A, command: HoldLease = HOLD) -> LeaseTable:
    table = LeaseTable()
    lease, why = table.hold(command, origin, at)
    assert lease is not None, why
    return table


@pytest.mark.parametrize(
    ("origin", "locked"),
    [
        (A, False),
        (B, True),
        (A_LATER, True),
        (BUTTON, True),
        (HOTKEY, True),
        (HTTP, False),
        (SCAN, False),
    ],
)
def test_who_a_held_lease_locks_out(origin: Origin, locked: bool) -> None:
    lease = held().current(1.0)
    for command in (SwitchTo("2"), Step(1), SetScan(True)):
        assert (locked_out(lease, command, origin) is not None) is locked
    for read in (GetStatus(), GetLog()):
        assert locked_out(lease, read, origin) is None  # reads stay open to everyone


def test_http_is_locked_only_when_the_lease_says_so() -> None:
    lease = held(command=HoldLease(60.0, ("http",))).current(1.0)
    assert locked_out(lease, SwitchTo("2"), HTTP) is not None
    assert locked_out(lease, SwitchTo("2"), BUTTON) is None


def test_the_refusal_names_the_holder() -> None:
    table = held(origin=replace(A, user="alice"))
    why = table.refusal(SwitchTo("2"), B, 1.0)
    assert (
        why
        == "the unit is locked by the control link of serial session ttyA#1 on ttyA (user alice)"
    )


def test_a_second_session_cannot_take_a_held_lease_and_non_serial_origins_never_hold_one() -> None:
    table = held()
    assert table.hold(HOLD, B, 1.0)[0] is None
    assert table.hold(HOLD, BUTTON, 1.0)[0] is None
    assert table.current(1.0) is not None and table.current(1.0).session == "ttyA#1"  # type: ignore[union-attr]


def test_the_lease_expires_idle_seconds_after_the_last_command_of_its_holder() -> None:
    table = held(at=0.0, command=HoldLease(30.0))
    table.touch(A, 20.0)  # a command renews it
    table.touch(B, 25.0)  # another session's does not
    assert table.current(49.9) is not None
    assert table.next_deadline() == 50.0
    assert table.expired(49.9) is None
    assert table.expired(50.0) is not None
    assert table.current(50.0) is None and table.next_deadline() is None
    assert table.refusal(SwitchTo("2"), B, 50.0) is None  # the unit is free again


@pytest.mark.parametrize("end", ["expired", "broken"])
def test_a_session_that_lost_its_lease_is_refused_until_it_opens_again(end: str) -> None:
    table = held(command=HoldLease(10.0))
    if end == "expired":
        table.expired(10.0)
    else:
        assert table.break_(5.0) is not None
    assert table.refusal(SwitchTo("2"), A, 11.0) is not None
    assert table.refusal(GetStatus(), A, 11.0) is None
    assert table.refusal(SwitchTo("2"), B, 11.0) is None
    assert table.hold(HOLD, A, 11.0)[0] is not None
    assert table.refusal(SwitchTo("2"), A, 12.0) is None


def test_only_the_holder_releases_and_a_release_is_idempotent() -> None:
    table = held()
    assert table.release(B, 1.0) is None
    assert table.current(1.0) is not None
    assert table.release(A, 1.0) is not None
    assert table.release(A, 1.0) is None
    assert table.current(1.0) is None


@pytest.mark.parametrize("idle", [0.0, -1.0, 3600.1, float("inf"), float("nan")])
def test_a_lease_idle_time_outside_its_cap_is_refused(idle: float) -> None:
    lease, why = LeaseTable().hold(HoldLease(idle), A, 0.0)
    assert lease is None and "idle" in why


def test_breaking_the_lease_and_holding_one_go_through_the_guard() -> None:
    world = World(4, dict.fromkeys(Channel, PortId(1)))
    operator = Actor("op", Role.OPERATOR)
    viewer = Actor("v", Role.VIEWER)
    admin = Actor("root", Role.ADMIN)
    assert isinstance(decide(BreakLease(), operator, world), Refusal)
    assert isinstance(decide(BreakLease(), admin, world), Plan)
    assert isinstance(decide(HOLD, viewer, world), Refusal)  # a viewer may not lock the unit
    assert isinstance(decide(HOLD, operator, world), Plan)
    assert isinstance(decide(ReleaseLease(), viewer, world), Plan)


# -- two ATEN sessions against the real switchboard ----------------------------------------


@dataclass
class Clock:
    now: float = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def clock_board() -> Iterator[tuple[Clock, Switchboard]]:
    clock = Clock()
    config = replace(parse_config({"switch": {"ports": 4}}), serial=())
    with tempfile.TemporaryDirectory() as tmp:
        board = build_board(config, Path(tmp), {}, monotonic=clock)
        yield clock, board
        board.journal.close()


NUMBERS = itertools.count(1)


class Session:
    """An ATEN core wired to the board as the adapter wires it (its stamp on each command)."""

    def __init__(self, board: Switchboard, clock: Clock, name: str, lease_idle: float) -> None:
        self.board, self.clock, self.name, self.lease_idle = board, clock, name, lease_idle
        self.core = self._make()

    def _make(self) -> AtenDialect:
        self.id = f"{self.name}#{next(NUMBERS)}"  # never reused, as the adapter's
        return AtenDialect(channel=self.name, throttle=LoginThrottle(), lease_idle=self.lease_idle)

    def feed(self, data: bytes) -> bytes:
        return self._run(self.core.receive_data(data, self.clock.now))

    def tick(self) -> bytes:
        deadline = self.core.next_deadline()
        if deadline is None or deadline > self.clock.now:
            return b""
        return self._run(self.core.handle_timer(self.clock.now))

    def hang_up(self) -> None:
        self._run(self.core.hang_up(self.clock.now))
        self.core = self._make()

    def _run(self, actions: list[Action]) -> bytes:
        out = b""
        while actions:
            action = actions.pop(0)
            if isinstance(action, Send):
                out += action.data
            elif isinstance(action, Execute):
                result = self.board.run(action.command, replace(action.origin, session=self.id))
                actions += self.core.complete(action.request_id, result, self.clock.now)
            elif isinstance(action, Close):
                self.hang_up()
        return out


LINES = [b"open", b"close", b"sw i02", b"sw i03 usb", b"swi04", b"sw+", b"sw -", b"status"]
LINES += [b"beep off", b"reset", b"bogus"]  # (scan needs a running loop for its timer)
LINE_STEPS = st.tuples(st.sampled_from(["a", "b"]), st.sampled_from(LINES))
STEPS = st.one_of(
    LINE_STEPS,  # mostly commands from the two sessions
    LINE_STEPS,
    LINE_STEPS,
    st.tuples(st.just("wait"), st.sampled_from([0.5, 10.0, 29.0, 31.0])),  # idle is 30 s
    st.tuples(st.sampled_from(["button", "hotkey", "break", "hang up a"]), st.just(b"")),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(STEPS, max_size=40))
def test_random_commands_from_two_sessions_never_let_the_non_holder_switch(
    clock_board: tuple[Clock, Switchboard], steps: list[tuple[str, object]]
) -> None:
    clock, board = clock_board
    board.leases = LeaseTable()  # each example on a unit nobody holds
    sessions = {"a": Session(board, clock, "ttyA", 30.0), "b": Session(board, clock, "ttyB", 30.0)}
    for who, what in steps:
        holder = board.leases.current(clock.now)
        before = dict(board.core.focus)
        match who:
            case "a" | "b":
                assert isinstance(what, bytes)
                sessions[who].feed(what + b"\r\n")
                actor = sessions[who].id
            case "wait":
                assert isinstance(what, float)
                clock.now += what
                for session in sessions.values():
                    session.tick()
                continue
            case "button":
                board.run(SwitchTo("3"), BUTTON)
                actor = "button"
            case "hotkey":
                board.run(Step(1), HOTKEY)
                actor = "hotkey"
            case "break":
                board.run(BreakLease(), HTTP)
                continue
            case _:
                sessions["a"].hang_up()
                continue
        if holder is not None and actor != holder.session:
            assert board.core.focus == before, f"{actor} switched while {holder.session} held it"


async def test_only_an_admin_breaks_the_lease_over_http_and_operators_are_refused_and_logged(
    tmp_path: Path,
) -> None:
    link = tmp_path / "ttyA"
    unit = await open_unit(
        tmp_path / "state", {"serial": [{"endpoint": f"pty:{link}", "dialect": "aten"}]}
    )
    try:
        reader, writer = await serial_asyncio_fast.open_serial_connection(url=str(link))
        writer.write(b"open\r\n")
        async with asyncio.timeout(10.0):
            assert await reader.readuntil(b"\r\n") == b"Command OK\r\n"
        refused = await unit.call("ops", "DELETE", "/serial/lease")
        assert refused.status == 403 and "admins only" in refused.body["message"]
        assert unit.board.journal.recent(5)[-1].kind == "refused"
        seen = await unit.call("ops", "GET", "/state")
        assert seen.body["lease"]["endpoint"] == "ttyA"
        assert "user" not in seen.body["lease"]  # a restricted reader sees that, not who
        assert (await unit.call("root", "GET", "/state")).body["lease"]["user"] is None
        broken = await unit.call("root", "DELETE", "/serial/lease")
        assert broken.status == 200
        entry = unit.board.journal.recent(5)[-1]
        assert (entry.kind, entry.user, entry.detail["action"]) == ("lease", "root", "broken")
        writer.close()
    finally:
        await unit.http.close()
        await unit.daemon.stop()
