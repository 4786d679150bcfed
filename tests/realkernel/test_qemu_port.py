"""A ``qemu`` port against a real ``qemu-system-x86_64`` (TCG) booting the busybox guest:
the daemon reaches the VM over QMP only. Keys typed through the daemon arrive on the
guest's PS/2 keyboard and its mouse moves (read inside the guest from evdev), the screen
PNG is the guest's text console, pause/resume/reset are visible in ``/state``, the
switch's image becomes a USB disk in the guest that is written and read back (checksum,
also on the host), the VM killed and started again is reconnected, and ACPI "off"
reaches the guest as an ACPI power-button event, on which it shuts down.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from PIL import Image as PngImage

from kvmswitchd.daemon import Daemon
from kvmswitchd.switchboard import Switchboard
from kvmswitchd.targets.qemu import QemuTarget
from tests.daemon.conftest import start
from tests.realkernel.evdev_records import EV_REL, key_changes, settled, typed_text
from tests.realkernel.guest import GuestBuildError, Image, extra_modules
from tests.realkernel.vm import boot

MiB = 1 << 20
# the USB host controller, the PS/2 mouse, and the ACPI button driver: installing its
# handler is what enables the fixed power-button event in the guest
EXTRAS = ("xhci-pci", "psmouse", "button")
SYN = {"type": "EV_SYN", "code": "SYN_REPORT", "value": 0}

LOAD = r"""
mods evdev usb-storage sd_mod
for m in $(cat /extra-order); do insmod /$m || fail "insmod $m"; done
has_event() { [ -n "$(event_of "$1")" ]; }
"""

FIRST = (
    LOAD
    + r"""
if [ -f /out/reset-seen ]; then say REBOOTED; while true; do sleep 1; done; fi
touch /out/reset-seen
wait_for 30 has_event isa0060/serio0 || fail "no PS/2 keyboard"
wait_for 30 has_event isa0060/serio1 || fail "no PS/2 mouse"
cat "$(event_of isa0060/serio0)" > /out/kbd.bin &
cat "$(event_of isa0060/serio1)" > /out/mouse.bin &
printf '\033[2J\033[H' > /dev/tty1
for i in 1 2 3 4 5 6 7 8 9 10; do echo "kvmswitchd qemu port: screen line $i" > /dev/tty1; done
sleep 0.3
say READY
while true; do
  set -- $(host_says)
  case "$1" in
    flush) sleep 0.5; sync; say OK flushed ;;
    disk) wait_for 60 [ -e /sys/block/sda ] && say OK disk || say FAIL "no /dev/sda" ;;
    write)
      dd if=/dev/urandom of=/tmp/data bs=64k count=16 2>/dev/null
      dd if=/tmp/data of=/dev/sda bs=64k conv=fsync 2>/dev/null || say FAIL "write"
      echo 3 > /proc/sys/vm/drop_caches
      say OK "$(dd if=/dev/sda bs=64k count=16 2>/dev/null | sha256sum | cut -d' ' -f1)" ;;
    gone) wait_for 60 sh -c '! [ -e /sys/block/sda ]' && say OK gone || say FAIL "sda stays" ;;
  esac
done
"""
)

SECOND = (
    LOAD
    + r"""
