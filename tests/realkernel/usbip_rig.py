"""A daemon on the host with USB/IP ports, and the guest script that imports them with
the Debian ``usbip`` client and records what its input devices deliver.

The daemon listens on a free 127.0.0.1 port; QEMU's user-mode network lets the guest
reach it as 10.0.2.2 (nothing leaves the machine). After each ``usbip attach`` the script
starts ``cat`` on the port's keyboard and mouse event devices, writing
``/out/kbdN.bin`` and ``/out/mouseN.bin`` (N = daemon port), then says ``READY``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from kvmswitchd.daemon import Daemon
from kvmswitchd.switchboard import Switchboard
from tests.daemon.conftest import start


@dataclass
class HostDaemon:
    daemon: Daemon
    board: Switchboard
    http: aiohttp.ClientSession
    usbip_port: int

    async def post(self, path: str, body: Any = None) -> Any:
        async with self.http.post(self.daemon.http_url + "/api/v1" + path, json=body) as r:
            assert r.status == 200, f"{path}: {r.status} {await r.text()}"
            return await r.json()

    async def get(self, path: str) -> Any:
        async with self.http.get(self.daemon.http_url + "/api/v1" + path) as r:
            assert r.status == 200, f"{path}: {r.status} {await r.text()}"
            return await r.json()

    async def leds(self, port: str) -> dict[str, bool]:
        return dict((await self.get(f"/ports/{port}"))["leds"])


@contextlib.asynccontextmanager
async def host_daemon(state: Path, doc: dict[str, Any]) -> AsyncIterator[HostDaemon]:
    daemon, board = await start(state, {**doc, "usbip": {"listen": "127.0.0.1:0"}})
    try:
        async with aiohttp.ClientSession() as http:
            yield HostDaemon(daemon, board, http, board.backends.usbip.address[1])
    finally:
        await daemon.stop()


def attach_script(tcp_port: int, ports: list[int]) -> str:
    """Import ``ports`` (busid 1-N) in order; vhci gives the k-th import hub port k."""
    lines = [
        "net_up",
        "mods vhci-hcd usbhid hid-generic evdev usb-storage sd_mod",
        "mods ext4 vfat crc32c_generic nls_ascii nls_cp437",
        'has_event() { [ -n "$(event_of "$1")" ]; }',
    ]
    for k, port in enumerate(ports, start=1):
        lines += [
            f"usbip --tcp-port {tcp_port} attach -r 10.0.2.2 -b 1-{port} || fail 'attach 1-{port}'",
            f"wait_for 30 has_event vhci_hcd.0-{k}/input1 || fail 'no input devices for 1-{port}'",
            f'cat "$(event_of vhci_hcd.0-{k}/input0)" > /out/kbd{port}.bin &',
            f'cat "$(event_of vhci_hcd.0-{k}/input1)" > /out/mouse{port}.bin &',
            f'echo "$(event_of vhci_hcd.0-{k}/input0)" > /out/kbd{port}.dev',
        ]
    lines += ["cat /proc/bus/input/devices", "sleep 0.3", "say READY"]
    return "\n".join(lines) + "\n"


# Guest commands the HID test sends (answered by ``command_loop``).
COMMAND_LOOP = r"""
while true; do
  cmd=$(host_says)
  case "$cmd" in
    quit) break ;;
    led-caps-off)  # an EV_LED write on the keyboard's evdev node: the kernel sends SET_REPORT
      printf '\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\021\0\001\0\0\0\0\0' > "$(cat /out/kbd2.dev)"
      say DONE led ;;
    caps-led)
      say CAPS "$(cat /sys/class/leds/input*::capslock/brightness | tr '\n' ' ')" ;;
    *) say DONE "unknown $cmd" ;;
  esac
done
"""
