"""Learning the console monitor's EDID from DRM sysfs (SPEC §2, §6).

Linux exposes each display connector as ``/sys/class/drm/card<N>-<connector>/`` with a
``status`` file (``connected``/``disconnected``) and a binary ``edid`` file (empty when
nothing is attached). The root is a parameter so tests (and unusual systems) can point
it at a fake tree. Reading small sysfs files is the only I/O here; callers run it at
start-up or on a DRM hotplug event, off the event loop if they care about microseconds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from video.edid import EdidInfo, parse_edid
from video.errors import EdidError
from video.framing import MAX_EDID_BYTES

_CONNECTOR_GLOB = "card*-*"
_DIGITS = re.compile(r"(\d+)")


@dataclass(frozen=True, slots=True)
class ConnectorReport:
    """One connector's outcome: a usable EDID, or why it was skipped."""

    connector: str
    blob: bytes | None = None
    info: EdidInfo | None = None
    reason: str | None = None  # None when the EDID is usable


@dataclass(frozen=True, slots=True)
class LearnedEdid:
    """The console monitor's EDID and the connectors passed over before it."""

    connector: str
    blob: bytes
    info: EdidInfo
    skipped: tuple[ConnectorReport, ...] = ()


def _natural(path: Path) -> list[int | str]:
    """``card0-DP-2`` < ``card0-DP-10`` < ``card1-HDMI-A-1``."""
    return [int(part) if part.isdigit() else part for part in _DIGITS.split(path.name)]


def _read_connector(path: Path) -> ConnectorReport:
    name = path.name
    try:
        status = (path / "status").read_text(encoding="ascii", errors="replace").strip()
    except OSError as exc:
        return ConnectorReport(name, reason=f"cannot read status: {exc.strerror or exc}")
    if status != "connected":
        return ConnectorReport(name, reason=f"status is {status!r}, not 'connected'")
    try:
        with (path / "edid").open("rb") as handle:
            # One byte over the cap is enough to know the file is too big.
            blob = handle.read(MAX_EDID_BYTES + 1)
    except OSError as exc:
        return ConnectorReport(name, reason=f"cannot read edid: {exc.strerror or exc}")
    if not blob:
        return ConnectorReport(name, reason="connected but its edid is empty")
    try:
        info = parse_edid(blob)
    except EdidError as exc:
        return ConnectorReport(name, reason=f"invalid EDID: {exc}")
    if info.preferred is None:  # no target could drive a mode from it: a black screen
        return ConnectorReport(name, reason="its EDID lists no video modes")
    return ConnectorReport(name, blob=blob, info=info)


def read_connectors(root: Path) -> tuple[ConnectorReport, ...]:
    """Every ``<root>/card*-*`` connector in natural order, each usable or with a reason."""
    paths = sorted((p for p in root.glob(_CONNECTOR_GLOB) if p.is_dir()), key=_natural)
    return tuple(_read_connector(path) for path in paths)


def learn_console_edid(root: Path) -> LearnedEdid | None:
    """The EDID of the first connected connector with a valid EDID, else ``None``.

    Connectors skipped on the way are in ``LearnedEdid.skipped`` with their reasons; when
    nothing is learned, :func:`read_connectors` gives every reason.
    """
    skipped: list[ConnectorReport] = []
    for report in read_connectors(root):
        if report.blob is not None and report.info is not None:
            return LearnedEdid(report.connector, report.blob, report.info, tuple(skipped))
        skipped.append(report)
    return None
