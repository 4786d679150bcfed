"""The ``[ports.N]`` tables: what each port's target is and how it presents itself.

``parse_ports(doc["ports"], count)`` validates them into frozen ``PortConfig`` values;
every error names its key (``ports.2.keyboard``). An EDID value is checked with
``Override.parse``, the same check the API applies.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kvmswitchd import allowlist
from kvmswitchd.config_keys import boolean, check_keys, choice, number, table
from kvmswitchd.console.sources import MAX_PATH_LEN
from kvmswitchd.edids import Override
from kvmswitchd.errors import ConfigError, InputError
from kvmswitchd.targets.ch9329_config import KEYS as CH9329_KEYS
from kvmswitchd.targets.ch9329_config import ch9329_keys

TARGETS = ("emulated", "gadget", "ch9329", "usbip", "qemu")
IMPLEMENTED_TARGETS = ("emulated", "gadget", "usbip", "ch9329", "qemu")
KEYBOARDS = ("usb", "ps2")
MICE = ("relative", "absolute")
VIDEO = ("hdmi", "dvi", "vga", "dp")
AUDIO = ("none", "stereo", "multichannel")
GADGET_KEYS = ("udc", "hidg_user", "hidg_group", "hidg_mode")
# A UDC, user or group name. The cap is past any UDC name (dummy_udc.63, fe980000.usb) and
# useradd's 32; a longer value is garbage, and it ends up in a sysfs write and a log line.
MAX_NAME_LEN = 64
NAME = re.compile(rf"[A-Za-z0-9_][A-Za-z0-9._-]{{0,{MAX_NAME_LEN - 1}}}")
# Seconds between the reports an emulated port's virtual host takes. A real USB host polls
# every 1-10 ms; the cap stops a typo from making a port take minutes per keystroke.
MAX_POLL_INTERVAL = 1.0
QEMU_KEYS = ("qmp", "vm_name", "input_interval")
# Seconds between a qemu port's input commands. Past this typing is unusable: a typo.
MAX_INPUT_INTERVAL = 0.5
# A qemu port's QMP socket: "unix:/run/kvmswitchd/vm1.qmp" or "tcp:127.0.0.1:4444".
QMP_TCP = re.compile(r"tcp:(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]{1,253}):([0-9]{1,5})")


@dataclass(frozen=True, slots=True)
class PortConfig:
    unit: int
    name: str | None = None
    target: str = "emulated"
    keyboard: str = "usb"
    nkro: bool = False
    mouse: str = "relative"
    video: str = "hdmi"
    audio: str = "stereo"
    edid: str | None = None  # a preset name, or a hex/base64 blob (validated at load)
    idle_monitor: bool = True
    # gadget ports: the keyboard's and mouse's /dev/hidgN; both None: the nodes of the
    # gadget ``kvmswitchd gadget setup`` built (kvmswitchd.gadget.discovery)
    hidg_keyboard: str | None = None
    hidg_mouse: str | None = None
    udc: str | None = None  # gadget ports: the UDC to bind (None: the first free one)
    hidg_user: str | None = None  # gadget setup: owner of the hidg nodes (None: root)
    hidg_group: str | None = None  # gadget setup: their group (None: root)
    hidg_mode: int = 0o600  # gadget setup: their mode
    poll_interval: float = 0.0  # emulated ports: seconds per report taken (0: at once)
    usbip_allow: tuple[str, ...] | None = None  # usbip ports: who may import it (CIDR)
    # ch9329 ports (kvmswitchd.targets.ch9329_config): the serial device or "emulated",
    # its baud rate, the chip's address, and which of keyboard/mouse it is set up as
    ch9329_device: str | None = None
    ch9329_baud: int = 9600
    ch9329_address: int = 0
    ch9329_kinds: tuple[str, ...] = ("keyboard", "mouse")
    qmp: str | None = None  # qemu ports: the VM's QMP socket ("unix:/path", "tcp:host:port")
    vm_name: str | None = None  # qemu ports: what the VM is called (shown, logged)
    input_interval: float = 0.01  # qemu ports: seconds between input commands


def parse_ports(raw: object, count: int) -> dict[int, PortConfig]:
    """The ``[ports.N]`` tables of a unit of ``count`` ports."""
    entries = table(raw, "ports")
    out: dict[int, PortConfig] = {}
    for key, value in entries.items():
        path = f"ports.{key}"
        if not str(key).isdigit() or not 1 <= int(key) <= count:
            raise ConfigError(path, f"expected a port number 1..{count}")
        entry = table(value, path)
        check_keys(
            entry,
            path,
            {
                "name",
                "target",
                "keyboard",
                "nkro",
                "mouse",
                "video",
                "audio",
                "edid",
                "idle_monitor",
                "hidg_keyboard",
                "hidg_mouse",
                *GADGET_KEYS,
                "poll_interval",
                "usbip_allow",
                *CH9329_KEYS,
                *QEMU_KEYS,
            },
        )
        edid = entry.get("edid")
        if edid is not None:
            if not isinstance(edid, str):
                raise ConfigError(f"{path}.edid", "expected a preset name or a hex/base64 EDID")
            try:
                Override.parse(edid)
            except InputError as exc:
                raise ConfigError(f"{path}.edid", str(exc)) from None
        name = entry.get("name")
        if name is not None and (not isinstance(name, str) or not name.strip() or len(name) > 64):
            raise ConfigError(
                f"{path}.name", "expected a non-empty string of at most 64 characters"
            )
        target = choice(entry, "target", path, "emulated", TARGETS)
        if target not in IMPLEMENTED_TARGETS:
            raise ConfigError(
                f"{path}.target",
                f"target {target!r} is not available in this build yet; use "
                + ", ".join(IMPLEMENTED_TARGETS),
            )
        unit = int(key)
        hidg_keyboard, hidg_mouse = _hidg_paths(entry, path, target)
        if target != "emulated" and "poll_interval" in entry:
            raise ConfigError(
                f"{path}.poll_interval", "expected none: only an emulated port is polled by us"
            )
        if target in ("usbip", "gadget", "qemu") and entry.get("keyboard") == "ps2":
            raise ConfigError(
                f"{path}.keyboard", f"expected usb: a {target} port has a USB keyboard"
            )
        out[unit] = PortConfig(
            unit=unit,
            name=name.strip() if isinstance(name, str) else None,
            target=target,
            keyboard=choice(entry, "keyboard", path, "usb", KEYBOARDS),
            nkro=boolean(entry, "nkro", path, False),
            mouse=choice(entry, "mouse", path, "relative", MICE),
            video=choice(entry, "video", path, "hdmi", VIDEO),
            audio=choice(entry, "audio", path, "stereo", AUDIO),
            edid=edid,
            idle_monitor=boolean(entry, "idle_monitor", path, True),
            hidg_keyboard=hidg_keyboard,
            hidg_mouse=hidg_mouse,
            poll_interval=number(entry, "poll_interval", path, 0.0, 0.0, MAX_POLL_INTERVAL),
            **_gadget_keys(entry, path, target),
            usbip_allow=_port_allow(entry, path, target),
            **ch9329_keys(entry, path, target),
            **_qemu_keys(entry, path, target),
        )
    _one_port_per_device(out)
    return out


def _one_port_per_device(ports: Mapping[int, PortConfig]) -> None:
    """Two ports on one CH9329 device would fight over its line."""
    seen: dict[str, int] = {}
    for unit, port in sorted(ports.items()):
        device = port.ch9329_device
        if device is None or device == "emulated":
            continue
        if device in seen:
            raise ConfigError(
                f"ports.{unit}.ch9329_device", f"{device} is port {seen[device]}'s already"
            )
        seen[device] = unit


def _qemu_keys(entry: Mapping[str, Any], path: str, target: str) -> dict[str, Any]:
    """``qmp`` (required) and ``vm_name``: qemu ports only."""
    if target != "qemu":
        for key in QEMU_KEYS:
            if key in entry:
                raise ConfigError(f"{path}.{key}", 'expected only on a target = "qemu" port')
        return {}
    qmp = entry.get("qmp")
    if not isinstance(qmp, str) or not _qmp_ok(qmp):
        raise ConfigError(
            f"{path}.qmp",
            'expected the VM\'s QMP socket, like "unix:/run/kvmswitchd/vm1.qmp" or '
            '"tcp:127.0.0.1:4444"',
        )
    vm_name = entry.get("vm_name")
    if vm_name is not None and (
        not isinstance(vm_name, str) or not vm_name.strip() or len(vm_name) > MAX_NAME_LEN
    ):
        raise ConfigError(
            f"{path}.vm_name", f"expected a non-empty string of at most {MAX_NAME_LEN} characters"
        )
    return {
        "qmp": qmp,
        "vm_name": vm_name.strip() if isinstance(vm_name, str) else None,
        "input_interval": number(entry, "input_interval", path, 0.01, 0.0, MAX_INPUT_INTERVAL),
    }


def _qmp_ok(text: str) -> bool:
    if text.startswith("unix:"):
        sock = text[5:]
        return sock.startswith("/") and "\0" not in sock and len(sock) <= MAX_PATH_LEN
    found = QMP_TCP.fullmatch(text)
    return found is not None and 1 <= int(found.group(2)) <= 65535


def _hidg_paths(entry: Mapping[str, Any], path: str, target: str) -> tuple[str | None, str | None]:
    """Both node paths, or neither (the daemon then finds the nodes setup built)."""
    given = [key for key in ("hidg_keyboard", "hidg_mouse") if entry.get(key) is not None]
    if target == "gadget" and len(given) == 1:
        missing = "hidg_mouse" if given == ["hidg_keyboard"] else "hidg_keyboard"
        raise ConfigError(
            f"{path}.{missing}",
            "expected both hidg_keyboard and hidg_mouse, or neither (the nodes that "
            "`kvmswitchd gadget setup` built are then found by themselves)",
        )
    if not given:
        return None, None
    return (
        _hidg_path(entry, "hidg_keyboard", path, target),
        _hidg_path(entry, "hidg_mouse", path, target),
    )


def _gadget_keys(entry: Mapping[str, Any], path: str, target: str) -> dict[str, Any]:
    """``udc``, ``hidg_user``, ``hidg_group``, ``hidg_mode``: gadget ports only."""
    if target != "gadget":
        for key in GADGET_KEYS:
            if key in entry:
                raise ConfigError(f"{path}.{key}", 'expected only on a target = "gadget" port')
        return {}
    out: dict[str, Any] = {}
    for key in ("udc", "hidg_user", "hidg_group"):
        value = entry.get(key)
        if value is not None and (not isinstance(value, str) or not NAME.fullmatch(value)):
            raise ConfigError(
                f"{path}.{key}",
                f"expected a name of 1..{MAX_NAME_LEN} letters, digits, '.', '_' or '-'",
            )
        out[key] = value
    mode = entry.get("hidg_mode", 0o600)
    if isinstance(mode, bool) or not isinstance(mode, int) or not 0 <= mode <= 0o777:
        raise ConfigError(f"{path}.hidg_mode", "expected a file mode 0o000..0o777, like 0o660")
    out["hidg_mode"] = mode
    return out


def _port_allow(entry: Mapping[str, Any], path: str, target: str) -> tuple[str, ...] | None:
    if "usbip_allow" not in entry:
        return None
    if target != "usbip":
        raise ConfigError(
            f"{path}.usbip_allow", 'expected no allow-list: only target = "usbip" uses one'
        )
    return allowlist.parse(entry["usbip_allow"], f"{path}.usbip_allow")


def _hidg_path(entry: Mapping[str, Any], key: str, path: str, target: str) -> str | None:
    """A gadget port's HID node path (required there, refused elsewhere)."""
    value = entry.get(key)
    if target != "gadget":
        if value is not None:
            raise ConfigError(
                f"{path}.{key}", 'expected no HID node: only target = "gadget" uses one'
            )
        return None
    if not isinstance(value, str) or not value.startswith("/") or "\0" in value:
        value = None
    if value is None or len(value) > MAX_PATH_LEN:
        raise ConfigError(
            f"{path}.{key}", 'expected the absolute path of a HID gadget node, like "/dev/hidg0"'
        )
    return str(value)
