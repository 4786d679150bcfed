"""``kvmctl edid ...``: show or set the EDID a port presents (SPEC §6)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from kvmswitchd.ctl.client import Client, CtlError
from kvmswitchd.ctl.show import format_edid

# An EDID file larger than this is not an EDID (4 blocks of 128 bytes at most).
MAX_EDID_FILE = 4096


def add_edid_parser(sub: Any) -> None:
    ed = sub.add_parser("edid", help="the EDID a port presents")
    cmd = ed.add_subparsers(dest="edid_command", required=True)
    get = cmd.add_parser("get", help="show a port's EDID")
    get.add_argument("port")
    get.add_argument("--format", choices=["info", "hex", "binary"], default="info")
    get.add_argument("-o", "--output", help="write the binary EDID to this file")
    put = cmd.add_parser("set", help="set a port's EDID")
    put.add_argument("port")
    what = put.add_mutually_exclusive_group(required=True)
    what.add_argument("--preset", help="1024x768, 1080p60, 1440p60, 4k30, 4k60")
    what.add_argument("--file", help="a binary EDID file (or - for standard input)")
    what.add_argument("--hex", help="an EDID as hex")
    what.add_argument("--default", action="store_true", help="back to the console's EDID")
    idle = cmd.add_parser("idle", help="present a monitor to the port while it is idle")
    idle.add_argument("port")
    idle.add_argument("flag", choices=["on", "off"])


def run_edid(client: Client, args: argparse.Namespace) -> str:
    path = f"/ports/{args.port}/edid"
    result: Any
    if args.edid_command == "get":
        if args.format == "binary" or args.output:
            blob = client.get_bytes(path)
            if args.output:
                Path(args.output).write_bytes(blob)
                return f"wrote {len(blob)} bytes to {args.output}"
            sys.stdout.buffer.write(blob)
            return ""
        result = client.request("GET", f"{path}?format={'hex' if args.format == 'hex' else 'json'}")
        if args.json:
            return json.dumps(result, indent=1)
        return str(result["hex"]) if args.format == "hex" else format_edid(result)
    if args.edid_command == "idle":
        result = client.request("PUT", path, {"idle_monitor": args.flag == "on"})
    elif args.file is not None:
        result = client.put_bytes(path, read_edid_file(args.file))
    elif args.hex is not None:
        result = client.request("PUT", path, {"hex": args.hex})
    elif args.preset is not None:
        result = client.request("PUT", path, {"preset": args.preset})
    else:
        result = client.request("PUT", path, {"default": True})
    return json.dumps(result, indent=1) if args.json else format_edid(result)


def read_edid_file(name: str) -> bytes:
    try:
        if name == "-":
            data = sys.stdin.buffer.read(MAX_EDID_FILE + 1)
        else:
            with Path(name).open("rb") as handle:
                data = handle.read(MAX_EDID_FILE + 1)
    except OSError as exc:
        raise CtlError(f"cannot read {name}: {exc.strerror}") from None
    if len(data) > MAX_EDID_FILE:
        raise CtlError(f"{name} is larger than any EDID ({MAX_EDID_FILE} bytes)")
    return data
