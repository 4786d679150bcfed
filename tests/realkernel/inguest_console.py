"""Run INSIDE the guest (the host's Python over 9p, in a chroot): the daemon's evdev console
on a real uinput keyboard, driven through the real kernel input core.

``python -m tests.realkernel.inguest_console`` creates a uinput keyboard, starts the
daemon in this process with that device as its console (emulated ports), and checks:
the device is grabbed (EVIOCGRAB: a second grab fails), typed text lands on the focused
port's screen, the Scroll Lock hotkey switches, a port's Caps Lock LED is mirrored on
the console keyboard when it gains focus, and destroying the device with a key held
releases it on the port. Each check prints ``@@ CHECK name ok|detail``; the host test
(test_console_uinput.py) asserts on them.
"""

from __future__ import annotations

import asyncio
import json
import os
import select
import struct
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from evdev import InputDevice, UInput, ecodes

from kvmswitchd.switchboard import Switchboard
from tests.daemon.conftest import start

NAME = "kvmswitchd realkernel console"
RECORD = struct.Struct("<qqHHi")


def say(tag: str, text: str) -> None:
    print(f"@@ {tag} {text}", flush=True)


async def until(check: Callable[[], bool], what: str, within: float = 30.0) -> None:
    """Poll the daemon's state: the input arrives through the kernel, not through a call."""
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def tap(ui: UInput, *names: str) -> None:
    for name in names:
        code = ecodes.ecodes[name]
        ui.write(ecodes.EV_KEY, code, 1)
        ui.syn()
        ui.write(ecodes.EV_KEY, code, 0)
        ui.syn()


def type_text(ui: UInput, text: str) -> None:
    tap(ui, *(("KEY_SPACE" if c == " " else f"KEY_{c.upper()}") for c in text))


def led_events(ui: UInput) -> list[tuple[int, int]]:
    """EV_LED writes the daemon made to the console device (uinput hands them back)."""
    out: list[tuple[int, int]] = []
    while select.select([ui.fd], [], [], 0)[0]:
        data = os.read(ui.fd, 24 * 64)
        for i in range(0, len(data) - 23, 24):
            type_, code, value = RECORD.unpack_from(data, i)[2:]
            if type_ == ecodes.EV_LED:
                out.append((code, value))
    return out


async def checks(ui: UInput, board: Switchboard) -> None:
    def text(port: str) -> str:
        return str(board.target(port)["text"])

    def check(name: str, ok: bool, detail: object = "") -> None:
        say("CHECK", f"{name} {'ok' if ok else json.dumps(detail)}")

    try:
        InputDevice(ui.device.path).grab()
        check("grabbed", False, "a second EVIOCGRAB succeeded")
    except OSError as exc:
        check("grabbed", exc.errno == 16, str(exc))  # EBUSY: the daemon holds the grab

    type_text(ui, "hello world")
    await until(lambda: "hello world" in text("1"), "text on port 1")
    check("typed", "hello world" in text("1"), text("1"))

    tap(ui, "KEY_SCROLLLOCK", "KEY_SCROLLLOCK", "KEY_2")
    await until(lambda: board.snapshot()["focus"]["km"] == "2", "the hotkey switch")
    type_text(ui, "on two")
    await until(lambda: "on two" in text("2"), "text on port 2")
    check("hotkey", "on two" in text("2") and "on two" not in text("1"), [text("1"), text("2")])

    tap(ui, "KEY_CAPSLOCK")  # port 2's virtual computer turns Caps Lock on
    await until(lambda: board.target("2")["leds"]["caps"] is True, "caps on port 2")
    tap(ui, "KEY_SCROLLLOCK", "KEY_SCROLLLOCK", "KEY_1")
    await until(lambda: board.snapshot()["focus"]["km"] == "1", "back to port 1")
    led_events(ui)  # what was shown so far
    tap(ui, "KEY_SCROLLLOCK", "KEY_SCROLLLOCK", "KEY_2")
    await until(lambda: board.snapshot()["focus"]["km"] == "2", "port 2 again")
    leds: list[tuple[int, int]] = []
    deadline = time.monotonic() + 10
    while (ecodes.LED_CAPSL, 1) not in leds and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        leds += led_events(ui)
    check("leds", (ecodes.LED_CAPSL, 1) in leds, leds)

    ui.write(ecodes.EV_KEY, ecodes.KEY_A, 1)  # held ...
    ui.syn()
    await until(lambda: len(board.target("2")["pressed"]) > 0, "KEY_A held on port 2")
    ui.close()  # ... when the keyboard is unplugged
    await until(lambda: board.target("2")["pressed"] == [], "the release after unplug")
    check("unplug", board.target("2")["pressed"] == [], board.target("2")["pressed"])


async def main() -> int:
    caps: dict[int, Sequence[int]] = {ecodes.EV_KEY: list(range(1, 120)), ecodes.EV_LED: [0, 1, 2]}
    ui = UInput(caps, name=NAME)
    path = str(ui.device.path)
    say("UINPUT", path)
    state = Path(tempfile.mkdtemp()) / "state"
    doc = {"console": {"devices": [f"evdev:{path}"], "hotkeys": "scrolllock"}}
    daemon, board = await start(state, doc)
    try:
        await checks(ui, board)
    finally:
        await daemon.stop()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
