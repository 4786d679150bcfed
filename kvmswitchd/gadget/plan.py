"""What ``kvmswitchd gadget setup`` builds, as data: no I/O here (HOUSE-STYLE principle 1).

One composite gadget per ``target = "gadget"`` port, named ``kvmswitchd-port<N>``, under
``<configfs>/usb_gadget/`` (reference protocols.md §7.1):

- device: idVendor/idProduct/bcdDevice of the USB/IP device (the same product), USB 2.0;
  strings ``kvmswitchd`` / ``KVM port N`` / ``kvmswitchd-N``;
- ``functions/hid.keyboard``: the boot keyboard, or the NKRO one where the port says
  ``nkro = true``; ``functions/hid.mouse``: the relative mouse or the absolute pointer.
  Their ``subclass``/``protocol``/``report_length``/``report_desc`` are the very
  ``HidFunction`` objects the encoders' reports are sized by (``hid.descriptors``, picked
  exactly as the USB/IP device picks them), so the host parses what we send;
- ``functions/mass_storage.storage``: one LUN, removable, no medium at start;
- configuration ``c.1`` linking the three functions; then the UDC binding.

``setup_plan(port)`` is the ordered step list; ``teardown_plan(tree)`` is the reverse,
computed from what is actually there (a ``GadgetTree`` read by the applier), so a
teardown removes exactly what a setup made, even after the config changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from hid.descriptors import HidFunction
from kvmswitchd.port_config import PortConfig
from kvmswitchd.targets.usbip_device import BCD_DEVICE, KEYBOARDS, MICE, PRODUCT, VENDOR

GADGETS: Final = "usb_gadget"
PREFIX: Final = "kvmswitchd-port"  # only gadgets with this name are ours to tear down
LANG: Final = "0x409"  # US English, the language every host asks for
CONFIG: Final = "c.1"
KEYBOARD: Final = "hid.keyboard"
MOUSE: Final = "hid.mouse"
STORAGE: Final = "mass_storage.storage"
LUN: Final = "lun.0"
MANUFACTURER: Final = "kvmswitchd"
MAX_POWER_MA: Final = 100
BCD_USB: Final = 0x0200


def gadget_name(unit: int) -> str:
    return f"{PREFIX}{unit}"


def unit_of(name: str) -> int | None:
    """The port number of one of our gadget directories (``kvmswitchd-port3`` → 3)."""
    rest = name.removeprefix(PREFIX)
    if rest == name or not rest.isdigit() or rest.startswith("0"):
        return None
    return int(rest)


@dataclass(frozen=True, slots=True)
class Mkdir:
    path: str  # relative to the configfs root


@dataclass(frozen=True, slots=True)
class Write:
    """Write an attribute. ``value`` str is text (compared after stripping the kernel's
    newline, and as numbers when both sides parse as one); bytes are written as they are
    (``report_desc``)."""

    path: str
    value: str | bytes


@dataclass(frozen=True, slots=True)
class Symlink:
    path: str  # the link, in a configuration
    target: str  # the function directory it points at


@dataclass(frozen=True, slots=True)
class Bind:
    """Write the UDC name into ``<gadget>/UDC``; ``udc`` None: the first free one."""

    path: str
    udc: str | None


Step = Mkdir | Write | Symlink | Bind


@dataclass(frozen=True, slots=True)
class Unbind:
    path: str  # <gadget>/UDC: written empty


@dataclass(frozen=True, slots=True)
class Unlink:
    path: str


@dataclass(frozen=True, slots=True)
class Rmdir:
    path: str


Removal = Unbind | Unlink | Rmdir


@dataclass(frozen=True, slots=True)
class Ownership:
    """Who may open the port's hidg nodes once they exist (uid/gid resolved at apply)."""

    user: str | None  # None: root
    group: str | None  # None: root
    mode: int


@dataclass(frozen=True, slots=True)
class GadgetPlan:
    unit: int
    name: str  # the gadget directory, relative to the configfs root
    steps: tuple[Step, ...]
    keyboard: str  # function directories whose ``dev`` names the hidg nodes
    mouse: str
    lun: str  # the mass-storage LUN directory
    udc: str | None
    ownership: Ownership


