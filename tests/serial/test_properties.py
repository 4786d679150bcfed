"""Hypothesis: garbage only ever yields errors or skips and the channel recovers; any
chunking of a byte stream gives the same replies and the same switches."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable

from hypothesis import example, given, settings
from hypothesis import strategies as st

from kvmswitchd.serial.aten import AtenDialect
from kvmswitchd.serial.channel import Action, ChannelCore
from kvmswitchd.serial.login import LoginThrottle
from kvmswitchd.serial.modem import ModemLine, ModemState
from kvmswitchd.serial.tesmart import TesmartDialect
from kvmswitchd.serial.text import TextDialect
from tests.serial.fakes import Driver

# Every command word has letters, except "?" (help); Ctrl-D (EOF) ends a session.
NOT_COMMANDS = (
    frozenset(range(ord("A"), ord("Z") + 1))
    | frozenset(range(ord("a"), ord("z") + 1))
    | frozenset(b"?\x04")
)
no_letters = st.binary(max_size=400).map(lambda b: bytes(x for x in b if x not in NOT_COMMANDS))
garbage = st.binary(max_size=400)


def text(*, echo: bool = False) -> Callable[[], ChannelCore]:
    throttle = LoginThrottle()
    return lambda: TextDialect(channel="t", throttle=throttle, echo=echo)


def aten() -> ChannelCore:
    return AtenDialect(channel="a", throttle=LoginThrottle())


def tesmart() -> ChannelCore:
    return TesmartDialect(channel="s")


def modem() -> ChannelCore:
    throttle = LoginThrottle()
    return ModemLine(
        lambda: TextDialect(channel="m", throttle=throttle, login_required=True, echo=True)
    )


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


# -- garbage --------------------------------------------------------------------------


@given(no_letters)
def test_text_garbage_without_letters_gets_only_errors(data: bytes) -> None:
    d = Driver(text())
    lines = d.feed(data + b"\r").decode("utf-8", "replace").split("\r\n")
    assert all(line.startswith("ERR ") for line in lines if line)
    assert d.switch.executed() == []


@given(garbage)
def test_text_recovers_after_any_garbage(data: bytes) -> None:
    d = Driver(text(echo=True))
    d.start()
    d.feed(data)
    out = d.feed(b"\x03status\r")
    assert out.endswith(b"scan off\r\nOK\r\n> ") or out.endswith(b"scan on\r\nOK\r\n> ")


@given(no_letters)
def test_aten_garbage_without_letters_gets_only_incorrect(data: bytes) -> None:
    d = Driver(aten)
    out = d.feed(data + b"\r\n")
    assert out == b"Command incorrect\r\n" * out.count(b"\r\n")
    assert d.switch.executed() == []


@given(garbage)
def test_aten_recovers_after_any_garbage(data: bytes) -> None:
    d = Driver(aten)
    d.feed(data)
    assert d.feed(b"\r\nopen\r\nsw i02\r\n").endswith(b"Command OK\r\nCommand OK\r\n")
    assert d.switch.focus["km"] == "2"


@given(st.binary(max_size=400).map(lambda b: b.replace(b"\xaa", b"")))
def test_tesmart_bytes_without_a_frame_start_never_switch(data: bytes) -> None:
    d = Driver(tesmart)
    d.feed(data)
    assert d.switch.calls == []


@given(garbage)
def test_tesmart_recovers_after_any_garbage(data: bytes) -> None:
    d = Driver(tesmart)
    d.feed(data)
    unit = int(d.switch.focus["km"])
    assert d.feed(bytes.fromhex("AABB031000EE")).endswith(
        bytes((0xAA, 0xBB, 3, 0x11, unit - 1, 0xEE))
    )


@given(st.lists(garbage, max_size=5))
def test_modem_is_never_stuck_waiting_without_a_timer(noise: list[bytes]) -> None:
    d = Driver(modem)
    d.start()
    for chunk in noise:
        d.feed(chunk)
        line = d.core
        assert isinstance(line, ModemLine)
        waiting = line.state not in (ModemState.IDLE, ModemState.ONLINE_DATA)
        assert not waiting or line.next_deadline() is not None
        if (deadline := line.next_deadline()) is not None:
            d.tick(deadline)
    assert d.closes == []


# -- chunking -------------------------------------------------------------------------

TEXT_SCRIPT = (
    b"help\r\nport 2\rswitch 3 video\nstat\x7fus\r\n\x1b[Anext\rlog 3\r"
    b"login alice\r\nsecret\rname 4 Spare \xc3\xa9\rprev\r\n\r\nbogus\rquit\rstatus\r"
)
ATEN_SCRIPT = b"sw i02\r\nopen\r\nSW I03\r\nsw +\nsw i09\r\nclose\r\nopen\rsw -\r\n"
TESMART_SCRIPT = (
    bytes.fromhex(
        "AABB031000EE 00 AABB030103EE AA AABB030201EE AABB031000EE FF AABB030110EE".replace(" ", "")
    )
    + b"IP?;PT:5001;PT?;IP?GW:10.0.0.1\r\nMA:255.255.0.0GW?MA?"
    + bytes.fromhex("AABB030109EE AABB030200EE AABB031000EE".replace(" ", ""))
)
# (Not NO CARRIER: a carrier lost while a request is out rightly drops its reply, and
# whether it was out depends on timing. Its handling is tested in test_modem.py.)
MODEM_SCRIPT = (
    b"ATZ\r\r\nOK\r\n\r\nOK\r\n\r\nOK\r\n\r\nRING\r\n\r\nCONNECT 9600\r\n"
    b"alice\rsecret\rport 2\rstatus\rlogout\r\r\nOK\r\n"
)

scripts = st.sampled_from(
    [
        (text(echo=True), TEXT_SCRIPT),
        (text(echo=False), TEXT_SCRIPT),
        (aten, ATEN_SCRIPT),
        (tesmart, TESMART_SCRIPT),
        (modem, MODEM_SCRIPT),
    ]
)


@settings(max_examples=200)
@given(scripts, st.lists(st.integers(min_value=0), max_size=40))
def test_any_chunking_gives_the_same_replies(
    script: tuple[Callable[[], ChannelCore], bytes], cuts: list[int]
) -> None:
    make, data = script
    whole = Driver(make)
    whole.start()
    expected = whole.feed(data)
    chunked = Driver(make)
    chunked.start()
    assert chunked.feed_chunks(split(data, cuts)) == expected
    assert chunked.switch.calls == whole.switch.calls
    byte_by_byte = Driver(make)
    byte_by_byte.start()
    assert byte_by_byte.feed_chunks([data[i : i + 1] for i in range(len(data))]) == expected
    assert expected  # the script does produce replies


# -- the text dialect's run-at-once path -------------------------------------------------


def text_core(
    kind: type[TextDialect], throttle: LoginThrottle, echo: bool, telnet: bool, login: bool
) -> ChannelCore:
    return kind(channel="t", throttle=throttle, echo=echo, telnet=telnet, login_required=login)


class BytewiseText(TextDialect):
    """The reference: every byte through ``_byte``, never a run at once."""

    def _bytes(self, buf: bytearray, start: int, now: float, out: list[Action]) -> int:
        self._byte(buf[start], now, out)
        return 1


PIECES = [
    b"\r",
    b"\n",
    b"\r\n",
    b"\t",
    b"\x08",
    b"\x7f",
    b"\x03",
    b"\x1b[A",
    b"\xff\xfb\x01",
    b"\xff\xfa\x18",
    b"\xc3\xa9",
    b"\xff",
    b"\x00",
    b"login alice secret\r",
    b"login bob\r",
    b"alice\r",
    b"secret\r",
    b"port 2\r",
    b"name 3 ",
    b"x" * 120,
    b"y" * 300,
    b"status\r",
    b"logout\r",
]


@settings(max_examples=150)
@example(
    [b"y" * 300, b"\x08", b"\x08", b"\xc3\xa9", b"\r"], False, False, False, []
)  # still too long
@example(
    [b"y" * 300, b"\x7f", b"\xc3\xa9", b"x" * 120], True, True, False, [3]
)  # erased, echoes again
@given(
    st.lists(st.sampled_from(PIECES), max_size=40),
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.lists(st.integers(min_value=0), max_size=6),
)
def test_taking_plain_runs_at_once_changes_nothing(
    pieces: list[bytes], echo: bool, telnet: bool, login: bool, cuts: list[int]
) -> None:
    data = b"".join(pieces)
    runs: list[tuple[bytes, list[str], list[object]]] = []
    for kind in (TextDialect, BytewiseText):
        d = Driver(functools.partial(text_core, kind, LoginThrottle(), echo, telnet, login))
        sent = d.start() + d.feed_chunks(split(data, cuts))
        runs.append((sent, [n.detail for n in d.notices], [c for c, _ in d.switch.calls]))
    assert runs[0] == runs[1]
