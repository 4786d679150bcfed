"""The ``[ports.N]`` tables: what each port's target is and how it presents itself.

``parse_ports(doc["ports"], count)`` validates them into frozen ``PortConfig`` values;
every error names its key (``ports.2.keyboard``). An EDID value is checked with
``Override.parse``, the same check the API applies.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kvmswitchd.config_keys import boolean, check_keys, choice, table
from kvmswitchd.console.sources import MAX_PATH_LEN
from kvmswitchd.edids import Override
from kvmswitchd.errors import ConfigError, InputError

TARGETS = ("emulated", "gadget", "ch9329", "usbip", "qemu")
IMPLEMENTED_TARGETS = ("emulated", "gadget", "usbip")
KEYBOARDS = ("usb", "ps2")
MICE = ("relative", "absolute")
VIDEO = ("hdmi", "dvi", "vga", "dp")
AUDIO = ("none", "stereo", "multichannel")
# Entries of a USB/IP allow-list ([usbip] allow, ports.N.usbip_allow). Every connection
# is checked against each one; the cap keeps that check short (a few networks describe
# any real site).
MAX_USBIP_ALLOW = 64


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
    hidg_keyboard: str | None = None  # gadget ports: the keyboard's /dev/hidgN
    hidg_mouse: str | None = None  # gadget ports: the mouse's /dev/hidgN
    usbip_allow: tuple[str, ...] | None = None  # usbip ports: who may import it (CIDR)


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
                "usbip_allow",
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
        if target in ("usbip", "gadget") and entry.get("keyboard") == "ps2":
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
            hidg_keyboard=_hidg_path(entry, "hidg_keyboard", path, target),
            hidg_mouse=_hidg_path(entry, "hidg_mouse", path, target),
            usbip_allow=_port_allow(entry, path, target),
        )
    return out


def _port_allow(entry: Mapping[str, Any], path: str, target: str) -> tuple[str, ...] | None:
    if "usbip_allow" not in entry:
        return None
    if target != "usbip":
        raise ConfigError(
            f"{path}.usbip_allow", 'expected no allow-list: only target = "usbip" uses one'
        )
    return parse_allow(entry["usbip_allow"], f"{path}.usbip_allow")


def parse_allow(value: object, path: str) -> tuple[str, ...]:
    """A USB/IP allow-list: addresses and networks, normalised to CIDR strings."""
    if (
        not isinstance(value, list)
        or not 1 <= len(value) <= MAX_USBIP_ALLOW
        or not all(isinstance(v, str) for v in value)
    ):
        raise ConfigError(
            path, f'expected a list of 1..{MAX_USBIP_ALLOW} addresses/networks, e.g. ["192.0.2.10"]'
        )
    out = []
    for index, item in enumerate(value):
        try:
            out.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise ConfigError(
                f"{path}[{index}]", f"{item[:64]!r} is not an IP address or CIDR network"
            ) from None
    return tuple(out)


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
