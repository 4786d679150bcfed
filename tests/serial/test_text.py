"""The text dialect core, driven synchronously against a fake switch."""

from __future__ import annotations

import pytest

from kvmswitchd.core.commands import GetLog, Origin, Rename, SetScan, Source, Step, SwitchTo
from kvmswitchd.serial.channel import Authenticate, EventKind
from kvmswitchd.serial.login import LoginThrottle
from kvmswitchd.serial.text import MAX_LINE, TextDialect
from tests.serial.fakes import Driver, FakeSwitch


def text_driver(
    *,
    echo: bool = False,
    telnet: bool = False,
    login_required: bool = False,
    idle_timeout: float | None = None,
    throttle: LoginThrottle | None = None,
    switch: FakeSwitch | None = None,
    auto: bool = True,
) -> Driver:
    shared = throttle or LoginThrottle()
    return Driver(
        lambda: TextDialect(
            channel="ttyKVM0",
            throttle=shared,
            login_required=login_required,
            echo=echo,
            telnet=telnet,
            idle_timeout=idle_timeout,
        ),
        switch,
        auto=auto,
    )


@pytest.mark.parametrize("ending", [b"\r", b"\n", b"\r\n"])
def test_port_command_switches_with_any_line_ending(ending: bytes) -> None:
    d = text_driver()
    assert d.feed(b"port 2" + ending) == b"switched to 2\r\nOK\r\n"
    assert d.switch.focus == dict.fromkeys(("km", "video", "audio", "usb"), "2")


def test_crlf_is_one_line_end_even_split_across_chunks() -> None:
    d = text_driver()
    assert d.feed(b"next\r") == b"switched to 2\r\nOK\r\n"
    assert d.feed(b"\nnext\r\n") == b"switched to 3\r\nOK\r\n"
    assert d.switch.executed() == [Step(1), Step(1)]


def test_switch_names_channels_and_force() -> None:
    d = text_driver()
    assert d.feed(b"SWITCH 3 video km force\r").endswith(b"OK\r\n")
    assert d.switch.executed() == [SwitchTo("3", ("video", "km"), True)]
    assert d.switch.focus == {"km": "3", "video": "3", "audio": "1", "usb": "1"}


def test_unknown_channel_is_an_error_without_a_switch() -> None:
    d = text_driver()
    assert d.feed(b"switch 3 keyboard\r") == (
        b"ERR unknown channel 'keyboard' (expected km, video, audio, usb)\r\n"
    )
    assert d.switch.executed() == []


def test_refused_switch_ends_in_err_with_the_reason() -> None:
    d = text_driver()
    assert d.feed(b"port 9\r") == b"ERR no port 9\r\n"


def test_status_lists_ports_focus_and_scan() -> None:
    d = text_driver()
    d.feed(b"switch 2 video\r")
    assert d.feed(b"status\r").decode().split("\r\n") == [
        'port 1 "Port 1" km audio usb',
        'port 2 "Port 2" video',
        'port 3 "Port 3"',
        'port 4 "Port 4"',
        "focus km=1 video=2 audio=1 usb=1",
        "scan off",
        "OK",
        "",
    ]


def test_next_prev_scan_and_name_reach_the_bus() -> None:
    d = text_driver()
    for line in (b"prev\r", b"scan on 2.5\r", b"scan off\r", b"name 2 Build  server\r"):
        assert d.feed(line).endswith(b"OK\r\n")
    assert d.switch.executed() == [
        Step(-1),
        SetScan(True, 2.5),
        SetScan(False),
        Rename("2", "Build  server"),
    ]
    assert d.switch.names["2"] == "Build  server"


@pytest.mark.parametrize(
    ("line", "reply"),
    [
        (b"scan maybe\r", b"ERR usage: scan on [SECONDS] | scan off\r\n"),
        (b"scan on -1\r", b"ERR scan dwell must be a positive number of seconds\r\n"),
        (b"scan on nan\r", b"ERR scan dwell must be a positive number of seconds\r\n"),
        (b"name 2\r", b"ERR usage: name N TEXT\r\n"),
        (b"port\r", b"ERR usage: port N\r\n"),
        (b"log 0\r", b"ERR log count must be 1..100, got '0'\r\n"),
        (b"log many\r", b"ERR log count must be 1..100, got 'many'\r\n"),
        (b"frobnicate\r", b"ERR unknown command 'frobnicate' (try help)\r\n"),
        (b"\x1b[31mzap\r", b"ERR unknown command 'zap' (try help)\r\n"),
    ],
)
def test_bad_commands_end_in_err(line: bytes, reply: bytes) -> None:
    d = text_driver()
    assert d.feed(line) == reply
    assert d.switch.executed() == []


