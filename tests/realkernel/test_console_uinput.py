"""The evdev console through a real kernel: the daemon runs inside the guest (the host's
Python over 9p), its console keyboard is a uinput device, and the real input core carries
the keys, the grab, the LEDs and the unplug (tests/realkernel/inguest_console.py)."""

from __future__ import annotations

from pathlib import Path

from tests.realkernel.chroot import MOUNTS, python_in_guest
from tests.realkernel.guest import Image
from tests.realkernel.vm import boot

CHECKS = ("grabbed", "typed", "hotkey", "leds", "unplug")


async def test_a_uinput_console_is_grabbed_switches_by_hotkey_types_and_unplug_releases(
    guest_image: Image, folder: Path
) -> None:
    script = "mods uinput evdev\n" + MOUNTS
    script += python_in_guest("tests.realkernel.inguest_console") + " || fail python-$?\n"
    async with boot(guest_image, script, folder, host_root=True) as guest:
        results = {}
        for _ in CHECKS:
            name, _, verdict = (await guest.expect("CHECK", within=180)).partition(" ")
            results[name] = verdict
        assert results == dict.fromkeys(CHECKS, "ok")
        assert await guest.finish(within=60) == "0"
