"""The switch's USB storage as a USB disk inside a QEMU VM, over QMP.

When storage follows focus onto a ``qemu`` port (``set(medium)``), the image is added as
a block node (``blockdev-add``: a ``raw`` node over a ``file`` node) and plugged in as a
``usb-storage`` device on a USB bus the VM has (start QEMU with ``-device qemu-xhci``).
When it leaves, the device is unplugged (``device_del``, then ``DEVICE_DELETED`` is
awaited) and the node removed (``blockdev-del``). Both run in the port's QMP session;
a VM that (re)connects gets the disk again if the storage is still on its port.

Whether the guest still uses the disk is not visible over QMP (a mounted but idle file
system looks like nothing). What is visible is its I/O: while the disk is in, its
``query-blockstats`` read/write counters are polled every ``IO_POLL_INTERVAL`` seconds
and each change is reported to the storage service as I/O (``on_io``), so the usual
hand-over rule holds the storage until the guest has been quiet for the quiet period
(or the move is forced, which is logged). A guest that ejects the medium
(``DEVICE_TRAY_MOVED`` open) is reported as the host's eject (``on_ejected``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from kvmswitchd.errors import DeviceError

log = logging.getLogger(__name__)

NODE = "kvmswitchd-disk"  # the raw block node's name
DEVICE = "kvmswitchd-usb"  # the usb-storage device's id
IO_POLL_INTERVAL = 1.0  # seconds between looks at the disk's I/O counters
UNPLUG_TIMEOUT = 10.0  # seconds device_del may take before DEVICE_DELETED

Medium = tuple[str, bool]  # the image file, read-only
Execute = Callable[..., Awaitable[Any]]  # execute(command, arguments=None)


class QmpDisk:
    """What one VM has plugged in of the switch's storage, kept equal to ``wanted``."""

    def __init__(self, name: str, *, io_interval: float = IO_POLL_INTERVAL) -> None:
        self.name = name
        self.io_interval = io_interval
        self.wanted: Medium | None = None
        self.attached: Medium | None = None
        self.problem: str | None = None  # the last attach/detach failure
        self.io_seen = 0  # counter changes reported as I/O
        self.on_io: Callable[[bool], None] = lambda _write: None
        self.on_ejected: Callable[[], None] = lambda: None
        self.changed = asyncio.Event()  # set after each reconcile (tests wait on it)
        self._kick = asyncio.Event()
        self._deleted = asyncio.Event()
        self._counters: tuple[int, int] | None = None

    def set(self, medium: Medium | None) -> None:
        """The storage moved onto this port (the image file, read-only) or off it."""
        self.wanted = medium
        self._kick.set()

    def view(self) -> dict[str, Any]:
        return {
            "attached": self.attached[0] if self.attached else None,
            "wanted": self.wanted[0] if self.wanted else None,
            "problem": self.problem,
        }

    def event(self, name: str, data: dict[str, Any]) -> None:
        if name == "DEVICE_DELETED" and data.get("device") == DEVICE:
            self._deleted.set()
        elif name == "DEVICE_TRAY_MOVED" and data.get("id") == DEVICE and data.get("tray-open"):
            log.info("%s: the guest ejected the USB disk", self.name)
            self.on_ejected()

    def gone(self) -> None:
        """The VM went away: it holds nothing of ours any more."""
        self.attached = None
        self._counters = None

    async def settled(self) -> None:
        """Return once what is plugged in is what is wanted (tests)."""
        while self.attached != self.wanted:
            self.changed.clear()
            await self.changed.wait()

    async def session(self, execute: Execute) -> None:
        """Run for one QMP session: find what is plugged in, then keep it as wanted."""
        self.attached = await self._present(execute)
        self._kick.set()
        while True:
            if self._kick.is_set():
                self._kick.clear()
                await self._reconcile(execute)
                self.changed.set()
            if self.attached is not None:
                await self._poll_io(execute)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.io_interval if self.attached else None):
                    await self._kick.wait()

    async def _present(self, execute: Execute) -> Medium | None:
        """Our disk as the VM has it already (the daemon restarted, the VM did not)."""
        nodes = await execute("query-named-block-nodes")
        for node in nodes if isinstance(nodes, list) else ():
            if node.get("node-name") == NODE:
                return str(node.get("file", "")), bool(node.get("ro", False))
        return None

    async def _reconcile(self, execute: Execute) -> None:
        try:
            if self.attached is not None and self.attached != self.wanted:
                await self._unplug(execute)
            if self.wanted is not None and self.attached is None:
                await self._plug(execute, self.wanted)
            self.problem = None
        except DeviceError as exc:
            self.problem = str(exc)
            log.warning("%s: USB disk: %s", self.name, exc)

    async def _plug(self, execute: Execute, medium: Medium) -> None:
        path, read_only = medium
        await execute(
            "blockdev-add",
            {
                "driver": "raw",
                "node-name": NODE,
                "read-only": read_only,
                "file": {"driver": "file", "filename": path, "read-only": read_only},
            },
        )
        try:
            await execute(
                "device_add",
                {"driver": "usb-storage", "id": DEVICE, "drive": NODE, "removable": True},
            )
        except DeviceError:
            with contextlib.suppress(DeviceError):
                await execute("blockdev-del", {"node-name": NODE})
            raise
        self.attached = medium
        self._counters = None
        log.info(
            "%s: USB disk %s plugged in%s", self.name, path, " (read-only)" if read_only else ""
        )

    async def _unplug(self, execute: Execute) -> None:
        self._deleted.clear()
        try:
            await execute("device_del", {"id": DEVICE})
        except DeviceError:
            self._deleted.set()  # not there any more (a restart): nothing to wait for
        try:
            async with asyncio.timeout(UNPLUG_TIMEOUT):
                await self._deleted.wait()
        except TimeoutError:
            raise DeviceError(f"{self.name}: the VM did not release the USB disk") from None
        await execute("blockdev-del", {"node-name": NODE})
        log.info("%s: USB disk unplugged", self.name)
        self.attached = None
        self._counters = None

    async def _poll_io(self, execute: Execute) -> None:
        try:
            stats = await execute("query-blockstats")
        except DeviceError:
            return
        for entry in stats if isinstance(stats, list) else ():
            if entry.get("node-name") != NODE and DEVICE not in str(entry.get("qdev", "")):
                continue
            counters = entry.get("stats", {})
            now = (int(counters.get("rd_operations", 0)), int(counters.get("wr_operations", 0)))
            before, self._counters = self._counters, now
            if before is not None and now != before:
                self.io_seen += 1
                self.on_io(now[1] != before[1])
            return
