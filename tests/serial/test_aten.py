"""The aten dialect core: lease, sw commands, replies, login (reference §2.2)."""

from __future__ import annotations

import pytest

from kvmswitchd.core.commands import Origin, Source, Step, SwitchTo
from kvmswitchd.serial.aten import LEASE_IDLE, AtenDialect
from kvmswitchd.serial.channel import EventKind
from kvmswitchd.serial.login import LoginThrottle
from tests.serial.fakes import Driver

OK = b"Command OK\r\n"
INCORRECT = b"Command incorrect\r\n"


def aten_driver(*, login_required: bool = False) -> Driver:
    throttle = LoginThrottle()
    return Driver(
        lambda: AtenDialect(channel="aten", throttle=throttle, login_required=login_required)
    )


def test_sw_needs_an_open_lease() -> None:
    d = aten_driver()
    assert d.feed(b"sw i02\r\n") == INCORRECT
    assert d.feed(b"open\r\nsw i02\r\n") == OK + OK
    assert d.switch.executed() == [SwitchTo("2")]
    assert d.feed(b"close\r\nsw i03\r\n") == OK + INCORRECT


@pytest.mark.parametrize(
    ("line", "command"),
    [
        (b"sw i02", SwitchTo("2")),
        (b"SW I03 O01", SwitchTo("3")),
        (b"sw o* i04", SwitchTo("4")),
        (b"sw +", Step(1)),
        (b"sw o01 -", Step(-1)),
    ],
)
def test_sw_forms(line: bytes, command: object) -> None:
    d = aten_driver()
    d.feed(b"open\r\n")
    assert d.feed(line + b"\r\n") == OK
    assert d.switch.executed() == [command]


@pytest.mark.parametrize(
    "line", [b"sw", b"sw i02 o05", b"sw i00", b"sw ix", b"sw i02 i03", b"bogus", b"sw i09"]
)
def test_malformed_or_refused_commands_are_incorrect(line: bytes) -> None:
    d = aten_driver()
    d.feed(b"open\r\n")
    assert d.feed(line + b"\r\n") == INCORRECT
    assert d.switch.focus["km"] == "1"


@pytest.mark.parametrize("ending", [b"\r", b"\n", b"\r\n"])
def test_any_line_ending_and_any_case(ending: bytes) -> None:
    d = aten_driver()
    assert d.feed(b"OPEN" + ending + b"Sw I02" + ending) == OK + OK


def test_lease_expires_after_two_minutes_without_a_command() -> None:
    d = aten_driver()
    d.feed(b"open\r\n")
    assert d.core.next_deadline() == d.now + LEASE_IDLE
    d.now += 100.0
    d.feed(b"sw i02\r\n")  # a command restarts the two minutes
    assert d.tick(d.now + LEASE_IDLE - 0.1) == b""
    assert d.feed(b"sw i03\r\n") == OK
    start = d.now
    d.tick(start + LEASE_IDLE)
    assert d.core.next_deadline() is None
    assert d.feed(b"sw i04\r\n") == INCORRECT
    assert d.switch.focus["km"] == "3"
    assert [n.detail for n in d.notices if n.kind is EventKind.LEASE][-1] == (
        "control link closed after 2 minutes without a command"
    )


def test_login_required_before_open() -> None:
    d = aten_driver(login_required=True)
    assert d.feed(b"open\r\n") == INCORRECT
    assert d.feed(b"login u alice p wrong\r\n") == INCORRECT
    assert d.feed(b"LOGIN U alice psecret\r\nopen\r\nsw i02\r\n") == OK + OK + OK
    assert d.switch.calls[-1][1].user == "alice"


def test_logout_on_a_login_required_line_closes_it() -> None:
    d = aten_driver(login_required=True)
    d.feed(b"login u alice p secret\r\n")
    assert d.feed(b"logout\r\n") == OK
    assert d.closes == ["logout"]


def test_over_long_and_binary_lines_are_incorrect_and_the_channel_recovers() -> None:
    d = aten_driver()
    assert d.feed(b"x" * 1000 + b"\r\n") == INCORRECT
    assert d.feed(b"op\x00en\r\n") == INCORRECT
    assert d.feed(b"open\r\n") == OK


def test_logout_on_an_open_line_returns_to_exactly_the_line_s_own_actor() -> None:
    d = aten_driver()
    d.feed(b"open\r\nsw i02\r\n")
    before = d.switch.calls[-1][1]
    d.feed(b"login u alice p secret\r\nsw i03\r\n")
    assert d.switch.calls[-1][1] == Origin(Source.SERIAL, "aten", "alice")
    assert d.feed(b"logout\r\nopen\r\nsw i04\r\n") == OK + OK + OK
    assert d.closes == []
    assert d.switch.calls[-1][1] == before == Origin(Source.SERIAL, "aten", None)
