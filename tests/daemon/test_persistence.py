from __future__ import annotations

import json
from pathlib import Path

from kvmswitchd.core.eventlog import LogQuery
from kvmswitchd.journal import Journal
from kvmswitchd.statefile import StateFile


def test_state_round_trips(tmp_path: Path) -> None:
    sf = StateFile(tmp_path / "state.json")
    sf.save({"focus": {"km": "3"}})
    assert StateFile(tmp_path / "state.json").load()["focus"] == {"km": "3"}
    assert not list(tmp_path.glob(".state.json.tmp*"))


def test_a_corrupt_state_file_is_moved_aside_and_reported(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text('{"focus": {"km": "3"')  # truncated
    sf = StateFile(path)
    assert sf.load() == {}
    assert sf.problem is not None and "unusable" in sf.problem
    assert not path.exists()
    assert (tmp_path / "state.json.corrupt-1").exists()


def test_a_state_file_of_another_version_is_not_trusted(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text(json.dumps({"version": 99}))
    assert StateFile(path).load() == {}


def test_the_journal_appends_rotates_and_reloads(tmp_path: Path) -> None:
    clock = iter(range(1000)).__next__
    journal = Journal(tmp_path, max_bytes=4096, keep=2, clock=lambda: float(clock()))
    journal.open()
    for i in range(100):
        journal.record("switch", "http", (str(i % 4 + 1),), None, {"i": i})
    journal.close()
    assert (tmp_path / "events.jsonl.1").exists()
    assert not (tmp_path / "events.jsonl.3").exists()
    again = Journal(tmp_path, max_bytes=4096, keep=2, clock=lambda: 0.0)
    again.open()
    entries = again.query(LogQuery(limit=1000))
    assert entries[-1].detail["i"] == 99
    seqs = [e.seq for e in entries]
    assert seqs == sorted(seqs)
    assert again.record("x", "system").seq == 101
    again.close()


def test_a_torn_journal_line_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "events.jsonl").write_text(
        '{"time": 1, "kind": "switch", "source": "http"}\n{"time": 2, "ki'
    )
    journal = Journal(tmp_path, clock=lambda: 0.0)
    journal.open()
    assert [e.kind for e in journal.query(LogQuery())] == ["switch"]
    journal.close()
