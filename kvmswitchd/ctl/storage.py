"""``kvmctl storage ...``: images, attach, eject, pin (SPEC §3.4)."""

from __future__ import annotations

import argparse
import json
import urllib.parse
from typing import Any

from kvmswitchd.ctl.client import Client
from kvmswitchd.ctl.show import format_images, format_storage, parse_size


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
        result = client.request("POST", "/storage/images", {"name": args.name, "size": args.size})
    elif command == "upload":
        result = client.upload(args.name, args.file)
    elif command == "delete":
        result = client.request("DELETE", f"/storage/images/{name}")
    elif command == "readonly":
        result = client.request(
            "PATCH", f"/storage/images/{name}", {"read_only": args.flag == "on"}
        )
    elif command == "attach":
        body: dict[str, Any] = {"image": args.image, "mode": "ro" if args.ro else "rw"}
        if args.pin is not None:
            body["pin"] = args.pin
        result = client.request("POST", "/storage/attach", body)
    elif command == "eject":
        result = client.request("POST", "/storage/eject", {"force": args.force})
    else:
        port = None if args.port.lower() == "none" else args.port
        result = client.request("POST", "/storage/pin", {"port": port, "force": args.force})
    if args.json:
        return json.dumps(result, indent=1)
    if command in ("create", "upload", "readonly"):
        return format_images([result])
    if command == "delete":
        return f"deleted {result['deleted']}"
    return format_storage(result)
