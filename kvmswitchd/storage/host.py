"""An emulated computer's side of the switch's USB storage: a mass-storage host per port.

``StorageHost`` drives the one storage device through the whole SCSI/BOT path
(``BotInitiator`` over the device's ``BulkOnlyTransport``), as raw blocks or as files on
a ``FlatVolume``, so the hand-over core sees that computer's I/O, locks and ejects. It
reaches the device only while the storage is plugged into its port (``Socket``), as a
real computer only sees a USB stick plugged into it; otherwise every call raises
``DeviceError``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

from kvmswitchd.core.ports import PortId
from kvmswitchd.errors import DeviceError
from kvmswitchd.storage.initiator import (
    BotInitiator,
    BulkOnlyPeer,
    CheckConditionError,
    Exchange,
    write10,
)
from kvmswitchd.storage.scsi_wire import Sense
from kvmswitchd.storage.volume import FlatVolume

T = TypeVar("T")

# A host retries a command that met a UNIT ATTENTION (medium changed, reset), as the
# Linux SCSI layer does; more in a row means something keeps changing the medium.
ATTENTION_RETRIES = 4
_ATTENTIONS = frozenset({Sense.NOT_READY_TO_READY, Sense.RESET_OCCURRED})
# One bulk transfer (a USB/IP URB): 16 KiB, as Linux usb-storage commonly submits.
TRANSFER_SIZE = 16 * 1024


class Socket(Protocol):
    """Where the storage device is (``StorageService`` is one)."""

    def device_on(self, port: PortId) -> BulkOnlyPeer:
        """The device's bulk endpoints if it is plugged into ``port``, else DeviceError."""
        ...

    def medium_on(self, port: PortId) -> bool:
        """The device is plugged into ``port`` with a medium loaded."""
        ...

    def drain(self) -> None:
        """A command completed: apply what it caused (a held move after a host eject)."""
        ...


class _Plug:
    """One port's USB connection: forwards to the device only while it is plugged in."""

    def __init__(self, socket: Socket, port: PortId) -> None:
        self._socket, self._port = socket, port

    def bulk_out(self, data: bytes) -> None:
        self._socket.device_on(self._port).bulk_out(data)

    def bulk_in(self, max_length: int) -> bytes | None:
        return self._socket.device_on(self._port).bulk_in(max_length)

    def control(
        self, request_type: int, request: int, value: int, index: int, length: int
    ) -> bytes:
        device = self._socket.device_on(self._port)
        return device.control(request_type, request, value, index, length)


class StorageHost:
    """The computer on ``port`` using the switch's USB storage."""

    def __init__(self, socket: Socket, port: PortId) -> None:
        self.port = port
        self._socket = socket
        self.initiator = BotInitiator(_Plug(socket, port), transfer_size=TRANSFER_SIZE)
        self._probed = False

    @property
    def present(self) -> bool:
        """The storage is plugged into this port with a medium in it."""
        return self._socket.medium_on(self.port)

    def read(self, lba: int, count: int) -> bytes:
        return self._run(lambda: self.initiator.read(lba, count))

    def write(self, lba: int, data: bytes) -> None:
        self._run(lambda: self.initiator.write(lba, data))

    def format(self) -> None:
        """Make an empty ``FlatVolume`` on the medium (it must be writable)."""
        self._run(lambda: FlatVolume.format(self.initiator))

    def files(self) -> dict[str, int]:
        return self._run(lambda: FlatVolume.mount(self.initiator).files())

    def read_file(self, name: str) -> bytes:
        return self._run(lambda: FlatVolume.mount(self.initiator).read_file(name))

    def write_file(self, name: str, data: bytes) -> None:
        self._run(lambda: FlatVolume.mount(self.initiator).write_file(name, data))

    def lock(self, prevent: bool = True) -> None:
        """PREVENT ALLOW MEDIUM REMOVAL, as a mounted filesystem does."""
        self._run(lambda: self.initiator.prevent_removal(prevent))

    def eject(self) -> None:
        """ "Safely remove": flush, allow removal, START STOP UNIT with LoEj."""
        self._run(self.initiator.eject)

    def start_write(self, lba: int, data: bytes) -> Exchange:
        """A WRITE(10) whose CBW is sent: in flight until the caller ``step()``s it done
        (``Exchange.run()``). ``data`` is whole blocks."""

        def begin() -> Exchange:
            blocks = len(data) // self.initiator.block_size
            exchange = self.initiator.exchange(write10(lba, blocks), data_out=data)
            exchange.step()
            return exchange

        return self._run(begin)

    def _run(self, action: Callable[[], T]) -> T:
        """Run ``action``, retrying after a UNIT ATTENTION as a host's SCSI layer does."""
        try:
            for _ in range(ATTENTION_RETRIES):
                try:
                    if not self._probed:
                        self.initiator.probe()
                        self._probed = True
                    return action()
                except CheckConditionError as exc:
                    if exc.sense not in _ATTENTIONS:
                        raise
                    self._probed = False  # the medium may have changed: re-read capacity
            raise DeviceError(f"port {self.port}: the storage keeps reporting unit attention")
        finally:
            self._socket.drain()
