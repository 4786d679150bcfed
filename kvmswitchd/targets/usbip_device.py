"""One port's composite USB device as a USB/IP server presents it, sans-IO (SPEC §8).

* Interface 0, keyboard: boot keyboard (03/01/01) or NKRO (03/00/00); interrupt IN 0x81,
  and interrupt OUT 0x01 for the LED output report (SET_REPORT works too).
* Interface 1, mouse: relative boot mouse (03/01/02) or absolute pointer (03/00/00);
  interrupt IN 0x82.
* Interface 2, mass storage (08/06/50, Bulk-Only): bulk IN 0x83, bulk OUT 0x02. The
  ``BulkOnlyTransport`` behind it is swapped at run time (``set_storage``). With none, an
  empty ``LogicalUnit`` answers (INQUIRY works, media access fails MEDIUM NOT PRESENT):
  the host sees a card reader without a card, never a device changing shape under it.

The adapter feeds URBs (``submit``, ``unlink``) and reports (``push_keyboard``,
``push_mouse``) and writes back the ``Completion``s returned. An IN URB with nothing to
send is *held* until a later call completes it. Reports the host has not polled for wait
in each interface's ``hid.pacing.ReportQueue``: every key and button report reaches the
host in order, only mouse motion is coalesced, and a host that stops polling gets the
queue stalled (emptied) and then release-all, never a stale replay. Times are passed in
as ``now``. Swapping storage while the host is inside a Bulk-Only command
stalls both bulk pipes until the host's Bulk-Only reset: it recovers as from any failure.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any, Final

from hid.descriptors import (
    ABSOLUTE_POINTER_FUNCTION,
    BOOT_KEYBOARD_FUNCTION,
    HID_CLASS,
    NKRO_KEYBOARD_FUNCTION,
    RELATIVE_MOUSE_FUNCTION,
    REPORT_DESCRIPTOR_TYPE,
    HidFunction,
    hid_descriptor,
)
from hid.pacing import ReportKind, ReportQueue
from kvmswitchd.errors import ConfigError, RemoteProtocolError
from kvmswitchd.storage.bot import REQUEST_RESET, BulkOnlyTransport, Phase
from kvmswitchd.storage.scsi import LogicalUnit
from kvmswitchd.storage.scsi_wire import Opcode
from kvmswitchd.targets import usbip_wire as wire
from kvmswitchd.targets.usbip_wire import Completion

KEYBOARDS: Final = {"usb": BOOT_KEYBOARD_FUNCTION, "usb-nkro": NKRO_KEYBOARD_FUNCTION}
MICE: Final = {"relative": RELATIVE_MOUSE_FUNCTION, "absolute": ABSOLUTE_POINTER_FUNCTION}
VENDOR, PRODUCT, BCD_DEVICE = 0x1D6B, 0x0104, 0x0100  # Linux Foundation composite gadget
STORAGE_INTERFACE: Final = 2
MSC_TRIPLE: Final = (0x08, 0x06, 0x50)
KEYBOARD_IN, MOUSE_IN, BULK_IN, LED_OUT, BULK_OUT = 0x81, 0x82, 0x83, 0x01, 0x02
# IN URBs held at once per endpoint. Linux keeps one or two in flight; a peer queueing
# more is only filling our memory, so the extra ones stall.
MAX_HELD_URBS: Final = 4
# An LED output report is 1 byte (2 with a report id); anything longer is not one.
MAX_OUTPUT_REPORT: Final = 8
_BOOT_REPORT_LENGTH: Final = {1: 8, 2: 3}  # by bInterfaceProtocol: keyboard, mouse


class HidInterface:
    """One HID interface: its state, report queue, held URBs and class requests."""

    def __init__(
        self,
        function: HidFunction,
        ep_in: int,
        *,
        kind: ReportKind = ReportKind.KEYS,
        leds: bool = False,
    ) -> None:
        self.function, self.ep_in = function, ep_in
        self._kind, self._leds = kind, leds
        self.on_output: Callable[[bytes], None] = lambda _report: None
        self.state = bytes(function.report_length)  # what GET_REPORT(Input) answers
        self.output = b"\x00"
        self.queue = ReportQueue(kind, function.report_length)
        self.held: deque[tuple[int, int]] = deque()
        self.protocol, self.idle = 1, 0  # report protocol until the host asks for boot
        self.sent = 0

    def reset(self, now: float, *, plugged: bool = False) -> None:
        """A bus reset or (re)configuration; with ``plugged`` (a host is there), keys and
        buttons held now become its first report."""
        self.queue.clear()
        self.held.clear()
        self.protocol, self.idle = 1, 0
        if plugged and any(self.state):
            self.queue.push(self.state, now)

    def push(self, report: bytes, attached: bool, now: float) -> Completion | None:
        """Record the new state; deliver it to a held URB, else queue it."""
        # Motion is not state: a new host gets buttons (and an absolute position).
        self.state = report if self._kind is ReportKind.KEYS else _resting(report)
        if not attached:
            return None
        if self.held:  # a URB is held only while nothing waits (poll): straight out
            seqnum, length = self.held.popleft()
            return self._deliver(seqnum, report, length)
        self.queue.push(report, now)
        return None

    def poll(self, seqnum: int, length: int, now: float) -> Completion | None:
        """An interrupt-IN URB: the next queued report, or hold it (None)."""
        report = self.queue.pop(now)
        if report is not None:
            return self._deliver(seqnum, report, length)
        if len(self.held) >= MAX_HELD_URBS:
            return Completion(seqnum, wire.EPIPE)
        self.held.append((seqnum, length))
        return None

    def unlink(self, seqnum: int) -> bool:
        for entry in self.held:
            if entry[0] == seqnum:
                self.held.remove(entry)
                return True
        return False

    def _deliver(self, seqnum: int, report: bytes, length: int) -> Completion:
        self.sent += 1
        if self.protocol == 0 and self.function.subclass == 1:  # boot protocol
            report = report[: _BOOT_REPORT_LENGTH.get(self.function.protocol, len(report))]
        return Completion(seqnum, data=report[:length])

    def output_report(self, data: bytes) -> bool:
        """The host's LED report (interrupt OUT or SET_REPORT); False: not one."""
        if not self._leds or not 0 < len(data) <= MAX_OUTPUT_REPORT:
            return False
        self.output = data
        self.on_output(data)
        return True

    def class_request(self, setup: wire.Setup, data: bytes) -> bytes:
        kind, low = setup.value >> 8, setup.value & 0xFF
        match setup.request, setup.device_to_host:
            case 0x01, True if kind == 1:  # GET_REPORT(Input)
                return self.state
            case 0x01, True if kind == 2 and self._leds:  # GET_REPORT(Output)
                return self.output
            case 0x09, False if kind == 2 and self.output_report(data):  # SET_REPORT(Output)
                return b""
            case 0x02, True:  # GET_IDLE
                return bytes((self.idle,))
            case 0x0A, False:  # SET_IDLE: stored; every report is sent as it happens
                self.idle = kind
                return b""
            case 0x03, True:  # GET_PROTOCOL
                return bytes((self.protocol,))
            case 0x0B, False if low <= 1:  # SET_PROTOCOL: 0 boot, 1 report
                self.protocol = low
                return b""
        raise RemoteProtocolError(f"unsupported HID request 0x{setup.request:02x}")


