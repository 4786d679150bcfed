"""A gadget port's mass-storage LUN: the kernel serves the image's blocks itself.

``ConfigfsLun`` is the ``storage.lun.StorageBus`` of ``functions/mass_storage.storage/
lun.0`` (reference protocols.md §7.3): writing a path to ``file`` loads the medium,
writing it empty ejects, ``forced_eject`` ejects through the host's lock, ``ro`` may change
only with no medium. The kernel answers EBUSY for a ``file`` write while the host holds
the medium locked (PREVENT ALLOW MEDIUM REMOVAL; Linux locks a removable disk while it is
open, e.g. mounted); that is ``BusyError("host has the medium locked")`` here.

What the daemon can know about the host's use of a gadget LUN (``report``):

- the host's own eject (removable LUN, "Safely remove", ``eject``): ``file`` reads empty;
- the host's lock, by rewriting ``file`` with the path it already holds: EBUSY means
  locked, and nothing changes; otherwise the kernel re-opens the same file and the host
  gets a "medium may have changed" unit attention (it re-reads the medium, harmless for a
  host that has not locked it). So the lock is probed only when a decision needs it (a
  focus move, a pin, an eject, a held move's timer), never periodically;
- reads and writes in flight: not at all (configfs shows no per-command state). A host
  that writes without locking the medium (Windows with "quick removal") is not seen as
  busy.
"""

from __future__ import annotations

import errno
import logging
from dataclasses import dataclass
from pathlib import Path

from kvmswitchd.errors import BusyError, DeviceError, KvmError
from kvmswitchd.gadget.files import Files, OsFiles

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Medium:
    """What to load into a LUN: the image file and how the host may use it."""

    path: str
    read_only: bool


@dataclass(frozen=True, slots=True)
class LunReport:
    """What the LUN shows of its host: medium locked (None: not probed), medium ejected by
    the host."""

    locked: bool | None
    ejected: bool


class ConfigfsLun:
    """``StorageBus`` over a configfs LUN directory, plus load/unload and ``report``."""

    def __init__(self, path: Path, files: Files | None = None) -> None:
        self.path = path
        self.files: Files = files or OsFiles()
        self.loaded: Medium | None = None  # what we put in (the host may have ejected it)

    # -- StorageBus ---------------------------------------------------------------------

    def file(self) -> str:
        return self._read("file")

    def set_file(self, path: str) -> None:
        self._write("file", path)

    def ro(self) -> bool:
        return self._read("ro") == "1"

    def set_ro(self, read_only: bool) -> None:
        self._write("ro", "1" if read_only else "0")

    def removable(self) -> bool:
        return self._read("removable") == "1"

    def set_removable(self, removable: bool) -> None:
        self._write("removable", "1" if removable else "0")

    def forced_eject(self) -> None:
        self._write("forced_eject", "1")

    # -- what the storage wiring calls ----------------------------------------------------

    def load(self, medium: Medium) -> None:
        """Present ``medium`` to the host. A LUN that holds it already (the daemon
        restarted; the kernel kept serving it) is left alone: its host may have it
        mounted. Anything else loaded is ejected first (``ro`` changes only with no
        medium)."""
        current = self.file()
        if current == medium.path and self.ro() == medium.read_only:
            self.loaded = medium
            return
        if current:
            self.forced_eject()
        self.loaded = None
        self.set_ro(medium.read_only)
        self.set_file(medium.path)
        self.loaded = medium

    def unload(self) -> None:
        """Take the medium away. The hand-over rules already decided (and the lock was
        probed just before), so this breaks the lock if the host took it since."""
        self.loaded = None
        if self.file():
            self.forced_eject()

    def report(self, *, probe_lock: bool) -> LunReport:
        """The host's eject and (``probe_lock``) its lock; see the module docstring."""
        current = self.file()
        if self.loaded is None or not current:
            return LunReport(locked=False, ejected=self.loaded is not None)
        if not probe_lock:
            return LunReport(locked=None, ejected=False)
        try:
            self.set_file(current)
        except BusyError:
            return LunReport(locked=True, ejected=False)
        return LunReport(locked=False, ejected=False)

    # -- internals ----------------------------------------------------------------------

    def _read(self, name: str) -> str:
        try:
            return self.files.read(self.path / name).decode("utf-8", "replace").strip()
        except OSError as exc:
            raise DeviceError(f"{self.path / name}: {exc.strerror or exc}") from None

    def _write(self, name: str, value: str) -> None:
        try:
            self.files.write(self.path / name, value.encode())
        except OSError as exc:
            if exc.errno == errno.EBUSY and name == "file":
                raise BusyError("host has the medium locked") from None
            if exc.errno == errno.EBUSY and name == "ro":
                raise BusyError("read-only can change only with no medium loaded") from None
            raise DeviceError(f"{self.path / name}: {exc.strerror or exc}") from None


# What a port's target must be to carry the switch's storage device.
CARRIERS = ("emulated", "usbip", "gadget", "qemu")


class GadgetLuns:
    """The daemon's ``storage.service.PortMedia``: the LUNs of its gadget ports (the
    kernel serves those), and which ports cannot carry storage at all."""

    def __init__(self, kinds: dict[int, str], luns: dict[int, ConfigfsLun | None]) -> None:
        self.kinds = kinds  # port unit -> target kind
        self.luns = luns  # gadget ports only; None: no mass-storage LUN found

    def refusal(self, unit: int) -> str | None:
        kind = self.kinds.get(unit, "emulated")
        if kind not in CARRIERS:
            return f"port {unit} ({kind} target) cannot carry USB storage"
        if kind == "gadget" and self.luns.get(unit) is None:
            return (
                f"port {unit} is a gadget port without a mass-storage LUN: build its gadget "
                "with `kvmswitchd gadget setup` (and leave hidg_keyboard/hidg_mouse out)"
            )
        return None

    def report(self, unit: int) -> LunReport | None:
        """The host's eject and lock on a gadget port's LUN; None for other ports."""
        lun = self.luns.get(unit)
        return lun.report(probe_lock=True) if lun is not None else None

    def serves(self, unit: int) -> bool:
        return self.luns.get(unit) is not None

    def plug(self, unit: int, medium: tuple[str, bool] | None) -> None:
        """The storage moved onto gadget port ``unit`` (``medium``: the image file and
        read-only flag, ``StorageService.medium()``) or off it (None). A failed load
        raises (the attach or move reports it); a failed eject is logged: the storage
        has left that port whatever the LUN says."""
        lun = self.luns.get(unit)
        if lun is None:
            return
        if medium is not None:
            lun.load(Medium(*medium))
            return
        try:
            lun.unload()
        except KvmError as exc:
            log.warning("storage: ejecting port %s's gadget LUN %s: %s", unit, lun.path, exc)
