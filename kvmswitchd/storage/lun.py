"""The storage bus: a mass-storage LUN driven through its configfs attributes.

``StorageBus`` mirrors ``functions/mass_storage.<name>/lun.0/{file,ro,removable,
forced_eject}`` (protocols.md §7.3), so a gadget backend (which writes those files) and the
emulated device (``EmulatedLun``, over ``scsi.LogicalUnit``) are interchangeable:

- ``set_file(path)`` loads a medium (UNIT ATTENTION for the host); ``set_file("")``
  ejects. Both raise ``BusyError("host has the medium locked")`` while the host holds a
  PREVENT ALLOW MEDIUM REMOVAL lock on a loaded medium (the kernel's EBUSY).
- ``set_ro`` raises ``BusyError`` while a medium is loaded.
- ``file()`` reads back ``""`` after the host ejected the medium itself (``removable``).
- ``forced_eject()`` breaks the host's lock and ejects.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from kvmswitchd.errors import BusyError
from kvmswitchd.storage.blockdev import BlockDevice, FileBlockDevice
from kvmswitchd.storage.scsi import LogicalUnit


class StorageBus(Protocol):
    def file(self) -> str:
        """The backing file's path, or ``""`` with no medium."""
        ...

    def set_file(self, path: str) -> None: ...

    def ro(self) -> bool: ...

    def set_ro(self, read_only: bool) -> None: ...

    def removable(self) -> bool: ...

    def set_removable(self, removable: bool) -> None: ...

    def forced_eject(self) -> None: ...


Opener = Callable[[Path, bool], BlockDevice]


def _open_file(path: Path, read_only: bool) -> BlockDevice:
    return FileBlockDevice.open(path, read_only)


class EmulatedLun:
    """``StorageBus`` over the in-process device model. Opening files is its only I/O."""

    def __init__(self, unit: LogicalUnit, opener: Opener = _open_file) -> None:
        self.unit = unit
        self._open = opener
        self._path = ""

    def file(self) -> str:
        return self._path if self.unit.medium is not None else ""

    def set_file(self, path: str) -> None:
        if not path:
            self.unit.unload()  # BusyError while locked: nothing changes
            self._path = ""
            return
        if self.unit.medium is not None and self.unit.locked:
            raise BusyError("host has the medium locked")  # checked before opening anything
        device = self._open(Path(path), self.unit.read_only)
        try:
            self.unit.load(device)
        except BaseException:
            device.close()
            raise
        self._path = path

    def ro(self) -> bool:
        return self.unit.read_only

    def set_ro(self, read_only: bool) -> None:
        self.unit.set_read_only(read_only)

    def removable(self) -> bool:
        return self.unit.removable

    def set_removable(self, removable: bool) -> None:
        self.unit.removable = removable

    def forced_eject(self) -> None:
        self.unit.unload(force=True)
        self._path = ""
