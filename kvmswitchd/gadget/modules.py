"""Kernel modules: ``modprobe`` when the system has it (setup names what is missing when
it does not, or when the module is not there)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

MODPROBE_TIMEOUT = 30.0  # seconds; a module load that hangs longer is reported, not waited on


def modprobe(name: str) -> bool:
    """Load kernel module ``name`` if ``modprobe`` exists; True if it loaded (or was)."""
    tool = shutil.which("modprobe") or next(
        (p for p in ("/sbin/modprobe", "/usr/sbin/modprobe") if Path(p).exists()), None
    )
    if tool is None:
        return False
    try:
        done = subprocess.run(  # noqa: S603  # a fixed tool and a module name of ours
            [tool, "-q", name], capture_output=True, timeout=MODPROBE_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0
