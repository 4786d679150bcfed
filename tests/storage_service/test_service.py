"""The storage service: attach, the emulated hosts, hand-over with a fake clock, eject, restart."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kvmswitchd.core.commands import Origin, Source
from kvmswitchd.core.ports import PortId
from kvmswitchd.core.storage import HoldReason, StayReason, StorageHeld, StorageMoved, StorageStayed
from kvmswitchd.errors import BusyError, DeviceError, InputError, NotFoundError, PortError
from kvmswitchd.storage.blockdev import FileBlockDevice
from kvmswitchd.storage.bot import CswStatus
from kvmswitchd.storage.host import StorageHost
from kvmswitchd.storage.images import ImageStore
from kvmswitchd.storage.initiator import CheckConditionError
from kvmswitchd.storage.scsi_wire import Sense
from kvmswitchd.storage.service import StorageService, switch_detail
from kvmswitchd.storage.volume import FlatVolume
from tests.storage_service.conftest import QUIET, Bench, Clock, FakeJournal, Timer, blank

P1, P2, P3 = PortId(1), PortId(2), PortId(3)
ORIGIN = Origin(Source.HTTP, detail="127.0.0.1", user="alice")


def files_in(path: Path) -> dict[str, bytes]:
    """The files on an image, read straight from the image file."""
    device = FileBlockDevice.open(path, read_only=True)
    try:
        volume = FlatVolume.mount(device)
        return {name: volume.read_file(name) for name in volume.files()}
    finally:
        device.close()


def attach(bench: Bench, mode: str = "rw", pin: str | None = None) -> Path:
    path = blank(bench)
    bench.service.attach("disk.img", mode, pin, ORIGIN)
    return path


def formatted(bench: Bench, unit: int = 1) -> StorageHost:
    attach(bench)
    host = bench.service.host_for(unit)
    host.format()
    return host


# -- the emulated computer reads and writes through SCSI/BOT ---------------------------------


def test_a_file_the_focused_computer_writes_is_in_the_image_after_eject(bench: Bench) -> None:
    path = attach(bench)
    host = bench.service.host_for(1)
    assert host.present
    host.format()
    host.write_file("notes.txt", b"hello from port 1")
    assert host.read_file("notes.txt") == b"hello from port 1"
    view = bench.service.eject(False, ORIGIN)
    assert view["image"] is None
    assert view["forced"] is False
    assert files_in(path) == {"notes.txt": b"hello from port 1"}


def test_raw_blocks_written_by_the_host_land_at_their_offset_in_the_image(bench: Bench) -> None:
    path = attach(bench)
    host = bench.service.host_for(1)
    data = bytes(range(256)) * 4  # two blocks
    host.write(10, data)
    assert host.read(10, 2) == data
    assert path.read_bytes()[10 * 512 : 12 * 512] == data


def test_attach_follows_usb_focus_and_other_ports_see_no_storage(bench: Bench) -> None:
    attach(bench)
    view = bench.service.view()
    assert (view["image"], view["mode"], view["port"], view["pinned"]) == (
        "disk.img",
        "rw",
        "1",
        False,
    )
    assert view["images"][0]["attached"] == {"port": "1", "mode": "rw", "pinned": False}
    other = bench.service.host_for(2)
    assert not other.present
    with pytest.raises(DeviceError, match="no USB storage is plugged into port 2"):
        other.read(0, 1)
    entry = bench.journal.last("attach")
    assert (entry.kind, entry.source, entry.ports, entry.user) == (
        "storage",
        "http",
        ("1",),
        "alice",
    )
    assert entry.detail == {
        "action": "attach",
        "image": "disk.img",
        "mode": "rw",
        "pinned": False,
        "via": "127.0.0.1",
    }


def test_the_target_view_lists_the_files_only_on_the_port_that_has_the_storage(
    bench: Bench,
) -> None:
    host = formatted(bench)
    host.write_file("a.txt", b"abc")
    assert bench.service.target_view(1) == {
        "present": True,
        "image": "disk.img",
        "mode": "rw",
        "files": [{"name": "a.txt", "size": 3}],
    }
    assert bench.service.target_view(2) == {
        "present": False,
        "image": None,
        "mode": None,
        "files": [],
    }


def test_the_target_view_reports_no_files_for_a_blank_image_and_does_no_io(bench: Bench) -> None:
    attach(bench)
    assert bench.service.target_view(1)["files"] is None
    assert bench.service.view()["in_flight"] == 0
    assert bench.timer.armed is None


def test_a_read_only_attachment_refuses_the_hosts_writes(bench: Bench) -> None:
    path = blank(bench)
    bench.service.attach("disk.img", "ro", None, ORIGIN)
    with pytest.raises(CheckConditionError) as info:
        bench.service.host_for(1).write(0, bytes([1]) * 512)
    assert info.value.sense == Sense.WRITE_PROTECTED
    assert path.read_bytes() == bytes(len(path.read_bytes()))


def test_attach_refuses_bad_modes_ports_images_and_a_second_image(bench: Bench) -> None:
    blank(bench)
    blank(bench, "other.img")
    service = bench.service
    with pytest.raises(InputError, match="mode"):
        service.attach("disk.img", "wr", None, ORIGIN)
    with pytest.raises(InputError, match="cascaded"):
        service.attach("disk.img", "rw", "2.3", ORIGIN)
    with pytest.raises(PortError):
        service.attach("disk.img", "rw", "9", ORIGIN)
    with pytest.raises(NotFoundError):
        service.attach("missing.img", "rw", None, ORIGIN)
    with pytest.raises(InputError):
        service.attach("../etc/passwd", "rw", None, ORIGIN)
    service.attach("disk.img", "rw", None, ORIGIN)
    with pytest.raises(BusyError):
        service.attach("other.img", "rw", None, ORIGIN)
    assert service.view()["image"] == "disk.img"


def test_a_read_only_image_can_only_be_attached_read_only(bench: Bench) -> None:
    blank(bench)
    bench.service.store.set_read_only("disk.img", True)
    with pytest.raises(InputError, match="read-only"):
        bench.service.attach("disk.img", "rw", None, ORIGIN)
    assert bench.service.view()["image"] is None
    bench.service.attach("disk.img", "ro", None, ORIGIN)
    assert bench.service.view()["mode"] == "ro"


# -- hand-over: held while busy, follows when quiet, forced on demand ---------------------------


def test_focus_moving_during_a_write_holds_the_storage_until_the_quiet_period_ends(
    bench: Bench,
) -> None:
    service, clock = bench.service, bench.clock
    host1 = formatted(bench)
    data = bytes([7]) * 1024
    exchange = host1.start_write(20, data)
    assert service.view()["in_flight"] == 1

    result = service.focus_moved(P2, clock(), False)
    assert result == StorageHeld("disk.img", P1, P2, HoldReason.WRITE_IN_FLIGHT)
    assert switch_detail(result) == {
        "usb": "held",
        "held_by": "1",
        "wanted": "2",
        "reason": "write in flight",
    }
    view = service.view()
    assert (view["port"], view["held_by"], view["held_reason"], view["pending"]) == (
        "1",
        "1",
        "write in flight",
        "2",
    )
    assert service.held() == ("1", "write in flight")
    held = bench.journal.last("held")
    assert held.detail["reason"] == "write in flight"
    assert held.ports == ("1", "2")
    assert bench.timer.armed is None  # busy: no deadline yet

    clock.now += 1.0
    result_csw = exchange.run()
    assert result_csw.status is CswStatus.PASSED
    assert bench.timer.armed == clock.now + QUIET
    assert service.view()["held_reason"] == "host active within the quiet period"

    clock.now += QUIET - 0.5
    assert service.handle_timer() is None
    assert service.view()["port"] == "1"

    clock.now += 0.5
    assert service.handle_timer() == StorageMoved("disk.img", P1, P2, deferred=True)
    assert bench.timer.armed is None
    move = bench.journal.last("move")
    assert move.detail["deferred"] is True
    assert move.detail["forced"] is False
    assert move.source == "system"
    assert service.view()["held_by"] is None
    assert service.host_for(2).read(20, 2) == data
    with pytest.raises(DeviceError):
        host1.read(0, 1)


def test_a_recently_active_host_holds_the_storage_for_the_quiet_period(bench: Bench) -> None:
    host = formatted(bench)
    host.write_file("x", b"1")
    result = bench.service.focus_moved(P2, bench.clock.now + 1.0, False)
    assert isinstance(result, StorageHeld)
    assert result.reason is HoldReason.RECENTLY_ACTIVE


def test_force_moves_a_busy_storage_at_once_and_logs_it_as_forced(
    bench: Bench, caplog: pytest.LogCaptureFixture
) -> None:
    host1 = formatted(bench)
    exchange = host1.start_write(20, bytes([9]) * 1024)
    with caplog.at_level(logging.WARNING):
        result = bench.service.focus_moved(P2, bench.clock(), True)
    assert result == StorageMoved(
        "disk.img", P1, P2, forced=True, overrode=HoldReason.WRITE_IN_FLIGHT
    )
    assert switch_detail(result) == {
        "usb": "moved",
        "from": "1",
        "to": "2",
        "forced": True,
        "overrode": "write in flight",
    }
    move = bench.journal.last("move")
    assert move.detail["forced"] is True
    assert move.detail["overrode"] == "write in flight"
    assert "forced move" in caplog.text
    with pytest.raises(DeviceError):  # the old host lost the device mid-command
        exchange.run()
    host2 = bench.service.host_for(2)
    assert host2.present
    assert host2.files() == {}  # the volume itself survived


def test_the_host_ejecting_the_medium_releases_a_held_move_at_once(bench: Bench) -> None:
    host1 = formatted(bench)
    host1.lock(True)
    bench.clock.now += 100 * QUIET
    result = bench.service.focus_moved(P2, bench.clock(), False)
    assert isinstance(result, StorageHeld)
    assert result.reason is HoldReason.MEDIUM_LOCKED
    host1.eject()  # "safely remove": flush, unlock, START STOP UNIT
    actions = bench.journal.actions()
    assert actions[-2:] == ["host_eject", "move"]
    assert bench.service.view()["port"] == "2"
    host2 = bench.service.host_for(2)
    assert host2.present  # presented afresh to the new port
    assert host2.files() == {}


def test_a_host_eject_without_a_pending_move_leaves_the_image_attached_but_absent(
    bench: Bench,
) -> None:
    host = formatted(bench)
    host.eject()
    view = bench.service.view()
    assert (view["image"], view["ejected"], view["present"]) == ("disk.img", True, False)
    assert not host.present
    assert bench.service.target_view(1)["present"] is False
    bench.service.focus_moved(P3, bench.clock(), False)  # an ejected host does not hold it
    assert bench.service.host_for(3).present


def test_eject_is_refused_while_the_host_has_the_medium_locked_unless_forced(
    bench: Bench,
) -> None:
    host = formatted(bench)
    host.lock(True)
    assert bench.service.view()["locked"] is True
    with pytest.raises(BusyError, match="locked"):
        bench.service.eject(False, ORIGIN)
    assert bench.service.view()["image"] == "disk.img"
    view = bench.service.eject(True, ORIGIN)
    assert view["forced"] is True
    assert view["image"] is None
    entry = bench.journal.last("eject")
    assert entry.detail["forced"] is True
    assert entry.detail["overrode"] == "medium locked by host"
    assert bench.service.store.attachment() is None
    with pytest.raises(DeviceError):
        host.read(0, 1)


def test_eject_with_nothing_attached_is_not_found(bench: Bench) -> None:
    with pytest.raises(NotFoundError):
        bench.service.eject(False, ORIGIN)


def test_a_pinned_storage_ignores_focus_until_unpinned(bench: Bench) -> None:
    attach(bench, pin="3")
    assert bench.service.view()["pinned"] is True
    result = bench.service.focus_moved(P2, bench.clock(), False)
    assert result == StorageStayed(P3, StayReason.PINNED)
    assert switch_detail(result) == {
        "usb": "stayed",
        "held_by": "3",
        "reason": "pinned to its port",
    }
    view = bench.service.pin(None, False, ORIGIN)
    assert (view["usb"], view["port"], view["pinned"]) == ("moved", "2", False)


def test_pinning_to_a_busy_hosts_other_port_is_held_and_remembered(bench: Bench) -> None:
    host = formatted(bench)
    host.lock(True)
    view = bench.service.pin("3", False, ORIGIN)
    assert (view["usb"], view["reason"], view["port"], view["pending"]) == (
        "held",
        "medium locked by host",
        "1",
        "3",
    )
    attachment = bench.service.store.attachment()
    assert attachment is not None
    assert (attachment.port, attachment.pinned) == (P3, True)
    view = bench.service.pin("3", True, ORIGIN)
    assert (view["usb"], view["port"], view["forced"]) == ("moved", "3", True)


def test_nothing_moves_without_an_image(bench: Bench) -> None:
    result = bench.service.focus_moved(P2, bench.clock(), False)
    assert result == StorageStayed(None, StayReason.NO_IMAGE)
    assert switch_detail(result) == {}
    with pytest.raises(NotFoundError):
        bench.service.pin("2", False, ORIGIN)


def test_device_reports_push_state_only_when_what_is_shown_changes(bench: Bench) -> None:
    host = formatted(bench)
    before = len(bench.changes)
    host.write_file("a", b"1")  # I/O, but nothing shown changes (not held, not locked)
    assert len(bench.changes) == before
    host.lock(True)
    assert len(bench.changes) == before + 1


# -- restart --------------------------------------------------------------------------------------


def test_a_restart_reattaches_a_pinned_image_to_its_port(bench: Bench) -> None:
    attach(bench, pin="3")
    bench.service.host_for(3).format()
    service = bench.reopen(focus=P1)
    view = service.view()
    assert (view["image"], view["port"], view["pinned"]) == ("disk.img", "3", True)
    assert service.host_for(3).files() == {}
    assert bench.journal.last("restore").ports == ("3",)


def test_a_restart_reattaches_a_following_image_to_the_usb_focus(bench: Bench) -> None:
    attach(bench)
    service = bench.reopen(focus=P2)
    assert service.view()["port"] == "2"


def test_a_restart_whose_image_vanished_forgets_the_attachment_and_says_why(bench: Bench) -> None:
    path = attach(bench)
    bench.service.close()
    path.unlink()
    service = bench.reopen()
    assert service.view()["image"] is None
    assert service.store.attachment() is None
    assert "disk.img" in bench.journal.last("restore_failed").detail["problem"]


# -- images through the service ------------------------------------------------------------------


async def chunks_of(data: bytes, sizes: list[int]) -> AsyncIterator[bytes]:
    pos = 0
    for size in sizes:
        yield data[pos : pos + size]
        pos += size
    if pos < len(data):
        yield data[pos:]


async def test_an_attached_image_cannot_be_deleted_or_reflagged(bench: Bench) -> None:
    attach(bench)
    with pytest.raises(BusyError):
        await bench.service.delete_image("disk.img", ORIGIN)
    with pytest.raises(BusyError):
        await bench.service.set_read_only("disk.img", True, ORIGIN)
    bench.service.eject(False, ORIGIN)
    await bench.service.delete_image("disk.img", ORIGIN)
    assert bench.service.images() == []
    assert bench.journal.actions()[-1] == "delete"


async def test_an_upload_over_the_cap_leaves_nothing_behind(bench: Bench) -> None:
    data = bytes(2 << 20)  # the bench caps images at 1 MiB
    with pytest.raises(InputError, match="exceeds"):
        await bench.service.upload_image("big.img", chunks_of(data, [1 << 16] * 40), None, ORIGIN)
    assert sorted(p.name for p in bench.root.iterdir() if not p.name.startswith(".images")) == []
    assert bench.journal.last("upload_failed").detail["image"] == "big.img"


async def test_an_upload_shorter_than_its_length_leaves_nothing_behind(bench: Bench) -> None:
    with pytest.raises(InputError, match="ended after 512 of 1024"):
        await bench.service.upload_image("short.img", chunks_of(bytes(512), []), 1024, ORIGIN)
    assert [p.name for p in bench.root.iterdir() if not p.name.startswith(".images")] == []


async def test_the_real_loop_timer_completes_a_held_move(tmp_path: Path) -> None:
    loop = asyncio.get_running_loop()
    moved: asyncio.Future[None] = loop.create_future()
    journal = FakeJournal()

    def on_change() -> None:
        if service.view(images=False)["port"] == "2" and not moved.done():
            moved.set_result(None)

    service = StorageService(
        ImageStore.open(tmp_path),
        ports=4,
        focus=P1,
        quiet_period=0.0,
        record=journal.record,
        clock=loop.time,
        on_change=on_change,
    )
    try:
        service.store.create_blank("disk.img", 64 * 1024)
        service.attach("disk.img", "rw", None, ORIGIN)
        exchange = service.host_for(1).start_write(0, bytes(512))
        assert isinstance(service.focus_moved(P2, loop.time()), StorageHeld)
        exchange.run()  # the write ends: with no quiet period the timer fires at once
        await asyncio.wait_for(moved, 5)
        assert journal.last("move").detail["deferred"] is True
    finally:
        service.close()


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    data=st.binary(min_size=512, max_size=4096),
    sizes=st.lists(st.integers(0, 1500), max_size=8),
)
def test_any_chunking_of_an_upload_stores_the_same_bytes_and_hash(
    tmp_path_factory: pytest.TempPathFactory, data: bytes, sizes: list[int]
) -> None:
    root = tmp_path_factory.mktemp("images")
    service = StorageService(
        ImageStore.open(root),
        ports=4,
        focus=P1,
        record=FakeJournal().record,
        clock=Clock(),
        rearm=Timer(),
    )
    info = asyncio.run(service.upload_image("up.img", chunks_of(data, sizes), None, ORIGIN))
    assert info["sha256"] == hashlib.sha256(data).hexdigest()
    assert info["size"] == len(data)
    assert (root / "up.img").read_bytes() == data


def test_on_plug_follows_the_device_from_port_to_port(tmp_path: Path) -> None:
    plugs: list[tuple[PortId | None, PortId | None]] = []
    service = StorageService(
        ImageStore.open(tmp_path),
        ports=4,
        focus=P1,
        record=FakeJournal().record,
        clock=Clock(),
        rearm=Timer(),
        on_plug=lambda old, new: plugs.append((old, new)),
    )
    service.store.create_blank("disk.img", 64 * 1024)
    service.attach("disk.img", "rw", None, ORIGIN)
    service.focus_moved(P2, 1000.0)
    service.focus_moved(P2, 1001.0)  # already there: no plug change
    service.eject(False, ORIGIN)
    assert plugs == [(None, P1), (P1, P2), (P2, None)]


def test_a_forced_eject_fails_the_hosts_write_in_flight_cleanly(bench: Bench) -> None:
    host = formatted(bench)
    exchange = host.start_write(20, bytes([3]) * 1024)
    bench.service.eject(True, ORIGIN)
    with pytest.raises(DeviceError):  # unplugged: the host's transfer has nowhere to go
        exchange.run()
    assert bench.service.view()["in_flight"] == 0
