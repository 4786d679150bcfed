"""Shared test fixtures and the external-tool rule (skip locally, fail in CI).

In CI (``CI=true``) every skip is a failure, whatever raised it: ``require_tool``, a
``skipif`` marker, ``pytest.importorskip`` or ``pytest.skip`` at module level, in a
fixture or in a test. The two hooks below enforce it, so a skip added later cannot make
CI green while testing less. xfail is an expected failure, not a skip, and stays as it is.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Generator

import pytest
from hypothesis import HealthCheck, settings

# Property tests judge behaviour, not speed: on a loaded 2-core machine (CI, parallel work)
# input generation and examples are slow, and a health check failing on time says nothing
# about the code. Example counts stay the defaults.
settings.register_profile("kvmswitchd", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("kvmswitchd")


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require_tool(name: str, why: str = "") -> str:
    """Return the path of external tool ``name``; skip if missing, fail in CI (CI=true)."""
    path = shutil.which(name)
    if path is None:
        reason = f"external tool {name!r} is not installed" + (f" ({why})" if why else "")
        if in_ci():
            pytest.fail(f"{reason}; CI must install it (.ci/run)")
        pytest.skip(reason)
    return path


def require_module(name: str, why: str = "") -> None:
    """Skip (fail in CI) when an optional Python module can't be imported."""
    try:
        __import__(name)
    except ImportError as exc:
        reason = f"python module {name!r} unavailable: {exc}" + (f" ({why})" if why else "")
        if in_ci():
            pytest.fail(reason)
        pytest.skip(reason)


CI_SKIP_RULE = "a skipped test fails the run in CI (CI=true): install what it needs in .ci/run"


def _fail_skip_in_ci(report: pytest.TestReport | pytest.CollectReport) -> None:
    if not (in_ci() and report.skipped) or hasattr(report, "wasxfail"):
        return
    reason = report.longrepr
    if isinstance(reason, tuple):  # (path, line, "Skipped: why"), pytest's skip form
        reason = f"{reason[2]} ({reason[0]}:{reason[1]})"
    report.outcome = "failed"
    report.longrepr = f"{reason}\n{CI_SKIP_RULE}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Skips in setup (markers, fixtures), in the test body and in teardown."""
    report = yield
    _fail_skip_in_ci(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    """Skips while collecting: ``importorskip`` or ``pytest.skip(allow_module_level=True)``."""
    report = yield
    _fail_skip_in_ci(report)
    return report
