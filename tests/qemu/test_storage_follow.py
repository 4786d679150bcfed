"""Storage follow into a qemu port, against the whole daemon and a fake QEMU: the image
is plugged into the VM as a usb-storage disk when usb focus arrives, held while the
VM's disk counters show I/O within the quiet period, and moved off by force (logged)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp

from kvmswitchd.targets.qemu import QemuTarget
from kvmswitchd.targets.qemu_disk import DEVICE
from tests.daemon.conftest import start
from tests.qemu.fake_qmp import FakeQmp


async def test_the_image_follows_into_the_vm_is_held_by_its_io_and_forced_off(
    tmp_path: Path, vm: FakeQmp
) -> None:
    doc = {
        "switch": {"ports": 3},
        "ports": {"2": {"target": "qemu", "qmp": f"unix:{vm.path}"}},
        "storage": {"quiet_period": 600.0},  # recent I/O holds it for the whole test
    }
    daemon, board = await start(tmp_path / "state", doc)
    target = board.links[2].target
    assert isinstance(target, QemuTarget)
    io = asyncio.Event()
    report = target.disk.on_io  # the daemon's: the storage service hears the VM's I/O

    def heard(write: bool) -> None:
        report(write)
        io.set()

    target.disk.on_io = heard
    target.disk.io_interval = 0.01
    api = daemon.http_url + "/api/v1"
    try:
        await target.connected.wait()
        async with aiohttp.ClientSession() as http:

            async def post(path: str, body: object, status: int = 200) -> dict[str, object]:
                async with http.post(api + path, json=body) as r:
                    assert r.status == status, await r.text()
                    return dict(await r.json())

            await post("/storage/images", {"name": "vm.img", "size": 1 << 20}, 201)
            await post("/storage/attach", {"image": "vm.img", "mode": "rw"})  # on port 1
            assert DEVICE not in vm.devices
            await post("/switch", {"port": "2"})
            await target.disk.settled()
            assert vm.devices[DEVICE]["driver"] == "usb-storage"
            (image,) = (tmp_path / "state").rglob("vm.img")
            assert target.disk.attached == (str(image), False)

            await vm.wait_for("query-blockstats")  # the baseline
            vm.counters[1] += 1  # the guest wrote
            await io.wait()
            held = await post("/switch", {"port": "1", "channels": ["usb"]})
            assert "usb: held by port 2" in str(held["message"])
            assert DEVICE in vm.devices

            await post("/switch", {"port": "3", "channels": ["usb"], "force": True})
            await target.disk.settled()
            assert vm.devices == {} and vm.nodes == {}
            moves = [e for e in board.journal.recent(100) if e.detail.get("action") == "move"]
            assert moves[-1].detail["forced"] is True
            assert moves[-1].ports == ("3", "2")
    finally:
        await daemon.stop()
