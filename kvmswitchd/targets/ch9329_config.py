"""The ``ch9329_*`` keys of a ``[ports.N]`` table: the backend declares its own schema.

``ch9329_device`` (required: the serial device, like ``/dev/ttyUSB0``, or ``"emulated"``
for a chip emulated on a pty), ``ch9329_baud`` (one of ``BAUDS``; the chip's default is
9600, many boards are set to 115200), ``ch9329_address`` (0x00..0xFE, default 0x00: the
chip's address; 0xFF is broadcast, which the chip never answers), ``ch9329_kinds`` (what
the chip is set up as: ``["keyboard", "mouse"]`` by default). Every error names its key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from kvmswitchd.config_keys import kind
from kvmswitchd.console.sources import MAX_PATH_LEN
from kvmswitchd.errors import ConfigError
from kvmswitchd.targets.ch9329_link import BAUDS, DEFAULT_BAUD, KINDS

KEYS: Final = ("ch9329_device", "ch9329_baud", "ch9329_address", "ch9329_kinds")
EMULATED: Final = "emulated"
MAX_ADDRESS: Final = 0xFE


def ch9329_keys(entry: Mapping[str, Any], path: str, target: str) -> dict[str, Any]:
    """The PortConfig fields of a ch9329 port (and none may be set on another port)."""
    if target != "ch9329":
        for key in KEYS:
            if key in entry:
                raise ConfigError(f"{path}.{key}", 'expected only on a target = "ch9329" port')
        return {}
    if entry.get("keyboard", "usb") != "usb":
        raise ConfigError(f"{path}.keyboard", "expected usb: a CH9329 is a USB keyboard")
    if entry.get("nkro", False) is True:
        raise ConfigError(f"{path}.nkro", "expected false: a CH9329 sends 6-key boot reports")
    device = entry.get("ch9329_device")
    if (
        not isinstance(device, str)
        or not (device == EMULATED or device.startswith("/"))
        or "\0" in device
        or len(device) > MAX_PATH_LEN
    ):
        raise ConfigError(
            f"{path}.ch9329_device",
            'expected the serial device of the CH9329, like "/dev/ttyUSB0", or "emulated"',
        )
    baud = entry.get("ch9329_baud", DEFAULT_BAUD)
    if isinstance(baud, bool) or baud not in BAUDS:
        raise ConfigError(
            f"{path}.ch9329_baud",
            f"expected one of {', '.join(map(str, BAUDS))} (the chip's rates), got {baud!r}",
        )
    address = entry.get("ch9329_address", 0)
    if isinstance(address, bool) or not isinstance(address, int) or not 0 <= address <= MAX_ADDRESS:
        raise ConfigError(
            f"{path}.ch9329_address",
            f"expected an integer 0..{MAX_ADDRESS} (0xFF is broadcast: never answered), "
            f"got {address if isinstance(address, int) else kind(address)}",
        )
    kinds = entry.get("ch9329_kinds", list(KINDS))
    if (
        not isinstance(kinds, list)
        or not kinds
        or not all(isinstance(k, str) and k in KINDS for k in kinds)
        or len(set(kinds)) != len(kinds)
    ):
        raise ConfigError(
            f"{path}.ch9329_kinds", 'expected a list of "keyboard" and/or "mouse", each once'
        )
    return {
        "ch9329_device": device,
        "ch9329_baud": int(baud),
        "ch9329_address": address,
        "ch9329_kinds": tuple(k for k in KINDS if k in kinds),
    }
