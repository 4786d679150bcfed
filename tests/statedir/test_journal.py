"""The event log file: no-follow, private, rotation-safe, and noise can't flood it."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from kvmswitchd.core.noise import NoiseBudget, NoisePolicy
from kvmswitchd.errors import StateDirError
from kvmswitchd.journal import LOG_FILE, Journal


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def kinds_on_disk(directory: Path) -> list[str]:
    lines = (directory / LOG_FILE).read_text().splitlines()
    return [json.loads(line)["kind"] for line in lines]


def test_a_symlink_planted_for_the_event_log_is_refused_and_its_target_untouched(
    tmp_path: Path,
) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    state = tmp_path / "state"
    state.mkdir()
    (state / LOG_FILE).symlink_to(victim)
    journal = Journal(state, clock=Clock())
    with pytest.raises(StateDirError, match="symbolic link"):
        journal.open()
    assert victim.read_text() == "precious\n"


def test_a_symlink_planted_for_a_rotated_log_is_refused_at_start(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text('{"seq": 1, "time": 0, "kind": "forged", "source": "x"}\n')
    (tmp_path / f"{LOG_FILE}.1").symlink_to(victim)
    with pytest.raises(StateDirError, match="symbolic link"):
        Journal(tmp_path, clock=Clock()).open()


def test_rotation_moves_a_planted_symlink_aside_without_writing_through_it(
    tmp_path: Path,
) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    state = tmp_path / "state"
    state.mkdir()
    journal = Journal(state, max_bytes=4096, keep=3, clock=Clock())
    journal.open()
    (state / f"{LOG_FILE}.2").symlink_to(victim)  # planted after start
    for i in range(200):
        journal.record("switch", "http", ("1",), None, {"i": i})
    journal.close()
    assert victim.read_text() == "precious\n"
    assert not (state / LOG_FILE).is_symlink()
    assert kinds_on_disk(state)  # still logging after every rotation


def test_the_event_log_is_private_and_an_older_looser_file_is_tightened(
    tmp_path: Path,
) -> None:
    (tmp_path / LOG_FILE).write_text("")
    os.chmod(tmp_path / LOG_FILE, 0o644)
    journal = Journal(tmp_path, max_bytes=4096, clock=Clock())
    journal.open()
    for i in range(100):
        journal.record("switch", "http", ("1",), None, {"i": i})
    journal.close()
    for path in tmp_path.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name


def test_with_a_log_group_the_files_are_0640_and_owned_by_it(tmp_path: Path) -> None:
    gid = os.getgid()
    journal = Journal(tmp_path, max_bytes=4096, clock=Clock(), group=gid)
    journal.open()
    for i in range(100):
        journal.record("switch", "http", ("1",), None, {"i": i})
    journal.close()
    assert (tmp_path / f"{LOG_FILE}.1").exists()
    for path in tmp_path.iterdir():
        st = path.stat()
        assert (stat.S_IMODE(st.st_mode), st.st_gid) == (0o640, gid), path.name


def test_failed_logins_past_the_budget_become_one_summary_and_switches_are_never_held_back(
    tmp_path: Path,
) -> None:
    clock = Clock()
    deadlines: list[float | None] = []
    policy = NoisePolicy(per_peer_burst=5, per_peer_rate=0.1, per_kind_burst=50, per_kind_rate=1)
    journal = Journal(tmp_path, clock=clock, noise=NoiseBudget(policy), rearm=deadlines.append)
    journal.open()
    for _ in range(1000):
        journal.record("login_failed", "http", (), None, {"remote": "203.0.113.9"})
        journal.record("switch", "http", ("2",), "alice", {})
    assert kinds_on_disk(tmp_path).count("login_failed") == 5
    assert kinds_on_disk(tmp_path).count("switch") == 1000
    assert deadlines[-1] == pytest.approx(clock.now + 10)  # one token back at 0.1/s
    clock.now += 10
    journal.handle_timer()
    journal.close()
    summary = json.loads((tmp_path / LOG_FILE).read_text().splitlines()[-1])
    assert summary["kind"] == "noise_summary"
    assert summary["detail"]["count"] == 995
    assert summary["detail"]["message"] == (
        "995 more login_failed from 203.0.113.9 in the last 10 s"
    )
    assert deadlines[-1] is None


def test_a_held_back_entry_is_not_shown_to_subscribers_or_queries(tmp_path: Path) -> None:
    policy = NoisePolicy(per_peer_burst=1, per_peer_rate=0.1)
    journal = Journal(tmp_path, clock=Clock(), noise=NoiseBudget(policy))
    journal.open()
    seen: list[str] = []
    journal.subscribe(lambda entry: seen.append(entry.kind))
    first = journal.record("refused", "http", (), "bob", {"reason": "port 3"})
    second = journal.record("refused", "http", (), "bob", {"reason": "port 3"})
    journal.close()
    assert (first.seq, second.seq) == (1, 0)
    assert seen == ["refused"]
    assert [e.kind for e in journal.recent(10)] == ["refused"]


def test_a_timer_that_fires_early_is_armed_again_for_the_same_summary(tmp_path: Path) -> None:
    clock = Clock()
    deadlines: list[float | None] = []
    policy = NoisePolicy(per_peer_burst=1, per_peer_rate=0.1)
    journal = Journal(tmp_path, clock=clock, noise=NoiseBudget(policy), rearm=deadlines.append)
    journal.open()
    for _ in range(3):
        journal.record("serial_refused", "serial", (), None, {"detail": "tcp0: 192.0.2.1"})
    assert deadlines == [pytest.approx(clock.now + 10)]  # told once, not once per entry
    clock.now += 9.99  # the loop's timer ran a little ahead of the wall clock
    journal.handle_timer()
    assert len(deadlines) == 2 and deadlines[-1] == pytest.approx(clock.now + 0.01)
    clock.now += 0.01
    journal.handle_timer()
    journal.close()
    assert deadlines[-1] is None
    assert kinds_on_disk(tmp_path) == ["serial_refused", "noise_summary"]
