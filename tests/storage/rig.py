"""A disk on a test bench: memory medium, logical unit, BOT transport, initiator, listener."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from kvmswitchd.errors import DeviceError
from kvmswitchd.storage.blockdev import MemoryBlockDevice
from kvmswitchd.storage.bot import BulkOnlyTransport
from kvmswitchd.storage.initiator import BotInitiator, CheckConditionError
from kvmswitchd.storage.scsi import LogicalUnit


@dataclass
class Recorder:
    """A MediumListener that writes down what it hears."""

    events: list[tuple[str, bool | None]] = field(default_factory=list)

    def io_started(self, write: bool) -> None:
        self.events.append(("io_started", write))

    def io_finished(self, write: bool) -> None:
        self.events.append(("io_finished", write))

    def lock_changed(self, locked: bool) -> None:
        self.events.append(("lock_changed", locked))

    def host_ejected(self) -> None:
        self.events.append(("host_ejected", None))


class BrokenDevice(MemoryBlockDevice):
    """A medium whose reads, writes and flushes fail (an image on a dying disk)."""

    def read(self, lba: int, count: int) -> bytes:
        raise DeviceError("read failed")

    def write(self, lba: int, data: bytes) -> None:
        raise DeviceError("write failed")

    def flush(self) -> None:
        raise DeviceError("flush failed")


@dataclass
class Rig:
    medium: MemoryBlockDevice
    unit: LogicalUnit
    transport: BulkOnlyTransport
    host: BotInitiator
    heard: Recorder


def make_rig(
    blocks: int = 64,
    *,
    read_only: bool = False,
    removable: bool = True,
    loaded: bool = True,
    settle: bool = True,
    transfer_size: int = 4096,
) -> Rig:
    """A rig; ``settle`` consumes the medium-changed UNIT ATTENTION as a host would."""
    heard = Recorder()
    unit = LogicalUnit(read_only=read_only, removable=removable, listener=heard)
    medium = MemoryBlockDevice(blocks)
    if loaded:
        unit.load(medium)
    transport = BulkOnlyTransport(unit)
    host = BotInitiator(transport, transfer_size=transfer_size)
    if loaded and settle:
        with contextlib.suppress(CheckConditionError):
            host.test_unit_ready()
    return Rig(medium, unit, transport, host, heard)