def test_log_shows_the_last_n_events() -> None:
    d = text_driver()
    d.feed(b"port 2\rport 3\rport 4\r")
    assert d.feed(b"log 2\r") == (
        b"2023-11-14T22:13:21Z switch to 3\r\n2023-11-14T22:13:22Z switch to 4\r\nOK\r\n"
    )
    assert GetLog(2) in [c for c, _ in d.switch.calls]


def test_help_lists_commands_and_ends_ok() -> None:
    reply = text_driver().feed(b"help\r").decode()
    assert "switch N" in reply
    assert reply.endswith("OK\r\n")


TOO_LONG = b"ERR line too long (max 256 bytes), line discarded\r\n"


def test_an_over_long_line_is_announced_when_it_gets_too_long_and_the_next_line_works() -> None:
    d = text_driver()
    assert d.feed(b"x" * MAX_LINE) == b""
    assert d.feed(b"x") == TOO_LONG  # at once, not at the line end
    assert d.feed(b"x" * (MAX_LINE * 3) + b"\r") == b""  # the rest of it is discarded
    assert d.feed(b"port 2\r").endswith(b"OK\r\n")
    assert d.switch.executed() == [SwitchTo("2")]


def test_an_echoing_terminal_sees_the_error_on_its_own_line_and_a_fresh_prompt() -> None:
    d = text_driver(echo=True)
    d.start()
    typed = b"port " + b"9" * (MAX_LINE - 5)
    assert d.feed(typed) == typed
    assert d.feed(b"99\r") == b"\r\n" + TOO_LONG + b"> "
    assert d.feed(b"port 2\r") == b"port 2\r\nswitched to 2\r\nOK\r\n> "


def test_invalid_utf8_is_an_error() -> None:
    assert text_driver().feed(b"name 2 \xff\xfe\r") == (
        b"ERR invalid characters (expected UTF-8 text)\r\n"
    )


def test_utf8_names_round_trip() -> None:
    d = text_driver()
    assert d.feed("name 2 Büro\r".encode()).endswith(b"OK\r\n")
    assert d.switch.names["2"] == "Büro"


def test_echo_and_prompt_when_interactive() -> None:
    d = text_driver(echo=True)
    assert d.start() == b"kvmswitchd serial console\r\n> "
    assert d.feed(b"port 2\r") == b"port 2\r\nswitched to 2\r\nOK\r\n> "


def test_backspace_and_delete_erase_with_echo() -> None:
    d = text_driver(echo=True)
    assert d.feed(b"porx\x7ft 3\r") == b"porx\b \bt 3\r\nswitched to 3\r\nOK\r\n> "
    d.feed(b"port 4\x082\r")
    assert d.switch.focus["km"] == "2"


def test_backspace_erases_a_whole_utf8_character() -> None:
    d = text_driver()
    d.feed("name 2 Bü\x7fo\r".encode())
    assert d.switch.names["2"] == "Bo"


def test_ctrl_c_drops_the_line() -> None:
    d = text_driver(echo=True)
    assert d.feed(b"port 3\x03") == b"port 3^C\r\n> "
    assert d.feed(b"\r") == b"\r\n> "
    assert d.switch.executed() == []


def test_arrow_keys_are_ignored() -> None:
    d = text_driver(echo=True)
    assert d.feed(b"\x1b[Anext\x1bOB\r") == b"next\r\nswitched to 2\r\nOK\r\n> "


def test_commands_typed_while_one_runs_are_answered_in_order() -> None:
    d = text_driver(auto=False)
    assert d.feed(b"port 2\rport 3\rstatus\r") == b""
    assert len(d.pending) == 1
    assert d.finish() == b"switched to 2\r\nOK\r\n"
    assert d.finish() == b"switched to 3\r\nOK\r\n"
    assert d.finish().endswith(b"scan off\r\nOK\r\n")
    assert not d.pending


