"""The SCSI logical unit: command set, sense data, write protect, lock, eject, attention."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kvmswitchd.errors import BusyError
from kvmswitchd.storage.blockdev import MemoryBlockDevice
from kvmswitchd.storage.initiator import CheckConditionError, read10, start_stop, write10
from kvmswitchd.storage.scsi import DataDirection, LogicalUnit
from kvmswitchd.storage.scsi_wire import InquiryIdentity, ScsiStatus, Sense, fixed_sense
from tests.storage.rig import BrokenDevice, make_rig


def sense_of(exc: pytest.ExceptionInfo[CheckConditionError]) -> int:
    return exc.value.sense


def test_inquiry_is_36_bytes_with_identity_and_removable_bit() -> None:
    rig = make_rig()
    data = rig.host.inquiry()
    assert len(data) == 36
    assert data[0] == 0x00
    assert data[1] == 0x80
    assert data[4] == 31
    assert data[8:36] == b"kvmswd  Virtual Storage 0001"


def test_inquiry_identity_rejects_overlong_or_non_ascii_strings() -> None:
    with pytest.raises(ValueError, match="printable ASCII"):
        InquiryIdentity(vendor="123456789")
    with pytest.raises(ValueError, match="printable ASCII"):
        InquiryIdentity(product="Stick\u00e9")


def test_fixed_sense_layout_is_byte_exact() -> None:
    assert fixed_sense(Sense.LBA_OUT_OF_RANGE, 0x01020304) == bytes.fromhex(
        "f0 00 05 01020304 0a 00000000 21 00 00000000"
    )
    assert fixed_sense(Sense.NO_SENSE).hex() == "70" + "00" * 6 + "0a" + "00" * 10


@pytest.mark.parametrize(
    ("sense", "key", "asc", "ascq"),
    [
        (Sense.MEDIUM_NOT_PRESENT, 0x02, 0x3A, 0x00),
        (Sense.NOT_READY_TO_READY, 0x06, 0x28, 0x00),
        (Sense.MEDIUM_REMOVAL_PREVENTED, 0x05, 0x53, 0x02),
        (Sense.WRITE_PROTECTED, 0x07, 0x27, 0x00),
        (Sense.INVALID_COMMAND, 0x05, 0x20, 0x00),
        (Sense.LBA_OUT_OF_RANGE, 0x05, 0x21, 0x00),
    ],
)
def test_sense_codes_unpack_to_key_asc_ascq(sense: Sense, key: int, asc: int, ascq: int) -> None:
    assert (sense.key, sense.asc, sense.ascq) == (key, asc, ascq)


def test_no_medium_reports_medium_not_present() -> None:
    rig = make_rig(loaded=False)
    with pytest.raises(CheckConditionError) as info:
        rig.host.test_unit_ready()
    assert sense_of(info) == Sense.MEDIUM_NOT_PRESENT


def test_loading_a_medium_raises_unit_attention_once() -> None:
    rig = make_rig(settle=False)
    rig.host.inquiry()  # INQUIRY is exempt and does not clear the attention
    with pytest.raises(CheckConditionError) as info:
        rig.host.test_unit_ready()
    assert sense_of(info) == Sense.NOT_READY_TO_READY
    rig.host.test_unit_ready()


def test_read_capacity_and_format_capacities_describe_the_medium() -> None:
    rig = make_rig(blocks=100)
    assert rig.host.probe() == (100, 512)
    data = rig.host.command(bytes([0x23, 0, 0, 0, 0, 0, 0, 0, 12, 0]), data_in=12)
    assert data == bytes.fromhex("00000008 00000064 02 000200")


def test_write_then_read_round_trips_through_scsi() -> None:
    rig = make_rig()
    payload = bytes(range(256)) * 6
    rig.host.write(10, payload)
    assert rig.host.read(10, 3) == payload
    assert rig.medium.read(10, 3) == payload


def test_lba_out_of_range_is_reported_with_the_lba() -> None:
    rig = make_rig(blocks=64)
    with pytest.raises(CheckConditionError) as info:
        rig.host.read(63, 2)
    assert (info.value.sense, info.value.info) == (Sense.LBA_OUT_OF_RANGE, 63)


def test_write_protected_medium_refuses_writes_and_says_so() -> None:
    rig = make_rig(read_only=True)
    with pytest.raises(CheckConditionError) as info:
        rig.host.write(0, b"\xff" * 512)
    assert sense_of(info) == Sense.WRITE_PROTECTED
    assert rig.medium.read(0, 1) == bytes(512)


@pytest.mark.parametrize("read_only", [False, True])
def test_mode_sense_reports_the_write_protect_bit(read_only: bool) -> None:
    rig = make_rig(read_only=read_only)
    six = rig.host.mode_sense6()
    assert six[0] == len(six) - 1
    assert six[2] == (0x80 if read_only else 0)
    ten = rig.host.command(bytes([0x5A, 0, 0x3F, 0, 0, 0, 0, 0, 255, 0]), data_in=255)
    assert int.from_bytes(ten[0:2]) == len(ten) - 2
    assert ten[3] == (0x80 if read_only else 0)


def test_mode_sense_of_an_unknown_page_is_an_invalid_field() -> None:
    rig = make_rig()
    with pytest.raises(CheckConditionError) as info:
        rig.host.command(bytes([0x1A, 0, 0x1C, 0, 192, 0]), data_in=192)
    assert sense_of(info) == Sense.INVALID_FIELD_IN_CDB


@pytest.mark.parametrize("cdb", [bytes([0xFF] + [0] * 5), bytes([0x28, 0, 0]), b"\x88" + bytes(15)])
def test_unknown_or_truncated_commands_are_invalid(cdb: bytes) -> None:
    rig = make_rig()
    with pytest.raises(CheckConditionError) as info:
        rig.host.command(cdb)
    assert sense_of(info) == Sense.INVALID_COMMAND


def test_request_sense_clears_the_sense() -> None:
    rig = make_rig()
    with pytest.raises(CheckConditionError):
        rig.host.command(bytes([0xFF] + [0] * 5))  # the initiator already asked once
    assert rig.host.request_sense() == (0, None)


def test_prevent_locks_the_medium_against_api_and_host_eject() -> None:
    rig = make_rig()
    rig.host.prevent_removal(True)
    assert rig.unit.locked
    assert ("lock_changed", True) in rig.heard.events
    with pytest.raises(BusyError, match="host has the medium locked"):
        rig.unit.unload()
    with pytest.raises(CheckConditionError) as info:
        rig.host.command(start_stop(start=False, load_eject=True))
    assert sense_of(info) == Sense.MEDIUM_REMOVAL_PREVENTED
    assert rig.unit.medium is rig.medium


def test_allow_flushes_and_unlocks() -> None:
    rig = make_rig()
    rig.host.prevent_removal(True)
    flushes = rig.medium.flushes
    rig.host.prevent_removal(False)
    assert not rig.unit.locked
    assert rig.medium.flushes == flushes + 1
    assert rig.heard.events[-1] == ("lock_changed", False)


def test_host_safe_removal_ejects_the_medium_and_reports_it() -> None:
    rig = make_rig()
    rig.host.write(0, b"\x42" * 512)
    rig.host.prevent_removal(True)
    rig.host.eject()
    assert rig.unit.medium is None
    assert rig.medium.closed
    assert rig.heard.events[-1] == ("host_ejected", None)
    with pytest.raises(CheckConditionError) as info:
        rig.host.test_unit_ready()
    assert sense_of(info) == Sense.MEDIUM_NOT_PRESENT


def test_forced_unload_breaks_the_hosts_lock() -> None:
    rig = make_rig()
    rig.host.prevent_removal(True)
    rig.unit.unload(force=True)
    assert rig.unit.medium is None
    assert not rig.unit.locked


@pytest.mark.parametrize(
    "cdb", [bytes([0x1E, 0, 0, 0, 1, 0]), start_stop(start=False, load_eject=True)]
)
def test_fixed_disk_refuses_lock_and_eject(cdb: bytes) -> None:
    rig = make_rig(removable=False)
    with pytest.raises(CheckConditionError) as info:
        rig.host.command(cdb)
    assert sense_of(info) == Sense.INVALID_COMMAND


def test_read_only_flag_changes_only_without_a_medium() -> None:
    rig = make_rig()
    with pytest.raises(BusyError):
        rig.unit.set_read_only(True)
    rig.unit.unload()
    rig.unit.set_read_only(True)
    assert rig.unit.read_only


def test_loading_over_a_locked_medium_is_busy() -> None:
    rig = make_rig()
    rig.host.prevent_removal(True)
    with pytest.raises(BusyError):
        rig.unit.load(MemoryBlockDevice(8))


def test_other_luns_are_not_supported() -> None:
    unit = LogicalUnit()
    unit.load(MemoryBlockDevice(8))
    inquiry = unit.begin(bytes([0x12, 0, 0, 0, 36, 0]), lun=1)
    assert inquiry.read(36)[0] == 0x7F
    assert unit.begin(bytes(6), lun=3).complete() is ScsiStatus.CHECK_CONDITION
    assert unit.sense is Sense.LUN_NOT_SUPPORTED


def test_only_reads_writes_and_syncs_are_reported_as_io() -> None:
    rig = make_rig()
    rig.heard.events.clear()
    rig.host.test_unit_ready()
    rig.host.inquiry()
    rig.host.probe()
    assert rig.heard.events == []
    rig.host.write(0, bytes(512))
    rig.host.read(0, 1)
    rig.host.flush()
    assert rig.heard.events == [
        ("io_started", True),
        ("io_finished", True),
        ("io_started", False),
        ("io_finished", False),
        ("io_started", True),
        ("io_finished", True),
    ]


def test_io_is_in_flight_until_the_status_is_delivered() -> None:
    rig = make_rig()
    rig.heard.events.clear()
    exchange = rig.host.exchange(write10(0, 1), data_out=bytes(512))
    exchange.step()  # CBW
    exchange.step()  # data
    assert rig.heard.events == [("io_started", True)]
    exchange.step()  # CSW
    assert rig.heard.events[-1] == ("io_finished", True)


def test_sync_and_fua_writes_flush_the_medium() -> None:
    rig = make_rig()
    before = rig.medium.flushes
    rig.host.flush()
    rig.host.command(write10(0, 1, fua=True), data_out=bytes(512))
    assert rig.medium.flushes == before + 2


def test_failing_medium_reports_read_and_write_errors() -> None:
    unit = LogicalUnit()
    unit.load(BrokenDevice(8))
    rig = make_rig(loaded=False)
    rig.transport.unit = unit
    rig.host.request_sense()
    with pytest.raises(CheckConditionError):
        rig.host.test_unit_ready()  # unit attention
    with pytest.raises(CheckConditionError) as info:
        rig.host.read(0, 1)
    assert sense_of(info) == Sense.UNRECOVERED_READ_ERROR
    with pytest.raises(CheckConditionError) as info:
        rig.host.write(0, bytes(512))
    assert sense_of(info) == Sense.WRITE_ERROR
    with pytest.raises(CheckConditionError) as info:
        rig.host.flush()
    assert sense_of(info) == Sense.WRITE_ERROR


def test_zero_length_read_is_good_and_moves_nothing() -> None:
    rig = make_rig()
    assert rig.host.command(read10(3, 0)) == b""


@settings(max_examples=300)
@given(cdb=st.binary(min_size=0, max_size=16), lun=st.integers(0, 15))
def test_arbitrary_cdbs_never_raise(cdb: bytes, lun: int) -> None:
    unit = LogicalUnit()
    unit.load(MemoryBlockDevice(16))
    command = unit.begin(cdb, lun)
    if command.direction is DataDirection.IN:
        assert len(command.read(command.length)) == command.length
    elif command.direction is DataDirection.OUT:
        command.write(bytes(command.length))
    assert command.complete() in (ScsiStatus.GOOD, ScsiStatus.CHECK_CONDITION)
    command.release()
