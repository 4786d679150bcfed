"""Fixtures of the real-kernel suite: the cached guest image, a per-test folder whose
console log is kept under ``test-artifacts/realkernel/`` when the test fails, and a
timing summary at the end of the run (each guest's boot and run time)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from tests.conftest import in_ci, require_tool
from tests.realkernel import guest as builder
from tests.realkernel import vm
from tests.realkernel.guest import Image

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "realkernel"
TOOLS = ("qemu-system-x86_64", "busybox", "modprobe", "depmod", "cpio", "apt-get", "dpkg-deb")
_timings: list[tuple[str, float]] = []
_folders: dict[Path, str] = {}  # a test's folder → its name, for the boot timings


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "realkernel: boots the Debian kernel in a QEMU TCG guest (tests/realkernel)"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.realkernel)


@pytest.fixture(scope="session")
def guest_image() -> Image:
    for tool in TOOLS:
        require_tool(tool, "the real-kernel guest")
    try:
        return builder.ensure()
    except builder.GuestBuildError as exc:
        if in_ci():
            pytest.fail(f"the real-kernel guest cannot be built: {exc}")
        pytest.skip(f"the real-kernel guest cannot be built: {exc}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed:
        item.stash[_FAILED] = True
    return report


_FAILED = pytest.StashKey[bool]()


@pytest.fixture
def folder(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path]:
    """The test's scratch folder; on failure copied to test-artifacts/realkernel/<test>/."""
    started = time.monotonic()
    _folders[tmp_path] = request.node.name
    yield tmp_path
    _timings.append((request.node.nodeid, time.monotonic() - started))
    if request.node.stash.get(_FAILED, False):
        keep = ARTIFACTS / request.node.name
        shutil.rmtree(keep, ignore_errors=True)
        shutil.copytree(tmp_path, keep, ignore=shutil.ignore_patterns("*.img", "initrd.gz"))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _timings:
        return
    terminalreporter.section("real-kernel timings")
    for folder, booted, ran in vm.RUNS:
        boot = f"{booted:.1f} s" if booted is not None else "never"
        name = _folders.get(folder, folder.name)
        terminalreporter.write_line(f"guest of {name}: init after {boot}, QEMU ran {ran:.1f} s")
    for nodeid, seconds in _timings:
        terminalreporter.write_line(f"{seconds:7.1f} s  {nodeid}")
    terminalreporter.write_line(f"{sum(s for _, s in _timings):7.1f} s  total")
