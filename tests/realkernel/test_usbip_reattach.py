"""The target-side ``kvmswitchd-attach`` helper in a real kernel: it attaches a daemon port
with the Debian ``usbip`` client, notices when the daemon restarts (the guest's vhci
loses the device), attaches again by itself, and the new daemon's keys reach the guest."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from kvmswitchd.core.commands import Origin, Source
from tests.daemon.conftest import start
from tests.realkernel.chroot import REPO
from tests.realkernel.evdev_records import key_changes, read_events, settled, typed_text
from tests.realkernel.guest import Image
from tests.realkernel.vm import boot

HELPER = REPO / "target-side" / "kvmswitchd-attach"
PORTS = {"2": {"target": "usbip"}}
ORIGIN = Origin(Source.HTTP, "realkernel")

SCRIPT = r"""
mods usbhid hid-generic evdev
net_up
has_kbd() { [ -n "$(event_of vhci_hcd.0-1/input0)" ]; }
KVMSWITCHD_ATTACH_INTERVAL=1 KVMSWITCHD_ATTACH_MAX_BACKOFF=2 \
  sh /kvmswitchd-attach 10.0.2.2:{port} 1-2 2> /out/attach.log &
helper=$!
wait_for 60 has_kbd && say OK attached || fail "never attached"
host_says  # the daemon is stopped now
wait_for 60 sh -c '! grep -q vhci_hcd.0-1/input0 /proc/bus/input/devices' \
  && say OK lost || fail "the device stayed after the daemon stopped"
host_says  # a new daemon listens on the same port
wait_for 90 has_kbd && say OK "$(event_of vhci_hcd.0-1/input0)" || fail "never re-attached"
cat "$(event_of vhci_hcd.0-1/input0)" > /out/kbd.bin &
sleep 0.3
say OK capturing
host_says
kill -TERM $helper; wait $helper; say OK "stopped $?"
"""


async def test_kvmswitchd_attach_re_attaches_by_itself_after_the_daemon_restarts(
    guest_image: Image, folder: Path
) -> None:
    assert HELPER.is_file(), f"{HELPER.relative_to(REPO)} is missing (the usbipacl work)"
    state = folder / "state"
    daemon, board = await start(state, {"ports": PORTS, "usbip": {"listen": "127.0.0.1:0"}})
    port = board.backends.usbip.address[1]
    script = SCRIPT.replace("{port}", str(port))
    files = {"kvmswitchd-attach": HELPER.read_bytes()}
    try:
        async with boot(guest_image, script, folder, files=files, net=True) as guest:
            assert await guest.expect("OK", within=120) == "attached"
            await helper_says(guest.out, "attached 1-2", 1)  # it saw the port up
            await daemon.stop()
            guest.send("stopped")
            assert await guest.expect("OK", within=90) == "lost"
            await helper_says(guest.out, "lost 1-2", 1)
            doc = {"ports": PORTS, "usbip": {"listen": f"127.0.0.1:{port}"}}
            daemon, board = await start(state, doc)
            guest.send("started")
            await guest.expect("OK", within=120)  # its keyboard's event node
            await guest.expect("OK")  # capturing
            await helper_says(guest.out, "attached 1-2", 2)
            board.switch("2", None, False, ORIGIN)
            board.type_input("back", None, ORIGIN)
            events = await settled(guest.out / "kbd.bin", 8, within=60)
            assert typed_text(key_changes(events)) == "back"
            guest.send("done")
            assert await guest.expect("OK") == "stopped 0"
            assert await guest.finish() == "0"
        assert len(read_events(guest.out / "kbd.bin")) > 0
    finally:
        await daemon.stop()


async def helper_says(out: Path, words: str, times: int, within: float = 60) -> None:
    """Wait until the helper's log (``/out/attach.log``, a 9p file) has ``words`` on
    ``times`` lines: it checks the port every second, nothing to await across the VM."""
    log = out / "attach.log"
    deadline = time.monotonic() + within
    for _ in range(int(within * 10)):
        text = log.read_text() if log.exists() else ""
        if sum(words in line for line in text.splitlines()) >= times:
            return
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    raise AssertionError(f"kvmswitchd-attach never said {words!r} {times}x:\n{text}")
