"""The client cores of the serial downstream, fed the bytes our own endpoints send: whole,
byte by byte, with garbage; and the pacing scheduler."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kvmswitchd.cascade.serial_client import (
    MAX_LINE,
    MAX_REPLY_LINES,
    AtenClient,
    Exchange,
    Reply,
    TesmartClient,
    TextClient,
)
from kvmswitchd.cascade.serial_config import parse_serial_cascade
from kvmswitchd.cascade.serial_pacing import Pacer
from kvmswitchd.core.ports import ALL_CHANNELS, Channel
from kvmswitchd.errors import ConfigError

EVERY = tuple((ch, (3,)) for ch in Channel)


def byte_by_byte(core: TesmartClient | AtenClient | TextClient, data: bytes) -> list[Reply]:
    return [reply for i in range(len(data)) for reply in core.receive(data[i : i + 1])]


def test_tesmart_requests_are_the_units_frames() -> None:
    client = TesmartClient()
    assert client.switch((3,), ALL_CHANNELS, False) == Exchange((bytes.fromhex("aabb030103ee"),))
    assert client.query() == Exchange((bytes.fromhex("aabb031000ee"),))


def test_tesmart_status_frames_are_replies_with_the_port_one_based_garbage_skipped() -> None:
    data = b"\x00\xaa\xaa\xbb\x03\x11\x02\xee" + b"junk\xaa\xbb" + bytes.fromhex("aabb031107ee")
    assert TesmartClient().receive(data) == [
        Reply(True, EVERY),
        Reply(True, tuple((ch, (8,)) for ch in Channel)),
    ]
    assert byte_by_byte(TesmartClient(), data) == TesmartClient().receive(data)


def test_tesmart_ignores_frames_that_are_not_status_and_a_bad_trailer() -> None:
    assert TesmartClient().receive(bytes.fromhex("aabb030201eeaabb031102ff")) == []


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=64), st.integers(0, 15), st.binary(max_size=64))
def test_tesmart_finds_a_status_frame_after_any_garbage_in_any_chunking(
    before: bytes, port: int, after: bytes
) -> None:
    client = TesmartClient()
    data = before.replace(b"\xaa", b"") + bytes.fromhex("aabb0311") + bytes((port, 0xEE))
    replies = byte_by_byte(client, data) + client.receive(after.replace(b"\xaa", b""))
    assert replies == [Reply(True, tuple((ch, (port + 1,)) for ch in Channel))]


def test_aten_switch_opens_the_link_and_always_closes_it() -> None:
    client = AtenClient()
    assert client.switch((2,), ALL_CHANNELS, False) == Exchange(
        (b"open\r\n", b"sw i02\r\n"), cleanup=(b"close\r\n",)
    )
    assert client.switch((12,), {Channel.USB}, False).requests[1] == b"sw i12 usb\r\n"


def test_aten_replies_end_at_the_verdict_and_status_names_the_ports() -> None:
    data = b"kvm i03\r\nvideo i03\r\nusb i01\r\nscan off\r\nCommand OK\r\ncommand incorrect\r\n"
    replies = AtenClient().receive(data)
    assert replies[1] == Reply(False, reason="Command incorrect")
    assert dict(replies[0].focus) == {Channel.KM: (3,), Channel.VIDEO: (3,), Channel.USB: (1,)}
    assert byte_by_byte(AtenClient(), data) == replies


def test_text_switch_names_the_whole_path_the_channels_and_force() -> None:
    client = TextClient()
    assert client.switch((2, 3), ALL_CHANNELS, False).requests == (b"switch 2.3\r\n",)
    assert client.switch((2,), {Channel.KM, Channel.AUDIO}, True).requests == (
        b"switch 2 km,audio force\r\n",
    )
    assert client.opening() is None
    assert TextClient("ops", "s3cret").opening() == Exchange((b"ops\r\ns3cret\r\n",))


def test_text_replies_skip_the_banner_echo_and_prompts() -> None:
    data = (
        b"kvmswitchd serial console\r\n> status\r\n"
        b'port 1 "Web" km\r\nport 2 "DB"\r\nfocus km=2.3 video=1 audio=1 usb=1\r\nscan off\r\n'
        b"OK\r\n> switch 9\r\nERR no port 9: this switch has ports 1..4\r\n> "
    )
    replies = TextClient().receive(data)
    assert replies[0].active == (2, 3)
    assert dict(replies[0].focus)[Channel.VIDEO] == (1,)
    assert replies[0].names == ((1, "Web"), (2, "DB"))
    assert replies[1] == Reply(False, reason="no port 9: this switch has ports 1..4")
    assert byte_by_byte(TextClient(), data) == replies


def test_text_login_prompts_without_a_line_end_do_not_hide_the_verdict() -> None:
    client = TextClient("root", "pw")
    greeting = b"kvmswitchd serial console\r\nlogin: password: "
    assert client.receive(greeting + b"ERR login failed\r\nlogin: ") == [
        Reply(False, reason="login failed")
    ]
    assert client.receive(b"password: logged in as root\r\nOK\r\n> ") == [Reply(True)]


def test_an_endless_line_or_reply_is_capped_and_the_verdict_still_ends_it() -> None:
    client = TextClient()
    assert client.receive(b"x" * (MAX_LINE * 4)) == []
    assert client.receive(b"\r\n" + b"line\r\n" * (MAX_REPLY_LINES * 3) + b"OK\r\n") == [
        Reply(True)
    ]
    assert client._kept == []


def test_the_pacer_holds_a_command_back_until_the_gap_has_passed() -> None:
    pacer = Pacer(1.0, poll=10.0)
    assert pacer.wait(5.0) == 0.0
    assert pacer.poll_deadline(5.0) == 5.0  # nothing read yet: poll at once
    pacer.sent(5.0)
    assert pacer.wait(5.25) == pytest.approx(0.75)
    assert pacer.wait(6.5) == 0.0
    assert pacer.poll_deadline(6.0) == 15.0
    assert Pacer(1.0, poll=None).poll_deadline(0.0) is None


@settings(max_examples=200, deadline=None)
@given(
    st.floats(0.0, 5.0),
    st.lists(st.floats(0.0, 10.0), min_size=1, max_size=20),
)
def test_commands_sent_when_the_pacer_says_are_never_closer_than_the_gap(
    gap: float, arrivals: list[float]
) -> None:
    pacer = Pacer(gap, poll=None)
    now, last = 0.0, None
    for pause in arrivals:
        now += pause  # the next command is asked for
        wait = pacer.wait(now)
        # exactly as long as the gap still needs, never longer: a late command goes at once
        assert wait == pytest.approx(0.0 if last is None else max(0.0, last + gap - now))
        now += wait
        pacer.sent(now)
        if last is not None:
            assert now - last >= gap - 1e-9
        last = now


@pytest.mark.parametrize(
    ("table", "key", "message"),
    [
        ({"device": "/dev/ttyUSB0", "ports": 4}, "p.dialect", '"tesmart", "aten" or "text"'),
        ({"dialect": "tesmart", "ports": 4}, "p.device", "tcp:HOST:PORT"),
        ({"dialect": "tesmart", "device": "ttyUSB0", "ports": 4}, "p.device", "absolute"),
        ({"dialect": "tesmart", "device": "tcp:host", "ports": 4}, "p.device", "port number"),
        ({"dialect": "tesmart", "device": "tcp:h:0", "ports": 4}, "p.device", "1..65535"),
        ({"dialect": "tesmart", "device": "tcp:-x-:5000", "ports": 4}, "p.device", "host name"),
        ({"dialect": "tesmart", "device": "tcp:h:5000", "ports": 4, "baud": 9600}, "p.baud", "tcp"),
        ({"dialect": "aten", "device": "/dev/ttyS0", "ports": 100}, "p.ports", "1..64"),
        ({"dialect": "tesmart", "device": "/dev/ttyS0", "ports": 4, "pacing": 60}, "p.pacing", "0..10"),
        ({"dialect": "tesmart", "device": "/dev/ttyS0", "ports": 4, "poll": 0.5}, "p.poll", "0 (never)"),
        ({"dialect": "tesmart", "device": "/dev/ttyS0", "ports": 4, "timeout": 0}, "p.timeout", "0.05..30"),
        ({"dialect": "aten", "device": "/dev/ttyS0", "ports": 4, "user": "x"}, "p.user", "only the text"),
        ({"dialect": "text", "device": "/dev/ttyS0", "ports": 4, "user": "a b", "password_file": "/x"}, "p.user", "without spaces"),
        ({"dialect": "text", "device": "/dev/ttyS0", "ports": 4, "user": "ops"}, "p.password_file", "absolute path"),
        ({"dialect": "text", "device": "/dev/ttyS0", "ports": 4, "speed": 1}, "p.speed", "unknown key"),
    ],
)  # fmt: skip
def test_a_bad_serial_table_names_its_key(table: dict[str, object], key: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_serial_cascade({"kind": "serial", **table}, "p")
    assert caught.value.path == key
    assert message in caught.value.message


def test_the_dialects_defaults_and_both_tcp_forms() -> None:
    tesmart = parse_serial_cascade(
        {"dialect": "tesmart", "device": "tcp:10.0.0.5:5000", "ports": 8}, "p"
    )
    assert (tesmart.host, tesmart.port, tesmart.path, tesmart.pacing, tesmart.timeout) == (
        "10.0.0.5", 5000, None, 1.0, 5.0,
    )  # fmt: skip
    aten = parse_serial_cascade(
        {"dialect": "aten", "device": "tcp://kvm.lan:23", "ports": 4, "poll": 0}, "p"
    )
    assert (aten.host, aten.baud, aten.poll) == ("kvm.lan", 19200, None)
    tty = parse_serial_cascade({"dialect": "text", "device": "/dev/ttyUSB1", "ports": 4}, "p")
    assert (tty.path, tty.baud, tty.pacing, tty.poll) == ("/dev/ttyUSB1", 9600, 0.0, 10.0)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=2048), st.sampled_from(["text", "aten"]))
def test_any_bytes_from_a_line_switch_never_raise_and_the_next_verdict_is_read(
    junk: bytes, dialect: str
) -> None:
    client = TextClient() if dialect == "text" else AtenClient()
    client.receive(junk)
    verdict = b"OK" if dialect == "text" else b"Command OK"
    assert client.receive(b"\r\n" + verdict + b"\r\n")[-1].ok
