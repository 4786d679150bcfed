"""Run INSIDE the guest (the host's Python over 9p, in a chroot): the daemon builds its own
USB gadget on ``dummy_hcd`` and drives it, while the same guest's usbhid and usb-storage
play the target computer.

The guest shell has loaded the modules and nothing else (no gadget in configfs).
``python -m tests.realkernel.inguest_gadget`` then checks, each printed as
``@@ CHECK name ok|detail``: ``kvmswitchd gadget setup --config F`` builds a port whose
keyboard and mouse the guest's usbhid enumerates; a second setup changes nothing; the
daemon's keys, chords, mouse, LEDs, a 2,000-character paste and a 2,000-event burst reach
the guest's evdev complete and in order; an image attached to the port appears as a disk
with the image's bytes; teardown leaves ``/sys/kernel/config/usb_gadget`` empty.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

import aiohttp
from evdev import InputDevice

from kvmswitchd.daemon import Daemon
from tests.daemon.conftest import make_config
from tests.realkernel.evdev_records import (
    QUIET,
    RECORD,
    SHIFTED,
    TYPABLE,
    Event,
    key_changes,
    typed_text,
)

GADGETS = Path("/sys/kernel/config/usb_gadget")
CONFIG = """\
[switch]
ports = 3
[http]
listen = "127.0.0.1:0"
auth = false
[ports.2]
target = "gadget"
[ports.3]
target = "gadget"
mouse = "absolute"
"""
SYN = {"type": "EV_SYN", "code": "SYN_REPORT", "value": 0}
IMAGE_SIZE = 4 << 20
MAGIC = b"kvmswitchd real-kernel gadget LUN\n"


def say(tag: str, text: str) -> None:
    print(f"@@ {tag} {text}", flush=True)


def check(name: str, ok: bool, detail: object = "") -> None:
    say("CHECK", f"{name} {'ok' if ok else json.dumps(detail, default=str)[:2000]}")


def kvmswitchd(*args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "kvmswitchd", *args]
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120)


def input_devices() -> dict[str, str]:
    """Phys → /dev/input/eventN of every input device the guest's kernel has."""
    found: dict[str, str] = {}
    phys = ""
    for line in Path("/proc/bus/input/devices").read_text().splitlines():
        if line.startswith("P: Phys="):
            phys = line.removeprefix("P: Phys=")
        elif line.startswith("H: Handlers="):
            events = [w for w in line.split("=", 1)[1].split() if w.startswith("event")]
            if events:
                found[phys] = "/dev/input/" + events[0]
    return found


async def until(test: Callable[[], bool], what: str, within: float = 30.0) -> None:
    """Poll: the reports cross the gadget, dummy_hcd and usbhid, nothing to await here."""
    deadline = time.monotonic() + within
    while not test():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


class Recorder:
    """Every event the guest's usbhid delivers on one input device, in order.

    A ``cat`` process of its own copies the device to a file, as the USB/IP tests do: an
    evdev client buffer holds ~21 keyboard reports, and a reader sharing the daemon's
    event loop on the guest's one vCPU fell behind (SYN_DROPPED) during a paste. The
    device is also opened here, to set its LEDs as the target would."""

    def __init__(self, path: str) -> None:
        self.device = InputDevice(path)
        self.file = Path(tempfile.mkdtemp()) / "events"
        self._events: list[Event] = []
        self._read, self._partial = 0, b""
        with self.file.open("wb") as out:
            self.reader = subprocess.Popen(["nice", "-n", "-10", "cat", path], stdout=out)

    @property
    def events(self) -> list[Event]:
        """What arrived so far; only the bytes added since the last look are decoded (a
        paste is ~18,000 events, looked at 4 times a second on the guest's one slow vCPU)."""
        with self.file.open("rb") as f:
            f.seek(self._read)
            data = self._partial + f.read()
        whole = len(data) - len(data) % RECORD.size
        self._read += len(data) - len(self._partial)
        self._partial = data[whole:]
        self._events += [Event(t, c, v) for _, _, t, c, v in RECORD.iter_unpack(data[:whole])]
        return self._events

    def keys(self) -> list[tuple[str, int]]:
        return key_changes(self.events)

    async def settle(self, count: int, within: float = 90.0) -> list[tuple[str, int]]:
        """The key changes once ``count`` arrived, or once nothing came for ``QUIET`` s."""
        deadline, seen, quiet = time.monotonic() + within, -1, time.monotonic()
        while time.monotonic() < deadline and len(self.keys()) < count:
            if len(self._events) != seen:
                seen, quiet = len(self._events), time.monotonic()
            elif time.monotonic() - quiet > QUIET:
                break
            await asyncio.sleep(0.25)  # each look decodes and scans: leave the vCPU be
        return self.keys()

    def close(self) -> None:
        self.reader.terminate()
        self.reader.wait()
        self.device.close()


