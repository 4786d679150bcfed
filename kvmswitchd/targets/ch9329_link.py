"""The host side of a CH9329 serial link, sans-IO (reference §5): reports in, frames out.

``Ch9329Link`` turns a port's reports into chip commands and reads the chip's replies.
It does no I/O and reads no clock: the adapter (``kvmswitchd.targets.ch9329``) feeds it
the bytes the line delivers and the time (``now``), writes what ``data_to_send`` returns
and re-arms one timer at ``next_deadline``.

* One command is in flight at a time: the chip's reply is the pacing signal. Reports wait
  in one ``hid.pacing.ReportQueue`` per interface (never dropped or reordered; only mouse
  motion is coalesced) and go out in the order they were pushed, across both interfaces.
* Every reply is parsed (checksum, status). A bad checksum, a garbled reply, a retryable
  status (E1 byte timeout, E2 bad head, E4 checksum, E6 operation failed) or no reply
  within ``reply_timeout`` is retried, at most ``max_attempts`` times. E3/E5 (the chip
  does not know the command or its parameters) are not retried: that report is skipped.
* A chip that keeps failing makes the link offline (``NO_CHIP``, or ``NO_TARGET`` when it
  answers E6: it cannot reach its USB host). ``GET_INFO`` is polled every
  ``info_interval`` for the target's USB state and LEDs; "not enumerated" is
  ``NO_TARGET``. Offline, the backlog is dropped and only the latest report of each
  interface is kept; once the link is back that state is sent at rest (keys held now stay
  held, the mouse keeps its buttons but not its motion), never a replay.
* Keyboard-page media usages (mute, volume) the chip's boot keyboard cannot carry go out
  as ``SEND_KB_MEDIA_DATA`` bits.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Any, Final

from hid import ch9329
from hid.ch9329 import BadFrame, ChipInfo, Cmd, Frame, FrameReader, Status
from hid.leds import Leds
from kvmswitchd.errors import InputError, RemoteProtocolError
from kvmswitchd.targets.ch9329_lanes import Iface, Lanes

# Seconds between GET_INFO polls while the link is up (LEDs and the target's USB state
# stay this fresh), and between probes of a chip that stopped answering.
INFO_INTERVAL: Final = 1.0
PROBE_INTERVAL: Final = 1.0
# Tries per command before the chip is declared gone: one lost or garbled frame on a
# noisy line is retried; three in a row is a chip that is not there.
MAX_ATTEMPTS: Final = 3
# Seconds a reply may take beyond its wire time: the chip ends a packet after a 3 ms gap
# and hands it to its USB host at the next poll (1-10 ms); a loaded host adds more.
REPLY_SLACK: Final = 0.1
# The longest exchange we wait on: a 14-byte keyboard frame and a 14-byte GET_INFO reply.
EXCHANGE_BYTES: Final = 30
BITS_PER_BYTE: Final = 10  # 8N1
# After the chip took a lock key press (Caps, Num, Scroll Lock), GET_INFO is asked this
# soon rather than at the next poll: the host answers a lock key with its LED report
# within a few milliseconds, and the port's LEDs should follow as fast.
LOCK_POLL_DELAY: Final = 0.05
LOCK_USAGES: Final = frozenset({0x39, 0x47, 0x53})
BAUDS: Final = (1200, 2400, 4800, 9600, 14400, 19200, 38400, 57600, 115200)
DEFAULT_BAUD: Final = 9600
KINDS: Final = ("keyboard", "mouse")
RETRYABLE: Final = frozenset(
    {Status.ERR_TIMEOUT, Status.ERR_HEAD, Status.ERR_SUM, Status.ERR_OPERATE}
)


def reply_timeout_for(baud: int) -> float:
    """How long to wait for a reply at ``baud``: the exchange's wire time plus slack."""
    return REPLY_SLACK + EXCHANGE_BYTES * BITS_PER_BYTE / baud


class LinkState(Enum):
    CLOSED = "closed"  # the serial device is not open
    PROBING = "probing"  # open; waiting for the chip's first GET_INFO answer
    ONLINE = "online"
    NO_CHIP = "no_chip"  # the chip does not answer, or only with garbage
    NO_TARGET = "no_target"  # the chip answers, but its USB side has no host


@dataclass(frozen=True, slots=True)
class LedsChanged:
    leds: Leds


@dataclass(frozen=True, slots=True)
class StateChanged:
    state: LinkState
    reason: str


Event = LedsChanged | StateChanged


@dataclass(slots=True)
class _Pending:
    """The command in flight (and what is left of its report's frames)."""

    frames: list[Frame]
    iface: Iface | None  # None: GET_INFO, not a report
    rest: bool = False  # the rest report of a stalled queue
    deadline: float = 0.0
    attempts: int = 0


