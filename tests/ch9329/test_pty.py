"""The ch9329 backend against the emulated chip over a REAL pty (pyserial-asyncio-fast on
one end, the chip on the other): vectors, a burst, unplugging, silence and garbage."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import serial_asyncio_fast

from hid.keyboard import BootKeyboard
from hid.mouse import AbsolutePointer, RelativeMouse
from kvmswitchd.targets.ch9329 import Ch9329Target
from kvmswitchd.targets.ch9329_chip import EmulatedChip
from kvmswitchd.targets.ch9329_link import LinkState
from kvmswitchd.targets.ch9329_pty import ChipPty
from kvmswitchd.targets.computer import VirtualComputer
from tests.ch9329.test_noise import RecordingComputer

WAIT = 10.0  # seconds any one step may take on a loaded machine before the test fails


def hx(text: str) -> bytes:
    return bytes.fromhex(text)


@dataclass
class Tap:
    """What crossed the pty, each way; ``garble`` (if set) rewrites the chip's replies."""

    seen: dict[str, bytearray] = field(
        default_factory=lambda: {"in": bytearray(), "out": bytearray()}
    )
    garble: Callable[[bytes], bytes] | None = None

    def __call__(self, way: str, data: bytes) -> bytes:
        self.seen[way] += data
        if way == "out" and self.garble is not None:
            return self.garble(data)
        return data


@dataclass
class Rig:
    target: Ch9329Target
    pty: ChipPty
    tap: Tap
    leds: list[bytes]

    @property
    def chip(self) -> EmulatedChip:
        return self.pty.chip

    async def wait(self, state: LinkState) -> None:
        await asyncio.wait_for(self.target.wait_for(state), WAIT)

    async def drained(self) -> None:
        await asyncio.wait_for(self.target.drained(), WAIT)


async def make_rig(
    tmp_path: Path,
    computer: VirtualComputer | None = None,
    *,
    mouse: str = "relative",
    reply_timeout: float | None = None,
) -> Rig:
    tap = Tap()
    chip = EmulatedChip(computer or VirtualComputer(mouse=mouse), packet_gap=0.5)
    pty = ChipPty(chip, link=str(tmp_path / "ttyCH9329"), mangle=tap)
    pty.open()
    target = Ch9329Target(pty.path, mouse=mouse, retry=(0.02, 0.1), reply_timeout=reply_timeout)
    leds: list[bytes] = []
    target.set_output_listener(leds.append)
    await target.start()
    rig = Rig(target, pty, tap, leds)
    await rig.wait(LinkState.ONLINE)
    return rig


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    rig = await make_rig(tmp_path, reply_timeout=1.0)
    yield rig
    await rig.target.stop()
    rig.pty.close()


async def test_every_reference_vector_round_trips_over_a_real_pty(tmp_path: Path) -> None:
    rig = await make_rig(tmp_path, mouse="relative")
    kb, mouse = BootKeyboard(), RelativeMouse()
    assert bytes(rig.tap.seen["in"]) == hx("57 AB 00 01 00 03")  # the probe
    assert bytes(rig.tap.seen["out"]) == hx("57 AB 00 81 08 30 01 00 00 00 00 00 00 BC")
    for way in rig.tap.seen.values():
        way.clear()
    for usage, down in ((0x04, True), (0x04, False), (0xE1, True), (0x04, True)):
        rig.target.write_keyboard(kb.key(usage, down) or b"")
    mouse.button(0, True)
    rig.target.write_mouse(mouse.move(10, -5)[0])
    await rig.drained()
    assert bytes(rig.tap.seen["in"]) == hx(
        "57 AB 00 02 08 00 00 04 00 00 00 00 00 10"
        "57 AB 00 02 08 00 00 00 00 00 00 00 00 0C"
        "57 AB 00 02 08 02 00 00 00 00 00 00 00 0E"
        "57 AB 00 02 08 02 00 04 00 00 00 00 00 12"
        "57 AB 00 05 05 01 01 0A FB 00 13"
    )
    assert bytes(rig.tap.seen["out"]) == hx("57 AB 00 82 01 00 85") * 4 + hx("57 AB 00 85 01 00 88")
    assert rig.chip.computer.screen.text == "aA"
    await rig.target.stop()
    rig.pty.close()

    absolute = await make_rig(tmp_path, mouse="absolute")
    for way in absolute.tap.seen.values():
        way.clear()
    absolute.target.write_mouse(AbsolutePointer().move_to(16384, 16384))
    await absolute.drained()
    assert bytes(absolute.tap.seen["in"]) == hx("57 AB 00 04 07 02 00 00 08 00 08 00 1F")
    assert (absolute.chip.computer.pointer_x, absolute.chip.computer.pointer_y) == (960, 540)
    await absolute.target.stop()
    absolute.pty.close()


async def test_a_burst_of_2000_events_arrives_complete_and_in_order(tmp_path: Path) -> None:
    computer = RecordingComputer()
    rig = await make_rig(tmp_path, computer, reply_timeout=2.0)
    kb = BootKeyboard()
    sent: list[bytes] = []
    text = "the quick brown fox jumps over the lazy dog "
    usages = {c: 0x04 + ord(c) - ord("a") for c in "abcdefghijklmnopqrstuvwxyz"} | {" ": 0x2C}
    while len(sent) < 2000:
        for char in text:
            for down in (True, False):
                report = kb.key(usages[char], down)
                assert report is not None
                sent.append(report)
                rig.target.write_keyboard(report)
    await rig.drained()
    assert computer.received == sent
    assert rig.chip.computer.screen.text.replace("\n", "").startswith(text * 10)
    assert rig.target.link.counters["retries"] == 0
    await rig.target.stop()
    rig.pty.close()


