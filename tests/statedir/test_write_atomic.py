"""write_atomic writes all or nothing: every step's failure keeps the previous file."""

from __future__ import annotations

import errno
import logging
import os
import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kvmswitchd.errors import StateDirError
from kvmswitchd.statedir import TEMP_PREFIX, clean_temp_files
from kvmswitchd.statefile import RealFileOps, StateFile, write_atomic

OLD = b'{"old": true}\n'
NEW = b'{"new": true, "padding": "' + b"x" * 5000 + b'"}\n'


class FaultyOps(RealFileOps):
    """The real operations, except that step ``fail`` raises (or misbehaves)."""

    def __init__(self, fail: str = "", *, chunk: int | None = None) -> None:
        self.fail = fail
        self.chunk = chunk  # every write accepts at most this many bytes
        self.temps: list[str] = []
        self.calls: list[str] = []

    def _step(self, name: str) -> None:
        self.calls.append(name)
        if name == self.fail:
            raise OSError(errno.EIO, f"injected failure in {name}")

    def mkstemp(self, directory: Path, prefix: str) -> tuple[int, str]:
        self._step("mkstemp")
        fd, name = super().mkstemp(directory, prefix)
        self.temps.append(name)
        return fd, name

    def fchmod(self, fd: int, mode: int) -> None:
        self._step("fchmod")
        super().fchmod(fd, mode)

    def write(self, fd: int, data: memoryview) -> int:
        self._step("write")
        if self.fail == "write-no-progress":
            return 0
        if self.fail == "write-after-some" and self.calls.count("write") > 1:
            raise OSError(errno.ENOSPC, "injected full disk")
        limit = self.chunk or (1000 if self.fail == "write-after-some" else len(data))
        return super().write(fd, data[:limit])

    def fsync(self, fd: int) -> None:
        self._step("fsync")
        super().fsync(fd)

    def pread(self, fd: int, size: int, offset: int) -> bytes:
        self._step("pread")
        data = super().pread(fd, size, offset)
        if self.fail == "pread-corrupt":
            return data[:-1] + b"?"
        return data

    def close(self, fd: int) -> None:
        self._step("close")
        super().close(fd)

    def replace(self, src: str, dst: Path) -> None:
        self._step("replace")
        super().replace(src, dst)

    def fsync_dir(self, directory: Path) -> None:
        self._step("fsync_dir")
        super().fsync_dir(directory)


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name != "state.json")


STEPS_BEFORE_RENAME = [
    "mkstemp",
    "fchmod",
    "write",
    "write-after-some",
    "write-no-progress",
    "fsync",
    "pread",
    "pread-corrupt",
    "close",
    "replace",
]


@pytest.mark.parametrize("step", STEPS_BEFORE_RENAME)
def test_a_failure_at_any_step_before_the_rename_keeps_the_old_file_and_no_temp(
    tmp_path: Path, step: str
) -> None:
    target = tmp_path / "state.json"
    target.write_bytes(OLD)
    ops = FaultyOps(step)
    with pytest.raises(OSError):  # noqa: PT011  # every injected fault is an OSError
        write_atomic(target, NEW, ops=ops)
    assert target.read_bytes() == OLD
    assert leftovers(tmp_path) == []
    assert step.split("-", maxsplit=1)[0] in ops.calls  # the fault really was reached


def test_a_failing_directory_fsync_after_the_rename_leaves_the_whole_new_file(
    tmp_path: Path,
) -> None:
    target = tmp_path / "state.json"
    target.write_bytes(OLD)
    with pytest.raises(OSError):  # noqa: PT011
        write_atomic(target, NEW, ops=FaultyOps("fsync_dir"))
    assert target.read_bytes() == NEW  # renamed already: complete, not torn
    assert leftovers(tmp_path) == []


@settings(max_examples=30, deadline=None)
@given(chunk=st.integers(min_value=1, max_value=len(NEW) + 10))
def test_short_writes_are_continued_until_every_byte_is_written(
    tmp_path_factory: pytest.TempPathFactory, chunk: int
) -> None:
    directory = tmp_path_factory.mktemp("short")
    target = directory / "state.json"
    write_atomic(target, NEW, ops=FaultyOps(chunk=chunk))
    assert target.read_bytes() == NEW
    assert leftovers(directory) == []


def test_the_steps_run_in_the_documented_order(tmp_path: Path) -> None:
    ops = FaultyOps()
    write_atomic(tmp_path / "state.json", b"{}", ops=ops)
    assert ops.calls == [
        "mkstemp", "fchmod", "write", "fsync", "pread", "close", "replace", "fsync_dir"
    ]  # fmt: skip


def test_files_are_private_by_default(tmp_path: Path) -> None:
    write_atomic(tmp_path / "state.json", b"{}")
    assert stat.S_IMODE((tmp_path / "state.json").stat().st_mode) == 0o600


def test_a_group_and_mode_can_be_given(tmp_path: Path) -> None:
    gid = os.getgid()
    write_atomic(tmp_path / "events", b"x", 0o640, group=gid)
    st_ = (tmp_path / "events").stat()
    assert (stat.S_IMODE(st_.st_mode), st_.st_gid) == (0o640, gid)


def test_symlinks_planted_at_the_old_predictable_temp_names_are_never_followed(
    tmp_path: Path,
) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"someone else's file")
    state = tmp_path / "state"
    state.mkdir()
    for name in (f".state.json.tmp-{os.getpid()}", f"{TEMP_PREFIX}state.json.", ".tmp"):
        (state / name).symlink_to(victim)
    StateFile(state / "state.json").save({"focus": {}})
    assert victim.read_bytes() == b"someone else's file"
    assert StateFile(state / "state.json").load()["focus"] == {}


