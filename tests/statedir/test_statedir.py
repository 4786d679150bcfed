"""StateDir: resolved once, private, one daemon at a time, planted links refused."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from kvmswitchd.errors import StateDirError, StateDirLockedError
from kvmswitchd.statedir import LOCK_FILE, StateDir, clean_temp_files, read_nofollow


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_relative_path_is_made_absolute_once_whatever_the_cwd_does_later(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    state = StateDir("rel/state")
    monkeypatch.chdir("/")
    assert state.path == tmp_path / "rel" / "state"
    state.acquire()
    try:
        assert (tmp_path / "rel" / "state" / LOCK_FILE).exists()
    finally:
        state.release()


def test_the_directory_is_created_0700_and_a_looser_one_is_tightened(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fresh = StateDir(tmp_path / "fresh")
    fresh.acquire()
    fresh.release()
    assert mode(tmp_path / "fresh") == 0o700
    (tmp_path / "loose").mkdir()
    os.chmod(tmp_path / "loose", 0o777)
    loose = StateDir(tmp_path / "loose")
    loose.acquire()
    loose.release()
    assert mode(tmp_path / "loose") == 0o700
    assert "was mode 0777; tightened to 0700" in caplog.text


def test_with_a_log_group_the_directory_is_0710_and_owned_by_it(tmp_path: Path) -> None:
    state = StateDir(tmp_path / "s", group=os.getgid())
    state.acquire()
    state.release()
    st = (tmp_path / "s").stat()
    assert (stat.S_IMODE(st.st_mode), st.st_gid) == (0o710, os.getgid())


def test_a_second_holder_is_refused_with_the_first_one_s_pid_until_it_releases(
    tmp_path: Path,
) -> None:
    first = StateDir(tmp_path)
    first.acquire()
    assert (tmp_path / LOCK_FILE).read_text() == f"{os.getpid()}\n"
    assert mode(tmp_path / LOCK_FILE) == 0o600
    second = StateDir(tmp_path)
    with pytest.raises(StateDirLockedError) as refused:
        second.acquire()
    assert refused.value.pid == os.getpid()
    assert f"in use by another kvmswitchd (PID {os.getpid()})" in str(refused.value)
    assert not second.locked
    first.release()
    second.acquire()
    assert second.locked
    second.release()


def test_a_refused_second_holder_removes_no_temp_file_of_the_first(tmp_path: Path) -> None:
    first = StateDir(tmp_path)
    first.acquire()
    (tmp_path / ".tmp-state.json.inflight").write_bytes(b"being written")
    with pytest.raises(StateDirLockedError):
        StateDir(tmp_path).acquire()
    assert (tmp_path / ".tmp-state.json.inflight").exists()
    first.release()


def test_taking_the_lock_cleans_up_after_a_crashed_writer(tmp_path: Path) -> None:
    (tmp_path / ".tmp-users.json.abc").write_bytes(b"torn")
    (tmp_path / f".state.json.tmp-{12345}").write_bytes(b"torn, by an older version")
    (tmp_path / "state.json").write_bytes(b"{}")
    state = StateDir(tmp_path)
    state.acquire()
    state.release()
    assert sorted(p.name for p in tmp_path.iterdir()) == [LOCK_FILE, "state.json"]


def test_a_symlink_planted_for_the_lock_file_is_refused_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious")
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / LOCK_FILE).symlink_to(victim)
    with pytest.raises(StateDirError, match="symbolic link"):
        StateDir(tmp_path / "s").acquire()
    assert victim.read_text() == "precious"


def test_a_state_dir_path_that_is_a_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(StateDirError, match="cannot create the state directory"):
        StateDir(tmp_path / "file").acquire()


def test_reads_refuse_symlinks_and_fifos_and_stop_past_the_cap(tmp_path: Path) -> None:
    (tmp_path / "big").write_bytes(b"x" * 1000)
    assert len(read_nofollow(tmp_path / "big", 100)) == 101  # the caller sees "over"
    (tmp_path / "link").symlink_to(tmp_path / "big")
    with pytest.raises(StateDirError, match="symbolic link"):
        read_nofollow(tmp_path / "link", 100)
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(StateDirError, match="not a regular file"):
        read_nofollow(tmp_path / "fifo", 100)
    with pytest.raises(FileNotFoundError):
        read_nofollow(tmp_path / "missing", 100)
    assert clean_temp_files(tmp_path / "missing") == []
