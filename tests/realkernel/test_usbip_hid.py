"""USB/IP HID against the real kernel: a guest imports two daemon ports with the Debian
``usbip`` client, and its own usbhid/evdev see exactly what the daemon was asked to type
and move; LED output reports come back to the daemon; switching away releases everything.
"""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path
from typing import Any

from tests.realkernel.evdev_records import (
    EV_ABS,
    EV_REL,
    SHIFTED,
    TYPABLE,
    Event,
    key_changes,
    read_events,
    settled,
    typed_text,
)
from tests.realkernel.guest import Image
from tests.realkernel.usbip_rig import COMMAND_LOOP, HostDaemon, attach_script, host_daemon
from tests.realkernel.vm import boot

PORTS = {"2": {"target": "usbip"}, "3": {"target": "usbip", "mouse": "absolute"}}
SYN = {"type": "EV_SYN", "code": "SYN_REPORT", "value": 0}


def ev(type_: str, code: str, value: int) -> dict[str, Any]:
    return {"type": type_, "code": code, "value": value}


def keys(*changes: tuple[str, int]) -> list[dict[str, Any]]:
    """Key changes as a keyboard sends them: each in its own SYN_REPORT frame."""
    out: list[dict[str, Any]] = []
    for code, value in changes:
        out += [ev("EV_KEY", code, value), SYN]
    return out


def total(events: list[Event], type_: int, code: int) -> int:
    return sum(e.value for e in events if e.type == type_ and e.code == code)


def last(events: list[Event], type_: int, code: int) -> int | None:
    values = [e.value for e in events if e.type == type_ and e.code == code]
    return values[-1] if values else None


async def typed(path: Path, before: int, count: int, within: float = 60) -> list[tuple[str, int]]:
    """The key changes after the first ``before`` once ``count`` more arrived (or stopped)."""
    events = await settled(path, before + count, within)
    return key_changes(events)[before:]


async def test_keys_chords_mice_leds_and_release_on_switch_reach_the_guest_kernel(
    guest_image: Image, folder: Path
) -> None:
    async with host_daemon(folder / "state", {"ports": PORTS}) as host:
        script = attach_script(host.usbip_port, [2, 3]) + COMMAND_LOOP
        async with boot(guest_image, script, folder, net=True) as guest:
            await guest.expect("READY", within=120)
            out = guest.out
            await host.post("/switch", {"port": "2"})

            # Text with and without shift, typed on a US layout.
            text = "Hello, World! 1+2=3 {ok}"
            await host.post("/input", {"text": text})
            changes = await typed(out / "kbd2.bin", 0, 4 * 8 + 2 * len(text))
            assert typed_text(changes) == text
            seen = len(key_changes(read_events(out / "kbd2.bin")))

            # Chords on both sides' modifiers, in the order pressed and released.
            chord = [
                ("KEY_LEFTCTRL", 1),
                ("KEY_LEFTALT", 1),
                ("KEY_T", 1),
                ("KEY_T", 0),
                ("KEY_LEFTALT", 0),
                ("KEY_LEFTCTRL", 0),
                ("KEY_RIGHTCTRL", 1),
                ("KEY_RIGHTSHIFT", 1),
                ("KEY_B", 1),
                ("KEY_B", 0),
                ("KEY_RIGHTSHIFT", 0),
                ("KEY_RIGHTCTRL", 0),
            ]
            await host.post("/input", {"events": keys(*chord)})
            assert await typed(out / "kbd2.bin", seen, len(chord)) == chord

            # Relative mouse: motion totals kept (300 needs several 8-bit reports), wheel,
            # buttons in order and the motion between them on the right side of each.
            mouse = [
                ev("EV_REL", "REL_X", 30),
                ev("EV_REL", "REL_Y", -20),
                SYN,
                ev("EV_REL", "REL_X", 300),
                SYN,
                ev("EV_REL", "REL_WHEEL", 1),
                SYN,
                ev("EV_KEY", "BTN_LEFT", 1),
                SYN,
                ev("EV_REL", "REL_Y", 7),
                SYN,
                ev("EV_KEY", "BTN_LEFT", 0),
                SYN,
                ev("EV_KEY", "BTN_RIGHT", 1),
                SYN,
                ev("EV_KEY", "BTN_RIGHT", 0),
                SYN,
            ]
            await host.post("/input", {"events": mouse})
            moved = await settled(out / "mouse2.bin", 4, within=60)
            assert key_changes(moved) == [
                ("BTN_LEFT", 1),
                ("BTN_LEFT", 0),
                ("BTN_RIGHT", 1),
                ("BTN_RIGHT", 0),
            ]
            assert total(moved, EV_REL, 0) == 330  # REL_X
            assert total(moved, EV_REL, 1) == -13  # REL_Y
            assert total(moved, EV_REL, 8) == 1  # REL_WHEEL
            order = [(e.type, e.code, e.value) for e in moved if e.type != 0 and e.type != 4]
            press, release = order.index((1, 272, 1)), order.index((1, 272, 0))
            assert press < order.index((EV_REL, 1, 7)) < release

            # LEDs both ways: Caps Lock typed → the guest's kernel lights its LED and sends
            # the output report → the daemon's port state; the guest turning it off via
            # EV_LED on its evdev node → the daemon sees that too.
            assert (await host.leds("2"))["caps"] is False
            await host.post("/input", {"events": keys(("KEY_CAPSLOCK", 1), ("KEY_CAPSLOCK", 0))})
            await until_leds(host, "2", caps=True)
            guest.send("caps-led")
            assert "1" in (await guest.expect("CAPS")).split()
            guest.send("led-caps-off")
            await guest.expect("DONE")
            await until_leds(host, "2", caps=False)
            seen = len(key_changes(read_events(out / "kbd2.bin")))

            # Held keys and a held button are released when km focus leaves the port.
            held = [*keys(("KEY_LEFTSHIFT", 1), ("KEY_X", 1)), ev("EV_KEY", "BTN_LEFT", 1), SYN]
            await host.post("/input", {"events": held})
            await typed(out / "kbd2.bin", seen, 2)
            await host.post("/switch", {"port": "3"})
            released = await typed(out / "kbd2.bin", seen, 4)
            assert released[:2] == [("KEY_LEFTSHIFT", 1), ("KEY_X", 1)]
            assert sorted(released[2:]) == [("KEY_LEFTSHIFT", 0), ("KEY_X", 0)]
            buttons = key_changes(await settled(out / "mouse2.bin", 6, within=60))
            assert buttons[-2:] == [("BTN_LEFT", 1), ("BTN_LEFT", 0)]

            # The console lets go (what it held was released on port 2, not replayed on 3).
            let_go = [*keys(("KEY_X", 0), ("KEY_LEFTSHIFT", 0)), ev("EV_KEY", "BTN_LEFT", 0), SYN]
            await host.post("/input", {"events": let_go})

            # Port 3: its keyboard types, its absolute pointer lands where it was sent.
            await host.post("/input", {"text": "abc"})
            assert typed_text(await typed(out / "kbd3.bin", 0, 6)) == "abc"
            pointer = [ev("EV_ABS", "ABS_X", 16384), ev("EV_ABS", "ABS_Y", 8192), SYN]
            pointer += [ev("EV_KEY", "BTN_LEFT", 1), SYN, ev("EV_KEY", "BTN_LEFT", 0), SYN]
            await host.post("/input", {"events": pointer})
            placed = await settled(out / "mouse3.bin", 2, within=60)
            assert key_changes(placed) == [("BTN_LEFT", 1), ("BTN_LEFT", 0)]
            assert (last(placed, EV_ABS, 0), last(placed, EV_ABS, 1)) == (16384, 8192)
            assert typed_text(key_changes(read_events(out / "kbd2.bin"))).startswith(text)
            guest.send("quit")
            assert await guest.finish() == "0"