@contextlib.asynccontextmanager
async def daemon_on(config_file: Path) -> AsyncIterator[tuple[Daemon, aiohttp.ClientSession]]:
    import tomllib

    doc = tomllib.loads(config_file.read_text())
    daemon = Daemon(make_config(doc), Path(tempfile.mkdtemp()) / "state")
    await daemon.start()
    try:
        async with aiohttp.ClientSession() as http:
            yield daemon, http
    finally:
        await daemon.stop()


async def api(
    http: aiohttp.ClientSession, daemon: Daemon, method: str, path: str, **kw: Any
) -> Any:
    async with http.request(method, daemon.http_url + "/api/v1" + path, **kw) as r:
        assert r.status in (200, 201), f"{method} {path}: {r.status} {await r.text()}"
        return await r.json()


async def guarded(name: str, body: Coroutine[Any, Any, None]) -> None:
    try:
        await body
    except Exception as exc:
        check(name, False, f"{type(exc).__name__}: {exc}")


async def hid_checks(
    daemon: Daemon, http: aiohttp.ClientSession, kbd: Recorder, mouse: Recorder
) -> None:
    async def post(path: str, body: object) -> Any:
        return await api(http, daemon, "POST", path, json=body)

    def ev(type_: str, code: str, value: int) -> dict[str, Any]:
        return {"type": type_, "code": code, "value": value}

    def keys(changes: list[tuple[str, int]]) -> list[dict[str, Any]]:
        return [x for code, value in changes for x in (ev("EV_KEY", code, value), SYN)]

    await post("/switch", {"port": "2"})

    async def losses() -> str:
        """Where lost events went: the guest reader's evdev overruns, or the port's queue."""
        dropped = sum(1 for e in kbd.events if (e.type, e.code) == (0, 3))  # SYN_DROPPED
        pacing = (await api(http, daemon, "GET", "/ports/2/target")).get("keyboard", {})
        return f"SYN_DROPPED seen {dropped}x; keyboard {pacing}"

    async def typing() -> None:
        text = "Hello, gadget! 1+1=2"
        await post("/input", {"text": text})
        got = await kbd.settle(sum(4 if c in SHIFTED else 2 for c in text))
        check("typed", typed_text(got) == text, typed_text(got))

    async def chord() -> None:
        before = len(kbd.keys())
        chord = [("KEY_LEFTCTRL", 1), ("KEY_LEFTALT", 1), ("KEY_T", 1), ("KEY_T", 0)]
        chord += [("KEY_LEFTALT", 0), ("KEY_LEFTCTRL", 0)]
        await post("/input", {"events": keys(chord)})
        got = (await kbd.settle(before + len(chord)))[before:]
        check("chord", got == chord, got)

    async def pointer() -> None:
        moves = [ev("EV_REL", "REL_X", 40), SYN, ev("EV_REL", "REL_Y", -300), SYN]
        moves += [ev("EV_KEY", "BTN_LEFT", 1), SYN, ev("EV_KEY", "BTN_LEFT", 0), SYN]
        await post("/input", {"events": moves})
        got = await mouse.settle(2)
        dx = sum(e.value for e in mouse.events if e.type == 2 and e.code == 0)
        dy = sum(e.value for e in mouse.events if e.type == 2 and e.code == 1)
        ok = got == [("BTN_LEFT", 1), ("BTN_LEFT", 0)] and (dx, dy) == (40, -300)
        check("mouse", ok, {"buttons": got, "dx": dx, "dy": dy})

    async def leds() -> None:
        await post("/input", {"events": keys([("KEY_CAPSLOCK", 1), ("KEY_CAPSLOCK", 0)])})

        async def caps_become(want: bool) -> bool:
            for _ in range(400):  # 20 s: the LED report crosses dummy_hcd and the gadget
                port = await api(http, daemon, "GET", "/ports/2")
                if bool(port["leds"]["caps"]) is want:
                    return True
                await asyncio.sleep(0.05)
            return False

        on = await caps_become(True)
        kbd.device.set_led(1, 0)  # the target turns it off (EV_LED → SET_REPORT/OUT report)
        off = await caps_become(False)
        check("leds", on and off, {"on": on, "off": off})

    async def paste() -> None:
        before = len(kbd.keys())
        rng = random.Random(13)
        text = "".join(rng.choice(TYPABLE) for _ in range(2000))
        await post("/input", {"text": text})
        count = before + sum(4 if c in SHIFTED else 2 for c in text)
        got = (await kbd.settle(count, within=150))[before:]
        why = f"{len(got)} of {count - before} key changes; {await losses()}"
        check("paste", typed_text(got) == text, why)

    async def burst() -> None:
        before = len(kbd.keys())
        rng = random.Random(7)
        taps = [f"KEY_{rng.choice('ABCDEFGHIJKLMNOPQRSTUVWXYZ')}" for _ in range(1000)]
        changes = [(k, v) for k in taps for v in (1, 0)]
        await post("/input", {"events": keys(changes)})
        got = (await kbd.settle(before + len(changes), within=150))[before:]
        check("burst", got == changes, f"{len(got)} of {len(changes)} key events; {await losses()}")

    for name, body in (
        ("typed", typing()),
        ("chord", chord()),
        ("mouse", pointer()),
        ("leds", leds()),
        ("paste", paste()),
        ("burst", burst()),
    ):
        await guarded(name, body)


