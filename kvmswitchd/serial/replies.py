"""How outcomes read on a terminal line (the text dialect's replies)."""

from __future__ import annotations

from datetime import UTC, datetime

from kvmswitchd.core.commands import LogLine, Outcome, StatusView
from kvmswitchd.core.ports import Channel
from kvmswitchd.serial.channel import quote

# Longest reason we put after ERR (reasons can carry peer text such as a port name).
MAX_REASON = 200

# Every command with its syntax: ``help`` lists them, a wrong form gets its line back.
USAGE = {
    "help": "help",
    "status": "status",
    "port": "port N",
    "switch": "switch N [km|video|audio|usb[,...]] [force]",
    "next": "next",
    "prev": "prev",
    "scan": "scan on [SECONDS] | scan off",
    "log": "log [COUNT]",
    "name": "name N TEXT",
    "power": "power N on|off|hard-off|reset|pause|resume",
    "login": "login [USER [PASSWORD]]",
    "logout": "logout",
    "quit": "quit",
}
HELP = (
    f"{USAGE['help']:<46}this list",
    f"{USAGE['status']:<46}ports, focus per channel, scan",
    f"{USAGE['port']:<46}all channels to port N (or U.P)",
    f"{USAGE['switch']:<46}only the channels named",
    "  e.g. switch 2 km,audio | switch 1.2 usb force",
    f"{USAGE['next']:<46}keyboard/mouse group: next port",
    f"{USAGE['prev']:<46}... previous port",
    f"{USAGE['scan']:<46}cycle video through the ports",
    f"{USAGE['log']:<46}the last events (default 10)",
    f"{USAGE['name']:<46}rename port N",
    f"{USAGE['power']:<46}port N's VM (qemu ports)",
    f"{USAGE['login']:<46}log in (asks what is missing)",
    f"{USAGE['logout']:<46}log out",
    f"{USAGE['quit']:<46}end the session (also Ctrl-D)",
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
