"""Bulk-Only Transport framing: byte-exact CBW/CSW, the thirteen cases, halts and resets."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kvmswitchd.errors import RemoteProtocolError
from kvmswitchd.storage.bot import (
    CBW_LENGTH,
    BulkOnlyTransport,
    CommandBlockWrapper,
    CommandStatusWrapper,
    CswStatus,
    Phase,
)
from kvmswitchd.storage.initiator import read10, write10
from kvmswitchd.storage.scsi import LogicalUnit
from tests.storage.rig import make_rig

TUR = bytes(6)
INQUIRY_36 = bytes([0x12, 0, 0, 0, 36, 0])


def cbw(cb: bytes, length: int = 0, *, data_in: bool = True, tag: int = 7) -> bytes:
    return CommandBlockWrapper(tag, length, data_in, 0, cb).encode()


def csw_of(transport: BulkOnlyTransport) -> CommandStatusWrapper:
    raw = transport.bulk_in(13)
    assert raw is not None
    return CommandStatusWrapper.decode(raw)


def test_cbw_encodes_byte_exact() -> None:
    raw = CommandBlockWrapper(0x12345678, 512, True, 0, read10(0, 1)).encode()
    assert raw == bytes.fromhex(
        "55534243 78563412 00020000 80 00 0a 28000000000000000100 000000000000"
    )
    assert len(raw) == CBW_LENGTH


def test_csw_encodes_byte_exact() -> None:
    raw = CommandStatusWrapper(0xDEADBEEF, 60, CswStatus.PHASE_ERROR).encode()
    assert raw == bytes.fromhex("55534253 efbeadde 3c000000 02")


@given(
    tag=st.integers(0, 2**32 - 1),
    length=st.integers(0, 2**32 - 1),
    data_in=st.booleans(),
    lun=st.integers(0, 15),
    cb=st.binary(min_size=1, max_size=16),
)
def test_cbw_round_trips(tag: int, length: int, data_in: bool, lun: int, cb: bytes) -> None:
    wrapper = CommandBlockWrapper(tag, length, data_in, lun, cb)
    assert CommandBlockWrapper.decode(wrapper.encode()) == wrapper


@given(
    tag=st.integers(0, 2**32 - 1),
    residue=st.integers(0, 2**32 - 1),
    status=st.sampled_from(CswStatus),
)
def test_csw_round_trips(tag: int, residue: int, status: CswStatus) -> None:
    wrapper = CommandStatusWrapper(tag, residue, status)
    assert CommandStatusWrapper.decode(wrapper.encode()) == wrapper


def bad_cbws() -> list[bytes]:
    good = bytearray(cbw(TUR))
    bad_signature = bytearray(good)
    bad_signature[0] = 0x54
    reserved_flag = bytearray(good)
    reserved_flag[12] = 0x81
    reserved_lun = bytearray(good)
    reserved_lun[13] = 0x10
    zero_cb = bytearray(good)
    zero_cb[14] = 0
    long_cb = bytearray(good)
    long_cb[14] = 17
    return [
        bytes(good[:30]),
        bytes(good) + b"\0",
        b"",
        bytes(bad_signature),
        bytes(reserved_flag),
        bytes(reserved_lun),
        bytes(zero_cb),
        bytes(long_cb),
    ]


@pytest.mark.parametrize(
    "raw", bad_cbws(), ids=["short", "long", "empty", "signature", "flags", "lun", "cb-0", "cb-17"]
)
def test_invalid_cbw_halts_until_bulk_only_reset(raw: bytes) -> None:
    rig = make_rig()
    with pytest.raises(RemoteProtocolError):
        rig.transport.bulk_out(raw)
    assert rig.transport.phase is Phase.HALTED
    with pytest.raises(RemoteProtocolError):
        rig.transport.bulk_out(cbw(TUR))
    with pytest.raises(RemoteProtocolError):
        rig.transport.bulk_in(13)
    rig.host.reset_recovery()
    rig.host.test_unit_ready()


@settings(max_examples=200)
@given(st.lists(st.binary(max_size=40), max_size=6))
def test_arbitrary_bulk_out_bytes_give_only_protocol_errors_and_reset_recovers(
    transfers: list[bytes],
) -> None:
    rig = make_rig()
    for data in transfers:
        try:
            rig.transport.bulk_out(data)
            rig.transport.bulk_in(4096)
            rig.transport.bulk_in(13)
        except RemoteProtocolError:
            pass
    rig.transport.reset()
    rig.host.test_unit_ready()
    assert rig.host.read(0, 1) == bytes(512)


def test_case_1_no_data_either_side_passes() -> None:
    rig = make_rig()
    rig.transport.bulk_out(cbw(TUR))
    assert csw_of(rig.transport) == CommandStatusWrapper(7, 0, CswStatus.PASSED)


def test_case_5_host_expects_more_gets_short_data_and_residue() -> None:
    rig = make_rig()
    rig.transport.bulk_out(cbw(INQUIRY_36, 96))
    data = rig.transport.bulk_in(96)
    assert data is not None
    assert len(data) == 36
    assert csw_of(rig.transport) == CommandStatusWrapper(7, 60, CswStatus.PASSED)


def test_data_ending_on_a_full_transfer_is_terminated_by_a_zero_length_transfer() -> None:
    rig = make_rig()
    rig.transport.bulk_out(cbw(INQUIRY_36, 72))
    first = rig.transport.bulk_in(36)
    assert first is not None
    assert len(first) == 36
    assert rig.transport.bulk_in(36) == b""
    assert csw_of(rig.transport).residue == 36


def test_case_7_host_allows_less_than_the_read_needs_is_a_phase_error() -> None:
    rig = make_rig()
    rig.transport.bulk_out(cbw(read10(0, 2), 512))
    assert rig.transport.bulk_in(512) is not None
    assert csw_of(rig.transport).status is CswStatus.PHASE_ERROR


def test_case_2_host_expects_no_data_but_the_read_has_some_is_a_phase_error() -> None:
    rig = make_rig()
    rig.transport.bulk_out(cbw(read10(0, 1), 0))
    assert csw_of(rig.transport).status is CswStatus.PHASE_ERROR


def test_case_10_host_sends_data_to_a_data_in_command_is_a_phase_error() -> None:
    rig = make_rig()
    rig.transport.bulk_out(cbw(INQUIRY_36, 36, data_in=False))
    rig.transport.bulk_out(bytes(36))
    assert csw_of(rig.transport).status is CswStatus.PHASE_ERROR


def test_case_9_surplus_data_out_is_discarded_with_residue() -> None:
    rig = make_rig()
    rig.transport.bulk_out(cbw(TUR, 512, data_in=False))
    rig.transport.bulk_out(bytes(512))
    assert csw_of(rig.transport) == CommandStatusWrapper(7, 512, CswStatus.PASSED)


def test_case_13_short_write_is_a_phase_error_and_writes_nothing() -> None:
    rig = make_rig()
    rig.transport.bulk_out(cbw(write10(0, 2), 512, data_in=False))
    rig.transport.bulk_out(b"\xff" * 512)
    assert csw_of(rig.transport).status is CswStatus.PHASE_ERROR
    assert rig.medium.snapshot() == bytes(64 * 512)


def test_failed_data_in_command_sends_no_data_and_full_residue() -> None:
    rig = make_rig(loaded=False)
    rig.transport.bulk_out(cbw(read10(0, 1), 512))
    assert rig.transport.bulk_in(512) == b""
    assert csw_of(rig.transport) == CommandStatusWrapper(7, 512, CswStatus.FAILED)


def test_bulk_in_before_a_command_naks() -> None:
    rig = make_rig()
    assert rig.transport.bulk_in(13) is None


def test_bulk_out_during_the_status_phase_halts() -> None:
    rig = make_rig()
    rig.transport.bulk_out(cbw(TUR))
    with pytest.raises(RemoteProtocolError):
        rig.transport.bulk_out(cbw(TUR))
    assert rig.transport.phase is Phase.HALTED


def test_csw_in_a_too_small_transfer_is_a_protocol_error() -> None:
    rig = make_rig()
    rig.transport.bulk_out(cbw(TUR))
    with pytest.raises(RemoteProtocolError):
        rig.transport.bulk_in(12)


def test_more_data_out_than_announced_halts() -> None:
    rig = make_rig()
    rig.transport.bulk_out(cbw(write10(0, 1), 512, data_in=False))
    with pytest.raises(RemoteProtocolError):
        rig.transport.bulk_out(bytes(513))
    assert rig.transport.phase is Phase.HALTED


def test_get_max_lun_reports_one_lun() -> None:
    rig = make_rig()
    assert rig.host.max_lun() == 0


@pytest.mark.parametrize(
    ("request_type", "b_request", "value", "index", "length"),
    [
        (0xA1, 0xFE, 0, 1, 1),
        (0xA1, 0xFE, 1, 0, 1),
        (0xA1, 0xFE, 0, 0, 0),
        (0x21, 0xFF, 0, 0, 1),
        (0x21, 0x00, 0, 0, 0),
        (0xC0, 0xFF, 0, 0, 0),
    ],
)
def test_unknown_or_malformed_class_requests_stall(
    request_type: int, b_request: int, value: int, index: int, length: int
) -> None:
    rig = make_rig()
    with pytest.raises(RemoteProtocolError):
        rig.transport.control(request_type, b_request, value, index, length)


def test_bulk_only_reset_aborts_a_half_sent_write_and_reports_io_finished() -> None:
    rig = make_rig()
    rig.heard.events.clear()
    rig.transport.bulk_out(cbw(write10(0, 2), 1024, data_in=False))
    rig.transport.bulk_out(b"\x11" * 512)
    assert rig.heard.events == [("io_started", True)]
    rig.host.reset_recovery()
    assert rig.heard.events == [("io_started", True), ("io_finished", True)]
    assert rig.transport.phase is Phase.COMMAND
    # The whole block that arrived was written; the rest was never acknowledged.
    assert rig.medium.read(0, 2) == b"\x11" * 512 + bytes(512)


def test_disconnect_aborts_silently_and_the_next_host_sees_a_reset() -> None:
    rig = make_rig()
    rig.host.prevent_removal(True)
    rig.heard.events.clear()
    rig.transport.bulk_out(cbw(write10(0, 1), 512, data_in=False))
    rig.transport.disconnect()
    assert rig.heard.events == [("io_started", True)]
    assert not rig.unit.locked
    rig.transport.bulk_out(cbw(TUR))
    assert csw_of(rig.transport).status is CswStatus.FAILED
    assert rig.host.request_sense() == (0x062900, None)


@settings(max_examples=60)
@given(
    data=st.binary(min_size=512 * 3, max_size=512 * 3),
    write_size=st.integers(13, 2048),
    read_size=st.integers(13, 2048),
)
def test_any_transfer_size_gives_the_same_data(
    data: bytes, write_size: int, read_size: int
) -> None:
    rig = make_rig()
    rig.host.transfer_size = write_size
    rig.host.write(5, data)
    rig.host.transfer_size = read_size
    assert rig.host.read(5, 3) == data
    assert rig.medium.read(5, 3) == data


def test_transport_over_an_empty_unit_answers_inquiry() -> None:
    transport = BulkOnlyTransport(LogicalUnit())
    transport.bulk_out(cbw(INQUIRY_36, 36))
    data = transport.bulk_in(36)
    assert data is not None
    assert data[0] == 0x00
    assert len(data) == 36
    assert csw_of(transport).status is CswStatus.PASSED
