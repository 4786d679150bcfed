"""CH9329 frames: every reference §5 vector byte-exact, resync on garbage, any chunking."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hid import ch9329
from hid.ch9329 import (
    BadFrame,
    ChecksumError,
    ChipInfo,
    Cmd,
    Frame,
    FrameReader,
    Status,
)
from hid.keyboard import BootKeyboard
from hid.leds import Leds
from hid.mouse import AbsoluteReport, RelativeReport
from kvmswitchd.errors import InputError, LocalProtocolError, RemoteProtocolError


def hx(text: str) -> bytes:
    return bytes.fromhex(text)


def test_request_vectors_are_byte_exact() -> None:
    kb = BootKeyboard()
    a_down = kb.press(0x04)
    assert a_down is not None
    assert ch9329.get_info_frame().encode() == hx("57 AB 00 01 00 03")
    assert ch9329.keyboard_frame(a_down).encode() == hx("57 AB 00 02 08 00 00 04 00 00 00 00 00 10")
    shift_a = kb.press(0xE1)
    assert shift_a is not None
    assert ch9329.keyboard_frame(shift_a).encode() == hx(
        "57 AB 00 02 08 02 00 04 00 00 00 00 00 12"
    )
    assert ch9329.keyboard_frame(kb.release_all()).encode() == hx(
        "57 AB 00 02 08 00 00 00 00 00 00 00 00 0C"
    )
    assert ch9329.abs_mouse_frame(0, 16384, 16384).encode() == hx(
        "57 AB 00 04 07 02 00 00 08 00 08 00 1F"
    )
    assert ch9329.rel_mouse_frame(0x01, 10, -5).encode() == hx("57 AB 00 05 05 01 01 0A FB 00 13")
    assert ch9329.reset_frame().encode() == hx("57 AB 00 0F 00 11")


def test_reply_vectors_decode_and_encode_byte_exact() -> None:
    ok = hx("57 AB 00 82 01 00 85")
    bad_sum = hx("57 AB 00 C2 01 E4 A9")
    info = hx("57 AB 00 81 08 30 01 02 00 00 00 00 00 BE")
    assert ch9329.status_reply(Cmd.SEND_KB_GENERAL_DATA).encode() == ok
    assert ch9329.status_reply(Cmd.SEND_KB_GENERAL_DATA, Status.ERR_SUM).encode() == bad_sum
    assert ch9329.info_reply(Leds(caps=True)).encode() == info

    frame, rest = Frame.decode(ok)
    assert frame is not None
    assert rest == b""
    assert ch9329.parse_status(frame, Cmd.SEND_KB_GENERAL_DATA) is Status.SUCCESS
    frame, _ = Frame.decode(bad_sum)
    assert frame is not None
    assert frame.is_error
    assert ch9329.parse_status(frame, Cmd.SEND_KB_GENERAL_DATA) is Status.ERR_SUM
    frame, _ = Frame.decode(info)
    assert frame is not None
    assert ch9329.parse_info(frame) == ChipInfo(0x30, usb_connected=True, leds=Leds(caps=True))


def test_absolute_scaling_is_ceil_v_over_8_clamped_to_4095() -> None:
    assert [ch9329.scale_abs(v) for v in (0, 1, 8, 9, 16384, 32760, 32767)] == [
        0,
        1,
        1,
        2,
        2048,
        4095,
        4095,
    ]
    assert ch9329.scale_abs(-5) == 0
    assert ch9329.scale_abs(40000) == 4095


def test_chip_side_parses_mouse_payloads() -> None:
    frame = ch9329.abs_mouse_frame(0x03, 32767, 0, wheel=-1)
    assert ch9329.parse_abs_mouse_data(frame.data) == AbsoluteReport(3, 4095, 0, -1)
    frame = ch9329.rel_mouse_frame(0x01, 10, -5, wheel=2)
    assert ch9329.parse_rel_mouse_data(frame.data) == RelativeReport(1, 10, -5, 2)
    with pytest.raises(RemoteProtocolError):
        ch9329.parse_abs_mouse_data(hx("01 00 00"))
    with pytest.raises(RemoteProtocolError):
        ch9329.parse_rel_mouse_data(hx("02 00 00 00 00"))


@pytest.mark.parametrize(
    "call",
    [
        lambda: ch9329.keyboard_frame(bytes(7)),
        lambda: ch9329.rel_mouse_frame(0, 128, 0),
        lambda: ch9329.rel_mouse_frame(0, 0, -128),
        lambda: ch9329.abs_mouse_frame(0, 0, 0, wheel=200),
    ],
)
def test_builders_reject_out_of_range_input(call: object) -> None:
    with pytest.raises(InputError):
        call()  # type: ignore[operator]  # parametrized zero-argument callables


def test_frame_rejects_fields_the_wire_cannot_carry() -> None:
    with pytest.raises(LocalProtocolError):
        Frame(0, 0x100)
    with pytest.raises(LocalProtocolError):
        Frame(0, 1, bytes(65))


def test_parse_info_and_status_reject_other_frames() -> None:
    with pytest.raises(RemoteProtocolError):
        ch9329.parse_info(Frame(0, 0x82, b"\x00"))
    with pytest.raises(RemoteProtocolError):
        ch9329.parse_status(Frame(0, 0x81, bytes(8)), Cmd.SEND_KB_GENERAL_DATA)
    with pytest.raises(RemoteProtocolError, match="unknown CH9329 status"):
        ch9329.parse_status(Frame(0, 0x82, b"\x07"), Cmd.SEND_KB_GENERAL_DATA)


def test_decode_skips_garbage_and_returns_the_rest() -> None:
    frame, rest = Frame.decode(hx("00 11 57 57 AB 00 0F 00 11 57 AB 00"))
    assert frame == Frame(0, Cmd.RESET)
    assert rest == hx("57 AB 00")


def test_decode_keeps_a_trailing_half_head_and_drops_other_garbage() -> None:
    assert Frame.decode(hx("01 02 57")) == (None, hx("57"))
    assert Frame.decode(hx("01 02 03")) == (None, b"")
    assert Frame.decode(hx("57 AB 00 02 08 00")) == (None, hx("57 AB 00 02 08 00"))


def test_over_long_length_is_a_false_head_and_is_skipped_at_once() -> None:
    frame, rest = Frame.decode(hx("57 AB 00 02 FF 57 AB 00 0F 00 11"))
    assert frame == Frame(0, Cmd.RESET)
    assert rest == b""


def test_bad_checksum_raises_with_cmd_and_a_resume_point() -> None:
    with pytest.raises(ChecksumError) as info:
        Frame.decode(hx("57 AB 00 02 01 00 00 57 AB 00 0F 00 11"))
    assert (info.value.addr, info.value.cmd) == (0, 2)
    assert isinstance(info.value, RemoteProtocolError)
    frame, rest = Frame.decode(info.value.rest)
    assert frame == Frame(0, Cmd.RESET)
    assert rest == b""


def test_frame_after_a_truncated_frame_is_still_found() -> None:
    truncated = ch9329.keyboard_frame(bytes(8)).encode()[:-4]
    good = ch9329.reset_frame().encode()
    got = FrameReader().feed(truncated + good + bytes(8))
    assert got[-1] == Frame(0, Cmd.RESET)
    assert all(isinstance(f, BadFrame) for f in got[:-1])


frames = st.builds(
    Frame,
    st.integers(0, 255),
    st.integers(0, 255),
    st.binary(max_size=ch9329.MAX_DATA_LEN),
)


@given(frames)
def test_encode_decode_round_trip(frame: Frame) -> None:
    assert Frame.decode(frame.encode()) == (frame, b"")


@given(st.lists(frames, max_size=6), st.data())
def test_reader_gives_the_same_frames_for_any_chunking(
    sent: list[Frame], data: st.DataObject
) -> None:
    stream = b"".join(f.encode() for f in sent)
    cuts = sorted(data.draw(st.sets(st.integers(0, len(stream)))))
    reader = FrameReader()
    got: list[Frame | BadFrame] = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        got += reader.feed(stream[start:end])
    assert got == sent


@given(st.binary(max_size=40).filter(lambda b: b"\x57" not in b), frames)
def test_garbage_before_a_frame_is_skipped(garbage: bytes, frame: Frame) -> None:
    assert FrameReader().feed(garbage + frame.encode()) == [frame]


@given(st.binary(max_size=200), st.data())
def test_arbitrary_bytes_never_raise_from_the_reader_and_chunking_does_not_matter(
    noise: bytes, data: st.DataObject
) -> None:
    cuts = sorted(data.draw(st.sets(st.integers(0, len(noise)))))
    reader = FrameReader()
    got: list[Frame | BadFrame] = []
    for start, end in zip([0, *cuts], [*cuts, len(noise)], strict=True):
        got += reader.feed(noise[start:end])
    assert got == FrameReader().feed(noise)
    tail = ch9329.get_info_frame()
    assert reader.feed(tail.encode() * 2)[-1] == tail  # the channel recovers