def test_switches_carry_the_serial_origin_and_the_logged_in_user() -> None:
    d = text_driver()
    d.feed(b"port 2\r")
    assert d.feed(b"login alice\rsecret\r") == b"password: logged in as alice\r\nOK\r\n"
    d.feed(b"port 3\r")
    origins = [o for c, o in d.switch.calls if isinstance(c, SwitchTo)]
    assert origins == [
        Origin(Source.SERIAL, "ttyKVM0", None),
        Origin(Source.SERIAL, "ttyKVM0", "alice"),
    ]


def test_password_is_not_echoed_nor_shown_in_the_request_repr() -> None:
    d = text_driver(echo=True)
    out = d.feed(b"login\ralice\rsecret\r")
    assert b"secret" not in out
    assert out == b"login\r\nlogin: alice\r\npassword: \r\nlogged in as alice\r\nOK\r\n> "
    (request,) = d.requests
    assert isinstance(request, Authenticate)
    assert "secret" not in repr(request)


def test_login_required_line_prompts_and_refuses_a_bad_password() -> None:
    d = text_driver(login_required=True)
    assert d.start() == b"kvmswitchd serial console\r\nlogin: "
    assert d.feed(b"alice\rwrong\r") == b"password: ERR login failed\r\nlogin: "
    assert d.feed(b"alice\rsecret\r") == b"password: logged in as alice\r\nOK\r\n"
    assert d.feed(b"port 2\r").endswith(b"OK\r\n")
    kinds = [n.kind for n in d.notices]
    assert kinds == [EventKind.LOGIN_FAILED, EventKind.LOGIN]


def test_nothing_runs_before_login_on_a_login_required_line() -> None:
    d = text_driver(login_required=True)
    d.start()
    assert d.feed(b"port 2\rx\r") == b"password: ERR login failed\r\nlogin: "
    assert d.switch.executed() == []


def test_three_failed_logins_end_the_session() -> None:
    d = text_driver(login_required=True)
    d.start()
    d.feed(b"a\rb\ra\rb\r")
    assert d.feed(b"a\rb\r") == b"password: ERR login failed\r\n" + (
        b"kvmswitchd serial console\r\nlogin: "
    )
    assert d.closes == ["too many failed logins"]


def test_failed_logins_back_off_exponentially_across_sessions() -> None:
    throttle = LoginThrottle()
    d = text_driver(login_required=True, throttle=throttle)
    d.start()
    d.feed(b"a\rb\ra\rb\ra\rb\r")  # three failures: the session ends, the throttle stays
    assert throttle.retry_after(d.now) == 2.0
    assert d.feed(b"alice\rsecret\r") == (
        b"password: ERR too many failed logins, retry in 2 s\r\nlogin: "
    )
    d.now += 2.0
    d.feed(b"alice\rnope\r")
    assert throttle.retry_after(d.now) == 4.0
    d.now += 4.0
    assert d.feed(b"alice\rsecret\r").endswith(b"OK\r\n")
    assert throttle.retry_after(d.now) == 0.0


def test_logout_on_a_login_required_line_ends_the_session() -> None:
    d = text_driver(login_required=True)
    d.start()
    d.feed(b"alice\rsecret\r")
    assert d.feed(b"logout\r") == b"bye\r\nOK\r\nkvmswitchd serial console\r\nlogin: "
    assert d.closes == ["logout"]
    assert isinstance(d.core, TextDialect)
    assert d.core.user is None


def test_logout_on_an_open_line_returns_to_exactly_the_line_s_own_actor() -> None:
    d = text_driver()
    d.feed(b"port 3\r")
    before = d.switch.calls[-1][1]
    d.feed(b"login alice secret\r")
    assert d.feed(b"logout\r") == b"OK\r\n"
    assert d.closes == []
    d.feed(b"port 2\r")
    assert d.switch.calls[-1][1] == before == Origin(Source.SERIAL, "ttyKVM0", None)


def test_quit_says_bye_and_closes() -> None:
    d = text_driver()
    assert d.feed(b"quit\r") == b"bye\r\nOK\r\n"
    assert d.closes == ["quit"]