def _resting(report: bytes) -> bytes:
    """A mouse report without its motion: buttons, and an absolute pointer's position."""
    keep = 5 if len(report) >= 6 else 1
    return report[:keep] + bytes(len(report) - keep)


class UsbipDevice:
    """The exported device of port ``unit`` (busid ``1-<unit>``)."""

    def __init__(self, unit: int, *, keyboard: str = "usb", mouse: str = "relative") -> None:
        if keyboard not in KEYBOARDS:
            raise ConfigError(f"ports.{unit}.keyboard", "a usbip target needs a USB keyboard")
        if mouse not in MICE:
            raise ConfigError(f"ports.{unit}.mouse", f"expected one of {sorted(MICE)}")
        motion = ReportKind.ABSOLUTE if mouse == "absolute" else ReportKind.RELATIVE
        self.keyboard = HidInterface(KEYBOARDS[keyboard], KEYBOARD_IN, leds=True)
        self.mouse = HidInterface(MICE[mouse], MOUSE_IN, kind=motion)
        self._hids = (self.keyboard, self.mouse)
        self._empty = BulkOnlyTransport(LogicalUnit(), interface=STORAGE_INTERFACE)
        self._storage = self._empty
        self._bulk_held: deque[tuple[int, int]] = deque()
        self._in_command = False  # the host is between a CBW and its CSW
        self._stalled_until_reset = False
        self._halted: set[int] = set()
        self.configuration = 0
        self.attached = False
        self.now = 0.0  # the latest time the adapter gave (for resets inside a request)
        names = ("kvmswitchd", f"KVM port {unit}", f"kvmswitchd-{unit}")
        self._strings = (wire.LANGUAGE_DESCRIPTOR, *map(wire.string_descriptor, names))
        body = wire.hid_interface(0, self.keyboard.function, KEYBOARD_IN, LED_OUT)
        body += wire.hid_interface(1, self.mouse.function, MOUSE_IN, None)
        body += wire.interface_descriptor(STORAGE_INTERFACE, 2, MSC_TRIPLE)
        body += wire.endpoint_descriptor(BULK_IN, wire.BULK, 64, 0)
        body += wire.endpoint_descriptor(BULK_OUT, wire.BULK, 64, 0)
        self.config_descriptor = wire.configuration_descriptor(body, 3)
        self.device_descriptor = wire.device_descriptor(VENDOR, PRODUCT, BCD_DEVICE, strings=True)
        triples = [(HID_CLASS, h.function.subclass, h.function.protocol) for h in self._hids]
        self.record = wire.DeviceRecord(
            busid=f"1-{unit}",
            busnum=1,
            devnum=unit,
            speed=wire.Speed.FULL,
            vendor=VENDOR,
            product=PRODUCT,
            bcd_device=BCD_DEVICE,
            device_class=(0, 0, 0),
            interfaces=(*triples, MSC_TRIPLE),
        )

    # -- host attach / detach, and what the daemon sends ------------------------------

    def plug(self, now: float = 0.0) -> None:
        """A host imported the device: a fresh bus reset."""
        self.attached, self.configuration, self.now = True, 0, now
        self._reset_pipes()
        for hid in self._hids:
            hid.reset(now, plugged=True)

    def unplug(self) -> None:
        """The host went away: held URBs are dropped, its lock and command released."""
        self.attached = False
        self._reset_pipes()
        for hid in self._hids:
            hid.reset(self.now)
        _host_gone(self._storage)

    def _reset_pipes(self) -> None:
        self._bulk_held.clear()
        self._halted.clear()
        self._in_command = self._stalled_until_reset = False

    def push_keyboard(self, report: bytes, now: float = 0.0) -> list[Completion]:
        self.now = now
        done = self.keyboard.push(report, self.attached, now)
        return [] if done is None else [done]

    def push_mouse(self, report: bytes, now: float = 0.0) -> list[Completion]:
        self.now = now
        done = self.mouse.push(report, self.attached, now)
        return [] if done is None else [done]

    @property
    def stalled(self) -> bool:
        """A report queue gave up on a host that stopped polling (``hid.pacing``)."""
        return self.keyboard.queue.stalled or self.mouse.queue.stalled

    @property
    def stall_counts(self) -> tuple[int, int]:
        """Stalls and recoveries of both report queues, for logging transitions."""
        hids = self._hids
        return sum(h.queue.stalls for h in hids), sum(h.queue.recoveries for h in hids)

    @property
    def storage(self) -> BulkOnlyTransport | None:
        return None if self._storage is self._empty else self._storage

    def set_storage(self, transport: BulkOnlyTransport | None) -> list[Completion]:
        """Put ``transport`` (a disconnected one: phase COMMAND) behind interface 2, or
        the empty unit for None. A host caught mid-command gets stalls until it resets."""
        incoming = transport or self._empty
        if incoming is self._storage:
            return []
        self._storage = incoming
        if not self.attached or not (self._in_command or self._bulk_held):
            return []
        self._in_command, self._stalled_until_reset = False, True
        self._halted |= {BULK_IN, BULK_OUT}
        held, self._bulk_held = self._bulk_held, deque()
        return [Completion(seqnum, wire.EPIPE) for seqnum, _length in held]

    # -- URBs ---------------------------------------------------------------------------

    def submit(self, cmd: wire.Submit, data: bytes = b"", now: float = 0.0) -> list[Completion]:
        """One CMD_SUBMIT (``data``: its OUT payload). A held IN URB returns nothing."""
        self.now = now
        if cmd.ep == 0:
            return [self._control(cmd, data)]
        address = cmd.ep | 0x80 if cmd.direction_in else cmd.ep
        if address in self._halted:
            return [Completion(cmd.seqnum, wire.EPIPE)]
        if address in (KEYBOARD_IN, MOUSE_IN):
            hid = self.keyboard if address == KEYBOARD_IN else self.mouse
            done = hid.poll(cmd.seqnum, cmd.length, now)
            return [] if done is None else [done]
        if address == LED_OUT:
            if not self.keyboard.output_report(data):
                return [Completion(cmd.seqnum, wire.EPIPE)]
            return [Completion(cmd.seqnum, actual=len(data))]
        if address == BULK_IN:
            if self._stalled_until_reset or len(self._bulk_held) >= MAX_HELD_URBS:
                return self._stall(cmd.seqnum, BULK_IN)
            self._bulk_held.append((cmd.seqnum, cmd.length))
            return self._serve_bulk_in()
        if address == BULK_OUT:
            return self._bulk_out(cmd.seqnum, data)
        return [Completion(cmd.seqnum, wire.EPIPE)]

    def unlink(self, victim: int) -> bool:
        """Drop held URB ``victim``; False if it is not held (already completed)."""
        if any(hid.unlink(victim) for hid in self._hids):
            return True
        for entry in self._bulk_held:
            if entry[0] == victim:
                self._bulk_held.remove(entry)
                return True
        return False

    def _bulk_out(self, seqnum: int, data: bytes) -> list[Completion]:
        if self._stalled_until_reset:
            return self._stall(seqnum, BULK_OUT)
        try:
            self._storage.bulk_out(data)
        except RemoteProtocolError:
            return self._stall(seqnum, BULK_OUT)
        self._in_command = self._storage.phase is not Phase.COMMAND
        return [Completion(seqnum, actual=len(data)), *self._serve_bulk_in()]

    def _serve_bulk_in(self) -> list[Completion]:
        done: list[Completion] = []
        while self._bulk_held:
            seqnum, length = self._bulk_held[0]
            try:
                data = self._storage.bulk_in(length)
            except RemoteProtocolError:
                self._bulk_held.popleft()
                done += self._stall(seqnum, BULK_IN)
                continue
            if data is None:
                break
            self._bulk_held.popleft()
            done.append(Completion(seqnum, data=data))
        self._in_command = self._storage.phase is not Phase.COMMAND
        return done

    def _stall(self, seqnum: int, address: int) -> list[Completion]:
        self._halted.add(address)
        return [Completion(seqnum, wire.EPIPE)]

    # -- control ------------------------------------------------------------------------

    def _control(self, cmd: wire.Submit, data: bytes) -> Completion:
        setup = wire.Setup.decode(cmd.setup)
        try:
            reply = self._request(setup, data)
        except RemoteProtocolError:
            return Completion(cmd.seqnum, wire.EPIPE)
        if setup.device_to_host:
            return Completion(cmd.seqnum, data=reply[: min(setup.length, cmd.length)])
        return Completion(cmd.seqnum, actual=len(data))

    def _request(self, setup: wire.Setup, data: bytes) -> bytes:
        kind, recipient = (setup.request_type >> 5) & 3, setup.request_type & 0x1F
        if kind == 0:
            return self._standard(setup, recipient)
        if kind != 1 or recipient != 1:
            raise RemoteProtocolError("only class requests to an interface are supported")
        number = setup.index & 0xFF
        if number < len(self._hids):
            return self._hids[number].class_request(setup, data)
        if number != STORAGE_INTERFACE:
            raise RemoteProtocolError(f"no interface {number}")
        request = (setup.request_type, setup.request, setup.value, self._storage.interface)
        reply = self._storage.control(*request, setup.length)
        if setup.request == REQUEST_RESET:  # the Bulk-Only reset ends a swap's stall
            self._stalled_until_reset = False
        return reply

    def _standard(self, setup: wire.Setup, recipient: int) -> bytes:
        request, value, index = setup.request, setup.value, setup.index & 0xFF
        match request:
            case 0x06:  # GET_DESCRIPTOR
                return self._descriptor(value >> 8, value & 0xFF, recipient, index)
            case 0x00:  # GET_STATUS: bus powered, no remote wakeup; an endpoint's halt
                return bytes((int(recipient == 2 and index in self._halted), 0))
            case 0x01 | 0x03:  # CLEAR_FEATURE / SET_FEATURE
                if recipient == 2 and value == 0 and request == 0x01:  # ENDPOINT_HALT
                    self._halted.discard(index)
                elif recipient == 2 and value == 0:
                    self._halted.add(index)
                return b""
            case 0x05:  # SET_ADDRESS: vhci handles it; harmless if forwarded
                return b""
            case 0x08:  # GET_CONFIGURATION
                return bytes((self.configuration,))
            case 0x09 if value in (0, 1):  # SET_CONFIGURATION
                self.configuration = value
                self._reset_pipes()
                self._storage.reset()  # a (re)configured function starts afresh
                for hid in self._hids:
                    hid.reset(self.now, plugged=True)
                return b""
            case 0x0A if index <= STORAGE_INTERFACE:  # GET_INTERFACE
                return b"\x00"
            case 0x0B if index <= STORAGE_INTERFACE and value == 0:  # SET_INTERFACE
                return b""
        raise RemoteProtocolError(f"unsupported standard request 0x{request:02x}")

    def _descriptor(self, kind: int, index: int, recipient: int, interface: int) -> bytes:
        if recipient == 1 and interface < len(self._hids):
            function = self._hids[interface].function
            if kind == REPORT_DESCRIPTOR_TYPE:
                return function.report_descriptor
            if kind == 0x21:  # the HID class descriptor
                return hid_descriptor(len(function.report_descriptor))
        elif kind == wire.DT_DEVICE:
            return self.device_descriptor
        elif kind == wire.DT_CONFIG and index == 0:
            return self.config_descriptor
        elif kind == wire.DT_STRING and index < len(self._strings):
            return self._strings[index]
        # The device qualifier (6) too: a full-speed-only device must stall it.
        raise RemoteProtocolError(f"no descriptor 0x{kind:02x}/{index}")

    def view(self) -> dict[str, Any]:
        return {
            "configured": self.configuration != 0,
            "storage": self.storage is not None,
            "reports_sent": self.keyboard.sent + self.mouse.sent,
            "queued": len(self.keyboard.queue) + len(self.mouse.queue),
            "dropped": self.keyboard.queue.discarded + self.mouse.queue.discarded,
            "stalled": self.stalled,
            "pacing": {"keyboard": self.keyboard.queue.view(), "mouse": self.mouse.queue.view()},
            "held_urbs": len(self.keyboard.held) + len(self.mouse.held) + len(self._bulk_held),
        }


def _host_gone(transport: BulkOnlyTransport) -> None:
    """The host of ``transport`` is gone: end its command and release its lock, both
    reported (the hand-over core then sees an idle port), and greet the next host with
    a reset UNIT ATTENTION."""
    transport.reset()
    unit = transport.unit
    if unit.locked:
        unit.begin(bytes((Opcode.PREVENT_ALLOW_MEDIUM_REMOVAL, 0, 0, 0, 0, 0))).release()
    unit.host_changed()
