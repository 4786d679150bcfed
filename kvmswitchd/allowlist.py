"""Address allow-lists (``[[serial]] allow``, ``[usbip] allow``, ``ports.N.usbip_allow``):
parsed once from config into normalised CIDR strings, and asked whether a peer is in one.

A peer is matched as ``getpeername`` gives it: an IPv4 peer on a dual-stack socket
(``::ffff:192.0.2.1``) as IPv4, a scope (``fe80::1%eth0``) ignored, anything that is not an
address refused.
"""

from __future__ import annotations

import functools
import ipaddress
from typing import Final

from kvmswitchd.errors import ConfigError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# Every connection is checked against each entry; the cap keeps that check short (a few
# networks describe any real site) and stops a generated list from slowing every accept.
MAX_ENTRIES: Final = 64


def parse(value: object, path: str) -> tuple[str, ...]:
    """A config allow-list: 1..MAX_ENTRIES addresses/networks, normalised to CIDR strings."""
    if (
        not isinstance(value, list)
        or not 1 <= len(value) <= MAX_ENTRIES
        or not all(isinstance(v, str) for v in value)
    ):
        raise ConfigError(
            path, f'expected a list of 1..{MAX_ENTRIES} addresses/networks, e.g. ["192.0.2.10"]'
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


@functools.lru_cache(maxsize=64)
def networks(allow: tuple[str, ...]) -> tuple[Network, ...]:
    """The networks of a parsed allow-list (cached: it is asked on every connection)."""
    return tuple(ipaddress.ip_network(a, strict=False) for a in allow)


def admits(allow: tuple[str, ...], address: str) -> bool:
    """Whether a peer at ``address`` is in the parsed allow-list ``allow``."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in networks(allow))
