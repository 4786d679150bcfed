"""The fifo: console source against a real named pipe written by the test."""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kvmswitchd.console.events import (
    EV_KEY,
    EV_REL,
    EV_SYN,
    REL_X,
    SYN_REPORT,
    KeyChange,
    Motion,
    encode_record,
)
from kvmswitchd.console.fifo import FifoSource
from kvmswitchd.errors import DeviceError
from tests.console.sinks import TIMEOUT, RecordingSink

KEY_A, KEY_B = 30, 48
SYN = encode_record(EV_SYN, SYN_REPORT, 0)


def press(code: int) -> bytes:
    return encode_record(EV_KEY, code, 1) + SYN


def release(code: int) -> bytes:
    return encode_record(EV_KEY, code, 0) + SYN


class Writer:
    """A program writing to the pipe (opened after the source, so it never blocks)."""

    def __init__(self, path: Path) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)

    def write(self, data: bytes) -> None:
        os.write(self.fd, data)

    def close(self) -> None:
        os.close(self.fd)


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


class Warnings:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.event = asyncio.Event()

    def __call__(self, line: str) -> None:
        self.lines.append(line)
        self.event.set()


@pytest.fixture
def warnings() -> Warnings:
    return Warnings()


@pytest.fixture
async def fifo(
    tmp_path: Path, sink: RecordingSink, warnings: Warnings
) -> AsyncIterator[tuple[FifoSource, Path]]:
    path = tmp_path / "console"
    source = FifoSource(str(path), sink, clock=lambda: 42.0, warn=warnings)
    source.start()
    yield source, path
    source.close()


async def test_the_pipe_is_created_with_mode_0660(fifo: tuple[FifoSource, Path]) -> None:
    _, path = fifo
    mode = path.stat().st_mode
    assert stat.S_ISFIFO(mode)
    assert stat.S_IMODE(mode) == 0o660


async def test_a_written_key_press_reaches_the_sink(
    fifo: tuple[FifoSource, Path], sink: RecordingSink
) -> None:
    _, path = fifo
    writer = Writer(path)
    writer.write(press(KEY_A))
    assert await sink.next() == (f"fifo:{path}", [KeyChange(KEY_A, True)], 42.0)
    writer.close()


async def test_a_record_split_across_writes_is_reassembled(
    fifo: tuple[FifoSource, Path], sink: RecordingSink
) -> None:
    _, path = fifo
    writer = Writer(path)
    data = encode_record(EV_REL, REL_X, 5) + SYN
    writer.write(data[:10])
    writer.write(data[10:31])
    writer.write(data[31:])
    assert await sink.next_batch() == [Motion(5, 0)]
    writer.close()


async def test_writers_can_come_and_go_and_a_partial_record_is_dropped(
    fifo: tuple[FifoSource, Path], sink: RecordingSink, warnings: Warnings
) -> None:
    _, path = fifo
    first = Writer(path)
    first.write(press(KEY_A) + b"\x01\x02\x03")  # leaves a partial record behind
    assert await sink.next_batch() == [KeyChange(KEY_A, True)]
    first.close()
    await asyncio.wait_for(warnings.event.wait(), TIMEOUT)  # the source saw the EOF
    assert warnings.lines == [f"fifo:{path}: writer left a partial record (3 bytes); dropped"]
    second = Writer(path)  # the source reopened the pipe: the new stream is aligned
    second.write(release(KEY_A))
    assert await sink.next_batch() == [KeyChange(KEY_A, False)]
    second.close()
    third = Writer(path)
    third.write(press(KEY_B))
    assert await sink.next_batch() == [KeyChange(KEY_B, True)]
    third.close()


async def test_events_without_syn_are_delivered_one_by_one(
    fifo: tuple[FifoSource, Path], sink: RecordingSink
) -> None:
    _, path = fifo
    writer = Writer(path)
    writer.write(encode_record(EV_KEY, KEY_B, 1) + encode_record(EV_KEY, KEY_B, 0))
    assert await sink.next_batch() == [KeyChange(KEY_B, True)]
    assert await sink.next_batch() == [KeyChange(KEY_B, False)]
    writer.close()


async def test_garbage_events_are_ignored_with_a_warning(
    fifo: tuple[FifoSource, Path], sink: RecordingSink, warnings: Warnings
) -> None:
    _, path = fifo
    writer = Writer(path)
    writer.write(encode_record(0xBEEF, 0xFFFF, -1) * 3 + press(KEY_A))
    assert await sink.next_batch() == [KeyChange(KEY_A, True)]
    assert warnings.lines == [f"fifo:{path}: ignored 3 malformed input event(s)"]
    writer.close()


async def test_closing_the_source_releases_what_writers_held(
    tmp_path: Path, sink: RecordingSink
) -> None:
    path = tmp_path / "console"
    source = FifoSource(str(path), sink, clock=lambda: 1.0)
    source.start()
    writer = Writer(path)
    writer.write(press(KEY_A))
    assert await sink.next_batch() == [KeyChange(KEY_A, True)]
    source.close()
    assert sink.all[-1][1] == [KeyChange(KEY_A, False)]
    writer.close()


async def test_an_existing_fifo_is_reused(tmp_path: Path, sink: RecordingSink) -> None:
    path = tmp_path / "console"
    os.mkfifo(path, 0o600)
    source = FifoSource(str(path), sink)
    source.start()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # left as the admin made it
    source.close()


async def test_a_path_that_is_not_a_fifo_is_refused(tmp_path: Path, sink: RecordingSink) -> None:
    path = tmp_path / "console"
    path.write_text("not a pipe")
    with pytest.raises(DeviceError, match="not a FIFO"):
        FifoSource(str(path), sink).start()


async def test_a_missing_directory_is_a_clear_device_error(
    tmp_path: Path, sink: RecordingSink
) -> None:
    with pytest.raises(DeviceError, match="cannot create console fifo"):
        FifoSource(str(tmp_path / "nope" / "console"), sink).start()
