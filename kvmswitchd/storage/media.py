"""Ports whose target serves the storage medium itself (a USB gadget's LUN: the kernel
reads and writes the image), as the storage service sees them (``StorageService(media=)``;
the daemon's implementation is ``kvmswitchd.gadget.lun.GadgetLuns``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from kvmswitchd.gadget.lun import LunReport

# Seconds between looks at a port serving the medium itself while a move waits for its
# host's lock (nothing else would notice the unlock or the host's eject). Each look is an
# EBUSY write that changes nothing while the lock is on.
MEDIA_POLL_INTERVAL = 1.0


class PortMedia(Protocol):
    """Ports whose target serves the medium itself (a gadget's LUN: the kernel reads the
    image), and ports that cannot carry the storage at all (``kvmswitchd.gadget.lun``)."""

    def refusal(self, unit: int) -> str | None:
        """Why port ``unit`` cannot carry the storage; None: it can."""
        ...

    def report(self, unit: int) -> LunReport | None:
        """The host's lock and eject as that port's medium shows them; None: the
        service's own device model sees that host (emulated, USB/IP)."""
        ...

    def serves(self, unit: int) -> bool:
        """Port ``unit`` serves the medium itself (its host is seen only by ``report``)."""
        ...
