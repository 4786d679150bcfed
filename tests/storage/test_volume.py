"""An emulated computer saves files to the stick through SCSI/BOT; they are in the image."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kvmswitchd.errors import BusyError, DeviceError, InputError, NotFoundError
from kvmswitchd.storage.blockdev import FileBlockDevice, MemoryBlockDevice
from kvmswitchd.storage.bot import BulkOnlyTransport
from kvmswitchd.storage.images import ImageStore
from kvmswitchd.storage.initiator import BotInitiator, CheckConditionError
from kvmswitchd.storage.lun import EmulatedLun
from kvmswitchd.storage.scsi import LogicalUnit
from kvmswitchd.storage.volume import MAX_FILES, FlatVolume


def test_files_written_through_scsi_are_in_the_image_file(tmp_path: Path) -> None:
    store = ImageStore.open(tmp_path / "images")
    store.create_blank("stick.img", 1 << 20)
    bus = EmulatedLun(LogicalUnit())
    bus.set_file(str(store.path("stick.img")))
    host = BotInitiator(BulkOnlyTransport(bus.unit))
    with pytest.raises(CheckConditionError):
        host.test_unit_ready()  # medium changed
    volume = FlatVolume.format(host)
    volume.write_file("hello.txt", b"hello from port 2\n")
    volume.write_file("big.bin", bytes(range(256)) * 40)
    host.eject()
    assert bus.file() == ""

    image = FileBlockDevice.open(store.path("stick.img"), read_only=True)
    on_disk = FlatVolume.mount(image)
    assert on_disk.files() == {"hello.txt": 18, "big.bin": 10240}
    assert on_disk.read_file("hello.txt") == b"hello from port 2\n"
    assert on_disk.read_file("big.bin") == bytes(range(256)) * 40
    image.close()


@settings(max_examples=40)
@given(
    st.dictionaries(
        st.text(
            st.characters(codec="utf-8", exclude_characters="\0"),
            min_size=1,
            max_size=8,
        ),
        st.binary(max_size=3000),
        max_size=8,
    )
)
def test_files_read_back_after_remount(files: dict[str, bytes]) -> None:
    device = MemoryBlockDevice(256)
    volume = FlatVolume.format(device)
    for name, data in files.items():
        volume.write_file(name, data)
    again = FlatVolume.mount(device)
    assert again.files() == {name: len(data) for name, data in files.items()}
    for name, data in files.items():
        assert again.read_file(name) == data


def test_rewriting_a_file_keeps_the_latest_version() -> None:
    volume = FlatVolume.format(MemoryBlockDevice(64))
    volume.write_file("a", b"one")
    volume.write_file("a", b"two!")
    assert FlatVolume.mount(volume.device).read_file("a") == b"two!"


def test_unformatted_device_does_not_mount() -> None:
    with pytest.raises(DeviceError):
        FlatVolume.mount(MemoryBlockDevice(64))


def test_missing_file_full_volume_and_bad_names_are_clean_errors() -> None:
    volume = FlatVolume.format(MemoryBlockDevice(10))
    with pytest.raises(NotFoundError):
        volume.read_file("nope")
    with pytest.raises(InputError):
        volume.write_file("x" * 33, b"")
    with pytest.raises(InputError):
        volume.write_file("\ud800", b"")
    with pytest.raises(BusyError):
        volume.write_file("big", bytes(512 * 3))
    for i in range(MAX_FILES):
        volume.write_file(str(i), b"")
    with pytest.raises(BusyError):
        volume.write_file("one-more", b"")
