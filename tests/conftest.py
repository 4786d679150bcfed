"""Shared test fixtures and the external-tool rule (skip locally, fail in CI)."""

from __future__ import annotations

import os
import shutil

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
