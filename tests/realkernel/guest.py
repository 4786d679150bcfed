"""The real-kernel test guest: Debian's current kernel plus a busybox initramfs, cached.

``python -m tests.realkernel.guest build`` (or ``./dev guest``) resolves the kernel ABI
that ``linux-image-amd64`` depends on today, downloads that .deb with ``apt-get download``
(nothing is installed), extracts it, and builds an initramfs holding busybox, the modules
the suite needs (with their dependencies), the Debian ``usbip`` client and the e2fsprogs
and dosfstools binaries with the libraries they load. The result lands in
``$XDG_CACHE_HOME/kvmswitchd/guest/<kver>/`` (``~/.cache`` without it); a second run
finds it there and does nothing.

The guest's ``/init`` mounts the usual filesystems, prints ``@@ BOOTED <uptime>``, runs
``/test.sh`` (appended per test as a second cpio archive: the kernel unpacks concatenated
archives) and prints ``@@ EXIT <rc>`` before powering off.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

META = "linux-image-amd64"
# What the tests load, by module name; modprobe --show-depends adds what they need.
MODULES = [
    "vhci-hcd",
    "usbip-core",
    "usbhid",
    "hid-generic",
    "evdev",
    "usb-storage",
    "sd_mod",
    "ext4",
    "vfat",
    "crc32c_generic",
    "nls_ascii",
    "nls_cp437",
    "dummy_hcd",
    "libcomposite",
    "usb_f_hid",
    "usb_f_mass_storage",
    "configfs",
    "uinput",
    "e1000",
    "9p",
    "9pnet_virtio",
    "virtio_pci",
    "loop",
]
# Host binaries copied with their shared libraries (ldd), by absolute path.
BINARIES = (
    "/usr/sbin/usbip",
    "/sbin/mke2fs",
    "/sbin/e2fsck",
    "/sbin/mkfs.fat",
    "/sbin/fsck.fat",
)
# Under those names too (what mkfs -t / fsck -t would look for).
ALIASES = {
    "/sbin/mkfs.ext4": "mke2fs",
    "/sbin/fsck.ext4": "e2fsck",
    "/sbin/mkfs.vfat": "mkfs.fat",
    "/sbin/fsck.vfat": "fsck.fat",
}
# Packages that provide the tools above, for the error message when one is missing.
PROVIDERS = {
    "busybox": "busybox-static",
    "modprobe": "kmod",
    "depmod": "kmod",
    "cpio": "cpio",
    "apt-get": "apt",
    "dpkg-deb": "dpkg",
    "/usr/sbin/usbip": "usbip",
    "/sbin/mke2fs": "e2fsprogs",
    "/sbin/e2fsck": "e2fsprogs",
    "/sbin/mkfs.fat": "dosfstools",
    "/sbin/fsck.fat": "dosfstools",
}

INIT = """#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
echo /bin/modprobe > /proc/sys/kernel/modprobe  # the kernel's own module requests (mount -t)
mkdir -p /dev/pts /var/run/vhci_hcd /tmp /run; mount -t devpts devpts /dev/pts
modprobe configfs && mount -t configfs none /sys/kernel/config
ip link set lo up
echo "@@ BOOTED $(cut -d' ' -f1 /proc/uptime)"
rc=none
if [ -x /test.sh ]; then /test.sh; rc=$?; fi
echo "@@ EXIT $rc $(cut -d' ' -f1 /proc/uptime)"
poweroff -f
"""


@dataclass(frozen=True, slots=True)
class Image:
    """A built guest: the kernel and the base initramfs."""

    kver: str
    kernel: Path
    initrd: Path


class GuestBuildError(RuntimeError):
    """The guest cannot be built here (a tool or the kernel package is missing)."""


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kvmswitchd" / "guest"


def missing_tools() -> list[str]:
    """The host tools the builder needs that are not installed, as apt package names."""
    missing = set()
    for tool, package in PROVIDERS.items():
        found = Path(tool).is_file() if tool.startswith("/") else shutil.which(tool)
        if not found:
            missing.add(package)
    return sorted(missing)


def resolve_kver() -> str:
    """The ABI name ``linux-image-amd64`` depends on now (it moves with point releases)."""
    out = run(["apt-cache", "depends", META]).stdout
    for line in out.splitlines():
        words = line.split()
        if len(words) == 2 and words[0] == "Depends:" and words[1].startswith("linux-image-"):
            return words[1].removeprefix("linux-image-")
    raise GuestBuildError(f"apt-cache depends {META} names no linux-image package (apt update?)")


def recipe() -> str:
    """A digest of what goes into the initramfs: a changed recipe rebuilds the cache."""
    text = json.dumps([INIT, MODULES, BINARIES, sorted(ALIASES.items())])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cached(kver: str) -> Image | None:
    folder = cache_root() / kver
    image = Image(kver, folder / "vmlinuz", folder / "initrd.cpio.gz")
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    if manifest.get("recipe") == recipe() and image.kernel.is_file() and image.initrd.is_file():
        return image
    return None


def ensure(kver: str | None = None, *, log: bool = False) -> Image:
    """The cached guest for ``kver`` (default: Debian's current ABI), built if missing."""
    if kver is None:
        found = _newest_cached()
        try:
            kver = resolve_kver()
        except (GuestBuildError, OSError):
            if found is None:
                raise
            return found  # offline: the newest cached kernel still tests the same code
    image = cached(kver)
    if image is not None:
        return image
    missing = missing_tools()
    if missing:
        raise GuestBuildError("install these packages first: " + " ".join(missing))
    return build(kver, log=log)


def _newest_cached() -> Image | None:
    root = cache_root()
    if not root.is_dir():
        return None
    images = [i for i in (cached(d.name) for d in sorted(root.iterdir())) if i is not None]
    return images[-1] if images else None


def build(kver: str, *, log: bool = False) -> Image:
    started = time.monotonic()
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root, prefix=".build-") as scratch:
        work = Path(scratch)
        run(["apt-get", "download", f"linux-image-{kver}"], cwd=work)
        (deb,) = work.glob(f"linux-image-{kver}_*.deb")
        kroot = work / "kroot"
        run(["dpkg-deb", "-x", str(deb), str(kroot)])
        deb.unlink()
        run(["depmod", "-b", str(kroot), kver])
        stage = work / "stage"
        _stage(kroot, kver, stage)
        folder = root / kver
        partial = root / f".{kver}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir()
        shutil.copy(kroot / "boot" / f"vmlinuz-{kver}", partial / "vmlinuz")
        (partial / "initrd.cpio.gz").write_bytes(pack(stage))
        manifest = {"kver": kver, "recipe": recipe(), "modules": MODULES, "binaries": BINARIES}
        (partial / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
        shutil.rmtree(folder, ignore_errors=True)
        partial.rename(folder)
    for old in root.iterdir():  # guests of kernels apt no longer offers: 20 MB each
        if old.is_dir() and old.name != kver and not old.name.startswith("."):
            shutil.rmtree(old, ignore_errors=True)
    if log:
        print(f"guest {kver} built in {time.monotonic() - started:.1f} s: {folder}")
    image = cached(kver)
    assert image is not None
    return image


def _stage(kroot: Path, kver: str, stage: Path) -> None:
    for name in ("bin", "sbin", "proc", "sys", "dev", "tmp", "run", "usr/sbin", "lib64"):
        (stage / name).mkdir(parents=True, exist_ok=True)
    busybox = shutil.which("busybox")
    if busybox is None:
        raise GuestBuildError("busybox is missing (apt-get install busybox-static)")
    shutil.copy(busybox, stage / "bin" / "busybox")
    files: set[str] = set()
    for module in MODULES:
        out = run(["modprobe", "-d", str(kroot), "-S", kver, "--show-depends", module]).stdout
        files.update(w.split()[1] for w in out.splitlines() if w.startswith("insmod "))
    kroot_abs = str(kroot.resolve())
    for file in sorted(files):
        rel = Path(file).relative_to(kroot_abs)
        (stage / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(file, stage / rel)
    mods = kroot / "lib" / "modules" / kver
    for extra in mods.glob("modules.builtin*"):
        shutil.copy(extra, stage / "lib" / "modules" / kver / extra.name)
    shutil.copy(mods / "modules.order", stage / "lib" / "modules" / kver / "modules.order")
    run(["depmod", "-b", str(stage), kver])
    for binary in BINARIES:
        _copy_with_libraries(Path(binary), stage)
    for alias, target in ALIASES.items():
        (stage / alias.lstrip("/")).symlink_to(target)
    ids = Path("/usr/share/misc/usb.ids")
    if ids.is_file():
        (stage / "usr/share/misc").mkdir(parents=True, exist_ok=True)
        shutil.copy(ids, stage / "usr/share/misc/usb.ids")
    init = stage / "init"
    init.write_text(INIT)
    init.chmod(0o755)


def _copy_with_libraries(binary: Path, stage: Path) -> None:
    if not binary.is_file():
        raise GuestBuildError(f"{binary} is missing (apt-get install {PROVIDERS[str(binary)]})")
    targets = [binary]
    for line in run(["ldd", str(binary)]).stdout.splitlines():
        words = line.split()
        if "=>" in words and len(words) > words.index("=>") + 1:
            targets.append(Path(words[words.index("=>") + 1]))
        elif words and words[0].startswith("/"):
            targets.append(Path(words[0]))  # the dynamic loader
    for target in targets:
        dest = stage / str(target).lstrip("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(target.resolve(), dest)


def extra_modules(image: Image, names: tuple[str, ...]) -> list[tuple[str, bytes]]:
    """Modules outside the base initramfs, with the dependencies it lacks, in load order:
    (file name, bytes) to pass as ``boot(files=)`` and ``insmod /NAME`` in the guest.

    Kept beside the base guest (``guest-extras/<kver>/``), not in its recipe, so a test
    that needs a module more does not rebuild the guest every other test boots."""
    folder = cache_root().parent / "guest-extras" / image.kver / "-".join(sorted(names))
    order = folder / "order"
    if not order.is_file():
        with tempfile.TemporaryDirectory(dir=cache_root().parent, prefix=".extras-") as scratch:
            work = Path(scratch)
            run(["apt-get", "download", f"linux-image-{image.kver}"], cwd=work)
            (deb,) = work.glob(f"linux-image-{image.kver}_*.deb")
            kroot = work / "kroot"
            run(["dpkg-deb", "-x", str(deb), str(kroot)])
            run(["depmod", "-b", str(kroot), image.kver])
            listing = subprocess.run(
                ["cpio", "-t", "--quiet"],
                input=gzip.decompress(image.initrd.read_bytes()),
                capture_output=True,
                check=True,
            ).stdout.decode()
            have = {Path(line).name for line in listing.splitlines() if ".ko" in line}
            files: list[str] = []
            for name in names:
                argv = ["modprobe", "-d", str(kroot), "-S", image.kver, "--show-depends", name]
                for line in run(argv).stdout.splitlines():
                    path = line.split()[1] if line.startswith("insmod ") else ""
                    if path and Path(path).name not in have and path not in files:
                        files.append(path)
            partial = folder.with_name(folder.name + ".partial")
            shutil.rmtree(partial, ignore_errors=True)
            partial.mkdir(parents=True)
            for path in files:
                shutil.copy(path, partial / Path(path).name)
            (partial / "order").write_text("".join(Path(p).name + "\n" for p in files))
            shutil.rmtree(folder, ignore_errors=True)
            partial.rename(folder)
    return [(n, (folder / n).read_bytes()) for n in order.read_text().split()]


def pack(folder: Path) -> bytes:
    """``folder`` as a gzip-compressed newc cpio archive (what the kernel unpacks)."""
    names = sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))
    cpio = subprocess.run(
        ["cpio", "-o", "-H", "newc", "--quiet"],
        input="\n".join(names).encode(),
        cwd=folder,
        capture_output=True,
        check=True,
    ).stdout
    return subprocess.run(["gzip", "-1"], input=cpio, capture_output=True, check=True).stdout


def run(argv: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=True)
    except FileNotFoundError as exc:
        raise GuestBuildError(f"{argv[0]} is not installed") from exc
    except subprocess.CalledProcessError as exc:
        raise GuestBuildError(f"{' '.join(argv)} failed: {exc.stderr.strip()[-400:]}") from exc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.realkernel.guest")
    parser.add_argument("command", choices=("build", "path", "kver"))
    parser.add_argument("--kver", help="a kernel ABI name (default: what linux-image-amd64 needs)")
    args = parser.parse_args(argv)
    try:
        if args.command == "kver":
            print(args.kver or resolve_kver())
            return 0
        image = ensure(args.kver, log=True)
    except GuestBuildError as exc:
        print(f"guest: {exc}", file=sys.stderr)
        return 1
    print(image.kernel.parent if args.command == "path" else f"guest {image.kver}: ready")
    return 0


if __name__ == "__main__":
    sys.exit(main())
