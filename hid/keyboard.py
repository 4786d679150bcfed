"""USB keyboard reports: the 8-byte boot report and an N-key-rollover bitmap (reference §4.2-4.3).

Encoders are stateful and sit on the hot path: ``press``/``release`` update a dict or a
bytearray and build one ``bytes``; they return None when the report would not change (a key
pressed twice, a release of a key that isn't held), so callers send only real changes.
Parsers are for decoders (emulated targets) and raise RemoteProtocolError on a bad length.

Boot report: ``[modifiers][0x00][k1..k6]``, keys in press order. With more than six
non-modifier keys held every slot is 0x01 ErrorRollOver and the modifiers stay valid; the
encoder still tracks every key, so releasing back to six or fewer shows the real keys again
and no release is ever lost.

NKRO report (reference §4.3, QMK's shape): ``[report id?][modifiers][28-byte bitmap]``; bit
``u % 8`` of bitmap byte ``u // 8`` is usage ``u`` (0x00-0xDF). Unlike QMK's 30 bytes
(0x00-0xEF) the bitmap stops below the modifiers: a bitmap bit for 0xE0-0xE7 would be a second
field with the modifier's usage, and Linux reports each field in turn, so a clear bitmap bit
would release a modifier the modifier byte holds. By default there is no report id (the
keyboard has an interface of its own: 29 bytes); pass ``report_id`` when it shares an
interface with other reports (30 bytes) and build the descriptor with the same id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from hid.keymap import MODIFIER_BIT, MODIFIER_MASK, is_modifier
from kvmswitchd.errors import InputError, RemoteProtocolError

BOOT_REPORT_LEN: Final = 8
BOOT_KEY_SLOTS: Final = 6
ERROR_ROLLOVER: Final = 0x01
NKRO_BITMAP_LEN: Final = 28  # usages 0x00-0xDF
NKRO_REPORT_LEN: Final = 1 + NKRO_BITMAP_LEN  # without a report id
# Highest non-modifier usage a key slot may carry (0xE0-0xE7 are modifiers, above is reserved).
_MAX_KEY_USAGE: Final = 0xDF
_FIRST_KEY_USAGE: Final = 0x04  # 0x00 is "no key", 0x01-0x03 are error codes
_PAD: Final = tuple(bytes(BOOT_KEY_SLOTS - n) for n in range(BOOT_KEY_SLOTS + 1))
_EMPTY_BOOT: Final = bytes(BOOT_REPORT_LEN)
_MOD_USAGES: Final = tuple(sorted(MODIFIER_BIT))


def _check_key(usage: int) -> None:
    if not _FIRST_KEY_USAGE <= usage <= _MAX_KEY_USAGE:
        raise InputError(f"not a keyboard usage: {usage:#04x} (expected 0x04-0xDF or 0xE0-0xE7)")


def _bitmap_usages(bitmap: bytes | bytearray) -> tuple[int, ...]:
    return tuple(
        i * 8 + b for i, byte in enumerate(bitmap) if byte for b in range(8) if byte >> b & 1
    )


def _modifier_usages(mods: int) -> frozenset[int]:
    return frozenset(u for u in _MOD_USAGES if mods & MODIFIER_MASK[u])


class BootKeyboard:
    """Boot-protocol keyboard encoder: ``press``/``release`` return the new 8-byte report, or
    None when it is unchanged; ``release_all`` always returns the all-zero report."""

    __slots__ = ("_keys", "_last", "_mods")

    def __init__(self) -> None:
        self._mods = 0
        self._keys: dict[int, None] = {}  # insertion-ordered set: slot order = press order
        self._last = _EMPTY_BOOT

    @property
    def pressed(self) -> frozenset[int]:
        """Every held usage, modifiers included (keys beyond six as well)."""
        return _modifier_usages(self._mods).union(self._keys)

    def report(self) -> bytes:
        keys = self._keys
        n = len(keys)
        if n > BOOT_KEY_SLOTS:
            return bytes((self._mods, 0, 1, 1, 1, 1, 1, 1))
        return bytes((self._mods, 0, *keys)) + _PAD[n]

    def key(self, usage: int, pressed: bool) -> bytes | None:
        """``press`` (``pressed``) or ``release`` in one call: the hot path's entry."""
        keys = self._keys
        mask = MODIFIER_MASK.get(usage)
        if mask is not None:
            self._mods = self._mods | mask if pressed else self._mods & ~mask
        elif pressed:
            if usage in keys:
                return None
            _check_key(usage)
            keys[usage] = None
        elif usage in keys:
            del keys[usage]
        else:
            return None
        n = len(keys)  # the report, built inline: this runs for every console key
        if n > BOOT_KEY_SLOTS:
            report = bytes((self._mods, 0, 1, 1, 1, 1, 1, 1))
        else:
            report = bytes((self._mods, 0, *keys)) + _PAD[n]
        if report == self._last:
            return None
        self._last = report
        return report

    def press(self, usage: int) -> bytes | None:
        return self.key(usage, True)

    def release(self, usage: int) -> bytes | None:
        return self.key(usage, False)

    def release_all(self) -> bytes:
        self._mods = 0
        self._keys.clear()
        self._last = _EMPTY_BOOT
        return _EMPTY_BOOT


