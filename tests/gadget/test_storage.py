"""Storage on gadget ports: the image goes into the configfs LUN (``file``, ``ro``), leaves
it by ``forced_eject`` once the hand-over rules allow, the host's lock (EBUSY) holds a
move or refuses an eject, the host's own eject lets a held move go; a port that cannot
carry the storage refuses the attach."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kvmswitchd.config import parse_config
from kvmswitchd.core.commands import Origin, Source
from kvmswitchd.core.ports import PortId
from kvmswitchd.errors import BusyError, DeviceError
from kvmswitchd.gadget.apply import Configfs
from kvmswitchd.gadget.discovery import lun_dir
from kvmswitchd.gadget.lun import ConfigfsLun, GadgetLuns, LunReport, Medium
from kvmswitchd.storage.images import ImageStore
from kvmswitchd.storage.service import StorageService
from tests.daemon.conftest import start
from tests.gadget.fake_configfs import FakeKernel
from tests.storage_service.conftest import QUIET, Clock, FakeJournal, Timer

ORIGIN = Origin(Source.HTTP, "test")
SIZE = 64 * 1024


@dataclass
class Rig:
    kernel: FakeKernel
    service: StorageService
    clock: Clock
    journal: FakeJournal
    timer: Timer
    image: Path

    def lun(self, unit: int) -> Path:
        return lun_dir(self.kernel.roots, unit)

    def file(self, unit: int) -> str:
        return (self.lun(unit) / "file").read_text().strip()


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    """Ports 1 and 2 gadgets with LUNs, 3 a gadget without one, 4 emulated."""
    kernel = FakeKernel(tmp_path, udcs=("dummy_udc.0", "dummy_udc.1"))
    config = parse_config({"ports": {"1": {"target": "gadget"}, "2": {"target": "gadget"}}})
    Configfs(kernel.roots, kernel, load_module=kernel.modprobe, ids=kernel.ids).setup(
        config.port(u) for u in (1, 2)
    )
    luns: dict[int, ConfigfsLun | None] = {
        u: ConfigfsLun(lun_dir(kernel.roots, u), kernel) for u in (1, 2)
    }
    luns[3] = None
    media = GadgetLuns({1: "gadget", 2: "gadget", 3: "gadget", 4: "emulated"}, luns)
    clock, journal, timer = Clock(), FakeJournal(), Timer()

    def on_plug(old: PortId | None, new: PortId | None) -> None:  # as the daemon's
        if old is not None:
            media.plug(old.unit, None)
        if new is not None:
            media.plug(new.unit, service.medium())

    service = StorageService(
        ImageStore.open(tmp_path / "images", max_image_size=1 << 20),
        ports=4,
        focus=PortId(1),
        quiet_period=QUIET,
        record=journal.record,
        clock=clock,
        rearm=timer,
        on_plug=on_plug,
        media=media,
    )
    service.store.create_blank("disk.img", SIZE)
    yield Rig(kernel, service, clock, journal, timer, tmp_path / "images" / "disk.img")
    service.close()


def test_attaching_to_a_gadget_port_writes_the_image_path_into_its_lun(rig: Rig) -> None:
    rig.service.attach("disk.img", "rw", None, ORIGIN)
    assert rig.file(1) == str(rig.image)
    assert (rig.lun(1) / "ro").read_text().strip() == "0"
    assert rig.file(2) == ""


def test_a_read_only_attach_sets_ro_before_the_file(rig: Rig) -> None:
    rig.service.attach("disk.img", "ro", None, ORIGIN)
    assert (rig.lun(1) / "ro").read_text().strip() == "1"
    ro, file = (rig.kernel.mutations.index(f"write {rig.lun(1) / n}") for n in ("ro", "file"))
    assert ro < file  # the kernel refuses ro once a medium is loaded


def test_an_idle_unlocked_host_lets_the_storage_follow_focus_to_the_next_gadget(
    rig: Rig,
) -> None:
    rig.service.attach("disk.img", "rw", None, ORIGIN)
    rig.clock.now += QUIET + 1
    result = rig.service.focus_moved(PortId(2), rig.clock.now)
    assert type(result).__name__ == "StorageMoved"
    assert (rig.file(1), rig.file(2)) == ("", str(rig.image))
    assert f"write {rig.lun(1) / 'forced_eject'}" in rig.kernel.mutations


def test_a_host_lock_holds_the_move_and_the_lun_keeps_its_medium(rig: Rig) -> None:
    rig.service.attach("disk.img", "rw", None, ORIGIN)
    rig.kernel.locked.add(rig.lun(1))  # the host mounted it (PREVENT MEDIUM REMOVAL)
    rig.clock.now += QUIET + 1
    result = rig.service.focus_moved(PortId(2), rig.clock.now)
    assert type(result).__name__ == "StorageHeld"
    assert result.reason.value == "medium locked by host"  # type: ignore[union-attr]
    assert (rig.file(1), rig.file(2)) == (str(rig.image), "")
    assert rig.service.view()["held_by"] == "1"


def test_a_forced_move_ejects_through_the_lock(rig: Rig) -> None:
    rig.service.attach("disk.img", "rw", None, ORIGIN)
    rig.kernel.locked.add(rig.lun(1))
    result = rig.service.focus_moved(PortId(2), rig.clock.now, force=True)
    assert type(result).__name__ == "StorageMoved"
    assert result.forced  # type: ignore[union-attr]
    assert (rig.file(1), rig.file(2)) == ("", str(rig.image))
    assert rig.lun(1) not in rig.kernel.locked


def test_a_move_held_by_the_lock_looks_again_every_second_and_goes_after_the_unmount(
    rig: Rig,
) -> None:
    rig.service.attach("disk.img", "rw", None, ORIGIN)
    rig.kernel.locked.add(rig.lun(1))
    rig.service.focus_moved(PortId(2), rig.clock.now)
    assert rig.timer.armed == rig.clock.now + 1.0  # nothing else would see the unlock
    rig.clock.now += 1
    assert rig.service.handle_timer() is None  # still locked: look again in a second
    assert rig.timer.armed == rig.clock.now + 1.0
    rig.kernel.locked.discard(rig.lun(1))  # umount
    rig.clock.now += 1
    assert rig.service.handle_timer() is None  # the unlock is activity: quiet period first
    assert rig.timer.armed == rig.clock.now + QUIET
    rig.clock.now += QUIET
    assert rig.service.handle_timer() is not None
    assert rig.file(2) == str(rig.image)


def test_the_host_ejecting_lets_a_held_move_go_at_once(rig: Rig) -> None:
    rig.service.attach("disk.img", "rw", None, ORIGIN)
    rig.kernel.locked.add(rig.lun(1))
    rig.service.focus_moved(PortId(2), rig.clock.now)
    rig.kernel.host_ejects(rig.lun(1))  # "Safely remove" on the host
    rig.clock.now += 1
    rig.service.handle_timer()  # the next look
    assert rig.service.view()["port"] == "2"
    assert rig.file(2) == str(rig.image)
    assert "host_eject" in rig.journal.actions()


def test_an_eject_is_refused_while_the_host_has_it_locked_unless_forced(rig: Rig) -> None:
    rig.service.attach("disk.img", "rw", None, ORIGIN)
    rig.kernel.locked.add(rig.lun(1))
    with pytest.raises(BusyError, match="host has the medium locked on port 1"):
        rig.service.eject(False, ORIGIN)
    assert rig.file(1) == str(rig.image)
    assert rig.service.eject(True, ORIGIN)["forced"] is True
    assert rig.file(1) == ""


def test_a_gadget_port_without_a_lun_refuses_the_attach(rig: Rig) -> None:
    with pytest.raises(BusyError, match="port 3 is a gadget port without a mass-storage LUN"):
        rig.service.attach("disk.img", "rw", "3", ORIGIN)
    assert rig.service.view()["image"] is None
    assert rig.service.store.attachment() is None


def test_a_lun_that_is_gone_fails_the_attach_and_leaves_nothing(rig: Rig) -> None:
    shutil.rmtree(rig.lun(2).parent)  # someone removed the function by hand
    with pytest.raises(DeviceError):
        rig.service.attach("disk.img", "rw", "2", ORIGIN)
    assert rig.service.view()["image"] is None
    assert rig.service.store.attachment() is None


def test_a_restarted_daemon_leaves_the_medium_its_host_has_mounted(rig: Rig) -> None:
    rig.service.attach("disk.img", "rw", None, ORIGIN)
    rig.kernel.locked.add(rig.lun(1))  # mounted on the host
    rig.kernel.mutations.clear()
    lun = ConfigfsLun(rig.lun(1), rig.kernel)  # the new daemon's LUN object
    lun.load(Medium(str(rig.image), read_only=False))  # what restore() does
    assert rig.kernel.mutations == []
    assert rig.file(1) == str(rig.image)
    assert lun.report(probe_lock=True).locked is True


def test_a_lun_report_sees_the_host_eject_and_probes_the_lock(tmp_path: Path) -> None:
    kernel = FakeKernel(tmp_path)
    Configfs(kernel.roots, kernel, load_module=kernel.modprobe, ids=kernel.ids).setup(
        [parse_config({"ports": {"1": {"target": "gadget"}}}).port(1)]
    )
    image = tmp_path / "x.img"
    image.write_bytes(bytes(512))
    lun = ConfigfsLun(lun_dir(kernel.roots, 1), kernel)
    assert lun.report(probe_lock=True) == LunReport(locked=False, ejected=False)  # empty
    lun.load(Medium(str(image), read_only=False))
    assert lun.report(probe_lock=False) == LunReport(locked=None, ejected=False)
    assert lun.report(probe_lock=True) == LunReport(locked=False, ejected=False)
    kernel.locked.add(lun.path)
    assert lun.report(probe_lock=True) == LunReport(locked=True, ejected=False)
    assert lun.file() == str(image)  # the probe changed nothing
    kernel.host_ejects(lun.path)
    assert lun.report(probe_lock=True) == LunReport(locked=False, ejected=True)


async def test_the_daemon_puts_the_image_into_the_gadget_lun_and_refuses_a_lunless_port(
    tmp_path: Path,
) -> None:
    kernel = FakeKernel(tmp_path)
    doc_ports = {"1": {"target": "gadget"}, "2": {"target": "gadget"}}
    config = parse_config({"ports": doc_ports})
    Configfs(kernel.roots, kernel, load_module=kernel.modprobe, ids=kernel.ids).setup(
        config.port(u) for u in (1, 2)
    )
    fifo_dir = tmp_path / "fifos"
    fifo_dir.mkdir()
    for name in ("k", "m"):
        (fifo_dir / name).write_bytes(b"")
    roots = kernel.roots
    doc = {
        "gadget": {
            "configfs": str(roots.configfs),
            "sysfs": str(roots.sysfs),
            "dev": str(roots.dev),
        },
        "ports": {
            **doc_ports,
            "3": {
                "target": "gadget",
                "hidg_keyboard": str(fifo_dir / "k"),
                "hidg_mouse": str(fifo_dir / "m"),
            },
        },
    }
    daemon, board = await start(tmp_path / "state", doc)
    try:
        storage = board.storage
        assert storage is not None
        storage.store.create_blank("disk.img", SIZE)
        with pytest.raises(BusyError, match="port 3 is a gadget port without"):
            storage.attach("disk.img", "ro", "3", ORIGIN)
        storage.attach("disk.img", "ro", None, ORIGIN)
        lun1 = lun_dir(roots, 1)
        assert (lun1 / "file").read_text().strip() == str(storage.store.path("disk.img"))
        assert (lun1 / "ro").read_text().strip() == "1"
        storage.eject(False, ORIGIN)
        # plain files here: what the daemon wrote is the kernel's eject attribute
        assert (lun1 / "forced_eject").read_text().strip() == "1"
    finally:
        await daemon.stop()