def test_a_symlink_at_the_destination_is_replaced_not_written_through(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep")
    (tmp_path / "state.json").symlink_to(victim)
    write_atomic(tmp_path / "state.json", b"{}")
    assert victim.read_bytes() == b"keep"
    assert not (tmp_path / "state.json").is_symlink()


def test_leftover_temp_files_of_a_crashed_writer_are_removed_but_nothing_else(
    tmp_path: Path,
) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep")
    (tmp_path / f"{TEMP_PREFIX}state.json.abc123").write_bytes(b"torn")
    (tmp_path / f"{TEMP_PREFIX}users.json.x").symlink_to(victim)
    (tmp_path / "state.json").write_bytes(OLD)
    (tmp_path / ".tmp-dir").mkdir()
    removed = clean_temp_files(tmp_path)
    assert sorted(removed) == [f"{TEMP_PREFIX}state.json.abc123", f"{TEMP_PREFIX}users.json.x"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".tmp-dir", "state.json", "victim"]
    assert victim.read_bytes() == b"keep"


def test_a_state_file_that_is_a_symlink_is_refused_not_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_bytes(b'{"version": 1, "focus": {"km": "2"}}')
    (tmp_path / "state.json").symlink_to(secret)
    with pytest.raises(StateDirError, match="symbolic link"):
        StateFile(tmp_path / "state.json").load()


class UnremovableTempOps(FaultyOps):
    def unlink(self, path: str) -> None:
        raise OSError(errno.EROFS, "injected: cannot remove")


def test_when_even_the_cleanup_fails_the_original_error_is_the_one_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    target = tmp_path / "state.json"
    target.write_bytes(OLD)
    with pytest.raises(OSError, match="injected failure in fsync"):
        write_atomic(target, NEW, ops=UnremovableTempOps("fsync"))
    assert target.read_bytes() == OLD
    assert "cannot remove the temp file" in caplog.text
    # what is left carries our prefix: the next start's clean-up removes it
    [left] = leftovers(tmp_path)
    assert left.startswith(f"{TEMP_PREFIX}state.json.")
    assert clean_temp_files(tmp_path) == [left]


def test_a_configured_group_changes_the_group_and_leaves_the_owner_alone(tmp_path: Path) -> None:
    # fchown(fd, -1, gid): -1 keeps the owner. Running as root, any other uid would be
    # accepted silently and hand the daemon's file to another account.
    write_atomic(tmp_path / "events", b"x", 0o640, group=os.getgid())
    st_ = (tmp_path / "events").stat()
    assert (st_.st_uid, st_.st_gid) == (os.geteuid(), os.getgid())


def test_a_new_state_dir_is_created_private(tmp_path: Path) -> None:
    StateFile(tmp_path / "state" / "state.json").save({})
    assert stat.S_IMODE((tmp_path / "state").stat().st_mode) == 0o700


def test_a_write_that_makes_no_progress_fails_as_an_io_error_saying_so(tmp_path: Path) -> None:
    with pytest.raises(OSError, match="write made no progress") as caught:
        write_atomic(tmp_path / "state.json", NEW, ops=FaultyOps("write-no-progress"))
    assert (caught.value.errno, caught.value.strerror) == (errno.EIO, "write made no progress")


class ShortReadOps(FaultyOps):
    """The read-back returns ``cut`` bytes fewer than were written (a file cut short)."""

    def __init__(self, cut: int) -> None:
        super().__init__()
        self.cut = cut

    def pread(self, fd: int, size: int, offset: int) -> bytes:
        return super().pread(fd, size, offset)[: -self.cut]


def test_a_short_read_back_fails_as_an_io_error_naming_both_lengths(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    target.write_bytes(OLD)
    with pytest.raises(OSError, match="read-back mismatch") as caught:
        write_atomic(target, NEW, ops=ShortReadOps(7))
    message = f"read-back mismatch: wrote {len(NEW)} bytes, read {len(NEW) - 7} back"
    assert (caught.value.errno, caught.value.strerror) == (errno.EIO, message)
    assert target.read_bytes() == OLD
    assert leftovers(tmp_path) == []


class LongerFileOps(FaultyOps):
    """The read-back finds a byte more than was written (the file was not fresh)."""

    def pread(self, fd: int, size: int, offset: int) -> bytes:
        return super().pread(fd, size, offset) + b"!"


def test_a_read_back_longer_than_what_was_written_is_a_mismatch(tmp_path: Path) -> None:
    with pytest.raises(OSError, match=f"wrote {len(NEW)} bytes, read {len(NEW) + 1} back"):
        write_atomic(tmp_path / "state.json", NEW, ops=LongerFileOps())
    assert leftovers(tmp_path) == []


def test_a_temp_file_that_cannot_be_removed_is_logged_by_name_with_the_traceback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ops = UnremovableTempOps("fsync")
    with (
        caplog.at_level(logging.ERROR, logger="kvmswitchd.statefile"),
        pytest.raises(OSError, match="injected failure in fsync"),
    ):
        write_atomic(tmp_path / "state.json", NEW, ops=ops)
    [record] = caplog.records
    assert record.getMessage() == f"cannot remove the temp file {ops.temps[0]}"
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None and "cannot remove" in str(record.exc_info[1])


class VanishedTempOps(FaultyOps):
    def unlink(self, path: str) -> None:
        raise FileNotFoundError(errno.ENOENT, "already gone", path)


def test_a_temp_file_already_gone_at_clean_up_is_not_an_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG), pytest.raises(OSError, match="injected failure in fsync"):
        write_atomic(tmp_path / "state.json", NEW, ops=VanishedTempOps("fsync"))
    assert caplog.records == []
