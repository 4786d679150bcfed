"""The aten dialect core: lease, sw commands, replies, login (reference §2.2)."""

from __future__ import annotations

import pytest

from kvmswitchd.core.commands import (
    HoldLease,
    Origin,
    Outcome,
    ReleaseLease,
    SetScan,
    Source,
    Step,
    SwitchTo,
)
from kvmswitchd.errors import ConfigError
from kvmswitchd.serial.aten import LEASE_IDLE, AtenDialect
from kvmswitchd.serial.channel import EventKind, Execute
from kvmswitchd.serial.endpoint import parse_endpoint
from kvmswitchd.serial.login import LoginThrottle
from tests.serial.fakes import Driver

OK = b"Command OK\r\n"
INCORRECT = b"Command incorrect\r\n"


def aten_driver(*, login_required: bool = False, auto: bool = True) -> Driver:
    throttle = LoginThrottle()
    return Driver(
        lambda: AtenDialect(channel="aten", throttle=throttle, login_required=login_required),
        auto=auto,
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


# -- issue 14: the full command set, the lease on the bus --------------------------------


@pytest.mark.parametrize(
    ("line", "command"),
    [
        (b"sw i02 kvm", SwitchTo("2", ("km", "video"))),
        (b"sw i02 usb", SwitchTo("2", ("usb",))),
        (b"sw i02 audio", SwitchTo("2", ("audio",))),
        (b"sw i02 video", SwitchTo("2", ("video",))),
        (b"sw i02 usb audio kvm", SwitchTo("2", ("usb", "audio", "km", "video"))),
        (b"swi03", SwitchTo("3")),
        (b"sw i02usb", SwitchTo("2", ("usb",))),
        (b"sw+", Step(1)),
        (b"sw-", Step(-1)),
        (b"sw\ti04\tkvm", SwitchTo("4", ("km", "video"))),
        (b"\tsw i2 l1", SwitchTo("2")),
        (b"scan", SetScan(True)),
        (b"scan on 7", SetScan(True, 7.0)),
        (b"scan 7", SetScan(True, 7.0)),
        (b"scan off", SetScan(False)),
    ],
)
def test_channel_words_spaceless_and_tab_forms_and_scan(line: bytes, command: object) -> None:
    d = aten_driver()
    d.feed(b"open\r\n")
    assert d.feed(line + b"\r\n") == OK
    assert d.switch.executed() == [command]


@pytest.mark.parametrize(
    "line",
    [
        *(b"sw i02 +", b"sw + usb", b"sw i02 on", b"sw on off", b"sw kvm", b"swi"),
        *(b"sw i02 sound", b"beep", b"beep loud", b"hotkey", b"hotkey alt", b"scan 5 6"),
        *(b"scan x", b"reset now", b"status now", b"open now", b"sw i123"),
    ],
)
def test_malformed_forms_of_the_new_commands_are_incorrect(line: bytes) -> None:
    d = aten_driver()
    d.feed(b"open\r\n")
    assert d.feed(line + b"\r\n") == INCORRECT
    assert d.switch.executed() == []


def test_settings_need_the_link_renew_the_lease_on_the_bus_and_show_in_status() -> None:
    d = aten_driver()
    assert d.feed(b"beep off\r\n") == INCORRECT
    d.feed(b"open\r\n")
    assert d.feed(b"beep off\r\nhotkey ctrl\r\nsw off\r\n") == OK * 3
    assert [c for c, _ in d.switch.calls] == [HoldLease(LEASE_IDLE, ("button", "hotkey"))] * 4
    status = d.feed(b"status\r\n")
    assert b"beep off\r\nhotkey ctrl\r\noutput off\r\nlink open\r\nCommand OK\r\n" in status
    assert d.feed(b"reset\r\n") == OK
    assert b"beep on\r\nhotkey scroll\r\noutput on\r\n" in d.feed(b"status\r\n")


def test_a_lease_the_bus_says_is_gone_ends_here_too() -> None:
    d = aten_driver(auto=False)
    d.feed(b"open\r\n")
    assert d.finish() == OK
    d.feed(b"sw i02\r\n")
    lost = Outcome(False, message="the control link of this session was broken", error="busy")
    assert d.complete(lost) == INCORRECT
    assert d.core.next_deadline() is None
    assert d.feed(b"sw i02\r\n") == INCORRECT  # not even asked: the link is closed
    assert not d.pending
    assert "control link lost" in [n.detail for n in d.notices][-1]


def test_the_lease_idle_time_is_configurable_and_its_expiry_gives_the_lease_back() -> None:
    d = Driver(lambda: AtenDialect(channel="aten", throttle=LoginThrottle(), lease_idle=30.0))
    d.feed(b"open\r\n")
    assert d.core.next_deadline() == d.now + 30.0
    d.tick(d.now + 30.0)
    assert d.switch.calls[-1][0] == ReleaseLease("expired")
    assert [n.detail for n in d.notices][-1] == "control link closed after 30 s without a command"
    assert d.feed(b"sw i02\r\n") == INCORRECT


def test_a_session_that_ends_gives_its_lease_back_and_one_without_asks_nothing() -> None:
    core = AtenDialect(channel="aten", throttle=LoginThrottle())
    assert core.hang_up(0.0) == []
    d = aten_driver()
    d.feed(b"open\r\n")
    last = d.core.hang_up(d.now)
    assert [a.command for a in last if isinstance(a, Execute)] == [ReleaseLease("session ended")]
    assert d.core.hang_up(d.now) == []  # once


def test_logout_gives_the_lease_back_before_it_answers() -> None:
    d = aten_driver(login_required=True)
    d.feed(b"login u alice p secret\r\nopen\r\n")
    assert d.feed(b"logout\r\n") == OK
    assert d.switch.calls[-1][0] == ReleaseLease("logout")
    assert d.closes == ["logout"]


def test_lease_settings_are_aten_keys_with_named_caps() -> None:
    spec = parse_endpoint(
        {"endpoint": "pty:/tmp/x", "dialect": "aten", "lease_idle": 30, "lease_locks": ["http"]},
        "serial[0]",
    )
    assert (spec.lease_idle, spec.lease_locks) == (30.0, ("http",))
    assert parse_endpoint({"endpoint": "pty:/tmp/x", "dialect": "aten"}, "s").lease_locks == (
        "button",
        "hotkey",
    )
    bad: list[tuple[dict[str, object], str]] = [
        ({"lease_idle": 0}, "serial[0].lease_idle"),
        ({"lease_idle": 3601}, "serial[0].lease_idle"),
        ({"lease_locks": ["serial"]}, "serial[0].lease_locks"),
        ({"lease_locks": ["button", "button"]}, "serial[0].lease_locks"),
        ({"lease_locks": "button"}, "serial[0].lease_locks"),
        ({"dialect": "text", "lease_idle": 30}, "serial[0].lease_idle"),
    ]
    for extra, key in bad:
        table: dict[str, object] = {"endpoint": "pty:/tmp/x", "dialect": "aten", **extra}
        with pytest.raises(ConfigError) as caught:
            parse_endpoint(table, "serial[0]")
        assert caught.value.path == key
