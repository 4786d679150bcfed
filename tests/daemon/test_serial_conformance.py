"""The dialect conformance tables of docs/serial-dialects.md, run against the daemon.

Each dialect section's table is a session on a fresh 4-port unit: every row's request
is sent (with CR LF) and its reply must come back byte for byte, over a real pty (a
pyserial client on the symlink) and over TCP on 127.0.0.1 (after a login, which TCP
endpoints require). The doc is the test's input, so the two cannot drift apart.
"""

from __future__ import annotations

import asyncio
import codecs
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import serial_asyncio_fast

from kvmswitchd.core.commands import Origin, Source
from kvmswitchd.switchboard import Switchboard
from tests.daemon.conftest import start

DOC = Path(__file__).parents[2] / "docs" / "serial-dialects.md"
WAIT = 10.0
ROOT_PASSWORD = "long enough pw"
CELL = re.compile(r"((?:\\\||[^|])*)\|")  # one table cell; "\|" is a pipe inside it


@dataclass(frozen=True, slots=True)
class Row:
    request: bytes
    reply: bytes

    def __str__(self) -> str:
        return self.request.decode("latin-1")


def unescape(cell: str) -> bytes:
    """A table cell (one code span) → bytes: ``\\r``, ``\\n``, ``\\t``, ``\\xNN`` escapes."""
    text = cell.strip()
    if not (text.startswith("`") and text.endswith("`")):
        raise ValueError(f"expected a code span, got {cell!r}")
    raw = text[1:-1].replace("\\|", "|")
    return codecs.decode(raw, "unicode_escape").encode("latin-1")


def conformance_table(dialect: str) -> list[Row]:
    """The rows of the ``| Request | Reply |`` table in the ``## <dialect>`` section."""
    section = DOC.read_text(encoding="utf-8").split(f"\n## {dialect}\n", 1)[1].split("\n## ")[0]
    rows = []
    in_table = False
    for line in section.splitlines():
        if line.startswith("| Request | Reply |"):
            in_table = True
        elif in_table and line.startswith("| `"):
            cells = CELL.findall(line[1:])
            rows.append(Row(unescape(cells[0]), unescape(cells[1])))
        elif in_table and not line.startswith("|"):
            break
    return rows


@asynccontextmanager
async def unit(tmp_path: Path, endpoint: dict[str, Any]) -> AsyncIterator[Switchboard]:
    daemon, board = await start(
        tmp_path / "state",
        {"http": {"auth": True}, "serial": [endpoint], "switch": {"ports": 4}},
    )
    try:
        assert daemon.accounts is not None and daemon.setup_token is not None
        await daemon.accounts.setup(daemon.setup_token, "root", ROOT_PASSWORD, Origin(Source.HTTP))
        yield board
    finally:
        await daemon.stop()


async def read_exactly(reader: asyncio.StreamReader, expected: bytes) -> bytes:
    """What the peer sent, as many bytes as ``expected`` (then a short look for more)."""
    async with asyncio.timeout(WAIT):
        got = await reader.readexactly(len(expected)) if expected else b""
    try:
        async with asyncio.timeout(0.05):  # a reply longer than the doc says shows here
            got += await reader.read(1)
    except TimeoutError:
        pass
    return got


async def connect(
    board: Switchboard, transport: str, path: Path
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    if transport == "pty":
        return await serial_asyncio_fast.open_serial_connection(url=str(path), baudrate=19200)
    address = board.state()["serial"][0]["address"]
    host, _, port = address.rpartition(":")
    return await asyncio.open_connection(host, int(port))


async def log_in(dialect: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    async with asyncio.timeout(WAIT):
        if dialect == "ATEN":
            writer.write(f"login u root p {ROOT_PASSWORD}\r\n".encode())
            assert await reader.readuntil(b"\r\n") == b"Command OK\r\n"
        else:
            await reader.readuntil(b"login: ")
            writer.write(b"root\r\n")
            await reader.readuntil(b"password: ")
            writer.write(ROOT_PASSWORD.encode() + b"\r\n")
            assert await reader.readuntil(b"OK\r\n") == b"logged in as root\r\nOK\r\n"


CASES = [(d, t) for d in ("ATEN", "Text") for t in ("pty", "tcp")]


@pytest.mark.parametrize(("dialect", "transport"), CASES)
async def test_every_row_of_the_documented_table_is_byte_exact(
    tmp_path: Path, dialect: str, transport: str
) -> None:
    rows = conformance_table(dialect)
    assert len(rows) >= 20, "the table was not found, or lost rows"
    link = tmp_path / "ttyDOC"
    endpoint: dict[str, Any] = {
        "endpoint": f"pty:{link}" if transport == "pty" else "tcp://127.0.0.1:0",
        "dialect": dialect.lower(),
    }
    if dialect == "Text":
        endpoint["echo"] = False  # the table shows replies, not a terminal's echo
    async with unit(tmp_path, endpoint) as board:
        reader, writer = await connect(board, transport, link)
        try:
            if transport == "tcp":
                await log_in(dialect, reader, writer)
            for row in rows:
                writer.write(row.request + b"\r\n")
                assert await read_exactly(reader, row.reply) == row.reply, str(row)
        finally:
            writer.close()
