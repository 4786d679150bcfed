"""Where a gadget port's HID nodes are: the ``/dev/hidgN`` of the functions setup built.

An f_hid function directory has a ``dev`` attribute, ``major:minor`` of its character
device. The node is found the way udev names it: ``<sysfs>/dev/char/<major>:<minor>/
uevent`` says ``DEVNAME=hidg0``, and the node is ``<dev>/hidg0`` (devtmpfs makes it on
bind, with or without udev). When sysfs has no such entry, the ``<dev>/hidg*`` node whose
device number matches is taken. ``/dev/char/M:m`` links are not used: only udev makes them.
"""

from __future__ import annotations

import re
from pathlib import Path

from kvmswitchd.config import GadgetConfig
from kvmswitchd.errors import DeviceError
from kvmswitchd.gadget.files import Files, OsFiles
from kvmswitchd.gadget.plan import GADGETS, KEYBOARD, LUN, MOUSE, STORAGE, gadget_name

DEV_NUMBER = re.compile(r"(\d{1,10}):(\d{1,10})")
# A device name from a uevent: hidg0, or a path below /dev without "..".
DEVNAME = re.compile(r"DEVNAME=([A-Za-z0-9_.+-]+(?:/[A-Za-z0-9_.+-]+)*)")


def makedev(major: int, minor: int) -> int:
    """Linux's encoding of a device number (what ``st_rdev`` holds)."""
    return (
        ((major & 0xFFFFF000) << 32)
        | ((major & 0xFFF) << 8)
        | ((minor & 0xFFFFFF00) << 12)
        | (minor & 0xFF)
    )


def hidg_node(roots: GadgetConfig, function: Path, files: Files | None = None) -> Path:
    """The /dev node of the HID function directory ``function`` (absolute)."""
    files = files or OsFiles()
    try:
        text = files.read(function / "dev").decode("ascii", "replace").strip()
    except OSError as exc:
        raise DeviceError(
            f"{function}: no HID function here ({exc.strerror or exc}); "
            "run `kvmswitchd gadget setup`"
        ) from None
    match = DEV_NUMBER.fullmatch(text)
    if match is None:
        raise DeviceError(f"{function}/dev: expected major:minor, got {text[:40]!r}")
    number = f"{match[1]}:{match[2]}"
    try:
        uevent = files.read(roots.sysfs / "dev" / "char" / number / "uevent").decode(
            "utf-8", "replace"
        )
    except OSError:
        uevent = ""
    for line in uevent.splitlines():
        if (name := DEVNAME.fullmatch(line.strip())) and ".." not in name[1].split("/"):
            node = roots.dev / name[1]
            if files.exists(node):
                return node
    wanted = makedev(int(match[1]), int(match[2]))
    try:
        names = files.listdir(roots.dev)
    except OSError:
        names = []
    for entry in names:
        if entry.startswith("hidg") and files.rdev(roots.dev / entry) == wanted:
            return roots.dev / entry
    raise DeviceError(
        f"{function}: the HID node {number} is not in {roots.dev} "
        "(is the gadget bound to its UDC? run `kvmswitchd gadget setup`)"
    )


def port_nodes(roots: GadgetConfig, unit: int, files: Files | None = None) -> tuple[str, str]:
    """The keyboard and mouse nodes of port ``unit``'s gadget (built by setup)."""
    files = files or OsFiles()
    gadget = roots.configfs / GADGETS / gadget_name(unit)
    if not files.is_dir(gadget):
        raise DeviceError(
            f"port {unit}: no USB gadget {gadget}: run `kvmswitchd gadget setup` first "
            "(systemd: kvmswitchd-gadget.service), or give hidg_keyboard and hidg_mouse"
        )
    keyboard = hidg_node(roots, gadget / "functions" / KEYBOARD, files)
    mouse = hidg_node(roots, gadget / "functions" / MOUSE, files)
    return str(keyboard), str(mouse)


def lun_dir(roots: GadgetConfig, unit: int) -> Path:
    """The mass-storage LUN directory of port ``unit``'s gadget (built by setup)."""
    return roots.configfs / GADGETS / gadget_name(unit) / "functions" / STORAGE / LUN
