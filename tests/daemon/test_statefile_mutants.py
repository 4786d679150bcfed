"""The state file (SPEC §3.7) at the edges mutation testing showed open: the write replaces
the file instead of rewriting it, a bad file is reported with its reason, and the saver
coalesces a burst of changes into one write and survives a failing disk."""

from __future__ import annotations

import asyncio
import json
import logging
import stat
import threading
from pathlib import Path
from typing import Any

import pytest

from kvmswitchd.statefile import MAX_STATE_BYTES, STATE_VERSION, StateFile, StateSaver


def test_a_save_replaces_the_file_so_a_reader_of_the_old_one_never_sees_a_mix(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.json"
    sf = StateFile(path)
    sf.save({"focus": {"km": "1"}})
    old = path.read_bytes()
    inode = path.stat().st_ino
    with path.open("rb") as reader:  # e.g. a backup in progress, or a crash mid-write
        sf.save({"focus": {"km": "2"}, "names": {"3": "x" * 10_000}})
        assert reader.read() == old  # written in place, this would be the new or torn data
    assert path.stat().st_ino != inode
    assert StateFile(path).load()["focus"] == {"km": "2"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]  # no temp left


def test_the_state_file_is_never_executable_or_writable_by_others(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    StateFile(path).save({})
    assert stat.S_IMODE(path.stat().st_mode) & 0o133 == 0


def test_the_state_dir_is_created_with_its_parents(tmp_path: Path) -> None:
    path = tmp_path / "var" / "lib" / "kvmswitchd" / "state.json"
    StateFile(path).save({"focus": {"km": "4"}})
    assert StateFile(path).load()["focus"] == {"km": "4"}


def test_the_same_state_always_gives_the_same_bytes(tmp_path: Path) -> None:
    # sorted keys: a restart or a backup diff shows only what changed
    a = StateFile.encode({"names": {"2": "b", "1": "a"}, "focus": {"km": "1"}})
    b = StateFile.encode({"focus": {"km": "1"}, "names": {"1": "a", "2": "b"}})
    assert a == b
    assert json.loads(a) == {"focus": {"km": "1"}, "names": {"1": "a", "2": "b"}, "version": 1}
    assert a.index(b'"focus"') < a.index(b'"names"') < a.index(b'"version"')


def test_a_good_or_missing_file_reports_no_problem(tmp_path: Path) -> None:
    missing = StateFile(tmp_path / "state.json")
    assert missing.load() == {}
    assert missing.problem is None
    missing.save({"focus": {"km": "2"}})
    good = StateFile(tmp_path / "state.json")
    assert good.load()["version"] == STATE_VERSION
    assert good.problem is None


def test_a_file_of_exactly_the_cap_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    head = b'{"version": 1, "pad": "'
    tail = b'"}'
    path.write_bytes(head + b"x" * (MAX_STATE_BYTES - len(head) - len(tail)) + tail)
    assert path.stat().st_size == MAX_STATE_BYTES
    sf = StateFile(path)
    assert sf.load()["version"] == 1
    assert sf.problem is None


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"[1, 2]", "(top level is not an object)"),
        (b'{"version": 99}', "(unknown state version 99)"),
        (b'{"focus": {}}', "(unknown state version None)"),
        (b" " * (MAX_STATE_BYTES + 1), "over 4194304"),  # names the cap
    ],
)
def test_an_unusable_file_is_reported_with_its_reason_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, content: bytes, reason: str
) -> None:
    path = tmp_path / "state.json"
    path.write_bytes(content)
    sf = StateFile(path)
    with caplog.at_level(logging.ERROR, logger="kvmswitchd.statefile"):
        assert sf.load() == {}
    assert sf.problem is not None
    assert reason in sf.problem
    assert str(path) in sf.problem
    assert [r.getMessage() for r in caplog.records] == [f"{sf.problem}; starting on defaults"]
    assert not path.exists()  # moved aside: the next save starts clean


class RecordingStateFile(StateFile):
    """A state file that records what is written (from the saver's worker thread)."""

    def __init__(self, path: Path, failures: int = 0) -> None:
        super().__init__(path)
        self.written: list[Any] = []
        self.failures = failures
        self.lock = threading.Lock()

    def write(self, data: bytes) -> None:
        with self.lock:
            if self.failures:
                self.failures -= 1
                raise OSError(28, "No space left on device")
            self.written.append(json.loads(data))


async def test_a_burst_of_changes_costs_one_write_of_the_latest_state(tmp_path: Path) -> None:
    sf = RecordingStateFile(tmp_path / "state.json")
    state = {"n": 0}
    saver = StateSaver(sf, lambda: dict(state), delay=0)
    for n in range(1, 6):
        state["n"] = n
        saver.mark_dirty()
    async with asyncio.timeout(10):  # a saver that never settles fails instead of hanging
        await saver.flush()
    assert [doc["n"] for doc in sf.written] == [5, 5]  # the burst's write, then flush's


async def test_flush_without_a_pending_change_writes_the_current_state(tmp_path: Path) -> None:
    sf = RecordingStateFile(tmp_path / "state.json")
    saver = StateSaver(sf, lambda: {"n": 7}, delay=0)
    await saver.flush()
    assert [doc["n"] for doc in sf.written] == [7]


async def test_a_failing_save_is_logged_and_the_next_change_is_saved(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sf = RecordingStateFile(tmp_path / "state.json", failures=1)
    state = {"n": 1}
    saver = StateSaver(sf, lambda: dict(state), delay=0)
    with caplog.at_level(logging.ERROR, logger="kvmswitchd.statefile"):
        saver.mark_dirty()
        async with asyncio.timeout(10):
            await saver.flush()  # waits for the failed save, then saves again
    assert [r.getMessage() for r in caplog.records] == [f"cannot save state to {sf.path}"]
    assert caplog.records[0].exc_info is not None
    state["n"] = 2
    saver.mark_dirty()
    async with asyncio.timeout(10):
        await saver.flush()
    assert [doc["n"] for doc in sf.written] == [1, 2, 2]