class NkroKeyboard:
    """N-key-rollover encoder, same API as :class:`BootKeyboard`; no key limit."""

    __slots__ = ("_buf", "_offset")

    def __init__(self, report_id: int | None = None) -> None:
        if report_id is not None and not 1 <= report_id <= 0xFF:
            raise InputError(f"report id must be 1..255, not {report_id}")
        head = b"" if report_id is None else bytes((report_id,))
        self._offset = len(head)  # index of the modifier byte
        self._buf = bytearray(head + bytes(NKRO_REPORT_LEN))

    @property
    def report_len(self) -> int:
        return len(self._buf)

    @property
    def pressed(self) -> frozenset[int]:
        bitmap = self._buf[self._offset + 1 :]
        keys = [
            i * 8 + b for i, byte in enumerate(bitmap) if byte for b in range(8) if byte >> b & 1
        ]
        return _modifier_usages(self._buf[self._offset]) | frozenset(keys)

    def report(self) -> bytes:
        return bytes(self._buf)

    def boot_report(self) -> bytes:
        """The same state as a boot report, for a host that chose the boot protocol."""
        keys = sorted(self.pressed - _modifier_usages(0xFF))
        mods = self._buf[self._offset]
        if len(keys) > BOOT_KEY_SLOTS:
            return bytes((mods, 0, 1, 1, 1, 1, 1, 1))
        return bytes((mods, 0, *keys)) + _PAD[len(keys)]

    def _locate(self, usage: int) -> tuple[int, int]:
        mask = MODIFIER_MASK.get(usage)
        if mask is not None:
            return self._offset, mask
        _check_key(usage)
        return self._offset + 1 + (usage >> 3), 1 << (usage & 7)

    def key(self, usage: int, pressed: bool) -> bytes | None:
        """``press`` (``pressed``) or ``release`` in one call."""
        return self.press(usage) if pressed else self.release(usage)

    def press(self, usage: int) -> bytes | None:
        index, mask = self._locate(usage)
        buf = self._buf
        if buf[index] & mask:
            return None
        buf[index] |= mask
        return bytes(buf)

    def release(self, usage: int) -> bytes | None:
        if not (is_modifier(usage) or _FIRST_KEY_USAGE <= usage <= _MAX_KEY_USAGE):
            return None  # never held: a release never raises
        index, mask = self._locate(usage)
        buf = self._buf
        if not buf[index] & mask:
            return None
        buf[index] &= ~mask
        return bytes(buf)

    def release_all(self) -> bytes:
        buf = self._buf
        buf[self._offset :] = bytes(NKRO_REPORT_LEN)
        return bytes(buf)


@dataclass(frozen=True, slots=True)
class BootReport:
    """A decoded keyboard report: the modifier byte and the non-zero key usages."""

    modifiers: int
    keys: tuple[int, ...]

    @property
    def rollover(self) -> bool:
        """True for the ErrorRollOver report (too many keys; key state unknown)."""
        return ERROR_ROLLOVER in self.keys

    @property
    def usages(self) -> frozenset[int]:
        """Held usages, modifiers included, error codes (0x01-0x03) left out."""
        return _modifier_usages(self.modifiers) | frozenset(k for k in self.keys if k > 0x03)


KeyboardReport = BootReport  # what parse_nkro_report returns, under a neutral name


def parse_boot_report(data: bytes) -> BootReport:
    if len(data) != BOOT_REPORT_LEN:
        raise RemoteProtocolError(f"boot keyboard report is {len(data)} bytes, expected 8")
    return BootReport(data[0], tuple(k for k in data[2:] if k))


def parse_nkro_report(data: bytes, report_id: int | None = None) -> BootReport:
    """Decode an NKRO report (keys in ascending usage order)."""
    expected = NKRO_REPORT_LEN + (report_id is not None)
    if len(data) != expected:
        raise RemoteProtocolError(f"NKRO report is {len(data)} bytes, expected {expected}")
    if report_id is not None:
        if data[0] != report_id:
            raise RemoteProtocolError(f"NKRO report id {data[0]}, expected {report_id}")
        data = data[1:]
    return BootReport(data[0], _bitmap_usages(data[1:]))
