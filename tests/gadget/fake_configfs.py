"""A stand-in for the kernel's configfs gadget tree, sysfs and /dev on a temp directory.

``FakeKernel`` is ``OsFiles`` plus the kernel behaviour the applier depends on: ``mkdir``
creates a group's attributes and default groups (a function's ``dev`` and ``lun.0``);
``rmdir`` refuses a directory that still holds links or directories someone made and
otherwise takes the attributes with it; writing ``UDC`` binds (ENODEV: no such UDC,
EBUSY: another gadget has it) and makes the hidg nodes (regular files here, with their
sysfs ``uevent``); attributes of a linked or bound function refuse writes (EBUSY); a LUN's
``file`` refuses a change while the host holds the medium locked, ``forced_eject`` breaks
the lock. Missing modules make function mkdirs fail with ENOENT, as configfs does.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

from kvmswitchd.config import GadgetConfig
from kvmswitchd.gadget.files import OsFiles

HIDG_MAJOR = 240
ALL_MODULES = frozenset({"libcomposite", "usb_f_hid", "usb_f_mass_storage"})
GADGET_ATTRS = ("idVendor", "idProduct", "bcdDevice", "bcdUSB", "bDeviceClass", "UDC")
HID_ATTRS = ("protocol", "subclass", "report_length", "report_desc", "no_out_endpoint")
LUN_ATTRS = ("file", "ro", "removable", "cdrom", "nofua", "inquiry_string", "forced_eject")


def _err(code: int, path: Path) -> OSError:
    return OSError(code, os.strerror(code), str(path))


class FakeKernel(OsFiles):
    def __init__(
        self,
        tmp: Path,
        *,
        udcs: tuple[str, ...] = ("dummy_udc.0", "dummy_udc.1"),
        modules: frozenset[str] = ALL_MODULES,
        loadable: frozenset[str] = frozenset(),
        mounted: bool = True,
    ) -> None:
        self.roots = GadgetConfig(tmp / "configfs", tmp / "sys", tmp / "dev")
        for path in (self.roots.configfs, self.roots.sysfs / "class" / "udc", self.roots.dev):
            path.mkdir(parents=True)
        (self.roots.sysfs / "dev" / "char").mkdir(parents=True)
        for udc in udcs:
            (self.roots.sysfs / "class" / "udc" / udc).mkdir()
        self.mounted = mounted
        self.modules = set(modules)
        self.loadable = set(loadable)
        self.modprobed: list[str] = []
        self.owners: dict[Path, tuple[int, int]] = {}
        self.mutations: list[str] = []  # every change made, for "a second setup is a no-op"
        self.locked: set[Path] = set()  # LUN dirs whose host sent PREVENT MEDIUM REMOVAL
        self._made: set[Path] = set()
        self._minor = 0
        self._minors: dict[Path, int] = {}
        self._appear()

    @property
    def gadgets(self) -> Path:
        return self.roots.configfs / "usb_gadget"

    def _appear(self) -> None:
        if self.mounted and "libcomposite" in self.modules and not self.gadgets.exists():
            self.gadgets.mkdir()

    # -- what the applier injects -----------------------------------------------------------

    def modprobe(self, name: str) -> bool:
        self.modprobed.append(name)
        if name in self.loadable:
            self.modules.add(name)
            self._appear()
        return name in self.modules

    @staticmethod
    def ids(kind: str, name: str) -> int:
        known = {("user", "kvmswitchd"): 990, ("group", "kvmswitchd"): 991}
        return known[(kind, name)]  # KeyError: no such name, as pwd/grp say

    # -- kernel behaviour -------------------------------------------------------------------

    def is_mount(self, path: Path) -> bool:
        return path == self.roots.configfs and self.mounted

    def _gadget_of(self, path: Path) -> Path | None:
        try:
            rel = path.relative_to(self.gadgets)
        except ValueError:
            return None
        return self.gadgets / rel.parts[0] if rel.parts else None

    def mkdir(self, path: Path) -> None:
        gadget = self._gadget_of(path)
        if gadget is None:
            raise _err(errno.EPERM, path)
        parts = path.relative_to(gadget).parts
        if parts[:1] == ("functions",) and len(parts) == 2:
            kind = parts[1].split(".", 1)[0]
            if f"usb_f_{kind}" not in self.modules:
                raise _err(errno.ENOENT, path)
        super().mkdir(path)
        self._made.add(path)
        self.mutations.append(f"mkdir {path}")
        if not parts:
            self._files(path, GADGET_ATTRS)
            for group in ("configs", "functions", "strings", "os_desc"):
                (path / group).mkdir()
        elif parts[0] == "strings" and len(parts) == 2:
            self._files(path, ("manufacturer", "product", "serialnumber"))
        elif parts[0] == "configs" and len(parts) == 2:
            self._files(path, ("MaxPower", "bmAttributes"))
            (path / "strings").mkdir()
        elif parts[0] == "configs" and len(parts) == 4:
            self._files(path, ("configuration",))
        elif parts[0] == "functions" and parts[1].startswith("hid."):
            self._files(path, HID_ATTRS)
            self._minors[path] = self._minor
            (path / "dev").write_text(f"{HIDG_MAJOR}:{self._minor}\n")
            self._minor += 1
        elif parts[0] == "functions" and parts[1].startswith("mass_storage."):
            self._files(path, ("stall",))
            (path / "lun.0").mkdir()
            self._files(path / "lun.0", LUN_ATTRS)
            (path / "lun.0" / "removable").write_text("0\n")

    @staticmethod
    def _files(path: Path, names: tuple[str, ...]) -> None:
        for name in names:
            (path / name).write_bytes(b"")

    def rmdir(self, path: Path) -> None:
        for child in path.rglob("*"):
            if child.is_symlink() or child in self._made:
                raise _err(errno.ENOTEMPTY, path)
        if path.parent.name == "functions" and self._linked(path):
            raise _err(errno.EBUSY, path)  # a configuration still links it
        shutil.rmtree(path)
        self._made.discard(path)
        self.mutations.append(f"rmdir {path}")

    def _linked(self, function: Path) -> bool:
        gadget = self._gadget_of(function)
        assert gadget is not None
        return any(
            link.is_symlink() and link.resolve() == function.resolve()
            for link in (gadget / "configs").rglob("*")
        )

    def symlink(self, path: Path, target: Path) -> None:
        gadget = self._gadget_of(path)
        if gadget is not None and self._udc(gadget):
            raise _err(errno.EBUSY, path)
        super().symlink(path, target)
        self.mutations.append(f"symlink {path}")

    def unlink(self, path: Path) -> None:
        super().unlink(path)
        self.mutations.append(f"unlink {path}")

    def write(self, path: Path, value: bytes) -> None:
        gadget = self._gadget_of(path)
        text = value.decode(errors="replace").strip()
        if gadget is not None and path == gadget / "UDC":
            self._bind(gadget, text)
        elif path.parent.name == "lun.0":
            self._lun_write(path, text)
        else:
            if gadget is not None and "functions" in path.parts:
                function = path.parent
                if self._udc(gadget) or self._linked(function):
                    raise _err(errno.EBUSY, path)
            super().write(path, value)
        self.mutations.append(f"write {path}")

    def _udc(self, gadget: Path) -> str:
        return (gadget / "UDC").read_text().strip()

    def _bind(self, gadget: Path, udc: str) -> None:
        if not udc:
            if not self._udc(gadget):
                raise _err(errno.ENODEV, gadget / "UDC")
            (gadget / "UDC").write_text("")
            for minor in self._hid_minors(gadget):
                (self.roots.dev / f"hidg{minor}").unlink()
                shutil.rmtree(self.roots.sysfs / "dev" / "char" / f"{HIDG_MAJOR}:{minor}")
            return
        if not (self.roots.sysfs / "class" / "udc" / udc).is_dir():
            raise _err(errno.ENODEV, gadget / "UDC")
        for other in self.gadgets.iterdir():
            if self._udc(other) == udc or (other == gadget and self._udc(other)):
                raise _err(errno.EBUSY, gadget / "UDC")
        (gadget / "UDC").write_text(udc + "\n")
        for minor in self._hid_minors(gadget):
            (self.roots.dev / f"hidg{minor}").write_bytes(b"")
            entry = self.roots.sysfs / "dev" / "char" / f"{HIDG_MAJOR}:{minor}"
            entry.mkdir()
            (entry / "uevent").write_text(
                f"MAJOR={HIDG_MAJOR}\nMINOR={minor}\nDEVNAME=hidg{minor}\n"
            )

    def _hid_minors(self, gadget: Path) -> list[int]:
        return [
            self._minors[link.resolve()]
            for link in sorted((gadget / "configs").rglob("hid.*"))
            if link.is_symlink() and link.resolve() in self._minors
        ]

    def _lun_write(self, path: Path, text: str) -> None:
        lun = path.parent
        current = (lun / "file").read_text().strip()
        match path.name:
            case "file":
                if current and lun in self.locked:
                    raise _err(errno.EBUSY, path)  # "Door is locked"
                if text and not Path(text).is_file():
                    raise _err(errno.ENOENT, path)
                (lun / "file").write_text(text + "\n" if text else "")
            case "ro" | "cdrom":
                if current:
                    raise _err(errno.EBUSY, path)  # "read-only status change prevented"
                path.write_text(text + "\n")
            case "forced_eject":
                self.locked.discard(lun)
                (lun / "file").write_text("")
            case _:
                path.write_text(text + "\n")

    def host_ejects(self, lun: Path) -> None:
        """The host's START STOP UNIT on a removable LUN: the kernel closes the file."""
        self.locked.discard(lun)
        (lun / "file").write_text("")

    def chown(self, path: Path, uid: int, gid: int) -> None:
        self.owners[path] = (uid, gid)
        self.mutations.append(f"chown {path}")

    def chmod(self, path: Path, mode: int) -> None:
        super().chmod(path, mode)
        self.mutations.append(f"chmod {path}")

    def rdev(self, path: Path) -> int | None:
        name = path.name
        if path.parent == self.roots.dev and name.startswith("hidg") and path.exists():
            return os.makedev(HIDG_MAJOR, int(name.removeprefix("hidg")))
        return None