async def storage_check(daemon: Daemon, http: aiohttp.ClientSession) -> None:
    image = MAGIC + bytes(IMAGE_SIZE - len(MAGIC))
    await api(http, daemon, "PUT", "/storage/images/lun.img", data=image)
    before = set(os.listdir("/sys/block"))
    await api(http, daemon, "POST", "/storage/attach", json={"image": "lun.img", "mode": "rw"})
    disks = [d for d in os.listdir("/sys/block") if d.startswith("sd")]

    def first_bytes() -> bytes:
        for disk in disks:
            with contextlib.suppress(OSError), open(f"/dev/{disk}", "rb") as f:
                return f.read(len(MAGIC))  # opening makes the kernel look for the medium
        return b""

    await until(lambda: first_bytes() == MAGIC, "the image's bytes on /dev/sdX", within=30)
    check("storage", first_bytes() == MAGIC, {"disks": disks, "before": sorted(before)})


async def absolute_check(daemon: Daemon, http: aiohttp.ClientSession, tablet: Recorder) -> None:
    """Port 3's absolute pointer: the position lands as sent, then a click there."""
    await api(http, daemon, "POST", "/switch", json={"port": "3"})
    events = [
        {"type": "EV_ABS", "code": "ABS_X", "value": 12000},
        {"type": "EV_ABS", "code": "ABS_Y", "value": 30000},
        SYN,
        {"type": "EV_KEY", "code": "BTN_LEFT", "value": 1},
        SYN,
        {"type": "EV_KEY", "code": "BTN_LEFT", "value": 0},
        SYN,
    ]
    await api(http, daemon, "POST", "/input", json={"events": events})
    clicks = await tablet.settle(2)
    xs = [e.value for e in tablet.events if e.type == 3 and e.code == 0]
    ys = [e.value for e in tablet.events if e.type == 3 and e.code == 1]
    ok = clicks == [("BTN_LEFT", 1), ("BTN_LEFT", 0)] and xs[-1:] == [12000] and ys[-1:] == [30000]
    check("absolute", ok, {"clicks": clicks, "x": xs, "y": ys})


async def main(config_file: Path) -> int:
    config_file.write_text(CONFIG)
    setup = kvmswitchd("gadget", "setup", "--config", str(config_file), "--json")
    check("setup", setup.returncode == 0, setup.stdout + setup.stderr)
    if setup.returncode != 0:
        return 1

    # port → the guest-side Phys prefix of its gadget: UDC dummy_udc.N is dummy_hcd.N's
    hubs = {
        str(p["port"]): "usb-" + str(p["udc"]).replace("dummy_udc", "dummy_hcd") + "-1/"
        for p in json.loads(setup.stdout)["ports"]
    }

    def node(port: str, interface: int) -> str | None:
        want = f"{hubs[port]}input{interface}"
        return next((e for p, e in input_devices().items() if p == want), None)

    def enumerated() -> bool:
        return all(node(p, i) is not None for p in hubs for i in (0, 1))

    await until(enumerated, "usbhid sees both gadgets' keyboards and mice")
    devices = {p: e for p, e in input_devices().items() if "dummy_hcd" in p}
    gadgets = sorted(os.listdir(GADGETS))
    again = kvmswitchd("gadget", "setup", "--config", str(config_file), "--json")
    unchanged = again.returncode == 0 and sorted(os.listdir(GADGETS)) == gadgets
    still = {p: e for p, e in input_devices().items() if "dummy_hcd" in p}
    check("setup_again", unchanged and still == devices, again.stdout + again.stderr)
    keyboard, pointer, tablet = node("2", 0), node("2", 1), node("3", 1)
    assert keyboard is not None and pointer is not None and tablet is not None

    async with daemon_on(config_file) as (daemon, http):
        kbd, mouse, absolute = Recorder(keyboard), Recorder(pointer), Recorder(tablet)
        try:
            await hid_checks(daemon, http, kbd, mouse)
            await guarded("storage", storage_check(daemon, http))
            await guarded("absolute", absolute_check(daemon, http, absolute))
        finally:
            for recorder in (kbd, mouse, absolute):
                recorder.close()
    down = kvmswitchd("gadget", "teardown", "--config", str(config_file))
    left = os.listdir(GADGETS)
    check("teardown", down.returncode == 0 and left == [], {"left": left, "out": down.stderr})
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(Path(tempfile.mkdtemp()) / "kvmswitchd.toml")))
