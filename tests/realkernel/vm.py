"""Boot the real-kernel guest under QEMU (TCG) and talk to its test script.

A test hands ``boot`` a shell script; it runs as the guest's ``/test.sh`` (a per-test cpio
archive appended to the cached base initramfs). The script and the test speak over the
serial console: the script prints ``@@ TAG text`` lines (``Guest.expect(TAG)`` waits for
one) and reads lines the test sends (``Guest.send``) with ``host_says`` (defined in the
prelude below). Files move through ``out``, a host folder the guest mounts read-write at
``/out`` over 9p; the host's ``/`` is mounted read-only at ``/host`` when asked (to run the
host's Python in a chroot). Everything printed is kept in ``Guest.console`` and written to
``console.log`` in the test's folder.

QEMU always gets ``-no-reboot``, ``panic=-1`` and a hard deadline, and is killed when the
context ends, whatever happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.realkernel.guest import Image, pack

# One guest may spend this long from QEMU's start to its last line, whatever the test
# does; past it the guest is killed and the test fails (TCG on a busy 2-core machine).
HARD_TIMEOUT = 420.0
MARK = re.compile(r"^@@ (\S+) ?(.*)$")
# (the test's folder, seconds from QEMU's start to the guest's init, seconds QEMU ran) of each
# guest this process booted: the suite's timing summary (conftest.py) prints them.
RUNS: list[tuple[Path, float | None, float]] = []

PRELUDE = r"""#!/bin/sh
# the test script's prelude (tests/realkernel/vm.py)
say() { echo "@@ $*"; }
host_says() { read -r HOST_LINE; echo "$HOST_LINE"; }
fail() { say FAIL "$*"; exit 1; }
mods() { for m in "$@"; do modprobe "$m" || fail "modprobe $m"; done; }
net_up() {
  mods e1000
  ip link set eth0 up && ip addr add 10.0.2.15/24 dev eth0 && ip route add default via 10.0.2.2
}
# the input device whose Phys line contains $1, as /dev/input/eventN
event_of() {
  awk -v want="$1" '/^P: Phys=/{hit=index($0, want)>0} /^H: Handlers=/{ if (hit) {
    for (i = 2; i <= NF; i++) if ($i ~ /^event/) { sub("Handlers=", "", $i); print "/dev/input/" $i }
    hit=0 } }' /proc/bus/input/devices | head -n 1
}
wait_for() {  # wait_for SECONDS COMMAND...: poll until COMMAND succeeds
  n=$(($1 * 10)); shift
  while ! "$@" >/dev/null 2>&1; do n=$((n - 1)); [ $n -le 0 ] && return 1; sleep 0.1; done
}
mods virtio_pci 9pnet_virtio 9p
mkdir -p /out
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 out /out || fail "mount /out"
if grep -q hostroot /sys/bus/virtio/drivers/9pnet_virtio/*/mount_tag 2>/dev/null; then
  mkdir -p /host
  mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144,cache=loose hostroot /host
fi
"""


@dataclass
class Guest:
    """A running guest: its console lines, the marks it printed, a way to answer it."""

    process: asyncio.subprocess.Process
    out: Path
    started: float
    console: list[str] = field(default_factory=list)
    marks: asyncio.Queue[tuple[str, str]] = field(default_factory=asyncio.Queue)
    booted_at: float | None = None
    exit_code: str | None = None
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    async def expect(self, tag: str, within: float = 60.0) -> str:
        """The text of the next ``@@ tag`` line; a ``@@ FAIL`` or the guest ending first
        fails the test with what it printed."""
        deadline = time.monotonic() + within
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"guest: no @@ {tag} within {within:.0f} s\n{self.tail()}")
            try:
                got, text = await asyncio.wait_for(self.marks.get(), left)
            except TimeoutError:
                continue
            if got == tag:
                return text
            if got == "FAIL":
                raise AssertionError(f"guest failed: {text}\n{self.tail()}")
            if got == "EXIT":
                raise AssertionError(f"guest exited ({text}) before @@ {tag}\n{self.tail()}")

    def send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line.encode() + b"\n")

    async def finish(self, within: float = 60.0) -> str:
        """Wait for the script's end; its exit status (``0`` when it succeeded)."""
        text = await self.expect("EXIT", within) if self.exit_code is None else self.exit_code
        return text.split()[0]

    def kill(self) -> None:
        """Pull the plug: QEMU dies at once, whatever the guest was doing."""
        _kill(self.process)

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.console[-lines:])

    async def _pump(self) -> None:
        assert self.process.stdout is not None
        try:
            while raw := await self.process.stdout.readline():
                line = raw.decode(errors="replace").rstrip("\r\n")
                self.console.append(line)
                found = MARK.match(line)
                if found is None:
                    continue
                tag, text = found.groups()
                if tag == "BOOTED":
                    self.booted_at = time.monotonic() - self.started
                elif tag == "EXIT":
                    self.exit_code = text
                self.marks.put_nowait((tag, text))
        finally:
            self.marks.put_nowait(("EXIT", self.exit_code or "killed"))
            self.closed.set()


def qemu_argv(
    image: Image,
    initrd: Path,
    out: Path,
    *,
    host_root: bool,
    net: bool,
    memory: int,
    reboot: bool = False,
    extra: tuple[str, ...] = (),
) -> list[str]:
    argv = ["qemu-system-x86_64", "-accel", "tcg", "-m", str(memory), "-smp", "1"]
    argv += ["-display", "none", "-serial", "stdio", "-monitor", "none"]
    if not reboot:  # a guest that reboots ends instead (the test sees @@ EXIT)
        argv.append("-no-reboot")
    argv += ["-kernel", str(image.kernel), "-initrd", str(initrd)]
    argv += ["-append", "console=ttyS0 quiet loglevel=3 panic=-1"]
    share = "local,security_model=none,multidevs=remap"
    argv += ["-virtfs", f"{share},path={out},mount_tag=out"]
    if host_root:
        argv += ["-virtfs", f"{share},path=/,mount_tag=hostroot,readonly=on"]
    if net:  # user-mode network: the guest's 10.0.2.2 is the host's 127.0.0.1
        argv += ["-netdev", "user,id=n0", "-device", "e1000,netdev=n0"]
    return argv + list(extra)


@contextlib.asynccontextmanager
async def boot(
    image: Image,
    script: str,
    folder: Path,
    *,
    files: dict[str, bytes] | None = None,
    host_root: bool = False,
    net: bool = False,
    memory: int = 1024,
    reboot: bool = False,
    qemu_args: tuple[str, ...] = (),
) -> AsyncIterator[Guest]:
    """Boot a guest running ``script`` (after the prelude); ``files`` go beside it in /.
    ``reboot``: a guest reboot (or a QMP system_reset) restarts it rather than ending
    QEMU; ``qemu_args`` are added to QEMU's command line (devices, -qmp)."""
    out = folder / "out"
    out.mkdir(parents=True, exist_ok=True)
    initrd = folder / "initrd.gz"
    with tempfile.TemporaryDirectory() as scratch:
        extra = Path(scratch)
        test = extra / "test.sh"
        test.write_text(PRELUDE + script)
        test.chmod(0o755)
        for name, data in (files or {}).items():
            (extra / name).write_bytes(data)
        initrd.write_bytes(image.initrd.read_bytes() + pack(extra))
    argv = qemu_argv(
        image,
        initrd,
        out,
        host_root=host_root,
        net=net,
        memory=memory,
        reboot=reboot,
        extra=qemu_args,
    )
    started = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    guest = Guest(process, out, started)
    pump = asyncio.create_task(guest._pump())
    killer = asyncio.get_running_loop().call_later(HARD_TIMEOUT, _kill, process)
    try:
        yield guest
    finally:
        killer.cancel()
        _kill(process)
        await process.wait()
        with contextlib.suppress(asyncio.CancelledError):
            await pump
        RUNS.append((folder, guest.booted_at, time.monotonic() - started))
        (folder / "console.log").write_text("\n".join(guest.console) + "\n")
        initrd.unlink(missing_ok=True)


def _kill(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, 9)


def have_qemu() -> bool:
    return shutil.which("qemu-system-x86_64") is not None
