"""The target-backend Protocol: what a port's computer connection must do (SPEC §8)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from kvmswitchd.core.commands import PowerAction

# Called with the raw bytes the target's host sent toward its keyboard: a USB LED output
# report (1 byte), or PS/2 host-to-keyboard command bytes (``ED <leds>``...).
OutputListener = Callable[[bytes], None]


class TargetBackend(Protocol):
    """One port's connection to its computer: wire-format HID in, LED reports out."""

    kind: str

    def write_keyboard(self, report: bytes) -> None:
        """Deliver one keyboard report (USB boot/NKRO) or PS/2 scan-code bytes."""
        ...

    def write_mouse(self, report: bytes) -> None:
        """Deliver one mouse report (relative or absolute, per the port's mouse config)."""
        ...

    def set_output_listener(self, listener: OutputListener) -> None:
        """Register who receives the host's keyboard output (LED) reports."""
        ...

    def present_edid(self, edid: bytes | None) -> None:
        """Show the target this EDID (None: no monitor, hot-plug deasserted)."""
        ...

    def screen(self) -> bytes | None:
        """The current frame as PNG, or None when this backend has no screen."""
        ...

    def view(self) -> dict[str, Any]:
        """What the target has received, for ``GET /ports/{id}/target``."""
        ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@runtime_checkable
class PowerControl(Protocol):
    """A target with a power path (a QEMU VM over QMP): the guarded ``Power`` command
    reaches it once the actor's ``power`` right on the port is checked."""

    async def power(self, action: PowerAction) -> str:
        """Do ``action``; the words of what was done. Raises BusyError when the machine
        cannot do it now (not running, already off), DeviceError when it failed."""
        ...

    def power_view(self) -> dict[str, Any]:
        """The machine's run state for the port's view and ``/state``."""
        ...