# the ACPI fixed power button's event count (the ACPI core counts each SCI it handles)
presses() { set -- $(cat /sys/firmware/acpi/interrupts/ff_pwr_btn); echo "$1"; }
[ "$(presses)" = 0 ] || fail "the power button was pressed before the test"
say READY
while [ "$(presses)" = 0 ]; do sleep 0.2; done
say POWERBUTTON
poweroff -f
"""
)


class Host:
    def __init__(self, daemon: Daemon, board: Switchboard, http: aiohttp.ClientSession) -> None:
        self.daemon, self.board, self.http = daemon, board, http

    async def call(self, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        url = self.daemon.http_url + "/api/v1" + path
        async with self.http.request(method, url, json=body) as r:
            assert r.status == status, f"{path}: {r.status} {await r.text()}"
            return await r.json() if r.content_type == "application/json" else await r.read()

    async def power(self, action: str) -> dict[str, Any]:
        reply = await self.call("POST", "/ports/1/power", {"action": action})
        return dict(reply["state"]["ports"][0]["power"])

    async def vm_until(self, check: Callable[[dict[str, Any]], bool], within: float = 60) -> Any:
        """Port 1's power view in ``/state`` once ``check`` holds (QEMU's events are
        asynchronous to the reply that caused them)."""
        deadline = time.monotonic() + within
        while True:
            view = (await self.call("GET", "/state"))["ports"][0]["power"]
            if check(view):
                return view
            assert time.monotonic() < deadline, f"port 1 never got there: {view}"
            await asyncio.sleep(0.1)


@pytest.fixture
def qmp_socket() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="kvmq") as folder:  # under the 108-byte cap
        yield Path(folder) / "vm.qmp"


async def test_a_qemu_port_types_points_shows_powers_and_carries_storage(
    guest_image: Image, folder: Path, qmp_socket: Path
) -> None:
    try:
        extras = extra_modules(guest_image, EXTRAS)
    except GuestBuildError as exc:
        pytest.skip(f"the guest's extra modules cannot be fetched: {exc}")
    files = dict(extras) | {"extra-order": "".join(f"{n}\n" for n, _ in extras).encode()}
    qemu = ("-qmp", f"unix:{qmp_socket},server=on,wait=off", "-device", "qemu-xhci,id=xhci")
    doc = {
        "switch": {"ports": 2},
        "ports": {
            "1": {
                "target": "qemu",
                "qmp": f"unix:{qmp_socket}",
                "vm_name": "guest",
                "input_interval": 0.03,  # a TCG guest on a busy machine reads slowly
            }
        },
        "storage": {"quiet_period": 1.0},
    }
    daemon, board = await start(folder / "state", doc)
    target = board.links[1].target
    assert isinstance(target, QemuTarget)
    try:
        async with aiohttp.ClientSession() as http:
            host = Host(daemon, board, http)
            assert (await host.vm_until(lambda v: True))["status"] == "offline"
            async with boot(
                guest_image, FIRST, folder / "first", files=files, reboot=True, qemu_args=qemu
            ) as guest:
                await guest.expect("READY", within=120)
                await host.vm_until(lambda v: v["status"] == "running")
                out = guest.out

                # keys: typed through the daemon, read from the guest's PS/2 keyboard
                text = "Hello qemu 1+2=3"
                await host.call("POST", "/input", {"text": text})
                await target.drained()
                guest.send("flush")
                await guest.expect("OK")
                changes = key_changes(await settled(out / "kbd.bin", 4 * 2 + 2 * len(text), 60))
                assert typed_text(changes) == text

                # the mouse: relative motion and a click on the PS/2 mouse
                mouse = [
                    {"type": "EV_REL", "code": "REL_X", "value": 40},
                    {"type": "EV_REL", "code": "REL_Y", "value": 25},
                    SYN,
                    {"type": "EV_KEY", "code": "BTN_LEFT", "value": 1},
                    SYN,
                    {"type": "EV_KEY", "code": "BTN_LEFT", "value": 0},
                    SYN,
                ]
                await host.call("POST", "/input", {"events": mouse})
                await target.drained()
                guest.send("flush")
                await guest.expect("OK")
                moved = await settled(out / "mouse.bin", 2, within=60)
                assert key_changes(moved) == [("BTN_LEFT", 1), ("BTN_LEFT", 0)]
                assert sum(e.value for e in moved if (e.type, e.code) == (EV_REL, 0)) == 40
                assert sum(e.value for e in moved if (e.type, e.code) == (EV_REL, 1)) == 25

                # the screen: the guest's 80x25 text console as a PNG
                await host.call("GET", "/ports/1/screen")  # a watcher: refreshes start
                assert await target.refresh_screen() is not None
                png = await host.call("GET", "/ports/1/screen")
                frame = PngImage.open(io.BytesIO(png)).convert("RGB")
                assert frame.size == (720, 400)
                assert (
                    len(frame.getcolors(maxcolors=1 << 16) or ()) >= 2
                )  # text on a background, not a blank

                # storage follow: the image is a USB disk in the guest, written and read
                await host.call("POST", "/storage/images", {"name": "vm.img", "size": 8 * MiB}, 201)
                await host.call("POST", "/storage/attach", {"image": "vm.img", "mode": "rw"})
                guest.send("disk")
                await guest.expect("OK")
                guest.send("write")
                written = await guest.expect("OK")
                await host.call("POST", "/switch", {"port": "2", "channels": ["usb"]})
                guest.send("gone")
                await guest.expect("OK", within=90)
                (image,) = (folder / "state").rglob("vm.img")
                assert hashlib.sha256(image.read_bytes()[: 1 * MiB]).hexdigest() == written

                # pause and resume, then the reset button: the guest boots again
                assert (await host.power("pause"))["status"] in ("running", "paused")
                await host.vm_until(lambda v: v["status"] == "paused")
                await host.power("resume")
                await host.vm_until(lambda v: v["status"] == "running")
                await host.power("reset")
                await guest.expect("REBOOTED", within=120)
                view = await host.vm_until(lambda v: v["last_event"] == "RESET")
                assert view["status"] == "running"

                # the VM killed: the port goes offline, power actions say why
                guest.kill()
                await host.vm_until(lambda v: v["status"] == "offline")
                refused = await host.call("POST", "/ports/1/power", {"action": "on"}, status=409)
                assert "cannot start a VM whose process has quit" in refused["message"]

            # started again on the same socket: the daemon reconnects by itself
            async with boot(
                guest_image, SECOND, folder / "second", files=files, qemu_args=qemu
            ) as guest:
                await guest.expect("READY", within=120)
                await host.vm_until(lambda v: v["online"] and v["status"] == "running")
                assert target.connects == 2
                await host.power("off")  # ACPI: the guest's power button, it shuts down
                await guest.expect("POWERBUTTON", within=60)
                await host.vm_until(lambda v: v["status"] == "offline")
                entries = [e for e in board.journal.recent(200) if e.kind == "power"]
                assert [e.detail["action"] for e in entries] == [
                    "pause",
                    "resume",
                    "reset",
                    "on",
                    "off",
                ]
    finally:
        await daemon.stop()