async def until_leds(host: HostDaemon, port: str, *, caps: bool) -> None:
    deadline = time.monotonic() + 30
    while (leds := await host.leds(port))["caps"] is not caps:
        if time.monotonic() > deadline:
            raise AssertionError(f"port {port} LEDs never showed caps={caps}: {leds}")
        await asyncio.sleep(0.05)  # the LED report crosses the VM: nothing to await


def paste_text(length: int, seed: int = 13) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice(TYPABLE) for _ in range(length))


async def test_a_2000_character_paste_and_a_2000_event_burst_arrive_complete_and_in_order(
    guest_image: Image, folder: Path
) -> None:
    async with host_daemon(folder / "state", {"ports": PORTS}) as host:
        script = attach_script(host.usbip_port, [2]) + "host_says\n"
        async with boot(guest_image, script, folder, net=True) as guest:
            await guest.expect("READY", within=120)
            await host.post("/switch", {"port": "2"})
            text = paste_text(2000)
            strokes = sum(4 if c in SHIFTED else 2 for c in text)
            await host.post("/input", {"text": text})
            changes = await typed(guest.out / "kbd2.bin", 0, strokes, within=180)
            assert len(changes) == strokes, f"{len(changes)} of {strokes} key changes arrived"
            assert typed_text(changes) == text

            # 1,000 taps of varying keys in one request: 2,000 key events, none lost.
            rng = random.Random(7)
            letters = [f"KEY_{rng.choice('ABCDEFGHIJKLMNOPQRSTUVWXYZ')}" for _ in range(1000)]
            burst = [change for key in letters for change in ((key, 1), (key, 0))]
            await host.post("/input", {"events": keys(*burst)})
            got = await typed(guest.out / "kbd2.bin", len(changes), len(burst), within=180)
            assert len(got) == len(burst), f"{len(got)} of {len(burst)} key events arrived"
            assert got == burst
            guest.send("quit")
            assert await guest.finish() == "0"
