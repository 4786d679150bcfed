"""An emulated CH9329 chip, sans-IO: the serial side of a real one (reference §5).

``EmulatedChip.receive_data(bytes, now)`` returns the reply bytes, as the datasheet says:
``cmd | 0x80`` with status 0x00 (or the 8-byte GET_INFO answer), ``cmd | 0xC0`` with
E3 (unknown command), E4 (bad checksum), E5 (bad parameters) or E6 (the HID data could
not go to the USB host: none is connected). A packet still incomplete ``packet_gap``
seconds after its last byte is answered E1 (byte timeout) and dropped; bytes that never
made a head are answered E2 (bad head) at the same gap. A frame for another address is
ignored; one to the broadcast address 0xFF is carried out without a reply.

Decoded input goes to a ``VirtualComputer`` (``kvmswitchd.targets.computer``): the
keyboard's boot reports, the mouse (relative, or absolute 0..4095 scaled to the
computer's 0..32767), and the LED output reports the computer sends back are what
GET_INFO reports. Media keys are kept in ``media`` (the computer has no consumer page).
``kvmswitchd.targets.ch9329_pty`` runs one on a pseudo-terminal.
"""

from __future__ import annotations

from typing import Any, Final

from hid import ch9329
from hid.ch9329 import ACPI_REPORT_ID, BadFrame, Cmd, Frame, FrameReader, Status
from hid.keyboard import BOOT_REPORT_LEN
from hid.leds import Leds
from kvmswitchd.errors import RemoteProtocolError
from kvmswitchd.targets.computer import VirtualComputer

# The datasheet's default: a packet ends after 3 ms without a byte.
PACKET_GAP: Final = 0.003
VERSION: Final = 0x30  # V1.0
# The 50-byte parameter block GET_PARA_CFG answers (reference §5): mode 0x80 (keyboard +
# mouse), protocol mode 0x80, the address, 9600 baud BE32, 2 reserved, 3 ms BE16,
# VID/PID 1A86:E129, the rest zero.
PARA_CFG_LEN: Final = 50
HOST_COMMANDS: Final = frozenset(c for c in Cmd if c < 0x40)
# Bytes of one packet the chip holds while it waits for the rest of a frame. A real chip
# has a small buffer; the cap keeps line noise from growing ours.
MAX_PENDING: Final = 6 + ch9329.MAX_DATA_LEN
ABS_MAX: Final = 32767


def para_cfg(address: int, baud: int = 9600) -> bytes:
    head = bytes((0x80, 0x80, address)) + baud.to_bytes(4, "big") + bytes(2)
    body = head + (3).to_bytes(2, "big") + bytes.fromhex("1a86e129")
    return body + bytes(PARA_CFG_LEN - len(body))


