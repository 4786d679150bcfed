"""CH9329 serial-to-USB-HID frames (reference §5): ``57 AB | addr | cmd | len | data | sum``.

``sum`` is the low byte of the sum of every preceding byte, head included. A reply carries
``cmd | 0x80`` (``cmd | 0xC0`` for an error) and, for commands that are not queries, a
1-byte :class:`Status`.

Decoding (:meth:`Frame.decode`, :class:`FrameReader`) skips garbage to the next ``57 AB``
and never waits on an impossible frame: a length byte above :data:`MAX_DATA_LEN` means the
head was garbage, so it is skipped. A frame with a bad checksum raises
:class:`ChecksumError` (a RemoteProtocolError) from ``Frame.decode``, carrying the frame's
address and command (a chip answers it with status E4) and ``rest``, the buffer after its
``57 AB``: the scan resumes inside the bad frame, so a frame that follows a truncated one
(or a false head in line noise) is still found. :class:`FrameReader` turns the same case
into a :class:`BadFrame` value and never raises.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Final

from hid.keyboard import BOOT_REPORT_LEN
from hid.leds import Leds
from hid.mouse import ABS_MAX, AbsoluteReport, RelativeReport
from kvmswitchd.errors import InputError, LocalProtocolError, RemoteProtocolError

HEAD: Final = b"\x57\xab"
# The chip's longest data field is 64 bytes. A bigger length byte means we synced on a
# false head: skipping it at once stops one corrupt byte from stalling the link while we
# wait for up to 255 bytes that will never make a frame.
MAX_DATA_LEN: Final = 64
_OVERHEAD: Final = 6  # head 2 + addr + cmd + len + sum
BROADCAST: Final = 0xFF
CH9329_ABS_MAX: Final = 4095
REPLY_FLAG: Final = 0x80
ERROR_FLAG: Final = 0xC0
INFO_LEN: Final = 8
ABS_DATA_LEN: Final = 7
REL_DATA_LEN: Final = 5
# SEND_KB_MEDIA_DATA payloads: report id 0x02 + a 3-byte multimedia bitmap, or report id
# 0x01 + a 1-byte ACPI bitmap (power, sleep, wake).
MEDIA_REPORT_ID: Final = 0x02
ACPI_REPORT_ID: Final = 0x01
MEDIA_DATA_LEN: Final = 4
ACPI_DATA_LEN: Final = 2


class Cmd(IntEnum):
    GET_INFO = 0x01
    SEND_KB_GENERAL_DATA = 0x02
    SEND_KB_MEDIA_DATA = 0x03
    SEND_MS_ABS_DATA = 0x04
    SEND_MS_REL_DATA = 0x05
    SEND_MY_HID_DATA = 0x06
    READ_MY_HID_DATA = 0x87  # chip → host, unsolicited
    GET_PARA_CFG = 0x08
    SET_PARA_CFG = 0x09
    GET_USB_STRING = 0x0A
    SET_USB_STRING = 0x0B
    SET_DEFAULT_CFG = 0x0C
    RESET = 0x0F


class Status(IntEnum):
    SUCCESS = 0x00
    ERR_TIMEOUT = 0xE1
    ERR_HEAD = 0xE2
    ERR_CMD = 0xE3
    ERR_SUM = 0xE4
    ERR_PARA = 0xE5
    ERR_OPERATE = 0xE6


def checksum(data: bytes) -> int:
    return sum(data) & 0xFF


class ChecksumError(RemoteProtocolError):
    """A complete frame whose checksum is wrong. ``rest``: where to resume (after its head)."""

    def __init__(self, addr: int, cmd: int, rest: bytes) -> None:
        super().__init__(f"CH9329 frame cmd {cmd:#04x} has a bad checksum")
        self.addr = addr
        self.cmd = cmd
        self.rest = rest


@dataclass(frozen=True, slots=True)
class Frame:
    addr: int
    cmd: int
    data: bytes = b""

    def __post_init__(self) -> None:
        if not (0 <= self.addr <= 0xFF and 0 <= self.cmd <= 0xFF):
            raise LocalProtocolError(f"CH9329 addr/cmd out of range: {self.addr}, {self.cmd}")
        if len(self.data) > MAX_DATA_LEN:
            raise LocalProtocolError(f"CH9329 data is {len(self.data)} bytes, max 64")

    def encode(self) -> bytes:
        body = HEAD + bytes((self.addr, self.cmd, len(self.data))) + self.data
        return body + bytes((checksum(body),))

    @property
    def is_reply(self) -> bool:
        return bool(self.cmd & REPLY_FLAG)

    @property
    def is_error(self) -> bool:
        return self.cmd & ERROR_FLAG == ERROR_FLAG

    @property
    def request_cmd(self) -> int:
        """The command a reply answers (the flags stripped)."""
        return self.cmd & 0x3F

    @classmethod
    def decode(cls, buf: bytes) -> tuple[Frame | None, bytes]:
        """The first frame in ``buf`` and the bytes after it, or (None, what to keep) when no
        complete frame is there yet. Garbage before a head is dropped. Raises ChecksumError
        (with ``rest``) for a complete frame with a bad checksum."""
        while True:
            start = buf.find(HEAD)
            if start < 0:
                return None, buf[-1:] if buf.endswith(HEAD[:1]) else b""
            buf = buf[start:]
            if len(buf) < _OVERHEAD - 1:
                return None, buf
            length = buf[4]
            if length > MAX_DATA_LEN:
                buf = buf[1:]  # a false head: look for the next one
                continue
            end = _OVERHEAD + length
            if len(buf) < end:
                return None, buf
            if checksum(buf[: end - 1]) != buf[end - 1]:
                raise ChecksumError(buf[2], buf[3], buf[len(HEAD) :])
            return cls(buf[2], buf[3], bytes(buf[5 : end - 1])), buf[end:]


@dataclass(frozen=True, slots=True)
class BadFrame:
    """A complete frame with a bad checksum, as :class:`FrameReader` reports it."""

    addr: int
    cmd: int


class FrameReader:
    """Sans-IO stream reader: ``feed`` bytes in any chunking, get frames (and bad frames)."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = b""

    @property
    def pending(self) -> bytes:
        """Bytes held for a frame that is not complete yet."""
        return self._buf

    def feed(self, data: bytes) -> list[Frame | BadFrame]:
        buf = self._buf + data
        out: list[Frame | BadFrame] = []
        while True:
            try:
                frame, buf = Frame.decode(buf)
            except ChecksumError as exc:
                out.append(BadFrame(exc.addr, exc.cmd))
                buf = exc.rest
                continue
            if frame is None:
                break
            out.append(frame)
        self._buf = buf
        return out


