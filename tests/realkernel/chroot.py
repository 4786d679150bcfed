"""Run the host's Python inside the guest: the host's ``/`` is mounted read-only at
``/host`` over 9p, with the guest's own /proc, /sys, /dev and fresh tmpfs for /tmp and
/run, and ``chroot /host`` runs this very interpreter on this very checkout (same
absolute paths as on the host)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

MOUNTS = r"""
[ -d /host/usr ] || fail "the host's / is not mounted at /host"
mount -t proc proc /host/proc && mount -t sysfs sys /host/sys && mount -o bind /dev /host/dev \
  || fail "chroot mounts"
mount -t tmpfs tmpfs /host/tmp && mount -t tmpfs tmpfs /host/run || fail "tmpfs mounts"
mount -t configfs none /host/sys/kernel/config 2>/dev/null
"""


def python_in_guest(module: str, *args: str) -> str:
    """A shell line that runs ``python -m module args`` in the chroot (stdin: the console)."""
    argv = [sys.executable, "-m", module, *args]
    env = f"PYTHONPATH={shlex.quote(str(REPO))} PYTHONDONTWRITEBYTECODE=1 HOME=/tmp"
    return f"chroot /host env {env} {shlex.join(argv)}"