class Ch9329Link:
    def __init__(
        self,
        *,
        address: int = 0,
        mouse: str = "relative",
        kinds: Iterable[str] = KINDS,
        reply_timeout: float = reply_timeout_for(DEFAULT_BAUD),
        info_interval: float = INFO_INTERVAL,
        probe_interval: float = PROBE_INTERVAL,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        self.address = address
        self.absolute = mouse == "absolute"
        self.kinds = frozenset(kinds)
        self.reply_timeout = reply_timeout
        self.info_interval = info_interval
        self.probe_interval = probe_interval
        self.max_attempts = max_attempts
        self.lanes = Lanes(absolute=self.absolute)
        self.queues = self.lanes.queues
        self.state = LinkState.CLOSED
        self.reason = "not opened yet"
        self.info: ChipInfo | None = None
        self.leds = Leds()
        self.counters = dict.fromkeys(
            ("commands", "replies", "retries", "timeouts", "bad_replies", "rejected", "stray"),
            0,
        )
        self.ignored = 0  # reports of an interface this chip does not have (kinds)
        self._general = bytes(8)  # the keyboard report and media bits the chip has
        self._media = 0
        self._reader = FrameReader()
        self._out = bytearray()
        self._events: list[Event] = []
        self._pending: _Pending | None = None
        self._due = 0.0  # the next GET_INFO (a poll online, a probe offline)
        self._lock_poll = False  # a lock key went out: GET_INFO is due soon for the LEDs

    @property
    def online(self) -> bool:
        return self.state is LinkState.ONLINE

    @property
    def busy(self) -> bool:
        """A command is in flight (a report, or a GET_INFO poll)."""
        return self._pending is not None

    @property
    def settled(self) -> bool:
        """Online, every report taken, and the LEDs read since the last lock key."""
        return self.online and self._pending is None and not self._lock_poll and self.lanes.empty

    # -- the port's side --------------------------------------------------------------

    def push_keyboard(self, report: bytes, now: float) -> None:
        self._push(Iface.KEYBOARD, "keyboard", report, now)

    def push_mouse(self, report: bytes, now: float) -> None:
        self._push(Iface.MOUSE, "mouse", report, now)

    def _push(self, iface: Iface, kind: str, report: bytes, now: float) -> None:
        if kind not in self.kinds:
            self.ignored += 1
            return
        if self.state is not LinkState.ONLINE:
            self.lanes.remember(iface, report)  # to send at rest when the link is back
            return
        self.lanes.push(iface, report, now)
        self._pump(now)

    # -- the line's side --------------------------------------------------------------

    def connection_made(self, now: float) -> None:
        self._reader = FrameReader()
        self._set_state(LinkState.PROBING, "waiting for the chip to answer GET_INFO")
        self._due = now
        self._pump(now)

    def connection_lost(self, reason: str) -> None:
        self._pending = None
        self._out.clear()
        self._drop_backlog()
        self._set_state(LinkState.CLOSED, reason)

    def receive_data(self, data: bytes, now: float) -> None:
        for item in self._reader.feed(data):
            if isinstance(item, BadFrame):
                self.counters["bad_replies"] += 1
                self._failed(now, "replies with bad checksums")
            else:
                self._reply(item, now)
        self._pump(now)

    def handle_timer(self, now: float) -> None:
        pending = self._pending
        if pending is not None and now >= pending.deadline:
            self.counters["timeouts"] += 1
            self._reader = FrameReader()  # a partial reply this old will not complete
            self._failed(now, "no reply")
        self._pump(now)

    def next_deadline(self) -> float | None:
        if self._pending is not None:
            return self._pending.deadline
        if self.state is LinkState.CLOSED:
            return None
        return self._due

    def data_to_send(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out

    def events(self) -> list[Event]:
        events, self._events = self._events, []
        return events

    def view(self) -> dict[str, Any]:
        info = self.info
        return {
            "state": self.state.value,
            "online": self.online,
            "reason": None if self.online else self.reason,
            "address": self.address,
            "chip": None
            if info is None
            else {"version": f"1.{info.version - 0x30}", "usb_connected": info.usb_connected},
            "leds": {"num": self.leds.num, "caps": self.leds.caps, "scroll": self.leds.scroll},
            "counters": dict(self.counters, ignored=self.ignored),
            "pacing": self.lanes.view(),
        }

    # -- internals --------------------------------------------------------------------

    def _reply(self, frame: Frame, now: float) -> None:
        pending = self._pending
        if frame.addr != self.address or not frame.is_reply or pending is None:
            self.counters["stray"] += 1  # unsolicited (READ_MY_HID_DATA), or late
            return
        cmd = pending.frames[0].cmd
        if frame.request_cmd != cmd:
            if frame.is_error and frame.request_cmd == 0:  # E2: a head it could not read
                self._failed(now, "error replies")
            else:
                self.counters["stray"] += 1  # a late reply to an earlier try
            return
        self.counters["replies"] += 1
        try:
            if cmd == Cmd.GET_INFO and not frame.is_error:
                self._pending = None
                self._info(ch9329.parse_info(frame), now)
                return
            status = ch9329.parse_status(frame, cmd)
        except RemoteProtocolError:
            self.counters["bad_replies"] += 1
            self._failed(now, "garbled replies")
            return
        if status is Status.SUCCESS:
            self._advance(now)
        elif status in RETRYABLE:
            self._failed(now, f"status {status.name}", status)
        else:  # E3/E5: this command will never work; skip it rather than stall the port
            self.counters["rejected"] += 1
            self._advance(now)

    def _advance(self, now: float) -> None:
        """The frame in flight was taken: next frame of its report, or the next report."""
        pending = self._pending
        assert pending is not None  # called for a reply to it
        frame = pending.frames.pop(0)
        if frame.cmd == Cmd.SEND_KB_GENERAL_DATA:
            if LOCK_USAGES.intersection(frame.data[2:]) - set(self._general[2:]):
                self._lock_poll = True
                self._due = min(self._due, now + LOCK_POLL_DELAY)
            self._general = frame.data
        elif frame.cmd == Cmd.SEND_KB_MEDIA_DATA:
            self._media = int.from_bytes(frame.data[1:], "little")
        if pending.frames:
            pending.attempts = 0
            self._send(now)
            return
        self._pending = None
        if pending.iface is not None:
            self.lanes.take(pending.iface, now, was_rest=pending.rest)

    def _info(self, info: ChipInfo, now: float) -> None:
        self.info = info
        self._due = now + self.info_interval
        self._lock_poll = False
        if info.leds != self.leds:
            self.leds = info.leds
            self._events.append(LedsChanged(info.leds))
        if not info.usb_connected:
            if self.state is not LinkState.NO_TARGET:
                self._drop_backlog()
                self._set_state(
                    LinkState.NO_TARGET, "the target computer is not connected (USB not enumerated)"
                )
            return
        if self.state is not LinkState.ONLINE:
            self._set_state(LinkState.ONLINE, "")
            self.lanes.push_at_rest(now)

    def _failed(self, now: float, what: str, status: Status | None = None) -> None:
        """The command in flight failed once: try again, or give the chip up."""
        pending = self._pending
        if pending is None:
            return
        if pending.attempts < self.max_attempts:
            self.counters["retries"] += 1
            self._send(now)
            return
        self._pending = None
        self._drop_backlog()
        self._due = now + (
            self.info_interval if status is Status.ERR_OPERATE else self.probe_interval
        )
        name = Cmd(pending.frames[0].cmd).name
        if status is Status.ERR_OPERATE:
            self._set_state(
                LinkState.NO_TARGET,
                f"the chip could not deliver {name} to the target (E6, {pending.attempts} tries)",
            )
        else:
            hint = "" if what == "no reply" else "; a wrong baud rate looks like this"
            self._set_state(
                LinkState.NO_CHIP,
                f"the chip is not answering: {what} to {name} ({pending.attempts} tries){hint}",
            )

    def _pump(self, now: float) -> None:
        """Nothing in flight: send the next command (a due GET_INFO first)."""
        if self._pending is not None or self.state is LinkState.CLOSED:
            return
        if now >= self._due:
            self._due = now + (self.info_interval if self.online else self.probe_interval)
            self._pending = _Pending([ch9329.get_info_frame(self.address)], None)
            self._send(now)
            return
        if not self.online:
            return
        while (head := self.lanes.next(now)) is not None:
            iface, report = head
            try:
                frames = self._frames(iface, report)
            except InputError:  # not a report of this port's format: skip it
                self.counters["rejected"] += 1
                self.lanes.take(iface, now)
                continue
            self._pending = _Pending(frames, iface, self.lanes.stalled(iface))
            self._send(now)
            return

    def _frames(self, iface: Iface, report: bytes) -> list[Frame]:
        addr = self.address
        if iface is Iface.MOUSE:
            return [ch9329.mouse_report_frame(report, absolute=self.absolute, addr=addr)]
        general, media = ch9329.split_media(report)
        frames = []
        if general != self._general or media == self._media:
            frames.append(ch9329.keyboard_frame(general, addr))
        if media != self._media:
            frames.append(ch9329.media_frame(media, addr))
        return frames

    def _send(self, now: float) -> None:
        pending = self._pending
        assert pending is not None
        pending.attempts += 1
        pending.deadline = now + self.reply_timeout
        self.counters["commands"] += 1
        self._out += pending.frames[0].encode()

    def _drop_backlog(self) -> None:
        self.lanes.clear()
        self._lock_poll = False
        self._general, self._media = bytes(8), 0  # unknown: send the state in full again

    def _set_state(self, state: LinkState, reason: str) -> None:
        if (state, reason) == (self.state, self.reason):
            return
        self.state, self.reason = state, reason
        self._events.append(StateChanged(state, reason))