# --- builders (host → chip) -------------------------------------------------------------


def get_info_frame(addr: int = 0) -> Frame:
    return Frame(addr, Cmd.GET_INFO)


def reset_frame(addr: int = 0) -> Frame:
    return Frame(addr, Cmd.RESET)


def keyboard_frame(report: bytes, addr: int = 0) -> Frame:
    """SEND_KB_GENERAL_DATA with a boot keyboard report ``[mods 00 k1..k6]``."""
    if len(report) != BOOT_REPORT_LEN:
        raise InputError(f"CH9329 keyboard data is an 8-byte boot report, not {len(report)}")
    return Frame(addr, Cmd.SEND_KB_GENERAL_DATA, bytes(report))


class MediaKey(IntEnum):
    """Bits of the multimedia bitmap (little-endian over its 3 bytes), per the WCH
    protocol document; only the first byte's bits have a usage in our key table."""

    VOLUME_UP = 1 << 0
    VOLUME_DOWN = 1 << 1
    MUTE = 1 << 2
    PLAY_PAUSE = 1 << 3
    NEXT_TRACK = 1 << 4
    PREV_TRACK = 1 << 5
    STOP = 1 << 6
    EJECT = 1 << 7


# Keyboard-page usages (reference §4.5) that the chip's boot keyboard cannot carry (its
# descriptor stops at 0x65): they go out as SEND_KB_MEDIA_DATA bits instead.
MEDIA_USAGES: Final = {
    0x7F: MediaKey.MUTE,
    0x80: MediaKey.VOLUME_UP,
    0x81: MediaKey.VOLUME_DOWN,
}


def split_media(report: bytes) -> tuple[bytes, int]:
    """A boot report → (the report without media usages, the media bitmap they make)."""
    if not any(k in MEDIA_USAGES for k in report[2:]):
        return report, 0
    bits = 0
    keys = []
    for key in report[2:]:
        media = MEDIA_USAGES.get(key)
        if media is None:
            keys.append(key)
        else:
            bits |= media
    kept = bytes(report[:2]) + bytes(keys) + bytes(len(report) - 2 - len(keys))
    return kept, bits


def media_frame(bits: int, addr: int = 0) -> Frame:
    """SEND_KB_MEDIA_DATA with the multimedia bitmap ``bits`` (0: all media keys up)."""
    if not 0 <= bits <= 0xFFFFFF:
        raise InputError(f"CH9329 media bitmap {bits:#x} is wider than 3 bytes")
    return Frame(
        addr, Cmd.SEND_KB_MEDIA_DATA, bytes((MEDIA_REPORT_ID,)) + bits.to_bytes(3, "little")
    )


def parse_media_data(data: bytes) -> tuple[int, int]:
    """Chip side: SEND_KB_MEDIA_DATA payload → (report id, bitmap)."""
    if (len(data), data[:1]) not in (
        (MEDIA_DATA_LEN, bytes((MEDIA_REPORT_ID,))),
        (ACPI_DATA_LEN, bytes((ACPI_REPORT_ID,))),
    ):
        raise RemoteProtocolError(f"bad CH9329 media data: {data.hex(' ')}")
    return data[0], int.from_bytes(data[1:], "little")


