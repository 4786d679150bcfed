"""USB/IP storage against the real kernel: the guest's usb-storage + sd + ext4/vfat use a
daemon image over USB/IP: mkfs, write, checksum, detach and re-attach, fsck clean; the
storage is held while the guest has it mounted, a forced switch takes it anyway, and a
guest killed in the middle of a write leaves an image that fsck finds consistent."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import subprocess
from pathlib import Path

from tests.conftest import require_tool
from tests.realkernel.guest import Image
from tests.realkernel.usbip_rig import HostDaemon, attach_script, host_daemon
from tests.realkernel.vm import Guest, boot

SIZE = 16 << 20
PORTS = {"2": {"target": "usbip"}}

STEPS = r"""
medium() { dd if=/dev/sda of=/dev/null bs=512 count=1 2>/dev/null; }  # opening revalidates
sum_of() { sha256sum "$1" | cut -d' ' -f1; }
run() { "$@" > /tmp/cmd.log 2>&1; rc=$?; [ $rc -eq 0 ] || { cat /tmp/cmd.log; say FAIL "$* → $rc"; }; return $rc; }
mkdir -p /mnt
while true; do
  cmd=$(host_says)
  set -- $cmd
  case "$1" in
    quit) break ;;
    medium) wait_for 30 medium && say OK medium || say FAIL "no medium on /dev/sda" ;;
    mkfs)  # mkfs FSTYPE, mount, write 1 MiB of random data, checksum, unmount
      if [ "$2" = ext4 ]; then run mkfs.ext4 -q -F /dev/sda; else run mkfs.vfat /dev/sda; fi
      run mount -t "$2" /dev/sda /mnt && dd if=/dev/urandom of=/mnt/data bs=64k count=16 2>/dev/null
      s=$(sum_of /mnt/data); run umount /mnt && say OK "$s" ;;
    detach) run usbip detach -p 00 && wait_for 30 sh -c '! [ -e /sys/block/sda ]' && say OK detached ;;
    attach) run usbip --tcp-port $2 attach -r 10.0.2.2 -b 1-2 && wait_for 30 medium && say OK attached ;;
    check)  # check FSTYPE: mount, checksum, unmount, fsck (read-only: finds, fixes nothing)
      run mount -t "$2" /dev/sda /mnt && s=$(sum_of /mnt/data) && run umount /mnt || continue
      if [ "$2" = ext4 ]; then run fsck.ext4 -fn /dev/sda; else run fsck.vfat -n /dev/sda; fi \
        && say OK "$s" ;;
    mount) run mount -t "$2" /dev/sda /mnt && say OK mounted ;;
    write-sync) dd if=/dev/urandom of=/mnt/"$2" bs=64k count=8 conv=fsync 2>/dev/null; sync
      say OK "$(sum_of /mnt/"$2")" ;;
    gone)  # the medium left under a mounted fs: writes must fail, the kernel must survive
      if dd if=/dev/zero of=/mnt/late bs=64k count=4 conv=fsync 2>/dev/null; then
        w=still-writable; else w=write-failed; fi
      umount /mnt 2>/dev/null || umount -l /mnt; say OK "$w" ;;
    sum) say OK "$(sum_of /mnt/"$2")" ;;
    write-forever) say OK writing
      i=0; while true; do dd if=/dev/urandom of=/mnt/f$i bs=64k count=4 conv=fsync 2>/dev/null
        i=$((i+1)); say WROTE $i; done ;;
  esac
