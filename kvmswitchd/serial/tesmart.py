"""The ``tesmart`` dialect: TESmart's binary protocol (reference §2.1) as the units answer, sans-IO.

Frames are 6 bytes both ways: ``AA BB 03 <cmd> <val> EE``. A switch names the port
1-based and is answered with ``AA BB 03 11 <port> EE``, the port **0-based**; so is a
query. A switch to a port the unit does not have gets **no reply** (the units stay
silent: a client finds the input count by switching from the highest port down and
taking the first reply). The settings commands (buzzer, LED timeout, auto-detection)
are stored and not answered. Anything that is not a frame is skipped up to the next
``AA``.

Whenever the input changes from any channel, the adapter calls ``focus_changed``: the
core reads the active port through the bus (its line's rights) and sends the unit's
unsolicited ``AA BB 03 11 <port> EE`` if it differs from what it last told its peer, so
the client whose own switch was just answered gets no second frame. ``notify=False``
(for clients that read strictly request/reply) sends none.

The ASCII LAN commands of the TCP models read and write the unit-wide settings
(:mod:`kvmswitchd.serial.tesmart_unit`): ``IP?`` answers ``IP:192.168.001.010;``
(zero-padded octets; ``PT?`` answers ``PT:05000;``), with or without a trailing ``;``;
``IP:x.x.x.x;`` answers ``OK``. A set ends at ``;``, CR or LF, at the start of the next
command or frame, or after ``ASCII_GAP`` seconds without input.
"""

from __future__ import annotations

import enum
import re

from kvmswitchd.core.commands import GetStatus, Outcome, StatusView, SwitchTo
from kvmswitchd.serial.channel import Action, ChannelBase, EventKind, Notice, Result, emit
from kvmswitchd.serial.tesmart_unit import LED_TIMEOUTS, TesmartUnit, parse_address

HEADER = b"\xaa\xbb\x03"
TRAILER = 0xEE
FRAME_LEN = 6
# An ASCII LAN command (``IP:192.168.001.010;`` is 19 bytes). Stops a peer from growing
# the ASCII buffer with a "command" that never ends.
MAX_ASCII = 32
MAX_PORT_BYTE = 0xFF
# Seconds of silence that end a LAN set sent without its ';' (``IP:10.0.0.5`` alone).
ASCII_GAP = 0.3
# The refusal that means "this unit has no such port": the units stay silent.
NO_SUCH_PORT = "unknown_port"
LAN_KEYS = {"IP": "ip", "GW": "gateway", "MA": "netmask", "PT": "port"}
LAN_QUERY = re.compile(r"(IP|PT|GW|MA)\?")
LAN_SET = re.compile(r"(IP|PT|GW|MA):\s*([0-9.]{1,15})")
VALUE_CHARS = frozenset(b"0123456789. ")
TERMINATORS = frozenset(b";\r\n")


class TesmartCommand(enum.IntEnum):
    SWITCH = 0x01  # val = port, 1-based
    BUZZER = 0x02  # 00 off / 01 on
    LED_TIMEOUT = 0x03  # 00 never / 0A 10 s / 1E 30 s
    QUERY = 0x10  # val 00: which port is active?
    STATUS = 0x11  # the reply: val = active port, 0-based
    AUTO_DETECT = 0x81  # 00 off / 01 on


class Asked(enum.Enum):
    """What the request out is for, and so how its outcome is answered."""

    SWITCH = "switch"  # the new port; nothing if the port does not exist
    QUERY = "query"  # the active port
    PROBE = "probe"  # the input changed elsewhere: the port, if the peer does not know it


def frame(command: int, value: int) -> bytes:
    return HEADER + bytes((command, value, TRAILER))


def port_index(status: StatusView) -> int:
    """The 0-based unit of the keyboard/mouse focus; a cascade id reports its unit."""
    unit = status.focus.get("km", "1").partition(".")[0]
    index = int(unit) - 1 if unit.isascii() and unit.isdigit() else 0
    return min(max(index, 0), MAX_PORT_BYTE)


def status_frame(status: StatusView) -> bytes:
    """``AA BB 03 11 <port> EE`` for the keyboard/mouse focus."""
    return frame(TesmartCommand.STATUS, port_index(status))


