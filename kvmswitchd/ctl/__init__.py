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
# An upload's reply waits for the server to fsync the whole image.
UPLOAD_TIMEOUT = 600.0


class CtlError(Exception):
    pass


def request(base: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = _new_request(base, method, path, data)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    return _send(base, req, TIMEOUT)


def upload(base: str, name: str, path: str) -> Any:
    """PUT the file at ``path`` as image ``name``, streamed (never read whole)."""
    try:
        f = open(path, "rb")  # noqa: SIM115  # closed below, after the request
        size = os.fstat(f.fileno()).st_size
    except OSError as exc:
        raise CtlError(f"cannot read {path}: {exc.strerror}") from None
    with f:  # a file object: urllib streams it in blocks
        quoted = urllib.parse.quote(name, safe="")
        req = _new_request(base, "PUT", f"/storage/images/{quoted}", f)
        req.add_header("Content-Type", "application/octet-stream")
        req.add_header("Content-Length", str(size))
        return _send(base, req, UPLOAD_TIMEOUT)


def _new_request(base: str, method: str, path: str, data: Any) -> urllib.request.Request:
    url = base.rstrip("/") + "/api/v1" + path
    req = urllib.request.Request(url, data=data, method=method)  # noqa: S310  # http(s) only, checked in run
    req.add_header("Accept", "application/json")
    token = os.environ.get("KVMCTL_TOKEN")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    return req


def _send(base: str, req: urllib.request.Request, timeout: float) -> Any:
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310  # same
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


_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_size(text: str) -> int:
    """``"1048576"``, ``"64M"``, ``"1.5G"``, ``"512K"`` (binary units) → bytes."""
    raw = text.strip().upper().removesuffix("IB").removesuffix("B")
    unit = raw[-1:] if raw[-1:] in _UNITS else ""
    number = raw[: len(raw) - len(unit)]
    try:
        value = float(number) * _UNITS[unit] if unit else int(number)
        whole = int(value)
    except (ValueError, OverflowError):  # "big", "nanK", "infM"
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (bytes, or 64M, 2G)") from None
    if value != whole:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of bytes")
    return whole


def human_size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    shown = float(size)
    for unit in ("KiB", "MiB", "GiB"):
        shown /= 1024
        if shown < 1024:
            return f"{shown:.1f} {unit}"
    return f"{shown / 1024:.1f} TiB"


def format_images(images: list[dict[str, Any]]) -> str:
    if not images:
        return "no images"
    lines = []
    for image in images:
        sha = (image.get("sha256") or "-")[:12]
        flags = "ro" if image.get("read_only") else "rw"
        att = image.get("attached")
        where = f"  attached to port {att['port']} ({att['mode']})" if att else ""
        size = human_size(image["size"])
        lines.append(f"{image['name']:<32} {size:>10}  {flags}  sha256:{sha}{where}")
    return "\n".join(lines)


def format_storage(view: dict[str, Any]) -> str:
    if view.get("image") is None:
        lines = ["no image attached"]
    else:
        follows = "pinned" if view.get("pinned") else "follows usb focus"
        lines = [f"{view['image']} ({view['mode']}) on port {view['port']}, {follows}"]
        if view.get("held_by"):
            why = view.get("held_reason") or "busy"
            lines.append(
                f"held by port {view['held_by']} ({why}); "
                f"moves to port {view.get('pending')} when the host is quiet or ejects it"
            )
        if view.get("ejected"):
            lines.append("the host ejected the medium")
        elif view.get("locked"):
            lines.append("the host has the medium locked")
    if "images" in view:
        lines += ["", format_images(view["images"])]
    return "\n".join(lines)


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


def run_storage(base: str, args: argparse.Namespace) -> str:
    command = args.storage_command
    name = urllib.parse.quote(getattr(args, "name", "") or "", safe="")
    result: Any
    if command == "status":
        result = request(base, "GET", "/storage")
    elif command == "list":
        result = request(base, "GET", "/storage/images")
        return json.dumps(result, indent=1) if args.json else format_images(result["images"])
    elif command == "create":
        result = request(base, "POST", "/storage/images", {"name": args.name, "size": args.size})
    elif command == "upload":
        result = upload(base, args.name, args.file)
    elif command == "delete":
        result = request(base, "DELETE", f"/storage/images/{name}")
    elif command == "readonly":
        result = request(base, "PATCH", f"/storage/images/{name}", {"read_only": args.flag == "on"})
    elif command == "attach":
        body: dict[str, Any] = {"image": args.image, "mode": "ro" if args.ro else "rw"}
        if args.pin is not None:
            body["pin"] = args.pin
        result = request(base, "POST", "/storage/attach", body)
    elif command == "eject":
        result = request(base, "POST", "/storage/eject", {"force": args.force})
    else:
        port = None if args.port.lower() == "none" else args.port
        result = request(base, "POST", "/storage/pin", {"port": port, "force": args.force})
    if args.json:
        return json.dumps(result, indent=1)
    if command in ("create", "upload", "readonly"):
        return format_images([result])
    if command == "delete":
        return f"deleted {result['deleted']}"
    return format_storage(result)


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
    add_storage_parser(sub)
    return parser


def run(args: argparse.Namespace) -> str:
    base = args.url
    if not base.startswith(("http://", "https://")):
        raise CtlError(f"--url must start with http:// or https://, got {base!r}")
    result: Any
    if args.command == "storage":
        return run_storage(base, args)
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
