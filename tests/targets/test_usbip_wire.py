"""USB/IP frames: byte layouts against the protocol doc and the PyPI ``usbip`` parser."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st
from usbip import protocol as pyusbip

from kvmswitchd.errors import RemoteProtocolError
from kvmswitchd.targets import usbip_wire as wire

RECORD = wire.DeviceRecord(
    busid="1-3",
    busnum=1,
    devnum=3,
    speed=wire.Speed.FULL,
    vendor=0x1D6B,
    product=0x0104,
    bcd_device=0x0100,
    device_class=(0, 0, 0),
    interfaces=((3, 1, 1), (8, 6, 0x50)),
)


def test_debian_cli_devlist_request_decodes() -> None:
    assert wire.decode_op_request(bytes.fromhex("0111 8005 00000000")) is wire.OpCode.REQ_DEVLIST


@pytest.mark.parametrize(
    "raw",
    [bytes.fromhex("0110 8005 00000000"), bytes.fromhex("0111 8004 00000000"), b"\x01\x11"],
)
def test_bad_op_requests_are_remote_errors(raw: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        wire.decode_op_request(raw)


def test_device_record_is_the_312_byte_kernel_layout() -> None:
    raw = RECORD.encode(with_interfaces=False)
    assert len(raw) == 0x138
    parsed = pyusbip.parse_usb_device(raw)
    assert parsed["busid"] == "1-3"
    assert (parsed["busnum"], parsed["devnum"], parsed["speed"]) == (1, 3, 2)
    assert (parsed["idVendor"], parsed["idProduct"], parsed["bNumInterfaces"]) == (0x1D6B, 0x104, 2)


def test_devlist_reply_carries_interface_triples() -> None:
    raw = wire.devlist_reply([RECORD])
    assert raw[:12] == bytes.fromhex("0111 0005 00000000 00000001")
    assert raw[12 + 312 :] == bytes.fromhex("03010100 08065000")


def test_import_refusal_is_status_one_with_no_record() -> None:
    assert wire.import_reply(None) == bytes.fromhex("0111 0003 00000001")
    assert len(wire.import_reply(RECORD)) == 8 + 312


def test_protocol_doc_interrupt_in_example_decodes() -> None:
    raw = bytes.fromhex(
        "00000001 00000d05 0001000f 00000001 00000001"
        "00000200 00000040 ffffffff 00000000 00000004 0000000000000000"
    )
    cmd = wire.decode_urb_header(raw)
    assert cmd == wire.Submit(0xD05, 0x1000F, True, 1, 0x200, 0x40, 4, bytes(8))
    assert cmd.payload_length == 0


def test_unlink_names_its_victim() -> None:
    raw = struct.pack(">IIIII", 2, 9, 0x10001, 0, 0) + struct.pack(">I", 7) + bytes(24)
    assert wire.decode_urb_header(raw) == wire.Unlink(9, 0x10001, 7)


def test_out_submit_announces_its_payload() -> None:
    raw = struct.pack(">IIIIIIiiii8s", 1, 5, 0, 0, 2, 0, 31, 0, 0, 0, bytes(8))
    cmd = wire.decode_urb_header(raw)
    assert isinstance(cmd, wire.Submit)
    assert cmd.payload_length == 31


@pytest.mark.parametrize(
    ("field", "value"),
    [(0, 3), (3, 2), (4, 16), (6, wire.MAX_TRANSFER_LENGTH + 1), (6, 0xFFFFFFFF), (8, 3)],
)
def test_invalid_submit_fields_are_remote_errors(field: int, value: int) -> None:
    fields = [1, 5, 0, 1, 1, 0, 8, 0, 0, 0]
    fields[field] = value
    raw = struct.pack(">IIIIIIIIII8s", *fields, bytes(8))
    with pytest.raises(RemoteProtocolError):
        wire.decode_urb_header(raw)


@given(st.binary(min_size=48, max_size=48))
def test_any_48_bytes_decode_or_fail_cleanly(raw: bytes) -> None:
    try:
        cmd = wire.decode_urb_header(raw)
    except RemoteProtocolError:
        return
    assert isinstance(cmd, wire.Submit | wire.Unlink)


def test_ret_submit_in_carries_data_and_its_length() -> None:
    raw = wire.Completion(7, data=b"\x01\x02").encode()
    assert raw[:20] == struct.pack(">IIIII", 3, 7, 0, 0, 0)
    assert struct.unpack(">iiiii", raw[20:40]) == (0, 2, 0, 0, 0)
    assert len(raw) == 48 + 2
    assert raw[48:] == b"\x01\x02"


def test_ret_submit_out_and_stall() -> None:
    assert struct.unpack(">ii", wire.Completion(1, actual=31).encode()[20:28]) == (0, 31)
    stalled = wire.Completion(1, wire.EPIPE).encode()
    assert struct.unpack(">i", stalled[20:24]) == (-32,)
    assert len(stalled) == 48


def test_ret_unlink_reports_connreset() -> None:
    raw = wire.ret_unlink(4, wire.ECONNRESET)
    assert raw[:8] == struct.pack(">II", 4, 4)
    assert struct.unpack(">i", raw[20:24]) == (-104,)
    assert len(raw) == 48


def test_string_descriptor_is_utf16_and_capped() -> None:
    assert wire.string_descriptor("KVM") == bytes((8, 3)) + "KVM".encode("utf-16-le")
    assert len(wire.string_descriptor("x" * 500)) == 2 + 2 * wire.MAX_STRING_CHARS