class EmulatedChip:
    def __init__(
        self,
        computer: VirtualComputer | None = None,
        *,
        address: int = 0,
        packet_gap: float = PACKET_GAP,
    ) -> None:
        self.computer = computer if computer is not None else VirtualComputer()
        self.address = address
        self.packet_gap = packet_gap
        self.usb_connected = True  # the target end of the cable is plugged into a host
        self.silent = False  # a chip that stopped answering (it still takes input)
        self.leds = Leds()
        self.media = 0  # the multimedia bitmap held now
        self.acpi = 0
        self.frames = 0  # frames decoded
        self.errors: dict[str, int] = {}  # error replies sent, by status name
        self.ignored_mouse = 0  # mouse frames of the kind the computer does not have
        self._reader = FrameReader()
        self._last_byte: float | None = None  # when the pending packet's last byte came
        self._junk = False  # the pending bytes hold something that was not a frame
        self.computer.set_output(self._on_output)

    def _on_output(self, data: bytes) -> None:
        if data:
            self.leds = Leds.from_usb(data[0])

    def receive_data(self, data: bytes, now: float) -> bytes:
        """Take bytes from the serial line; the reply bytes."""
        if data[:1] != b"\x57" and self._last_byte is None:
            self._junk = True
        out = bytearray()
        for item in self._reader.feed(data):
            self._junk = False
            if isinstance(item, BadFrame):
                out += self._error(item.addr, item.cmd, Status.ERR_SUM)
            else:
                out += self._command(item)
        pending = self._reader.pending
        if len(pending) > MAX_PENDING:
            self._reader = FrameReader()
            pending = b""
        self._last_byte = now if pending or self._junk else None
        return b"" if self.silent else bytes(out)

    def next_deadline(self) -> float | None:
        return None if self._last_byte is None else self._last_byte + self.packet_gap

    def handle_timer(self, now: float) -> bytes:
        """The packet gap passed: a partial frame is E1, bytes with no head E2."""
        if self._last_byte is None or now < self._last_byte + self.packet_gap:
            return b""
        pending = self._reader.pending
        self._reader = FrameReader()
        self._last_byte = None
        junk, self._junk = self._junk, False
        if len(pending) >= 4:
            reply = self._error(pending[2], pending[3], Status.ERR_TIMEOUT)
        elif pending or junk:
            reply = self._error(self.address, 0, Status.ERR_HEAD)
        else:
            return b""
        return b"" if self.silent else reply

    def view(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "usb_connected": self.usb_connected,
            "silent": self.silent,
            "frames": self.frames,
            "errors": dict(self.errors),
            "media": self.media,
        }

    # -- internals --------------------------------------------------------------------

    def _for_me(self, addr: int) -> bool:
        return self.address == 0 or addr in (self.address, ch9329.BROADCAST)

    def _error(self, addr: int, cmd: int, status: Status) -> bytes:
        if not self._for_me(addr) or addr == ch9329.BROADCAST:
            return b""
        self.errors[status.name] = self.errors.get(status.name, 0) + 1
        return ch9329.status_reply(cmd, status, self.address).encode()

    def _command(self, frame: Frame) -> bytes:
        if not self._for_me(frame.addr):
            return b""
        self.frames += 1
        cmd = frame.cmd
        if cmd not in HOST_COMMANDS:
            return self._error(frame.addr, cmd, Status.ERR_CMD)
        try:
            reply = self._execute(frame)
        except RemoteProtocolError:
            return self._error(frame.addr, cmd, Status.ERR_PARA)
        if frame.addr == ch9329.BROADCAST:
            return b""
        if isinstance(reply, Status):
            if reply is not Status.SUCCESS:
                return self._error(frame.addr, cmd, reply)
            return ch9329.status_reply(cmd, reply, self.address).encode()
        return reply.encode()

    def _execute(self, frame: Frame) -> Frame | Status:
        cmd, data, computer = frame.cmd, frame.data, self.computer
        if cmd == Cmd.GET_INFO:
            return ch9329.info_reply(self.leds, self.usb_connected, VERSION, self.address)
        if cmd == Cmd.GET_PARA_CFG:
            return Frame(self.address, cmd | ch9329.REPLY_FLAG, para_cfg(self.address))
        if cmd in (Cmd.RESET, Cmd.SET_DEFAULT_CFG):
            return Status.SUCCESS
        if cmd == Cmd.SET_PARA_CFG:
            if len(data) != PARA_CFG_LEN:
                raise RemoteProtocolError("SET_PARA_CFG takes 50 bytes")
            return Status.SUCCESS
        if cmd == Cmd.SEND_KB_GENERAL_DATA:
            if len(data) != BOOT_REPORT_LEN:
                raise RemoteProtocolError("SEND_KB_GENERAL_DATA takes 8 bytes")
            if not self.usb_connected:
                return Status.ERR_OPERATE
            computer.receive_keyboard(data)
            return Status.SUCCESS
        if cmd == Cmd.SEND_KB_MEDIA_DATA:
            report_id, bits = ch9329.parse_media_data(data)
            if not self.usb_connected:
                return Status.ERR_OPERATE
            if report_id == ACPI_REPORT_ID:
                self.acpi = bits
            else:
                self.media = bits
            return Status.SUCCESS
        if cmd == Cmd.SEND_MS_ABS_DATA:
            absolute = ch9329.parse_abs_mouse_data(data)
            if absolute.x > ch9329.CH9329_ABS_MAX or absolute.y > ch9329.CH9329_ABS_MAX:
                raise RemoteProtocolError("absolute position past 4095")
            if not self.usb_connected:
                return Status.ERR_OPERATE
            if computer.mouse_kind != "absolute":
                self.ignored_mouse += 1
                return Status.SUCCESS
            x = absolute.x * ABS_MAX // ch9329.CH9329_ABS_MAX
            y = absolute.y * ABS_MAX // ch9329.CH9329_ABS_MAX
            report = bytes((absolute.buttons, x & 0xFF, x >> 8, y & 0xFF, y >> 8))
            computer.receive_mouse(report + bytes((absolute.wheel & 0xFF,)))
            return Status.SUCCESS
        if cmd == Cmd.SEND_MS_REL_DATA:
            rel = ch9329.parse_rel_mouse_data(data)
            if not self.usb_connected:
                return Status.ERR_OPERATE
            if computer.mouse_kind != "relative":
                self.ignored_mouse += 1
                return Status.SUCCESS
            computer.receive_mouse(
                bytes((rel.buttons, *(v & 0xFF for v in (rel.dx, rel.dy, rel.wheel))))
            )
            return Status.SUCCESS
        # SEND_MY_HID_DATA, USB strings: accepted, nothing behind them here
        return Status.SUCCESS
