"""Helpers for the video tests: real-monitor dumps and the edid-decode oracle."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import require_tool
from video import parse_blob

DATA = Path(__file__).parent / "data"
REAL_EDIDS = ("dell-u2212hm", "lg-ultra-hd", "dell-d1918h", "benq-fp937s")


def real_edid(name: str) -> bytes:
    """A real monitor's EDID from tests/video/data (see the README there)."""
    return parse_blob((DATA / f"{name}.hex").read_text())


def edid_decode(*args: str) -> subprocess.CompletedProcess[str]:
    """Run Debian's edid-decode (skips the test if it is missing, fails in CI)."""
    tool = require_tool("edid-decode", "EDID conformity oracle")
    return subprocess.run([tool, *args], capture_output=True, text=True, check=False, timeout=30)


def edid_decode_file(tmp_path: Path, blob: bytes, *args: str) -> subprocess.CompletedProcess[str]:
    """edid-decode on ``blob`` written to a file (the Debian version wants a path)."""
    path = tmp_path / "edid.bin"
    path.write_bytes(blob)
    return edid_decode(*args, str(path))
