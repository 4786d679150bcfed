"""``kvmctl``: a command-line client of the HTTP API (SPEC §7)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

DEFAULT_URL = "http://127.0.0.1:8080"
TIMEOUT = 10.0


class CtlError(Exception):
    pass


def request(base: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    url = base.rstrip("/") + "/api/v1" + path
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)  # noqa: S310  # http(s) only, checked in main
    req.add_header("Accept", "application/json")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    token = os.environ.get("KVMCTL_TOKEN")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:  # noqa: S310  # same
            return json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        try:
            payload = json.loads(exc.read())
            message = payload.get("message") or payload.get("error") or str(exc)
        except ValueError:
            message = str(exc)
        raise CtlError(f"{exc.code}: {message}") from None
    except urllib.error.URLError as exc:
        raise CtlError(f"cannot reach {base}: {exc.reason}") from None


def format_state(state: dict[str, Any]) -> str:
    focus = state.get("focus", {})
    lines = []
    for port in state.get("ports", []):
        channels = ",".join(port.get("focus", [])) or "-"
        marker = "*" if "km" in port.get("focus", []) else " "
        lines.append(f"{marker} {port['id']:>3}  {port['name']:<24} {channels}")
    lines.append("focus: " + " ".join(f"{k}={v}" for k, v in focus.items()))
    if state.get("scan", {}).get("on"):
        lines.append(f"auto-scan on, dwell {state['scan']['dwell']} s")
    return "\n".join(lines)


def format_log(entries: list[dict[str, Any]]) -> str:
    out = []
    for e in entries:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e["time"]))
        ports = ",".join(e.get("ports", []))
        user = f" user={e['user']}" if e.get("user") else ""
        detail = " ".join(f"{k}={v}" for k, v in e.get("detail", {}).items())
        out.append(f"{stamp} {e['kind']:<10} {e['source']:<7} {ports:<8}{user} {detail}".rstrip())
    return "\n".join(out)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kvmctl", description="Control a kvmswitchd over HTTP.")
    parser.add_argument("--url", default=os.environ.get("KVMCTL_URL", DEFAULT_URL))
    parser.add_argument("--json", action="store_true", help="print the server's JSON")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("status", help="ports and focus")
    sw = sub.add_parser("switch", help="switch to a port")
    sw.add_argument("port")
    sw.add_argument("--channels", help="comma-separated subset of km,video,audio,usb")
    sw.add_argument("--force", action="store_true")
    sub.add_parser("next", help="next port")
    sub.add_parser("prev", help="previous port")
    lg = sub.add_parser("log", help="the event log")
    for flag in ("since", "kind", "port", "source", "limit"):
        lg.add_argument(f"--{flag}")
    rn = sub.add_parser("rename", help="rename a port")
    rn.add_argument("port")
    rn.add_argument("name")
    return parser


def run(args: argparse.Namespace) -> str:
    base = args.url
    if not base.startswith(("http://", "https://")):
        raise CtlError(f"--url must start with http:// or https://, got {base!r}")
    result: Any
    if args.command == "status":
        result = request(base, "GET", "/state")
        return json.dumps(result, indent=1) if args.json else format_state(result)
    if args.command == "switch":
        body: dict[str, Any] = {"port": args.port, "force": args.force}
        if args.channels:
            body["channels"] = [c.strip() for c in args.channels.split(",") if c.strip()]
        result = request(base, "POST", "/switch", body)
    elif args.command in ("next", "prev"):
        result = request(base, "POST", f"/switch/{args.command}")
    elif args.command == "rename":
        result = request(
            base, "PATCH", f"/ports/{urllib.parse.quote(args.port)}", {"name": args.name}
        )
        return (
            json.dumps(result, indent=1) if args.json else f"port {result['id']}: {result['name']}"
        )
    else:
        query = {k: getattr(args, k) for k in ("since", "kind", "port", "source", "limit")}
        qs = urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        result = request(base, "GET", "/log" + (f"?{qs}" if qs else ""))
        return json.dumps(result, indent=1) if args.json else format_log(result["entries"])
    if args.json:
        return json.dumps(result, indent=1)
    return format_state(result["state"])


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        print(run(args))
    except CtlError as exc:
        print(f"kvmctl: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
