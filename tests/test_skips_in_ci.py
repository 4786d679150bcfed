"""CI=true turns every skip into a failure (tests/conftest.py hooks); xfail stays xfail."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

# Inner runs load the project's hooks as a plugin, as the real conftest does.
CONFTEST = 'pytest_plugins = ["tests.conftest"]\n'
INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\n"
PASSING = "def test_ok():\n    pass\n"  # beside the skip: the rest of the run goes on
SKIPS = {
    "marker": """
import pytest

@pytest.mark.skipif(True, reason="no frobnicator")
def test_it():
    pass
""",
    "call": """
import pytest

def test_it():
    pytest.skip("no frobnicator")
""",
    "fixture": """
import pytest

@pytest.fixture
def tool():
    pytest.skip("no frobnicator")

def test_it(tool):
    pass
""",
    "importorskip": """
import pytest

frob = pytest.importorskip("no_such_module_frobnicator")

def test_it():
    pass
""",
    "module_level": """
import pytest

pytest.skip("no frobnicator", allow_module_level=True)

def test_it():
    pass
""",
}


@pytest.mark.parametrize("how", sorted(SKIPS))
def test_a_skipped_test_fails_the_run_under_ci(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makeini(INI)
    pytester.makepyfile(test_skipping=SKIPS[how], test_passing=PASSING)
    monkeypatch.setenv("CI", "true")
    result = pytester.runpytest("-p", "no:cacheprovider")
    assert result.ret != pytest.ExitCode.OK
    outcomes = result.parseoutcomes()
    assert "skipped" not in outcomes  # (a skip while collecting stops the run as an error)
    assert outcomes.get("failed", 0) + outcomes.get("errors", 0) == 1
    result.stdout.fnmatch_lines(["*a skipped test fails the run in CI*"])


@pytest.mark.parametrize("how", sorted(SKIPS))
def test_without_ci_a_skip_is_only_a_skip(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makeini(INI)
    pytester.makepyfile(test_skipping=SKIPS[how], test_passing=PASSING)
    monkeypatch.delenv("CI", raising=False)
    result = pytester.runpytest("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.OK
    assert result.parseoutcomes() == {"skipped": 1, "passed": 1}


def test_xfail_is_not_a_skip_under_ci(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makeini(INI)
    pytester.makepyfile(
        test_xfailing="""
import pytest

@pytest.mark.xfail(reason="known bug")
def test_known():
    assert False

@pytest.mark.xfail(run=False, reason="would hang")
def test_not_run():
    pass

def test_imperative():
    pytest.xfail("known bug")
"""
    )
    monkeypatch.setenv("CI", "true")
    result = pytester.runpytest("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.OK
    assert result.parseoutcomes() == {"xfailed": 3}
