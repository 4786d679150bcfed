"""How kvmctl shows the server's answers to a person (``--json`` prints them as they are)."""

from __future__ import annotations

import argparse
import time
from typing import Any


def format_state(state: dict[str, Any]) -> str:
    focus = state.get("focus", {})
    lines = []
    for port in state.get("ports", []):
        channels = ",".join(port.get("focus", [])) or "-"
        marker = "*" if "km" in port.get("focus", []) else " "
        line = f"{marker} {port['id']:>3}  {port['name']:<24} {channels}"
        if "power" in port:  # a VM: its run state
            line += f"  [{port['power'].get('status', '?')}]"
        lines.append(line)
    lines.append("focus: " + " ".join(f"{k}={v}" for k, v in focus.items()))
    if state.get("scan", {}).get("on"):
        lines.append(f"auto-scan on, dwell {state['scan']['dwell']} s")
    return "\n".join(lines)


def format_entry(e: dict[str, Any]) -> str:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e["time"]))
    ports = ",".join(e.get("ports", []))
    user = f" user={e['user']}" if e.get("user") else ""
    detail = " ".join(f"{k}={v}" for k, v in e.get("detail", {}).items())
    return f"{stamp} {e['kind']:<10} {e['source']:<7} {ports:<8}{user} {detail}".rstrip()


def format_log(entries: list[dict[str, Any]]) -> str:
    return "\n".join(format_entry(e) for e in entries)


def _stamp(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))


def format_tokens(tokens: list[dict[str, Any]]) -> str:
    """One line per bearer token: id, name, created, and expiry (never the secret)."""
    if not tokens:
        return "no tokens"
    lines = []
    for token in tokens:
        expires = token.get("expires")
        until = f"expires {_stamp(expires)}" if expires is not None else "never expires"
        lines.append(
            f"{token['id']:<12}  {token['name']:<24} created {_stamp(token['created'])}  {until}"
        )
    return "\n".join(lines)


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


def format_edid(view: dict[str, Any]) -> str:
    lines = [f"source {view.get('source')}, mode {view.get('mode')}"]
    if view.get("name") or view.get("manufacturer"):
        lines.append(f"monitor {view.get('manufacturer')} {view.get('name') or ''}".rstrip())
    lines.append(
        f"idle monitor {'on' if view.get('idle_monitor') else 'off'}, "
        f"presented {'yes' if view.get('present') else 'no'}"
    )
    if view.get("warning"):
        lines.append(f"WARNING: {view['warning']}")
    return "\n".join(lines)