def scale_abs(value: int) -> int:
    """0..32767 → the chip's 0..4095, as ``ceil(v / 8)`` (PiKVM), clamped."""
    return max(0, min(CH9329_ABS_MAX, (max(0, min(ABS_MAX, value)) + 7) // 8))


def _int8(value: int, what: str) -> int:
    if not -127 <= value <= 127:
        raise InputError(f"CH9329 {what} {value} out of range -127..127")
    return value & 0xFF


def abs_mouse_frame(buttons: int, x: int, y: int, wheel: int = 0, addr: int = 0) -> Frame:
    """SEND_MS_ABS_DATA; ``x``/``y`` in our 0..32767 space, scaled to 0..4095."""
    sx, sy = scale_abs(x), scale_abs(y)
    data = bytes((0x02, buttons & 0xFF, sx & 0xFF, sx >> 8, sy & 0xFF, sy >> 8))
    return Frame(addr, Cmd.SEND_MS_ABS_DATA, data + bytes((_int8(wheel, "wheel"),)))


def rel_mouse_frame(buttons: int, dx: int, dy: int, wheel: int = 0, addr: int = 0) -> Frame:
    """SEND_MS_REL_DATA; deltas -127..127 (split larger ones with hid.mouse first)."""
    deltas = (_int8(dx, "dx"), _int8(dy, "dy"), _int8(wheel, "wheel"))
    return Frame(addr, Cmd.SEND_MS_REL_DATA, bytes((0x01, buttons & 0xFF, *deltas)))


def mouse_report_frame(report: bytes, *, absolute: bool, addr: int = 0) -> Frame:
    """One of our mouse reports (``hid.mouse``: relative ``[buttons dx dy wheel (pan)]``,
    absolute ``[buttons x16 y16 wheel (pan)]`` in 0..32767) as the chip's frame; the chip
    has no horizontal wheel, so pan is dropped."""
    if len(report) < (6 if absolute else 4):
        raise InputError(f"a {len(report)}-byte mouse report is too short for this port")
    if absolute:
        x = int.from_bytes(report[1:3], "little")
        y = int.from_bytes(report[3:5], "little")
        return abs_mouse_frame(report[0], x, y, _signed(report[5]), addr)
    dx, dy, wheel = (_signed(b) for b in report[1:4])
    return rel_mouse_frame(report[0], dx, dy, wheel, addr)


def parse_abs_mouse_data(data: bytes) -> AbsoluteReport:
    """Chip side: SEND_MS_ABS_DATA payload → buttons, x/y in the chip's 0..4095, wheel."""
    if len(data) != ABS_DATA_LEN or data[0] != 0x02:
        raise RemoteProtocolError(f"bad CH9329 absolute mouse data: {data.hex(' ')}")
    x = int.from_bytes(data[2:4], "little")
    y = int.from_bytes(data[4:6], "little")
    return AbsoluteReport(data[1], x, y, _signed(data[6]))


def parse_rel_mouse_data(data: bytes) -> RelativeReport:
    """Chip side: SEND_MS_REL_DATA payload → buttons, dx, dy, wheel."""
    if len(data) != REL_DATA_LEN or data[0] != 0x01:
        raise RemoteProtocolError(f"bad CH9329 relative mouse data: {data.hex(' ')}")
    return RelativeReport(data[1], _signed(data[2]), _signed(data[3]), _signed(data[4]))


def _signed(byte: int) -> int:
    return byte - 0x100 if byte & 0x80 else byte


# --- replies ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChipInfo:
    version: int  # 0x30 = V1.0, 0x31 = V1.1
    usb_connected: bool
    leds: Leds


def parse_info(frame: Frame) -> ChipInfo:
    """Decode a GET_INFO reply."""
    if frame.cmd != Cmd.GET_INFO | REPLY_FLAG or len(frame.data) != INFO_LEN:
        raise RemoteProtocolError(f"not a CH9329 GET_INFO reply: cmd {frame.cmd:#04x}")
    return ChipInfo(frame.data[0], bool(frame.data[1]), Leds.from_ch9329(frame.data[2]))


def parse_status(frame: Frame, cmd: int) -> Status:
    """The status of a reply to ``cmd`` (an error reply yields its error status)."""
    if frame.request_cmd != cmd or not frame.is_reply or len(frame.data) != 1:
        raise RemoteProtocolError(f"not a CH9329 status reply to {cmd:#04x}: {frame}")
    try:
        return Status(frame.data[0])
    except ValueError:
        raise RemoteProtocolError(f"unknown CH9329 status {frame.data[0]:#04x}") from None


# Chip side, for the emulated CH9329 target.


def status_reply(cmd: int, status: Status = Status.SUCCESS, addr: int = 0) -> Frame:
    """``cmd | 0x80`` with a success status, ``cmd | 0xC0`` with an error status."""
    flag = REPLY_FLAG if status is Status.SUCCESS else ERROR_FLAG
    return Frame(addr, (cmd & 0x3F) | flag, bytes((status,)))


def info_reply(leds: Leds, connected: bool = True, version: int = 0x30, addr: int = 0) -> Frame:
    data = bytes((version, int(connected), leds.to_ch9329())) + bytes(INFO_LEN - 3)
    return Frame(addr, Cmd.GET_INFO | REPLY_FLAG, data)