done
"""


async def step(guest: Guest, line: str, within: float = 120) -> str:
    guest.send(line)
    return await guest.expect("OK", within)


async def new_image(host: HostDaemon, name: str) -> None:
    async with host.http.post(
        host.daemon.http_url + "/api/v1/storage/images", json={"name": name, "size": SIZE}
    ) as r:
        assert r.status == 201, await r.text()


def image_file(state: Path, name: str) -> Path:
    (found,) = [p for p in state.rglob(name) if p.is_file()]
    return found


def fsck(image: Path) -> subprocess.CompletedProcess[str]:
    """A full read-only check: rc 0 when there is nothing to fix."""
    return subprocess.run(
        ["e2fsck", "-fn", str(image)], check=False, capture_output=True, text=True
    )


def replayed(image: Path, scratch: Path) -> Path:
    """A copy of ``image`` with its journal replayed (what mounting it would do)."""
    copy = scratch / "check.img"
    shutil.copy(image, copy)
    subprocess.run(
        ["e2fsck", "-E", "journal_only", "-y", str(copy)], check=False, capture_output=True
    )
    return copy


def dump(image: Path, name: str, scratch: Path) -> bytes:
    out = scratch / name
    subprocess.run(
        ["debugfs", "-R", f"dump /{name} {out}", str(image)], check=True, capture_output=True
    )
    return out.read_bytes()


async def test_ext4_and_vfat_survive_mkfs_write_detach_reattach_and_fsck(
    guest_image: Image, folder: Path
) -> None:
    async with host_daemon(folder / "state", {"ports": PORTS}) as host:
        await new_image(host, "ext4.img")
        await new_image(host, "vfat.img")
        await host.post("/switch", {"port": "2"})
        await host.post("/storage/attach", {"image": "ext4.img", "mode": "rw"})
        script = attach_script(host.usbip_port, [2]) + STEPS
        async with boot(guest_image, script, folder, net=True) as guest:
            await guest.expect("READY", within=120)
            await step(guest, "medium")
            written = await step(guest, "mkfs ext4")
            await step(guest, "detach")
            await step(guest, f"attach {host.usbip_port}")
            assert await step(guest, "check ext4") == written

            await host.post("/storage/eject", {})
            await host.post("/storage/attach", {"image": "vfat.img", "mode": "rw"})
            await step(guest, "medium")
            written = await step(guest, "mkfs vfat")
            await step(guest, "detach")
            await step(guest, f"attach {host.usbip_port}")
            assert await step(guest, "check vfat") == written
            guest.send("quit")
            assert await guest.finish() == "0"
        await host.post("/storage/eject", {})
        require_tool("e2fsck", "checks the image on the host")
        checked = await asyncio.to_thread(fsck, image_file(folder / "state", "ext4.img"))
        assert checked.returncode == 0, checked.stdout + checked.stderr


async def test_held_while_mounted_forced_away_and_a_guest_killed_mid_write_keep_ext4_whole(
    guest_image: Image, folder: Path
) -> None:
    doc = {"ports": PORTS, "storage": {"quiet_period": 0.5}}
    async with host_daemon(folder / "state", doc) as host:
        await new_image(host, "disk.img")
        await host.post("/switch", {"port": "2"})
        await host.post("/storage/attach", {"image": "disk.img", "mode": "rw"})
        script = attach_script(host.usbip_port, [2]) + STEPS
        async with boot(guest_image, script, folder, net=True) as guest:
            await guest.expect("READY", within=120)
            await step(guest, "medium")
            await step(guest, "mkfs ext4")
            await step(guest, "mount ext4")
            kept = await step(guest, "write-sync kept")

            # Mounted: the guest's sd driver locked the medium, so the storage stays.
            outcome = await host.post("/switch", {"port": "1"})
            assert "usb: held by port 2" in outcome["message"], outcome["message"]
            assert (await host.get("/storage"))["port"] == "2"
            # Forced: it goes at once, mounted or not; the guest's writes fail, it lives on.
            await host.post("/switch", {"port": "2"})
            forced = await host.post("/switch", {"port": "1", "force": True})
            assert (await host.get("/storage"))["port"] == "1", forced
            assert await step(guest, "gone") == "write-failed"

            # Back on port 2: what was synced before the forced move is all there.
            await host.post("/switch", {"port": "2"})
            await step(guest, "medium")
            await step(guest, "mount ext4")
            assert await step(guest, "sum kept") == kept

            # Killed in the middle of a stream of synced writes.
            await step(guest, "write-forever")
            while int(await guest.expect("WROTE")) < 3:
                pass  # well into the stream: the next write is in flight
            guest.kill()
            await guest.closed.wait()
        await host.post("/storage/eject", {"force": True})
        image = image_file(folder / "state", "disk.img")
    require_tool("e2fsck", "checks the image on the host")
    require_tool("debugfs", "reads a file out of the image on the host")
    copy = await asyncio.to_thread(replayed, image, folder)
    checked = await asyncio.to_thread(fsck, copy)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert hashlib.sha256(await asyncio.to_thread(dump, copy, "kept", folder)).hexdigest() == kept
