"""Independent CH9329 implementations from PyPI against ours: ``pych9329-hid`` drives our
emulated chip over a real pty (its encoder, its reply checks), and ``pych9329``'s frame
class encodes and parses the same bytes as our codec and our chip."""

from __future__ import annotations

import asyncio
import importlib
import warnings
from pathlib import Path
from typing import Any

import serial
from hypothesis import given
from hypothesis import strategies as st

from hid.ch9329 import Frame, FrameReader
from kvmswitchd.targets.ch9329_chip import EmulatedChip, para_cfg
from kvmswitchd.targets.ch9329_pty import ChipPty
from kvmswitchd.targets.computer import VirtualComputer
from tests.conftest import require_module


def independent(module: str) -> Any:
    """A module of an independent implementation (optional test dependencies, untyped:
    imported by name so the type check does not need them installed)."""
    require_module(module.split(".", maxsplit=1)[0], "an independent CH9329 implementation")
    return importlib.import_module(module)


def hid_client(path: str) -> Any:
    """A pych9329-hid client on ``path``."""
    transport = independent("pych9329_hid.transport").SerialTransport(path, 9600)
    return independent("pych9329_hid.ch9329").CH9329(transport)


async def test_pych9329_hid_types_and_points_through_our_emulated_chip(tmp_path: Path) -> None:
    relative = ChipPty(EmulatedChip(), link=str(tmp_path / "rel"))
    absolute = ChipPty(EmulatedChip(VirtualComputer(mouse="absolute")), link=str(tmp_path / "abs"))
    rel_client = hid_client(relative.open())
    abs_client = hid_client(absolute.open())

    def drive() -> list[object]:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # any retry or bad ack it sees fails the test
            return [
                rel_client.send_keyboard(0x02, [0x0B]),  # Shift+h
                rel_client.send_keyboard(0x00, []),
                rel_client.send_keyboard(0x00, [0x0C]),  # i
                rel_client.send_keyboard(0x00, []),
                rel_client.send_mouse_rel(dx=10, dy=-5, buttons=0x01),
                rel_client.send_mouse_rel(buttons=0x00, wheel=-1),
                rel_client.chip_reset(),
                abs_client.send_mouse_abs(2048, 2048, buttons=0x02),
                abs_client.send_mouse_abs(4095, 0),
                rel_client.get_config().to_bytes() == para_cfg(0),
                rel_client.get_config().baudrate,
            ]

    try:
        results = await asyncio.to_thread(drive)
        # (pych9329-hid 0.2.1's get_info expects a 3-byte answer where the protocol
        # document, PiKVM and pych9329 read 8, so it is not used here.)
        assert results == [True] * 10 + [9600]
        computer = relative.chip.computer
        assert computer.screen.text == "Hi"
        assert (computer.pointer_x, computer.pointer_y) == (970, 535)
        assert computer.clicks[0] == 1 and computer.wheel == -1
        pointer = absolute.chip.computer
        assert pointer.clicks[1] == 1 and (pointer.pointer_x, pointer.pointer_y) == (1919, 0)
    finally:
        rel_client.t.close()
        abs_client.t.close()
        relative.close()
        absolute.close()


async def test_pych9329_reads_our_chips_led_bits_over_a_pty(tmp_path: Path) -> None:
    keyboard = independent("pych9329.keyboard")

    chip = EmulatedChip()
    pty = ChipPty(chip, link=str(tmp_path / "tty"))
    port = serial.Serial(pty.open(), 9600, timeout=0.3)
    try:
        caps = Frame(0, 0x02, bytes((0, 0, 0x39, 0, 0, 0, 0, 0))).encode()
        chip.receive_data(caps + Frame(0, 0x02, bytes(8)).encode(), 0)
        ok, leds = await asyncio.to_thread(keyboard.receive_indicator_status, port)
        assert ok and leds == {
            "usb_connect_status": True,
            "num_lock": False,
            "caps_lock": True,
            "scroll_lock": False,
        }
    finally:
        port.close()
        pty.close()


frames = st.builds(
    Frame,
    st.integers(0, 0xFF),
    st.integers(0, 0xFF),
    st.binary(max_size=64),
)


@given(frames)
def test_pych9329s_frame_class_and_ours_encode_and_parse_the_same_bytes(frame: Frame) -> None:
    DataFrame = independent("pych9329.frame_utils").DataFrame  # noqa: N806  # a class

    theirs = DataFrame(
        b"\x57\xab",
        bytes((frame.addr,)),
        bytes((frame.cmd,)),
        bytes((len(frame.data),)),
        frame.data,
    )
    wire = theirs.create_frame()
    assert wire == frame.encode()
    assert FrameReader().feed(wire) == [frame]
    parsed = DataFrame(b"", b"", b"")
    assert parsed.parse_frame(frame.encode())
    addr, cmd, payload = parsed.ADDR, parsed.CMD, parsed.DATA
    assert (addr, cmd, payload) == (bytes((frame.addr,)), bytes((frame.cmd,)), frame.data)


@given(st.binary(min_size=1, max_size=64))
def test_our_chips_replies_parse_in_pych9329_with_its_checksum(data: bytes) -> None:
    DataFrame = independent("pych9329.frame_utils").DataFrame  # noqa: N806  # a class

    chip = EmulatedChip()
    request = Frame(0, 0x02, data).encode()  # any payload: success or E5
    reply = chip.receive_data(request, 0)
    parsed = DataFrame(b"", b"", b"")
    assert parsed.parse_frame(reply)
    assert parsed.calc_checksum() == reply[-1]
    cmd, status = parsed.CMD, parsed.DATA
    assert cmd in (b"\x82", b"\xc2")
    assert status == (b"\x00" if len(data) == 8 else b"\xe5")