def functions_of(port: PortConfig) -> tuple[HidFunction, HidFunction]:
    """The keyboard and mouse HID functions the port's encoders produce reports for."""
    keyboard = "usb-nkro" if port.nkro else "usb"
    return KEYBOARDS[keyboard], MICE[port.mouse]


def setup_plan(port: PortConfig) -> GadgetPlan:
    """Every step that builds port ``port.unit``'s gadget, in an order configfs accepts."""
    g = f"{GADGETS}/{gadget_name(port.unit)}"
    keyboard, mouse = functions_of(port)
    steps: list[Step] = [
        Mkdir(g),
        Write(f"{g}/idVendor", f"{VENDOR:#06x}"),
        Write(f"{g}/idProduct", f"{PRODUCT:#06x}"),
        Write(f"{g}/bcdDevice", f"{BCD_DEVICE:#06x}"),
        Write(f"{g}/bcdUSB", f"{BCD_USB:#06x}"),
        Mkdir(f"{g}/strings/{LANG}"),
        Write(f"{g}/strings/{LANG}/manufacturer", MANUFACTURER),
        Write(f"{g}/strings/{LANG}/product", f"KVM port {port.unit}"),
        Write(f"{g}/strings/{LANG}/serialnumber", f"kvmswitchd-{port.unit}"),
        Mkdir(f"{g}/configs/{CONFIG}"),
        Mkdir(f"{g}/configs/{CONFIG}/strings/{LANG}"),
        Write(f"{g}/configs/{CONFIG}/strings/{LANG}/configuration", "keyboard, mouse, storage"),
        Write(f"{g}/configs/{CONFIG}/MaxPower", str(MAX_POWER_MA)),
    ]
    for name, function in ((KEYBOARD, keyboard), (MOUSE, mouse)):
        f = f"{g}/functions/{name}"
        steps += [
            Mkdir(f),
            Write(f"{f}/protocol", str(function.protocol)),
            Write(f"{f}/subclass", str(function.subclass)),
            Write(f"{f}/report_length", str(function.report_length)),
            Write(f"{f}/report_desc", function.report_descriptor),
        ]
    s = f"{g}/functions/{STORAGE}"
    steps += [Mkdir(s), Write(f"{s}/{LUN}/removable", "1")]
    for name in (KEYBOARD, MOUSE, STORAGE):
        steps.append(Symlink(f"{g}/configs/{CONFIG}/{name}", f"{g}/functions/{name}"))
    steps.append(Bind(f"{g}/UDC", port.udc))
    return GadgetPlan(
        unit=port.unit,
        name=g,
        steps=tuple(steps),
        keyboard=f"{g}/functions/{KEYBOARD}",
        mouse=f"{g}/functions/{MOUSE}",
        lun=f"{s}/{LUN}",
        udc=port.udc,
        ownership=Ownership(port.hidg_user, port.hidg_group, port.hidg_mode),
    )


@dataclass(frozen=True, slots=True)
class ConfigTree:
    name: str  # c.1
    links: tuple[str, ...]  # function links in it
    strings: tuple[str, ...]  # language directories


@dataclass(frozen=True, slots=True)
class GadgetTree:
    """What one gadget directory holds, as the applier read it."""

    name: str  # relative to the configfs root
    bound: bool
    configs: tuple[ConfigTree, ...]
    functions: tuple[str, ...]
    strings: tuple[str, ...]


def teardown_plan(tree: GadgetTree) -> tuple[Removal, ...]:
    """configfs removal order: unbind, unlink config→function links, remove the
    configurations' strings and the configurations, the functions, the gadget strings,
    then the gadget itself (attributes and default groups go with their directory)."""
    g = tree.name
    out: list[Removal] = [Unbind(f"{g}/UDC")] if tree.bound else []
    for config in tree.configs:
        out += [Unlink(f"{g}/configs/{config.name}/{link}") for link in config.links]
        out += [Rmdir(f"{g}/configs/{config.name}/strings/{lang}") for lang in config.strings]
        out.append(Rmdir(f"{g}/configs/{config.name}"))
    out += [Rmdir(f"{g}/functions/{function}") for function in tree.functions]
    out += [Rmdir(f"{g}/strings/{lang}") for lang in tree.strings]
    out.append(Rmdir(g))
    return tuple(out)
