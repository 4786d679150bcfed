"""The daemon-built gadget on ``dummy_hcd``: inside the guest (the host's Python over 9p),
``kvmswitchd gadget setup`` turns bare modules into a working port that the same guest's
usbhid and usb-storage use as the target computer (tests/realkernel/inguest_gadget.py)."""

from __future__ import annotations

from pathlib import Path

from tests.realkernel.chroot import MOUNTS, python_in_guest
from tests.realkernel.guest import Image
from tests.realkernel.vm import boot

CHECKS = (
    "setup",
    "setup_again",
    "typed",
    "chord",
    "mouse",
    "leds",
    "paste",
    "burst",
    "storage",
    "absolute",
    "teardown",
)
# Only the modules: no gadget, no function, no UDC binding exists before setup runs.
MODULES = "libcomposite usb_f_hid usb_f_mass_storage usbhid hid-generic evdev"
MODULES += " usb-storage sd_mod"


async def test_gadget_setup_from_bare_modules_gives_a_port_the_guest_kernel_uses(
    guest_image: Image, folder: Path
) -> None:
    script = f"mods {MODULES}\nmodprobe dummy_hcd num=2 || fail dummy_hcd\n" + MOUNTS
    script += '[ -z "$(ls /sys/kernel/config/usb_gadget)" ] || fail "a gadget before setup"\n'
    script += python_in_guest("tests.realkernel.inguest_gadget") + " || fail python-$?\n"
    async with boot(guest_image, script, folder, host_root=True) as guest:
        results: dict[str, str] = {}
        while len(results) < len(CHECKS):
            name, _, verdict = (await guest.expect("CHECK", within=240)).partition(" ")
            results[name] = verdict
            if name == "setup" and verdict != "ok":
                break
        assert results == dict.fromkeys(CHECKS, "ok")
        assert await guest.finish(within=60) == "0"
