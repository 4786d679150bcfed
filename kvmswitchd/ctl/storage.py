"""``kvmctl storage ...``: images, attach, eject, pin (SPEC §3.4)."""

from __future__ import annotations

import argparse
import json
import os
import time
import urllib.parse
from collections.abc import Callable
from typing import Any, Protocol

from kvmswitchd.ctl.client import Client, CtlError
from kvmswitchd.ctl.progress import Progress
from kvmswitchd.ctl.show import format_images, format_storage, parse_size

# Seconds between looks at a storage hand-over that is waiting for a busy host.
POLL = 0.25
# A blank image is made in a moment; only a slow one (a loaded disk) shows a bar.
CREATE_BAR_DELAY = 0.3


def add_wait_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--wait",
        nargs="?",
        type=float,
        const=60.0,
        metavar="SECONDS",
        help="if the USB storage's host is busy, wait (default 60 s) until it has moved",
    )


class Requester(Protocol):
    """What a hand-over wait needs of the client (``Client.request``)."""

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any: ...


def wait_for_handover(
    client: Requester,
    storage: dict[str, Any],
    timeout: float,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Poll GET /storage until a held move (``pending``) completes; the storage view then.
    CtlError when it is still held after ``timeout`` seconds."""
    if storage.get("pending") is None:
        return storage
    quiet = float(storage.get("quiet_period") or 0)
    label = f"usb to port {storage['pending']}: port {storage.get('held_by')} is busy"
    start = clock()
    with Progress(label, total=quiet or None, unit="s") as bar:
        while storage.get("pending") is not None:
            elapsed = clock() - start
            if elapsed >= timeout:
                raise CtlError(
                    f"the storage is still held by port {storage.get('held_by')} "
                    f"({storage.get('held_reason') or 'busy'}) after {timeout:g} s; "
                    "use --force to move it now"
                )
            # the quiet period restarts with the host's I/O: the bar never claims done early
            bar.update(min(elapsed, quiet * 0.99) if quiet else elapsed)
            sleep(POLL)
            storage = client.request("GET", "/storage")
    return storage


def add_storage_parser(sub: Any) -> None:
    st = sub.add_parser("storage", help="USB storage images, attach, eject, pin")
    cmd = st.add_subparsers(dest="storage_command", required=True)
    cmd.add_parser("status", help="where the storage is, who holds it and why")
    cmd.add_parser("list", help="the images")
    create = cmd.add_parser("create", help="create a blank image")
    create.add_argument("name")
    create.add_argument("size", type=parse_size, help="bytes, or 64M, 2G (a multiple of 512)")
    up = cmd.add_parser("upload", help="upload a file as an image (streamed)")
    up.add_argument("name")
    up.add_argument("file")
    delete = cmd.add_parser("delete", help="delete an image")
    delete.add_argument("name")
    ro = cmd.add_parser("readonly", help="set or clear an image's read-only flag")
    ro.add_argument("name")
    ro.add_argument("flag", choices=["on", "off"])
    attach = cmd.add_parser("attach", help="attach an image (follows usb focus unless pinned)")
    attach.add_argument("image")
    attach.add_argument("--ro", action="store_true", help="read-only for the host")
    attach.add_argument("--pin", metavar="PORT", help="pin to this port")
    eject = cmd.add_parser("eject", help="eject the attached image")
    eject.add_argument("--force", action="store_true", help="even if the host is using it")
    pin = cmd.add_parser("pin", help="pin to a port, or 'none' to follow usb focus")
    pin.add_argument("port")
    pin.add_argument("--force", action="store_true", help="move even if the host is busy")
    add_wait_flag(pin)


def run_storage(client: Client, args: argparse.Namespace) -> str:
    command = args.storage_command
    name = urllib.parse.quote(getattr(args, "name", "") or "", safe="")
    result: Any
    if command == "status":
        result = client.request("GET", "/storage")
    elif command == "list":
        result = client.request("GET", "/storage/images")
        return json.dumps(result, indent=1) if args.json else format_images(result["images"])
    elif command == "create":
        body = {"name": args.name, "size": args.size}
        label = f"creating {args.name}"
        with Progress(label, delay=CREATE_BAR_DELAY) as bar, bar.ticking():
            result = client.request("POST", "/storage/images", body)
    elif command == "upload":
        result = _upload(client, args.name, args.file)
    elif command == "delete":
        result = client.request("DELETE", f"/storage/images/{name}")
    elif command == "readonly":
        result = client.request(
            "PATCH", f"/storage/images/{name}", {"read_only": args.flag == "on"}
        )
    elif command == "attach":
        attach: dict[str, Any] = {"image": args.image, "mode": "ro" if args.ro else "rw"}
        if args.pin is not None:
            attach["pin"] = args.pin
        result = client.request("POST", "/storage/attach", attach)
    elif command == "eject":
        result = client.request("POST", "/storage/eject", {"force": args.force})
    else:
        port = None if args.port.lower() == "none" else args.port
        result = client.request("POST", "/storage/pin", {"port": port, "force": args.force})
        if args.wait is not None:
            result = wait_for_handover(client, result, args.wait)
    if args.json:
        return json.dumps(result, indent=1)
    if command in ("create", "upload", "readonly"):
        return format_images([result])
    if command == "delete":
        return f"deleted {result['deleted']}"
    return format_storage(result)


def _upload(client: Client, name: str, path: str) -> Any:
    """Upload with a bar of the bytes sent, then of the server writing the image out."""
    with Progress(f"upload {os.path.basename(path)} as {name}") as bar:

        def sent(done: int, size: int) -> None:
            bar.total = size
            if done >= size and bar.label.startswith("upload"):
                bar.update(done, label=f"{name}: sent, the server is writing it")
            else:
                bar.update(done)

        with bar.ticking():  # keeps drawing while the server writes (no figures then)
            return client.upload(name, path, on_sent=sent)
