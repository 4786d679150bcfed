"""USB/IP frames and the USB descriptors of an exported device, sans-IO (protocols.md §6).

USB/IP fields are big-endian; USB descriptors and SETUP packets are little-endian.

* Op phase: ``decode_op_request`` reads the 8-byte request header (an import is followed
  by a 32-byte busid, ``decode_busid``); ``devlist_reply`` and ``import_reply`` build the
  answers from ``DeviceRecord`` values.
* URB phase: ``decode_urb_header`` turns a 48-byte header into a ``Submit`` (whose
  ``payload_length`` OUT bytes follow) or an ``Unlink``; ``Completion`` (a
  RET_SUBMIT) and ``ret_unlink`` build the replies.

Anything a peer sends that is not a valid frame raises ``RemoteProtocolError``; the
adapter then drops that one connection.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass
from typing import Final

from hid.descriptors import HID_CLASS, HidFunction, hid_descriptor
from kvmswitchd.errors import RemoteProtocolError

VERSION: Final = 0x0111
DEFAULT_PORT: Final = 3240
OP_HEADER_LENGTH: Final = 8
BUSID_LENGTH: Final = 32
URB_HEADER_LENGTH: Final = 48
# One URB's transfer buffer. Bounds the OUT data we buffer and the IN data we build for a
# single request. Linux usb-storage moves at most 240 sectors (120 KiB) per transfer on a
# full/high-speed device; 1 MiB leaves room for a host that raises max_sectors.
MAX_TRANSFER_LENGTH: Final = 1 << 20
EPIPE: Final = -32  # a stalled transfer
ECONNRESET: Final = -104  # RET_UNLINK: the URB was unlinked before it completed
_NOT_ISO: Final = (0, 0xFFFFFFFF)  # number_of_packets of a non-isochronous URB

_OP = struct.Struct(">HHI")
_DEVICE = struct.Struct(">256s32sIIIHHHBBBBBB")  # struct usbip_usb_device, 312 bytes
_BASIC = struct.Struct(">IIIII")  # command, seqnum, devid, direction, ep
_SUBMIT = struct.Struct(">Iiiii8s")  # flags, length, start_frame, packets, interval, setup
_RET = struct.Struct(">iiiii8x")  # status, actual_length, start_frame, packets, error_count
_SETUP = struct.Struct("<BBHHH")


class OpCode(enum.IntEnum):
    REQ_DEVLIST = 0x8005
    REP_DEVLIST = 0x0005
    REQ_IMPORT = 0x8003
    REP_IMPORT = 0x0003


class UrbCommand(enum.IntEnum):
    CMD_SUBMIT = 1
    CMD_UNLINK = 2
    RET_SUBMIT = 3
    RET_UNLINK = 4


class Speed(enum.IntEnum):
    LOW = 1
    FULL = 2
    HIGH = 3


@dataclass(frozen=True, slots=True)
class DeviceRecord:
    """What OP_REP_DEVLIST and OP_REP_IMPORT say about one exported device."""

    busid: str
    busnum: int
    devnum: int
    speed: Speed
    vendor: int
    product: int
    bcd_device: int
    device_class: tuple[int, int, int]
    interfaces: tuple[tuple[int, int, int], ...]
    configuration: int = 1

    def encode(self, *, with_interfaces: bool) -> bytes:
        busid = self.busid.encode()
        raw = _DEVICE.pack(
            b"/sys/devices/platform/kvmswitchd/usb%d/" % self.busnum + busid,
            busid,
            self.busnum,
            self.devnum,
            self.speed,
            self.vendor,
            self.product,
            self.bcd_device,
            *self.device_class,
            self.configuration,
            1,  # bNumConfigurations
            len(self.interfaces),
        )
        if with_interfaces:
            raw += b"".join(bytes((*triple, 0)) for triple in self.interfaces)
        return raw


def decode_op_request(raw: bytes) -> OpCode:
    """The request code of an 8-byte op header (DEVLIST or IMPORT)."""
    if len(raw) != OP_HEADER_LENGTH:
        raise RemoteProtocolError(f"op header must be {OP_HEADER_LENGTH} bytes")
    version, code, _status = _OP.unpack(raw)
    if version != VERSION:
        raise RemoteProtocolError(f"unsupported USB/IP version 0x{version:04x}")
    if code not in (OpCode.REQ_DEVLIST, OpCode.REQ_IMPORT):
        raise RemoteProtocolError(f"unknown op code 0x{code:04x}")
    return OpCode(code)


def decode_busid(raw: bytes) -> str:
    """The NUL-padded busid of an OP_REQ_IMPORT."""
    if len(raw) != BUSID_LENGTH:
        raise RemoteProtocolError(f"busid must be {BUSID_LENGTH} bytes")
    return raw.split(b"\0", 1)[0].decode("ascii", errors="replace")


def devlist_reply(records: list[DeviceRecord]) -> bytes:
    head = _OP.pack(VERSION, OpCode.REP_DEVLIST, 0) + len(records).to_bytes(4)
    return head + b"".join(record.encode(with_interfaces=True) for record in records)


def import_reply(record: DeviceRecord | None) -> bytes:
    """OK with the device record, or status 1 (no such device, or it is busy)."""
    if record is None:
        return _OP.pack(VERSION, OpCode.REP_IMPORT, 1)
    return _OP.pack(VERSION, OpCode.REP_IMPORT, 0) + record.encode(with_interfaces=False)


@dataclass(frozen=True, slots=True)
class Setup:
    """A control transfer's 8-byte SETUP packet."""

    request_type: int
    request: int
    value: int
    index: int
    length: int

    @classmethod
    def decode(cls, raw: bytes) -> Setup:
        return cls(*_SETUP.unpack(raw))

    def encode(self) -> bytes:
        return _SETUP.pack(self.request_type, self.request, self.value, self.index, self.length)

    @property
    def device_to_host(self) -> bool:
        return bool(self.request_type & 0x80)


