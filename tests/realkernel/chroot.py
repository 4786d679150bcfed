"""Run the host's Python inside the guest: the host's ``/`` is mounted read-only at
``/host`` over 9p, with the guest's own /proc, /sys, /dev and fresh tmpfs for /tmp and
/run, and ``chroot /host`` runs this very interpreter on this very checkout (same
absolute paths as on the host)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

SCRATCH = ("/tmp", "/run")  # given fresh tmpfs in the guest (the host's / is read-only)


def _mounts(needed: list[Path]) -> str:
    """The chroot's mounts. Paths the chroot needs that a scratch tmpfs would hide (a
    checkout or virtualenv under /tmp: CI's clean clones often live there) are bound back
    from the host's tree, held at /keep before the tmpfs covers it."""
    hold: list[str] = []
    back: list[str] = []
    kept: list[Path] = []
    for path in sorted(set(needed)):
        top = next((s for s in SCRATCH if path.is_relative_to(s)), None)
        if top is None or any(path.is_relative_to(h) for h in kept):
            continue
        kept.append(path)
        held = f"/keep{path}"
        hold.append(f'mkdir -p {held} && mount -o bind /host{path} {held} || fail "hold {path}"')
        back.append(
            f'mkdir -p /host{path} && mount -o bind {held} /host{path} || fail "bind {path}"'
        )
    return "\n".join(
        [
            '[ -d /host/usr ] || fail "the host\'s / is not mounted at /host"',
            "mount -t proc proc /host/proc && mount -t sysfs sys /host/sys"
            ' && mount -o bind /dev /host/dev || fail "chroot mounts"',
            *hold,
            'mount -t tmpfs tmpfs /host/tmp && mount -t tmpfs tmpfs /host/run || fail "tmpfs mounts"',
            *back,
            "mount -t configfs none /host/sys/kernel/config 2>/dev/null",
            "",
        ]
    )


MOUNTS = _mounts([REPO, Path(sys.prefix).resolve(), Path(sys.executable).resolve().parent])


def python_in_guest(module: str, *args: str) -> str:
    """A shell line that runs ``python -m module args`` in the chroot (stdin: the console)."""
    argv = [sys.executable, "-m", module, *args]
    env = f"PYTHONPATH={shlex.quote(str(REPO))} PYTHONDONTWRITEBYTECODE=1 HOME=/tmp"
    return f"chroot /host env {env} {shlex.join(argv)}"
