"""The ``tesmart`` dialect: TESmart's binary protocol (reference §2.1), sans-IO.

Frames are 6 bytes both ways: ``AA BB 03 <cmd> <val> EE``. A switch names the port
1-based; every command is answered with ``AA BB 03 11 <port> EE`` where the port is
**0-based** (clients such as PiKVM read 6 bytes after every command). Anything that is
not a frame is skipped up to the next ``AA``. The ASCII LAN-config queries of the TCP
models (``IP?;`` → ``IP:192.168.001.010;``, ``IP:x.x.x.x;`` → ``OK``) are answered from
in-memory values: they change nothing on this switch.
"""

from __future__ import annotations

import enum
import re

from kvmswitchd.core.commands import GetStatus, Outcome, StatusView, SwitchTo
from kvmswitchd.serial.channel import Action, ChannelBase, EventKind, Notice, Result, emit

HEADER = b"\xaa\xbb\x03"
TRAILER = 0xEE
FRAME_LEN = 6
# An ASCII LAN-config command (``IP:192.168.001.010;`` is 19 bytes). Stops a peer from
# growing the ASCII buffer with a "command" that never ends in ';'.
MAX_ASCII = 32
MAX_PORT_BYTE = 0xFF


class TesmartCommand(enum.IntEnum):
    SWITCH = 0x01  # val = port, 1-based
    BUZZER = 0x02  # 00 off / 01 on
    LED_TIMEOUT = 0x03  # 00 never / 0A 10 s / 1E 30 s
    QUERY = 0x10  # val 00: which port is active?
    STATUS = 0x11  # the reply: val = active port, 0-based
    AUTO_DETECT = 0x81  # 00 off / 01 on


def frame(command: int, value: int) -> bytes:
    return HEADER + bytes((command, value, TRAILER))


def status_frame(status: StatusView) -> bytes:
    """``AA BB 03 11 <port> EE`` for the keyboard/mouse focus; a cascade id reports its unit."""
    unit = status.focus.get("km", "1").partition(".")[0]
    index = int(unit) - 1 if unit.isascii() and unit.isdigit() else 0
    return frame(TesmartCommand.STATUS, min(max(index, 0), MAX_PORT_BYTE))


LAN_QUERY = re.compile(r"(IP|PT|GW|MA)\?")
LAN_SET_ADDRESS = re.compile(r"(IP|GW|MA):\s*(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})")
LAN_SET_PORT = re.compile(r"PT:\s*(\d{1,5})")


def _dotted(octets: tuple[int, ...]) -> str:
    return ".".join(f"{o:03d}" for o in octets)


class TesmartDialect(ChannelBase):
    def __init__(self, *, channel: str, idle_timeout: float | None = None) -> None:
        super().__init__(channel=channel, idle_timeout=idle_timeout)
        self._frame = bytearray()
        self._ascii = bytearray()
        self._ascii_overflow = False
        self._skipped = 0
        self._switched = False  # the outstanding request is a switch (then query status)
        self.buzzer = True
        self.led_timeout = 0
        self.auto_detect = False
        self.lan = {
            "IP": _dotted((192, 168, 1, 10)),
            "GW": _dotted((192, 168, 1, 1)),
            "MA": _dotted((255, 255, 255, 0)),
            "PT": "5000",
        }

    def _byte(self, byte: int, now: float, out: list[Action]) -> None:
        if not self._frame:
            if byte == HEADER[0]:
                self._frame.append(byte)
                self._ascii.clear()
            else:
                self._ascii_byte(byte, out)
            return
        self._frame.append(byte)
        n = len(self._frame)
        expected = HEADER[n - 1] if n <= len(HEADER) else TRAILER if n == FRAME_LEN else None
        if expected is not None and byte != expected:
            # Not a frame after all: drop its first byte and rescan the rest (at most 5
            # bytes, so this can never complete a frame by itself).
            rest = bytes(self._frame[1:])
            self._frame.clear()
            self._skipped += 1
            for b in rest:
                self._byte(b, now, out)
            return
        if n == FRAME_LEN:
            command, value = self._frame[3], self._frame[4]
            self._frame.clear()
            self._frame_done(command, value, out)

    def _frame_done(self, command: int, value: int, out: list[Action]) -> None:
        if self._skipped:
            out.append(Notice(EventKind.PROTOCOL, f"skipped {self._skipped} bytes of garbage"))
            self._skipped = 0
        match command:
            case TesmartCommand.SWITCH:
                self._switched = True
                self._request(SwitchTo(str(value)), out)
                return
            case TesmartCommand.BUZZER:
                self.buzzer = bool(value)
            case TesmartCommand.LED_TIMEOUT:
                self.led_timeout = value
            case TesmartCommand.AUTO_DETECT:
                self.auto_detect = bool(value)
            case TesmartCommand.QUERY:
                pass
            case _:
                out.append(Notice(EventKind.PROTOCOL, f"unknown command 0x{command:02x} ignored"))
                return
        # Settings and queries are acknowledged with the active port, like a switch.
        self._switched = False
        self._request(GetStatus(), out)

    def _completed(self, result: Result, _now: float, out: list[Action]) -> None:
        if not isinstance(result, Outcome):
            return
        switched, self._switched = self._switched, False
        if result.status is not None:
            emit(out, status_frame(result.status))
        elif switched:
            # A switch (done or refused) is answered with the port now active.
            self._request(GetStatus(), out)
        else:
            reason = result.error or result.message or "no status"
            out.append(Notice(EventKind.ERROR, f"status unavailable: {reason}"))

    # -- ASCII LAN configuration --------------------------------------------------------

    def _ascii_byte(self, byte: int, out: list[Action]) -> None:
        if byte == ord(";"):
            if not self._ascii_overflow:
                self._lan_command(self._ascii.decode("ascii").strip().upper(), out)
            self._ascii.clear()
            self._ascii_overflow = False
        elif 0x20 <= byte < 0x7F:
            if len(self._ascii) < MAX_ASCII:
                self._ascii.append(byte)
            else:
                self._ascii_overflow = True
        else:
            self._ascii.clear()
            self._ascii_overflow = False
            self._skipped += 1

    def _lan_command(self, text: str, out: list[Action]) -> None:
        if query := LAN_QUERY.fullmatch(text):
            emit(out, f"{query[1]}:{self.lan[query[1]]};".encode("ascii"))
        elif (address := LAN_SET_ADDRESS.fullmatch(text)) and all(
            int(o) <= 255 for o in address.groups()[1:]
        ):
            self.lan[address[1]] = _dotted(tuple(int(o) for o in address.groups()[1:]))
            emit(out, b"OK")
        elif (port := LAN_SET_PORT.fullmatch(text)) and 0 < int(port[1]) < 65536:
            self.lan["PT"] = str(int(port[1]))
            emit(out, b"OK")
        else:
            self._skipped += len(text) + 1
