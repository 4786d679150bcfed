"""The Hayes modem core, with a text dialect per call, driven with injected time."""

from __future__ import annotations

from kvmswitchd.core.commands import ReleaseLease, SwitchTo
from kvmswitchd.serial.aten import AtenDialect
from kvmswitchd.serial.channel import EventKind, Execute
from kvmswitchd.serial.login import LoginThrottle
from kvmswitchd.serial.modem import INIT_RETRY, INIT_TIMEOUT, ModemLine, ModemState
from kvmswitchd.serial.text import TextDialect
from tests.serial.fakes import Driver

GUARD = 1.0
OK = b"\r\nOK\r\n"


def modem_driver(*, idle_timeout: float | None = 300.0) -> Driver:
    throttle = LoginThrottle()
    return Driver(
        lambda: ModemLine(
            lambda: TextDialect(
                channel="modem0", throttle=throttle, login_required=True, echo=True
            ),
            guard=GUARD,
            idle_timeout=idle_timeout,
        )
    )


def modem(d: Driver) -> ModemLine:
    assert isinstance(d.core, ModemLine)
    return d.core


def ready(d: Driver) -> None:
    assert d.start() == b"ATZ\r"
    assert d.feed(b"ATZ\r" + OK) == b"ATE0\r"  # echoed until ATE0 takes effect
    assert d.feed(b"ATE0\r" + OK) == b"ATS0=1\r"
    assert d.feed(OK) == b""
    assert modem(d).state is ModemState.IDLE
    assert d.notices[-1].detail == "ready"


def call(d: Driver) -> bytes:
    assert d.feed(b"\r\nRING\r\n") == b""
    assert modem(d).state is ModemState.RINGING
    return d.feed(b"\r\nCONNECT 9600\r\n")


def test_initialises_then_answers_a_call_with_a_login_prompt() -> None:
    d = modem_driver()
    ready(d)
    assert call(d) == b"kvmswitchd serial console\r\nlogin: "
    assert modem(d).state is ModemState.ONLINE_DATA
    assert modem(d).rate == "9600"


def test_data_after_connect_in_the_same_chunk_goes_to_the_caller() -> None:
    d = modem_driver()
    ready(d)
    out = d.feed(b"\r\nRING\r\n\r\nCONNECT 9600\r\nalice\r")
    assert out == b"kvmswitchd serial console\r\nlogin: alice\r\npassword: "


def test_a_logged_in_caller_switches_then_logout_hangs_up_cleanly() -> None:
    d = modem_driver()
    ready(d)
    call(d)
    d.feed(b"alice\rsecret\r")
    assert d.feed(b"port 2\r") == b"port 2\r\nswitched to 2\r\nOK\r\n> "
    assert d.switch.calls[-1][1].user == "alice"
    assert d.feed(b"logout\r") == b"logout\r\nbye\r\nOK\r\n"
    assert modem(d).state is ModemState.GUARD
    assert d.feed(b"stray\r") == b""  # nothing more reaches the caller
    assert d.tick(d.now + GUARD - 0.01) == b""
    assert d.tick(d.now + 0.01) == b"+++"
    assert d.feed(OK) == b"ATH\r"
    assert d.feed(OK) == b"ATZ\r"
    assert modem(d).state is ModemState.INIT


def test_no_carrier_ends_the_call_and_the_next_caller_must_log_in() -> None:
    d = modem_driver()
    ready(d)
    call(d)
    d.feed(b"alice\rsecret\r")
    # The dialect echoes what it got before the whole result code was seen; the modem
    # (already in command mode) takes it as a junk line, ended by the CR before ATH.
    assert d.feed(b"\r\nNO CAR") == b"\r\n> NO CAR"
    assert d.feed(b"RIER\r\n") == b""
    assert modem(d).state is ModemState.GUARD
    assert d.tick(d.now + GUARD) == b"+++"
    # Already in command mode: no OK comes, so after the escape wait it hangs up anyway.
    assert d.tick(modem(d).next_deadline() or 0.0) == b"\rATH\r"
    d.feed(OK)
    d.feed(OK)
    d.feed(OK)
    d.feed(OK)
    assert modem(d).state is ModemState.IDLE
    assert call(d) == b"kvmswitchd serial console\r\nlogin: "
    assert d.feed(b"port 3\rx\r") == b"port 3\r\npassword: \r\nERR login failed\r\nlogin: "
    assert d.switch.executed() == []


def test_an_idle_caller_is_hung_up() -> None:
    d = modem_driver(idle_timeout=60.0)
    ready(d)
    call(d)
    d.feed(b"alice\rsecret\r")
    assert modem(d).next_deadline() == d.now + 60.0
    assert d.tick(d.now + 60.0) == b"\r\nidle timeout\r\n"
    assert modem(d).state is ModemState.GUARD


def test_a_silent_modem_is_retried() -> None:
    d = modem_driver()
    d.start()
    assert d.tick(d.now + INIT_TIMEOUT) == b""
    assert modem(d).state is ModemState.RETRY
    assert d.notices[-1].kind is EventKind.MODEM
    assert d.tick(d.now + INIT_RETRY) == b"ATZ\r"


def test_an_init_error_is_reported_and_init_goes_on() -> None:
    d = modem_driver()
    d.start()
    assert d.feed(b"\r\nERROR\r\n") == b"ATE0\r"
    assert d.notices[-1].detail == "modem rejected ATZ"


def test_ring_without_connect_returns_to_idle() -> None:
    d = modem_driver()
    ready(d)
    d.feed(b"\r\nRING\r\n")
    d.tick(modem(d).next_deadline() or 0.0)
    assert modem(d).state is ModemState.IDLE


def test_numeric_result_codes_are_understood() -> None:
    d = modem_driver()
    d.start()
    d.feed(b"0\r")
    d.feed(b"0\r")
    d.feed(b"0\r")
    d.feed(b"2\r")
    d.feed(b"1\r")
    assert modem(d).state is ModemState.ONLINE_DATA


def test_a_completion_from_a_finished_call_is_dropped() -> None:
    throttle = LoginThrottle()
    d = Driver(
        lambda: ModemLine(
            lambda: TextDialect(channel="m", throttle=throttle, echo=False), guard=GUARD
        ),
        auto=False,
    )
    ready(d)
    call(d)
    d.feed(b"port 2\r")
    assert len(d.pending) == 1
    d.feed(b"NO CARRIER\r\n")
    assert d.finish() == b""  # the switch happened, but nobody is there to be told
    assert d.switch.executed() == [SwitchTo("2")]


def test_a_caller_who_loses_carrier_gives_the_aten_lease_back() -> None:
    throttle = LoginThrottle()
    d = Driver(
        lambda: ModemLine(
            lambda: AtenDialect(channel="modem0", throttle=throttle, login_required=True),
            guard=GUARD,
        )
    )
    ready(d)
    call(d)
    assert d.feed(b"login u alice p secret\r\nopen\r\n") == b"Command OK\r\n" * 2
    d.feed(b"\r\nNO CARRIER\r\n")
    assert [r.command for r in d.requests if isinstance(r, Execute)][-1] == ReleaseLease(
        "session ended"
    )
    assert modem(d).hang_up(d.now) == []  # nobody is on the line any more
