"""The settings of the emulated TESmart unit, shared by every tesmart connection, sans-IO.

A real unit keeps its buzzer, LED timeout, input auto-detection and LAN settings (IP
address, TCP port, gateway, netmask) in its own memory, whichever of its ports set them:
a value written over RS-232 reads back over the LAN and after a power cycle. Here one
``TesmartUnit`` per daemon holds them for every tesmart endpoint and connection; the
daemon saves them in the state file (key ``tesmart``, read back by
:func:`read_settings`, which resets a bad entry and says why) and shows them read-only in
``GET /api/v1/state``. They change nothing on this switch: the daemon's own listeners are
configured in its config file.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from kvmswitchd.state_values import kind, quote

Address = tuple[int, int, int, int]
# The LED/display timeouts the units accept (command 03): never, 10 s, 30 s.
LED_TIMEOUTS = (0, 10, 30)
ADDRESS_KEYS = ("ip", "gateway", "netmask")


@dataclass(frozen=True, slots=True)
class UnitSettings:
    """What a TESmart client can set and read back; the defaults are the factory's."""

    buzzer: bool = True
    led_timeout: int = 0  # seconds, one of LED_TIMEOUTS
    auto_detect: bool = False
    ip: Address = (192, 168, 1, 10)
    gateway: Address = (192, 168, 1, 1)
    netmask: Address = (255, 255, 255, 0)
    port: int = 5000

    def to_json(self) -> dict[str, Any]:
        """The state-file and ``GET /state`` form: addresses as dotted quads."""
        return {
            "buzzer": self.buzzer,
            "led_timeout": self.led_timeout,
            "auto_detect": self.auto_detect,
            "ip": dotted(self.ip),
            "gateway": dotted(self.gateway),
            "netmask": dotted(self.netmask),
            "port": self.port,
        }


def dotted(address: Address) -> str:
    return ".".join(map(str, address))


def parse_address(text: str) -> Address | None:
    """``"192.168.001.010"`` or ``"10.0.0.5"`` → octets; None unless four octets 0..255."""
    parts = text.split(".")
    if len(parts) != 4 or not all(p.isascii() and p.isdigit() and len(p) <= 3 for p in parts):
        return None
    a, b, c, d = (int(p) for p in parts)
    if max(a, b, c, d) > 255:
        return None
    return (a, b, c, d)


class TesmartUnit:
    """The one set of unit settings; ``on_change()`` runs after each real change."""

    def __init__(
        self,
        settings: UnitSettings | None = None,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.settings = settings or UnitSettings()
        self.on_change = on_change

    def view(self) -> dict[str, Any]:
        """The settings now, JSON-ready (what ``GET /state`` shows under ``tesmart``)."""
        return self.settings.to_json()

    def update(self, **changes: Any) -> None:
        new = replace(self.settings, **changes)
        if new == self.settings:
            return
        self.settings = new
        if self.on_change is not None:
            self.on_change()


def read_settings(doc: object) -> tuple[UnitSettings, tuple[tuple[str, str], ...]]:
    """Saved settings (the state file's ``tesmart`` object), and each entry reset, as
    ``(key, why)``: a bad entry goes back to its factory value, the rest are kept."""
    if not isinstance(doc, Mapping):
        return UnitSettings(), (("", f"expected an object, got {kind(doc)}"),)
    resets: list[tuple[str, str]] = []
    names = {f.name for f in fields(UnitSettings)}
    resets += ((quote(k), "unknown key") for k in sorted(map(str, set(doc) - names)))
    good: dict[str, Any] = {}
    for key in ("buzzer", "auto_detect"):
        if key in doc:
            if isinstance(doc[key], bool):
                good[key] = doc[key]
            else:
                resets.append((key, f"expected true or false, got {kind(doc[key])}"))
    if "led_timeout" in doc:
        value = doc["led_timeout"]
        if not isinstance(value, bool) and value in LED_TIMEOUTS:
            good["led_timeout"] = int(value)
        else:
            resets.append(("led_timeout", f"expected one of 0, 10, 30, got {_shown(value)}"))
    for key in ADDRESS_KEYS:
        if key in doc:
            value = doc[key]
            address = parse_address(value) if isinstance(value, str) else None
            if address is None:
                resets.append((key, f"expected a dotted IPv4 address, got {_shown(value)}"))
            else:
                good[key] = address
    if "port" in doc:
        value = doc["port"]
        if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 65536:
            good["port"] = value
        else:
            resets.append(("port", f"expected a TCP port 1..65535, got {_shown(value)}"))
    return UnitSettings(**good), tuple(resets)


def _shown(value: object) -> str:
    if isinstance(value, bool | int | float):
        return repr(value)
    if isinstance(value, str):
        return repr(quote(value))
    return kind(value)