class TesmartDialect(ChannelBase):
    def __init__(
        self,
        *,
        channel: str,
        unit: TesmartUnit | None = None,
        notify: bool = True,
        idle_timeout: float | None = None,
    ) -> None:
        super().__init__(channel=channel, idle_timeout=idle_timeout)
        self.unit = unit or TesmartUnit()  # shared by every connection of the daemon
        self.notify = notify
        self._frame = bytearray()
        self._ascii = bytearray()
        self._ascii_overflow = False
        self._ascii_at = 0.0  # when the last ASCII byte came
        self._skipped = 0
        self._asked: Asked | None = None
        self._told: int | None = None  # the port (0-based) this peer was last told
        self._changed = False  # the input changed while a request was out

    # -- unsolicited input-change frames ---------------------------------------------

    def focus_changed(self, _now: float) -> list[Action]:
        """The input changed (any channel): tell the peer, unless it already knows."""
        out: list[Action] = []
        if not self.notify or self.closed:
            return out
        if self._waiting is not None:
            self._changed = True  # looked at once the request is answered
        else:
            self._ask(Asked.PROBE, GetStatus(), out)
        return out

    # -- frames -------------------------------------------------------------------------

    def _byte(self, byte: int, now: float, out: list[Action]) -> None:
        if not self._frame:
            if byte == HEADER[0]:
                self._end_ascii(out)
                self._frame.append(byte)
            else:
                self._ascii_byte(byte, now, out)
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
        self._report_skipped(out)
        match command:
            case TesmartCommand.SWITCH if value == 0:
                pass  # there is no input 0 on any unit: silence, as for any missing port
            case TesmartCommand.SWITCH:
                self._ask(Asked.SWITCH, SwitchTo(str(value)), out)
            case TesmartCommand.QUERY:
                self._ask(Asked.QUERY, GetStatus(), out)
            case TesmartCommand.BUZZER if value in (0, 1):
                self.unit.update(buzzer=bool(value))
            case TesmartCommand.LED_TIMEOUT if value in LED_TIMEOUTS:
                self.unit.update(led_timeout=value)
            case TesmartCommand.AUTO_DETECT if value in (0, 1):
                self.unit.update(auto_detect=bool(value))
            case TesmartCommand.BUZZER | TesmartCommand.LED_TIMEOUT | TesmartCommand.AUTO_DETECT:
                out.append(
                    Notice(EventKind.PROTOCOL, f"command 0x{command:02x}: value {value} ignored")
                )
            case _:
                out.append(Notice(EventKind.PROTOCOL, f"unknown command 0x{command:02x} ignored"))

    def _ask(self, asked: Asked, command: GetStatus | SwitchTo, out: list[Action]) -> None:
        self._asked = asked
        self._request(command, out)

    def _completed(self, result: Result, _now: float, out: list[Action]) -> None:
        asked, self._asked = self._asked, None
        if not isinstance(result, Outcome):
            return
        if asked is Asked.SWITCH and result.error == NO_SUCH_PORT:
            pass  # the units stay silent
        elif result.status is not None:
            index = port_index(result.status)
            if asked is not Asked.PROBE or index != self._told:
                emit(out, frame(TesmartCommand.STATUS, index))
                self._told = index
        elif asked is Asked.SWITCH:
            # refused (rights, busy): answered with the port still active
            self._ask(Asked.QUERY, GetStatus(), out)
            return
        elif asked is Asked.QUERY:
            reason = result.error or result.message or "no status"
            out.append(Notice(EventKind.ERROR, f"status unavailable: {reason}"))
        if self._changed:
            self._changed = False
            self._ask(Asked.PROBE, GetStatus(), out)

    # -- ASCII LAN configuration --------------------------------------------------------

    def _ascii_byte(self, byte: int, now: float, out: list[Action]) -> None:
        if byte in TERMINATORS:
            self._end_ascii(out)
            return
        if byte not in VALUE_CHARS and LAN_SET.fullmatch(self._text()):
            self._end_ascii(out)  # a set without ';', and the next command begins
        if not 0x20 <= byte < 0x7F:
            self._ascii.clear()
            self._ascii_overflow = False
            self._skipped += 1
            return
        if len(self._ascii) >= MAX_ASCII:
            self._ascii_overflow = True
            return
        self._ascii.append(byte)
        self._ascii_at = now
        if byte == ord("?"):
            self._end_ascii(out)  # a query is complete at its '?'; a ';' after it is empty

    def _text(self) -> str:
        return self._ascii.decode("ascii").strip().upper()

    def _end_ascii(self, out: list[Action]) -> None:
        text, overflow = self._text(), self._ascii_overflow
        self._ascii.clear()
        self._ascii_overflow = False
        if overflow:
            self._skipped += MAX_ASCII
        elif text:
            self._lan_command(text, out)

    def _lan_command(self, text: str, out: list[Action]) -> None:
        settings = self.unit.settings
        if query := LAN_QUERY.fullmatch(text):
            key = LAN_KEYS[query[1]]
            value = getattr(settings, key)
            shown = f"{value:05d}" if key == "port" else ".".join(f"{o:03d}" for o in value)
            self._report_skipped(out)
            emit(out, f"{query[1]}:{shown};".encode("ascii"))
            return
        if lan_set := LAN_SET.fullmatch(text):
            key, raw = LAN_KEYS[lan_set[1]], lan_set[2]
            if key == "port":
                if raw.isdigit() and 0 < int(raw) < 65536:
                    self.unit.update(port=int(raw))
                    self._report_skipped(out)
                    emit(out, b"OK")
                    return
            elif (address := parse_address(raw)) is not None:
                self.unit.update(**{key: address})
                self._report_skipped(out)
                emit(out, b"OK")
                return
        self._skipped += len(text) + 1

    def _deadline(self) -> float | None:
        if self._ascii and LAN_SET.fullmatch(self._text()):
            return self._ascii_at + ASCII_GAP
        return None

    def _timer(self, now: float, out: list[Action]) -> None:
        deadline = self._deadline()
        if deadline is not None and now >= deadline:
            self._end_ascii(out)

    def _report_skipped(self, out: list[Action]) -> None:
        if self._skipped:
            out.append(Notice(EventKind.PROTOCOL, f"skipped {self._skipped} bytes of garbage"))
            self._skipped = 0
