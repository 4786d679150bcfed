"""Passwords are never echoed or logged on any serial path (issue 12, item 4).

Every session below is scanned whole: the bytes sent to the peer (also as a terminal
would show them, backspaces applied), every notice or event, and, for the whole daemon,
every log record, every event-log entry and every file in the state directory.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

import pytest
import serial_asyncio_fast

from kvmswitchd.core.commands import Origin, Source
from kvmswitchd.serial.aten import AtenDialect
from kvmswitchd.serial.channel import ChannelCore, EventKind
from kvmswitchd.serial.login import LoginThrottle
from kvmswitchd.serial.modem import ModemLine
from kvmswitchd.serial.text import TextDialect
from tests.daemon.conftest import start
from tests.serial.fakes import WAIT, Driver

PASSWORD = "hunter2"  # bob's password in tests.serial.fakes.USERS
WRONG = "Tr0ub4dor&3"
ERASED = "hunter3\b2"  # typed with a correction


def screen(data: bytes) -> bytes:
    """What a terminal shows: each backspace takes back the character before it."""
    out = bytearray()
    for byte in data:
        if byte == 0x08:
            if out:
                out.pop()
        else:
            out.append(byte)
    return bytes(out)


def assert_no_secret(sent: bytes, logged: list[str], secrets: tuple[str, ...]) -> None:
    for secret in secrets:
        plain = secret.replace("\b", "")
        shown = screen(sent)
        for needle in {plain, secret.split("\b")[-1], secret}:
            assert needle.encode() not in sent, (needle, sent)
        assert plain.encode() not in shown, (plain, shown)
        for line in logged:
            assert plain not in line and secret.split("\b")[0] not in line, (secret, line)


def text(*, echo: bool, login_required: bool) -> Callable[[LoginThrottle], ChannelCore]:
    return lambda throttle: TextDialect(
        channel="line", throttle=throttle, login_required=login_required, echo=echo
    )


def run(make: Callable[[], ChannelCore], inputs: list[bytes]) -> tuple[bytes, list[str]]:
    d = Driver(make)
    sent = d.start() + b"".join(d.feed(bytes((b,))) for chunk in inputs for b in chunk)
    return sent, [f"{n.kind} {n.detail}" for n in d.notices]


# Typed where a password goes: never on the line, never in a notice.
PASSWORD_POSITIONS = [
    [f"login bob {PASSWORD}\r".encode()],
    [f"login bob {WRONG}\r".encode()],
    [f"login bob {ERASED}\r".encode()],
    [b"login bob\r", f"{WRONG}\r".encode()],
    [b"login\r", b"bob\r", f"{PASSWORD}\r".encode()],
    [f"\tLOGIN   bob\t{WRONG} \r".encode()],
]


@pytest.mark.parametrize("echo", [True, False])
@pytest.mark.parametrize("inputs", PASSWORD_POSITIONS)
def test_text_never_echoes_or_reports_a_password(echo: bool, inputs: list[bytes]) -> None:
    throttle = LoginThrottle()
    sent, logged = run(lambda: text(echo=echo, login_required=False)(throttle), inputs)
    assert_no_secret(sent, logged, (PASSWORD, WRONG, ERASED))


def test_the_one_line_login_still_echoes_the_command_and_the_user_name() -> None:
    sent, _ = run(lambda: text(echo=True, login_required=False)(LoginThrottle()), [b"login bob x"])
    assert sent.endswith(b"login bob ")


def test_erasing_a_password_character_sends_no_erase_sequence() -> None:
    sent, _ = run(
        lambda: text(echo=True, login_required=False)(LoginThrottle()), [b"login bob ab\b\b\b"]
    )
    assert sent.endswith(b"login bob \b \b")  # the space after the name was echoed, so erased


@pytest.mark.parametrize("echo", [True, False])
def test_a_password_typed_at_the_login_prompt_is_not_reported(echo: bool) -> None:
    """People type the password into the user prompt; the failed login names nobody."""
    throttle = LoginThrottle()
    make = text(echo=echo, login_required=True)
    _, logged = run(lambda: make(throttle), [f"{PASSWORD}\r".encode(), b"x\r"])
    assert any(line.startswith(EventKind.LOGIN_FAILED) for line in logged)
    assert_no_secret(b"", logged, (PASSWORD,))


def aten(throttle: LoginThrottle, *, login_required: bool = True) -> ChannelCore:
    return AtenDialect(channel="aten", throttle=throttle, login_required=login_required)


@pytest.mark.parametrize(
    "line",
    [
        f"login u bob p {PASSWORD}",
        f"login u bob p{WRONG}",
        f"login u {PASSWORD} p {WRONG}",  # the password landed in the user word
        f"LOGIN U {WRONG} P x",
    ],
)
def test_aten_never_echoes_or_reports_a_password(line: str) -> None:
    throttle = LoginThrottle()
    sent, logged = run(lambda: aten(throttle), [line.encode() + b"\r\n"])
    assert_no_secret(sent, logged, (PASSWORD, WRONG))


def modem_line(dialect: Callable[[], ChannelCore]) -> ChannelCore:
    return ModemLine(dialect, init=("ATE0",), guard=0.0)


@pytest.mark.parametrize(
    ("dialect", "typed"),
    [
        ("text", [f"{PASSWORD}\r".encode(), f"{WRONG}\r".encode()]),
        ("text", [b"bob\r", f"{ERASED}\r".encode(), f"login bob {WRONG}\r".encode()]),
        ("aten", [f"login u {PASSWORD} p {WRONG}\r\n".encode()]),
    ],
)
def test_a_modem_caller_s_password_is_never_echoed_or_reported(
    dialect: str, typed: list[bytes]
) -> None:
    throttle = LoginThrottle()

    def make() -> ChannelCore:
        if dialect == "aten":
            return modem_line(lambda: aten(throttle))
        return modem_line(lambda: text(echo=True, login_required=True)(throttle))

    connect = [b"\r\nOK\r\n", b"\r\nRING\r\n\r\nCONNECT 9600\r\n"]
    sent, logged = run(make, connect + typed)
    assert b"kvmswitchd" in sent or dialect == "aten"
    secrets = (WRONG, ERASED) if dialect == "text" and typed[0] == b"bob\r" else (WRONG,)
    assert_no_secret(sent, logged, secrets)
    assert_no_secret(b"", logged, (PASSWORD,))
    assert any(line.startswith(EventKind.LOGIN_FAILED) for line in logged)


# -- the whole daemon: journal, event log file, log records, state files ---------------

ROOT_PASSWORD = "Correct-Horse-9-Battery"
GUESS = "S3cond-Guess"


async def read_until(reader: asyncio.StreamReader, token: bytes) -> bytes:
    async with asyncio.timeout(WAIT):
        return await reader.readuntil(token)


async def test_no_serial_path_of_the_daemon_leaks_a_password(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    link = tmp_path / "ttyKVM0"
    doc = {
        "http": {"auth": True},
        "serial": [
            {"endpoint": "tcp://127.0.0.1:0", "name": "lan"},
            {"endpoint": f"pty:{link}", "name": "local"},  # echo on, login optional
        ],
    }
    daemon, board = await start(tmp_path / "state", doc)
    sent = bytearray()
    try:
        assert daemon.accounts is not None and daemon.setup_token is not None
        await daemon.accounts.setup(daemon.setup_token, "root", ROOT_PASSWORD, Origin(Source.HTTP))
        host, _, port = board.state()["serial"][0]["address"].rpartition(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        sent += await read_until(reader, b"login: ")
        writer.write(f"{ROOT_PASSWORD}\r\n".encode())  # into the user prompt
        sent += await read_until(reader, b"password: ")
        writer.write(f"{WRONG}\r\n".encode())
        sent += await read_until(reader, b"login: ")
        writer.write(f"root\r\n{ROOT_PASSWORD}\r\nlogin root {WRONG}\r\n".encode())
        sent += await read_until(reader, b"ERR login failed\r\n")
        writer.close()

        local, line = await serial_asyncio_fast.open_serial_connection(url=str(link))
        sent += await read_until(local, b"> ")
        line.write(f"login root {WRONG}\r".encode())
        sent += await read_until(local, b"ERR login failed\r\n> ")
        line.write(f"login root {ROOT_PASSWORD}\rlogin\r".encode())
        sent += await read_until(local, b"login: ")
        line.write(f"{GUESS}\rnope\r".encode())  # into the user prompt (which echoes)
        sent += await read_until(local, b"ERR login failed\r\n> ")
        line.close()
        kinds = [e.kind for e in board.journal.recent(100)]
        assert kinds.count("serial_login_failed") == 4
        assert kinds.count("serial_login") == 2
    finally:
        await daemon.stop()
    logged = [record.getMessage() for record in caplog.records]
    logged += [repr(entry) for entry in board.journal.recent(1000)]
    logged += [
        path.read_bytes().decode("utf-8", "replace")
        for path in (tmp_path / "state").rglob("*")
        if path.is_file()
    ]
    assert_no_secret(bytes(sent), [], (ROOT_PASSWORD, WRONG))
    assert_no_secret(b"", logged, (ROOT_PASSWORD, WRONG, GUESS))