async def test_the_chips_led_bits_reach_the_ports_output_listener(rig: Rig) -> None:
    seen: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
    rig.target.set_output_listener(seen.set_result)
    kb = BootKeyboard()
    rig.target.write_keyboard(kb.key(0x39, True) or b"")
    rig.target.write_keyboard(kb.key(0x39, False) or b"")
    assert await asyncio.wait_for(seen, WAIT) == b"\x02"  # Caps, at the next GET_INFO poll
    assert rig.target.view()["leds"] == {"num": False, "caps": True, "scroll": False}


async def test_unplugging_the_cable_is_offline_with_a_reason_and_plugging_it_back_recovers(
    rig: Rig,
) -> None:
    kb = BootKeyboard()
    rig.target.write_keyboard(kb.key(0x04, True) or b"")
    await rig.drained()
    rig.pty.close()  # the USB-serial adapter pulled: its node vanishes
    await rig.wait(LinkState.CLOSED)
    assert rig.target.view()["online"] is False
    assert rig.target.view()["reason"]
    rig.target.write_keyboard(kb.key(0x05, True) or b"")  # typed while unplugged
    rig.pty.open()
    await rig.wait(LinkState.ONLINE)
    await rig.drained()
    assert rig.chip.computer.pressed == {0x04, 0x05}  # the state at rest, not a replay


async def test_a_silent_chip_is_offline_and_answers_again_later(tmp_path: Path) -> None:
    rig = await make_rig(tmp_path, reply_timeout=0.05)
    rig.chip.silent = True
    rig.target.write_keyboard(BootKeyboard().key(0x04, True) or b"")
    await rig.wait(LinkState.NO_CHIP)
    assert "not answering" in rig.target.view()["reason"]
    rig.chip.silent = False
    await rig.wait(LinkState.ONLINE)
    await rig.drained()
    assert rig.chip.computer.pressed == {0x04}
    await rig.target.stop()
    rig.pty.close()


async def test_garbage_replies_are_offline_and_clean_ones_recover(tmp_path: Path) -> None:
    rig = await make_rig(tmp_path, reply_timeout=0.05)
    rig.tap.garble = lambda data: bytes(b ^ 0x5A for b in data)
    rig.target.write_keyboard(BootKeyboard().key(0x04, True) or b"")
    await rig.wait(LinkState.NO_CHIP)
    rig.tap.garble = None
    await rig.wait(LinkState.ONLINE)
    await rig.drained()
    assert rig.chip.computer.pressed == {0x04}
    await rig.target.stop()
    rig.pty.close()


async def test_a_target_computer_unplugged_is_no_target_and_one_port_does_not_touch_another(
    tmp_path: Path,
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    one = await make_rig(tmp_path / "a", reply_timeout=1.0)
    two = await make_rig(tmp_path / "b", reply_timeout=1.0)
    one.chip.usb_connected = False
    one.target.write_keyboard(BootKeyboard().key(0x04, True) or b"")
    await one.wait(LinkState.NO_TARGET)
    two.target.write_keyboard(BootKeyboard().key(0x05, True) or b"")
    await two.drained()
    assert two.chip.computer.pressed == {0x05} and two.target.link.online
    one.chip.usb_connected = True
    await one.wait(LinkState.ONLINE)
    await one.drained()
    assert one.chip.computer.pressed == {0x04}
    for rig in (one, two):
        await rig.target.stop()
        rig.pty.close()


async def test_a_device_that_is_not_there_yet_is_retried_until_it_appears(tmp_path: Path) -> None:
    chip = EmulatedChip()
    pty = ChipPty(chip, link=str(tmp_path / "late"))
    target = Ch9329Target(pty.link or "", retry=(0.02, 0.1))
    await target.start()
    await asyncio.wait_for(target.wait_until(lambda: "cannot open" in target.link.reason), WAIT)
    assert target.view()["online"] is False
    pty.open()
    await asyncio.wait_for(target.wait_for(LinkState.ONLINE), WAIT)
    await target.stop()
    pty.close()


async def test_the_reference_reply_vectors_come_back_over_a_real_pty(tmp_path: Path) -> None:
    """The vectors our backend never sends (reset, a bad checksum) from a plain client."""
    pty = ChipPty(EmulatedChip(), link=str(tmp_path / "tty"))
    reader, writer = await serial_asyncio_fast.open_serial_connection(url=pty.open(), baudrate=9600)
    exchanges = [
        ("57 AB 00 0F 00 11", "57 AB 00 8F 01 00 92"),  # reset
        ("57 AB 00 02 08 00 00 04 00 00 00 00 00 11", "57 AB 00 C2 01 E4 A9"),  # bad sum
        ("57 AB 00 02 08 00 00 39 00 00 00 00 00 45", "57 AB 00 82 01 00 85"),  # Caps down
        ("57 AB 00 02 08 00 00 00 00 00 00 00 00 0C", "57 AB 00 82 01 00 85"),  # all up
        ("57 AB 00 01 00 03", "57 AB 00 81 08 30 01 02 00 00 00 00 00 BE"),  # info: Caps on
    ]
    try:
        for request, reply in exchanges:
            writer.write(hx(request))
            async with asyncio.timeout(WAIT):
                assert await reader.readexactly(len(hx(reply))) == hx(reply)
    finally:
        writer.close()
        pty.close()
