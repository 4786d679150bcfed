"""The emulated CH9329 answers as the datasheet says (reference §5), byte for byte."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from hid import ch9329
from hid.ch9329 import Frame, FrameReader
from kvmswitchd.targets.ch9329_chip import PACKET_GAP, PARA_CFG_LEN, EmulatedChip
from kvmswitchd.targets.computer import VirtualComputer


def hx(text: str) -> bytes:
    return bytes.fromhex(text)


def test_the_reference_requests_get_the_reference_replies() -> None:
    chip = EmulatedChip()
    assert chip.receive_data(hx("57 AB 00 01 00 03"), 0) == hx(
        "57 AB 00 81 08 30 01 00 00 00 00 00 00 BC"
    )
    a_down = hx("57 AB 00 02 08 00 00 04 00 00 00 00 00 10")
    assert chip.receive_data(a_down, 0) == hx("57 AB 00 82 01 00 85")
    assert chip.computer.pressed == {0x04}
    assert chip.receive_data(hx("57 AB 00 02 08 00 00 04 00 00 00 00 00 11"), 0) == hx(
        "57 AB 00 C2 01 E4 A9"
    )
    assert chip.receive_data(hx("57 AB 00 0F 00 11"), 0) == hx("57 AB 00 8F 01 00 92")


def test_the_led_bits_of_get_info_follow_the_computers_lock_keys() -> None:
    chip = EmulatedChip()
    caps = ch9329.keyboard_frame(bytes((0, 0, 0x39, 0, 0, 0, 0, 0))).encode()
    chip.receive_data(caps + ch9329.keyboard_frame(bytes(8)).encode(), 0)
    assert chip.receive_data(hx("57 AB 00 01 00 03"), 0) == hx(
        "57 AB 00 81 08 30 01 02 00 00 00 00 00 BE"
    )
    num = ch9329.keyboard_frame(bytes((0, 0, 0x53, 0, 0, 0, 0, 0))).encode()
    scroll = ch9329.keyboard_frame(bytes((0, 0, 0x47, 0, 0, 0, 0, 0))).encode()
    up = ch9329.keyboard_frame(bytes(8)).encode()
    chip.receive_data(num + up + scroll + up, 0)
    reply = FrameReader().feed(chip.receive_data(ch9329.get_info_frame().encode(), 0))[0]
    assert isinstance(reply, Frame) and reply.data[2] == 0b111


def test_an_unknown_command_is_e3_and_bad_parameters_e5() -> None:
    chip = EmulatedChip()
    assert (
        chip.receive_data(Frame(0, 0x3E).encode(), 0)
        == ch9329.status_reply(0x3E, ch9329.Status.ERR_CMD).encode()
    )
    short = Frame(0, ch9329.Cmd.SEND_KB_GENERAL_DATA, bytes(7)).encode()
    assert chip.receive_data(short, 0) == hx("57 AB 00 C2 01 E5 AA")
    far = Frame(0, ch9329.Cmd.SEND_MS_ABS_DATA, hx("02 00 00 10 00 00 00")).encode()  # x 4096
    assert chip.receive_data(far, 0)[3:6] == hx("C4 01 E5")
    assert chip.errors == {"ERR_CMD": 1, "ERR_PARA": 2}


def test_a_chip_without_a_usb_host_says_e6_to_reports_and_not_connected_to_get_info() -> None:
    chip = EmulatedChip()
    chip.usb_connected = False
    assert chip.receive_data(hx("57 AB 00 02 08 00 00 04 00 00 00 00 00 10"), 0) == hx(
        "57 AB 00 C2 01 E6 AB"
    )
    assert chip.computer.keyboard_reports == 0
    info = chip.receive_data(hx("57 AB 00 01 00 03"), 0)
    assert info[6] == 0x00


def test_a_frame_cut_short_is_e1_after_the_packet_gap() -> None:
    chip = EmulatedChip()
    assert chip.receive_data(hx("57 AB 00 02 08 00 00"), 1.0) == b""
    assert chip.next_deadline() == 1.0 + PACKET_GAP
    assert chip.handle_timer(1.0 + PACKET_GAP / 2) == b""
    assert chip.handle_timer(1.0 + PACKET_GAP) == hx("57 AB 00 C2 01 E1 A6")
    assert chip.next_deadline() is None
    # the chip starts afresh: the next frame is not glued to the dropped bytes
    assert chip.receive_data(hx("57 AB 00 01 00 03"), 2.0)[3] == 0x81


def test_bytes_with_no_head_are_e2_after_the_gap() -> None:
    chip = EmulatedChip()
    assert chip.receive_data(b"hello", 0.0) == b""
    assert chip.handle_timer(PACKET_GAP) == hx("57 AB 00 C0 01 E2 A5")


def test_a_chip_with_an_address_ignores_others_and_broadcast_gets_no_reply() -> None:
    chip = EmulatedChip(address=0x05)
    assert chip.receive_data(ch9329.get_info_frame(0x06).encode(), 0) == b""
    reply = chip.receive_data(ch9329.get_info_frame(0x05).encode(), 0)
    assert reply[2] == 0x05 and reply[3] == 0x81
    kb = ch9329.keyboard_frame(bytes((0, 0, 4, 0, 0, 0, 0, 0)), addr=ch9329.BROADCAST)
    assert chip.receive_data(kb.encode(), 0) == b""
    assert chip.computer.pressed == {0x04}


def test_get_para_cfg_is_the_50_byte_block_with_9600_baud() -> None:
    reply = FrameReader().feed(EmulatedChip().receive_data(Frame(0, 0x08).encode(), 0))[0]
    assert isinstance(reply, Frame) and reply.cmd == 0x88
    assert len(reply.data) == PARA_CFG_LEN
    assert reply.data[3:7] == hx("00 00 25 80") and reply.data[11:15] == hx("1A 86 E1 29")


def test_relative_and_absolute_frames_move_the_computers_pointer() -> None:
    rel = EmulatedChip()
    rel.receive_data(hx("57 AB 00 05 05 01 01 0A FB 00 13"), 0)
    assert (rel.computer.pointer_x, rel.computer.pointer_y, rel.computer.buttons) == (970, 535, 1)
    absolute = EmulatedChip(VirtualComputer(mouse="absolute"))
    absolute.receive_data(hx("57 AB 00 04 07 02 00 00 08 00 08 00 1F"), 0)
    assert (absolute.computer.pointer_x, absolute.computer.pointer_y) == (960, 540)


@given(st.binary(max_size=300), st.integers(1, 17))
def test_any_noise_in_any_chunking_gets_replies_or_nothing_never_a_crash(
    noise: bytes, chunk: int
) -> None:
    chip = EmulatedChip()
    out = b""
    now = 0.0
    for i in range(0, len(noise), chunk):
        out += chip.receive_data(noise[i : i + chunk], now)
        now += PACKET_GAP / 4
    out += chip.handle_timer(now + 1)
    for frame in FrameReader().feed(out):
        assert isinstance(frame, Frame) and frame.is_reply
    # and it still answers a clean frame
    assert chip.receive_data(hx("57 AB 00 01 00 03"), now + 2)[3] == 0x81