def test_idle_timeout_ends_an_engaged_session() -> None:
    d = text_driver(idle_timeout=60.0)
    d.start()
    assert d.core.next_deadline() is None  # nothing typed yet: nothing to time out
    d.feed(b"login alice secret\r")
    assert d.core.next_deadline() == d.now + 60.0
    assert d.tick(d.now + 59.0) == b""
    assert d.tick(d.now + 1.0) == b"\r\nidle timeout\r\n"
    assert d.closes == ["idle timeout"]


def test_input_beyond_the_backlog_cap_is_dropped_and_reported() -> None:
    d = text_driver(auto=False)
    d.feed(b"port 2\r" + b"x" * 10_000)
    assert [n.kind for n in d.notices] == [EventKind.PROTOCOL]
    assert d.finish() == b"switched to 2\r\nOK\r\n" + TOO_LONG


def test_telnet_negotiation_and_cr_nul_are_skipped_on_tcp() -> None:
    d = text_driver(telnet=True)
    negotiation = bytes.fromhex("FFFD01 FFFB03 FFFA1801FFF0 FFF1".replace(" ", ""))
    assert d.feed(negotiation + b"port 2\r\x00next\r\x00") == (
        b"switched to 2\r\nOK\r\nswitched to 3\r\nOK\r\n"
    )


def test_an_unterminated_telnet_subnegotiation_swallows_only_a_little() -> None:
    d = text_driver(telnet=True)
    assert d.feed(bytes.fromhex("FFFA18") + b"x" * 100 + b"\rport 2\r").endswith(
        b"switched to 2\r\nOK\r\n"
    )


BANNER_LOGIN = b"kvmswitchd serial console\r\nlogin: "
BYE = b"bye\r\nOK\r\n"


@pytest.mark.parametrize(
    ("keys", "echoed"),
    [
        (b"quit\r", b""),
        (b"\x03", b"^C\r\n"),
        (b"\x04", b"^D\r\n"),
        (b"alice\r\x03", b"^C\r\n"),  # at the password: prompt too
        (b"alice\r\x04", b"^D\r\n"),
    ],
)
def test_quit_ctrl_c_and_ctrl_d_leave_a_required_login_prompt_and_end_the_session(
    keys: bytes, echoed: bytes
) -> None:
    d = text_driver(login_required=True, echo=True)
    assert d.start() == BANNER_LOGIN
    sent = d.feed(keys)
    assert sent.endswith(echoed + BYE + BANNER_LOGIN)  # the line's next session greets
    assert d.closes == ["quit"]
    assert d.switch.calls == [] and d.switch.logins == []


def test_ctrl_d_on_an_empty_command_line_ends_the_session_and_inside_a_line_does_nothing() -> None:
    d = text_driver(echo=True)
    d.start()
    assert d.feed(b"port 2\x04") == b"port 2"
    assert d.closes == []
    assert d.feed(b"\x15\x04") == b"^C\r\n> ^D\r\n" + BYE + b"kvmswitchd serial console\r\n> "
    assert d.closes == ["quit"]


def test_ctrl_c_or_ctrl_d_at_an_optional_login_prompt_goes_back_to_commands() -> None:
    d = text_driver(echo=True)
    d.start()
    assert d.feed(b"login\r") == b"login\r\nlogin: "
    assert d.feed(b"\x04") == b"^C\r\n> "
    assert d.feed(b"login\rquit\r") == b"login\r\nlogin: quit\r\n" + BYE + (
        b"kvmswitchd serial console\r\n> "
    )
    assert d.closes == ["quit"]


def test_help_shows_every_command_with_its_syntax() -> None:
    reply = text_driver().feed(b"help\r").decode()
    for syntax in (
        "status",
        "port N",
        "switch N [km|video|audio|usb[,...]] [force]",
        "switch 2 km,audio",
        "next",
        "prev",
        "scan on [SECONDS] | scan off",
        "log [COUNT]",
        "name N TEXT",
        "login [USER [PASSWORD]]",
        "logout",
        "quit",
    ):
        assert syntax in reply
    assert reply.endswith("OK\r\n")


def test_channels_may_be_a_comma_list_as_help_shows() -> None:
    d = text_driver()
    assert d.feed(b"switch 2 km,audio\r").endswith(b"OK\r\n")
    assert d.feed(b"switch 3 video, usb force\r").endswith(b"OK\r\n")
    assert d.switch.executed() == [
        SwitchTo("2", ("km", "audio")),
        SwitchTo("3", ("video", "usb"), force=True),
    ]
