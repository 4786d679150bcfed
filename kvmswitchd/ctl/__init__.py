"""``kvmctl``: a command-line client of the HTTP API (SPEC §7).

The bearer token comes from ``--token-file``/``$KVMCTL_TOKEN_FILE`` or ``$KVMCTL_TOKEN``;
human output by default, ``--json`` for scripts; a non-zero exit with the server's
message on errors.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.parse
from typing import Any

from kvmswitchd.core.commands import PowerAction
from kvmswitchd.ctl.client import DEFAULT_URL, Client, CtlError, find_token
from kvmswitchd.ctl.edid import add_edid_parser, run_edid
from kvmswitchd.ctl.follow import run_follow
from kvmswitchd.ctl.show import (
    format_entry,
    format_log,
    format_state,
    format_tokens,
    parse_size,
)
from kvmswitchd.ctl.storage import (
    add_storage_parser,
    add_wait_flag,
    run_storage,
    wait_for_handover,
)

__all__ = ["CtlError", "build_parser", "main", "parse_size", "run"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kvmctl", description="Control a kvmswitchd over HTTP.")
    parser.add_argument("--url", default=os.environ.get("KVMCTL_URL", DEFAULT_URL))
    parser.add_argument("--json", action="store_true", help="print the server's JSON")
    parser.add_argument(
        "--token-file", help="file holding a bearer token (or set KVMCTL_TOKEN / KVMCTL_TOKEN_FILE)"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("status", help="ports and focus")
    sw = sub.add_parser("switch", help="switch to a port")
    sw.add_argument("port")
    sw.add_argument("--channels", help="comma-separated subset of km,video,audio,usb")
    sw.add_argument("--force", action="store_true")
    add_wait_flag(sw)
    sub.add_parser("next", help="next port")
    sub.add_parser("prev", help="previous port")
    lg = sub.add_parser("log", help="the event log")
    for flag in ("since", "kind", "port", "source", "limit", "user"):
        lg.add_argument(f"--{flag}")
    lg.add_argument("-f", "--follow", action="store_true", help="then print new entries live")
    scan = sub.add_parser("scan", help="auto-scan (video focus only)")
    scan.add_argument("state", choices=["on", "off"])
    scan.add_argument("--dwell", type=float, help="seconds per port")
    rn = sub.add_parser("rename", help="rename a port")
    rn.add_argument("port")
    rn.add_argument("name")
    sub.add_parser("tokens", help="your bearer tokens and when they expire")
    pw = sub.add_parser("power", help="power a port's machine (a qemu VM)")
    pw.add_argument("port")
    pw.add_argument("action", choices=[a.value for a in PowerAction])
    add_storage_parser(sub)
    add_edid_parser(sub)
    return parser


def run(args: argparse.Namespace) -> str:
    client = Client(args.url, find_token(args.token_file))
    result: Any
    if args.command == "storage":
        return run_storage(client, args)
    if args.command == "edid":
        return run_edid(client, args)
    if args.command == "tokens":
        result = client.request("GET", "/auth/tokens")
        return json.dumps(result, indent=1) if args.json else format_tokens(result["tokens"])
    if args.command == "status":
        result = client.request("GET", "/state")
        return json.dumps(result, indent=1) if args.json else format_state(result)
    if args.command == "switch":
        body: dict[str, Any] = {"port": args.port, "force": args.force}
        if args.channels:
            body["channels"] = [c.strip() for c in args.channels.split(",") if c.strip()]
        result = client.request("POST", "/switch", body)
        storage = result.get("state", {}).get("storage")
        if args.wait is not None and storage and storage.get("pending") is not None:
            wait_for_handover(client, storage, args.wait)
            result["state"] = client.request("GET", "/state")
    elif args.command in ("next", "prev"):
        result = client.request("POST", f"/switch/{args.command}")
    elif args.command == "scan":
        scan: dict[str, Any] = {"on": args.state == "on"}
        if args.dwell is not None:
            scan["dwell"] = args.dwell
        result = client.request("POST", "/scan", scan)
    elif args.command == "power":
        path = f"/ports/{urllib.parse.quote(args.port)}/power"
        result = client.request("POST", path, {"action": args.action})
        if not args.json:
            return f"{result['message']}\n{format_state(result['state'])}"
    elif args.command == "rename":
        result = client.request(
            "PATCH", f"/ports/{urllib.parse.quote(args.port)}", {"name": args.name}
        )
        return (
            json.dumps(result, indent=1) if args.json else f"port {result['id']}: {result['name']}"
        )
    else:
        query = {k: getattr(args, k) for k in ("since", "kind", "port", "source", "limit", "user")}
        qs = urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        result = client.request("GET", "/log" + (f"?{qs}" if qs else ""))
        shown = json.dumps(result, indent=1) if args.json else format_log(result["entries"])
        if not args.follow:
            return shown
        if shown:
            print(shown, flush=True)

        def emit(entry: dict[str, Any]) -> None:
            print(json.dumps(entry) if args.json else format_entry(entry), flush=True)

        run_follow(client, query, emit)
        return ""
    if args.json:
        return json.dumps(result, indent=1)
    return format_state(result["state"])


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        output = run(args)
        if output:
            print(output)
    except CtlError as exc:
        print(f"kvmctl: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