@dataclass(frozen=True, slots=True)
class Submit:
    """USBIP_CMD_SUBMIT. For OUT, ``payload_length`` bytes of data follow the header."""

    seqnum: int
    devid: int
    direction_in: bool
    ep: int
    flags: int
    length: int
    interval: int
    setup: bytes

    @property
    def payload_length(self) -> int:
        return 0 if self.direction_in else self.length


@dataclass(frozen=True, slots=True)
class Unlink:
    """USBIP_CMD_UNLINK of the URB ``victim``."""

    seqnum: int
    devid: int
    victim: int


def decode_urb_header(raw: bytes) -> Submit | Unlink:
    if len(raw) != URB_HEADER_LENGTH:
        raise RemoteProtocolError(f"URB header must be {URB_HEADER_LENGTH} bytes")
    command, seqnum, devid, direction, ep = _BASIC.unpack_from(raw)
    if command == UrbCommand.CMD_UNLINK:
        return Unlink(seqnum, devid, int.from_bytes(raw[20:24]))
    if command != UrbCommand.CMD_SUBMIT:
        raise RemoteProtocolError(f"unexpected URB command {command}")
    if direction > 1 or ep > 15:
        raise RemoteProtocolError(f"bad URB direction {direction} or endpoint {ep}")
    flags, length, _start, packets, interval, setup = _SUBMIT.unpack_from(raw, 20)
    if not 0 <= length <= MAX_TRANSFER_LENGTH:
        raise RemoteProtocolError(f"transfer length {length} outside 0..{MAX_TRANSFER_LENGTH}")
    if packets & 0xFFFFFFFF not in _NOT_ISO:
        raise RemoteProtocolError("isochronous transfers are not supported")
    return Submit(seqnum, devid, direction == 1, ep, flags, length, interval, setup)


@dataclass(frozen=True, slots=True)
class Completion:
    """USBIP_RET_SUBMIT: IN ``data`` (its length is actual_length), or an OUT's
    ``actual`` length; ``status`` < 0 is an error (``EPIPE``: stalled)."""

    seqnum: int
    status: int = 0
    data: bytes = b""
    actual: int = 0

    def encode(self) -> bytes:
        length = len(self.data) if self.data else self.actual
        head = _BASIC.pack(UrbCommand.RET_SUBMIT, self.seqnum, 0, 0, 0)
        return head + _RET.pack(self.status, length, 0, 0, 0) + self.data


def ret_unlink(seqnum: int, status: int) -> bytes:
    return _BASIC.pack(UrbCommand.RET_UNLINK, seqnum, 0, 0, 0) + _RET.pack(status, 0, 0, 0, 0)


# -- USB descriptors ----------------------------------------------------------------------

DT_DEVICE: Final = 0x01
DT_CONFIG: Final = 0x02
DT_STRING: Final = 0x03
DT_INTERFACE: Final = 0x04
DT_ENDPOINT: Final = 0x05
BULK: Final = 0x02
INTERRUPT: Final = 0x03
# A string descriptor's bLength is one byte: at most 126 UTF-16 code units.
MAX_STRING_CHARS: Final = 126


def device_descriptor(vendor: int, product: int, bcd_device: int, *, strings: bool) -> bytes:
    """bcdUSB 2.00, class defined per interface, EP0 64 bytes, one configuration;
    with ``strings``, the manufacturer, product and serial are strings 1, 2 and 3."""
    manufacturer, name, serial = (1, 2, 3) if strings else (0, 0, 0)
    return struct.pack(
        "<BBHBBBBHHHBBBB",
        18,
        DT_DEVICE,
        0x0200,
        0,
        0,
        0,
        64,
        vendor,
        product,
        bcd_device,
        manufacturer,
        name,
        serial,
        1,
    )


def configuration_descriptor(body: bytes, interfaces: int) -> bytes:
    """Configuration 1, bus powered, 100 mA, followed by ``body``."""
    return struct.pack("<BBHBBBBB", 9, DT_CONFIG, 9 + len(body), interfaces, 1, 0, 0x80, 50) + body


def interface_descriptor(number: int, endpoints: int, triple: tuple[int, int, int]) -> bytes:
    return bytes((9, DT_INTERFACE, number, 0, endpoints, *triple, 0))


def endpoint_descriptor(address: int, attributes: int, max_packet: int, interval: int) -> bytes:
    return struct.pack("<BBBBHB", 7, DT_ENDPOINT, address, attributes, max_packet, interval)


def hid_interface(number: int, function: HidFunction, ep_in: int, ep_out: int | None) -> bytes:
    """Interface, HID class and endpoint descriptors of one HID interface (1 ms polling)."""
    endpoints = 1 if ep_out is None else 2
    triple = (HID_CLASS, function.subclass, function.protocol)
    block = interface_descriptor(number, endpoints, triple)
    block += hid_descriptor(len(function.report_descriptor))
    block += endpoint_descriptor(ep_in, INTERRUPT, max(8, function.report_length), 1)
    if ep_out is not None:
        block += endpoint_descriptor(ep_out, INTERRUPT, 8, 1)
    return block


def string_descriptor(text: str) -> bytes:
    encoded = text.encode("utf-16-le")[: 2 * MAX_STRING_CHARS]
    return bytes((2 + len(encoded), DT_STRING)) + encoded


LANGUAGE_DESCRIPTOR: Final = bytes((4, DT_STRING)) + (0x0409).to_bytes(2, "little")
