"""The emulated LUN behaves like the configfs mass_storage LUN attributes (§7.3)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kvmswitchd.errors import BusyError, DeviceError
from kvmswitchd.storage.blockdev import FileBlockDevice
from kvmswitchd.storage.bot import BulkOnlyTransport
from kvmswitchd.storage.initiator import BotInitiator, CheckConditionError
from kvmswitchd.storage.lun import EmulatedLun, StorageBus
from kvmswitchd.storage.scsi import LogicalUnit
from kvmswitchd.storage.scsi_wire import Sense


def image(tmp_path: Path, name: str = "disk.img", blocks: int = 32) -> Path:
    path = tmp_path / name
    path.write_bytes(bytes(blocks * 512))
    return path


def bus_and_host() -> tuple[EmulatedLun, BotInitiator]:
    lun = EmulatedLun(LogicalUnit(removable=True))
    return lun, BotInitiator(BulkOnlyTransport(lun.unit))


def settle(host: BotInitiator) -> None:
    with pytest.raises(CheckConditionError):
        host.test_unit_ready()


def test_emulated_lun_satisfies_the_storage_bus_protocol() -> None:
    bus: StorageBus = EmulatedLun(LogicalUnit())
    assert bus.file() == ""


def test_writing_file_loads_the_image_with_a_unit_attention(tmp_path: Path) -> None:
    bus, host = bus_and_host()
    path = image(tmp_path)
    bus.set_file(str(path))
    assert bus.file() == str(path)
    with pytest.raises(CheckConditionError) as info:
        host.test_unit_ready()
    assert info.value.sense == Sense.NOT_READY_TO_READY
    host.write(1, b"\x5a" * 512)
    host.flush()
    assert path.read_bytes()[512:1024] == b"\x5a" * 512


def test_writing_an_empty_file_ejects_to_medium_not_present(tmp_path: Path) -> None:
    bus, host = bus_and_host()
    bus.set_file(str(image(tmp_path)))
    settle(host)
    bus.set_file("")
    assert bus.file() == ""
    with pytest.raises(CheckConditionError) as info:
        host.test_unit_ready()
    assert info.value.sense == Sense.MEDIUM_NOT_PRESENT


def test_eject_or_swap_while_the_host_has_the_lock_is_busy(tmp_path: Path) -> None:
    bus, host = bus_and_host()
    path = image(tmp_path)
    bus.set_file(str(path))
    settle(host)
    host.prevent_removal(True)
    with pytest.raises(BusyError, match="host has the medium locked"):
        bus.set_file("")
    with pytest.raises(BusyError, match="host has the medium locked"):
        bus.set_file(str(image(tmp_path, "other.img")))
    assert bus.file() == str(path)
    host.test_unit_ready()  # still there, still working


def test_forced_eject_ignores_the_lock(tmp_path: Path) -> None:
    bus, host = bus_and_host()
    bus.set_file(str(image(tmp_path)))
    settle(host)
    host.prevent_removal(True)
    bus.forced_eject()
    assert bus.file() == ""
    assert not bus.unit.locked


def test_ro_changes_only_without_a_medium_and_opens_read_only(tmp_path: Path) -> None:
    bus, host = bus_and_host()
    path = image(tmp_path)
    bus.set_file(str(path))
    with pytest.raises(BusyError):
        bus.set_ro(True)
    bus.set_file("")
    bus.set_ro(True)
    assert bus.ro()
    bus.set_file(str(path))
    settle(host)
    with pytest.raises(CheckConditionError) as info:
        host.write(0, bytes(512))
    assert info.value.sense == Sense.WRITE_PROTECTED
    medium = bus.unit.medium
    assert isinstance(medium, FileBlockDevice)
    assert medium.read_only


def test_host_eject_empties_file_when_removable(tmp_path: Path) -> None:
    bus, host = bus_and_host()
    bus.set_file(str(image(tmp_path)))
    settle(host)
    host.eject()
    assert bus.file() == ""


def test_removable_flag_is_an_attribute() -> None:
    bus = EmulatedLun(LogicalUnit(removable=True))
    bus.set_removable(False)
    assert not bus.removable()


def test_missing_or_empty_image_is_a_device_error_and_leaves_no_medium(tmp_path: Path) -> None:
    bus, _ = bus_and_host()
    with pytest.raises(DeviceError):
        bus.set_file(str(tmp_path / "nope.img"))
    (tmp_path / "tiny.img").write_bytes(b"abc")
    with pytest.raises(DeviceError, match="smaller than one"):
        bus.set_file(str(tmp_path / "tiny.img"))
    assert bus.file() == ""
