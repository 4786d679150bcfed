"""How outcomes read on a terminal line (the text dialect's replies)."""

from __future__ import annotations

from datetime import UTC, datetime

from kvmswitchd.core.commands import LogLine, Outcome, StatusView
from kvmswitchd.core.ports import Channel
from kvmswitchd.serial.channel import quote

# Longest reason we put after ERR (reasons can carry peer text such as a port name).
MAX_REASON = 200

HELP = (
    "help                      this list",
    "status                    ports, focus, scan",
    "port N                    switch every channel to port N (N or U.C)",
    "switch N [km|video|audio|usb ...] [force]",
    "next | prev               move keyboard/mouse focus group",
    "scan on [seconds] | scan off",
    "log [n]                   the last n events (default 10)",
    "name N TEXT               rename port N",
    "power N ACTION            on|off|hard-off|reset|pause|resume port N's VM",
    "login [user]              log in",
    "logout                    log out",
    "quit                      end the session",
)


def message_lines(outcome: Outcome) -> list[str]:
    return [line for line in outcome.message.splitlines() if line.strip()]


def status_lines(status: StatusView) -> list[str]:
    """``port 1 "Port 1" km video audio usb`` per port, then focus, scan and storage."""
    lines = []
    for port in status.ports:
        here = [
            ch.value
            for ch in Channel
            if (target := status.focus.get(ch.value)) is not None
            and (target == port.id or target.startswith(port.id + "."))
        ]
        lines.append(" ".join([f'port {quote(port.id)} "{quote(port.name, 64)}"', *here]))
    focus = " ".join(f"{quote(ch)}={quote(port)}" for ch, port in status.focus.items())
    lines.append(f"focus {focus}")
    lines.append("scan on" if status.scanning else "scan off")
    if status.storage_held_by is not None:
        why = f" ({quote(status.storage_held_reason, 80)})" if status.storage_held_reason else ""
        lines.append(f"usb held by port {quote(status.storage_held_by)}{why}")
    return lines


def log_lines(log: tuple[LogLine, ...]) -> list[str]:
    out = []
    for entry in log:
        try:
            when = datetime.fromtimestamp(entry.time, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        except (OverflowError, OSError, ValueError):
            when = f"{entry.time:.0f}"
        out.append(f"{when} {quote(entry.kind)} {quote(entry.text, 160)}")
    return out


def reason_of(outcome: Outcome) -> str:
    """The human reason of a refusal (``message``; the error code when there is none)."""
    return quote(outcome.message or outcome.error or "failed", MAX_REASON)


def status_reply(outcome: Outcome) -> list[str]:
    return message_lines(outcome) + (status_lines(outcome.status) if outcome.status else [])


def log_reply(outcome: Outcome) -> list[str]:
    return message_lines(outcome) + log_lines(outcome.log)
