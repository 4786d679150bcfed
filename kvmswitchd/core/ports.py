"""Port ids and console channels (SPEC §2).

A port id is ``"3"`` for port 3 of this unit, or ``"2.4"`` for channel 4 of the downstream
switch cascaded on port 2.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from kvmswitchd.errors import InputError, PortError

MIN_PORTS = 2
MAX_PORTS = 64
# A downstream channel number above this is certainly a typo (no real chain is that wide).
MAX_CASCADE_CHANNEL = 64
# Caps the text we even try to parse as a port id (ids come from the network).
MAX_PORT_ID_LEN = 8


class Channel(enum.StrEnum):
    """A console channel whose focus moves between ports."""

    KM = "km"
    VIDEO = "video"
    AUDIO = "audio"
    USB = "usb"


ALL_CHANNELS: frozenset[Channel] = frozenset(Channel)


@dataclass(frozen=True, slots=True, order=True)
class PortId:
    """Port ``unit`` of this switch, optionally ``channel`` of a downstream switch."""

    unit: int
    channel: int | None = None

    def __str__(self) -> str:
        return str(self.unit) if self.channel is None else f"{self.unit}.{self.channel}"

    @property
    def local(self) -> PortId:
        """The port of this unit that carries this id."""
        return PortId(self.unit)


def _number(text: str, what: str) -> int:
    if not text.isascii() or not text.isdigit():
        raise InputError(f"{what} must be a decimal number, got {text!r}")
    return int(text)


def parse_port_id(text: object, ports: int) -> PortId:
    """Parse and validate ``"3"`` or ``"2.4"`` against a unit with ``ports`` ports.

    Raises ``InputError`` for malformed text and ``PortError`` for a port this unit lacks.
    """
    if isinstance(text, int) and not isinstance(text, bool):
        text = str(text)
    if not isinstance(text, str):
        raise InputError(f'port id must be a string like "3" or "2.4", got {type(text).__name__}')
    text = text.strip()
    if not text or len(text) > MAX_PORT_ID_LEN:
        raise InputError(f'port id must be like "3" or "2.4", got {text[:MAX_PORT_ID_LEN]!r}')
    unit_text, dot, channel_text = text.partition(".")
    unit = _number(unit_text, "port")
    channel = _number(channel_text, "cascade channel") if dot else None
    if not 1 <= unit <= ports:
        raise PortError(f"no port {unit}: this switch has ports 1..{ports}")
    if channel is not None and not 1 <= channel <= MAX_CASCADE_CHANNEL:
        raise PortError(f"no cascade channel {channel}: channels are 1..{MAX_CASCADE_CHANNEL}")
    return PortId(unit, channel)


def next_in_ring(ring: Sequence[int], current: int, direction: int) -> int:
    """The port after (``direction`` = 1) or before (-1) ``current`` in ``ring``, wrapping;
    ``current`` need not be in the ring (a restricted user whose focus sits elsewhere)."""
    if not ring:
        raise InputError("no port to move to")
    if direction > 0:
        return next((u for u in ring if u > current), ring[0])
    return next((u for u in reversed(ring) if u < current), ring[-1])


def parse_channels(values: object) -> frozenset[Channel]:
    """Parse a list of channel names (``["km", "video"]``); ``None`` means all channels."""
    if values is None:
        return ALL_CHANNELS
    if isinstance(values, str):
        values = [v for v in values.replace(",", " ").split() if v]
    if not isinstance(values, list | tuple | set | frozenset) or not values:
        raise InputError("channels must be a non-empty list of km, video, audio, usb")
    out: set[Channel] = set()
    for value in values:
        try:
            out.add(Channel(value))
        except ValueError:
            raise InputError(
                f"unknown channel {value!r}: expected km, video, audio or usb"
            ) from None
    return frozenset(out)
