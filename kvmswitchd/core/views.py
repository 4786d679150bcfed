"""Reads filtered to what a reader may view (SPEC §9: "reads show only the ports the
reader may view"): the state document, log entries as JSON, the focus map.

``visible`` is the set of ports a reader may view (core.guard.visible_units), or None when
it may view every port (nothing is filtered). A port the reader may not view is shown as
``"-"`` where a field must name one (focus, storage placement) and left out of lists.
Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kvmswitchd.core.guard import PUBLIC_KINDS, ports_visible

HIDDEN = "-"
# Fields of the ``storage`` object that name a port.
STORAGE_PORT_FIELDS = ("port", "focus", "held_by", "pending")


def _shown(port: object, visible: frozenset[int]) -> object:
    if isinstance(port, str) and not ports_visible((port,), visible):
        return HIDDEN
    return port


def focus_for(focus: Mapping[str, str], visible: frozenset[int] | None) -> dict[str, str]:
    if visible is None:
        return dict(focus)
    return {channel: str(_shown(port, visible)) for channel, port in focus.items()}


def state_for(doc: Mapping[str, Any], visible: frozenset[int] | None) -> dict[str, Any]:
    """The full state document as a reader who sees ``visible`` may read it."""
    if visible is None:
        return dict(doc)
    out = dict(doc)
    out["ports"] = [p for p in doc.get("ports", ()) if ports_visible((str(p["id"]),), visible)]
    if "focus" in doc:
        out["focus"] = focus_for(doc["focus"], visible)
    storage = doc.get("storage")
    if isinstance(storage, Mapping):
        shown = dict(storage)
        for key in STORAGE_PORT_FIELDS:
            shown[key] = _shown(storage.get(key), visible)
        if shown.get("held_by") == HIDDEN:
            shown["held_reason"] = None
        out["storage"] = shown
    lease = doc.get("lease")
    if isinstance(lease, Mapping):  # that the unit is locked, not who locked it
        out["lease"] = {k: v for k, v in lease.items() if k not in ("session", "user")}
    return out


def entry_json_visible(entry: Mapping[str, Any], visible: frozenset[int] | None) -> bool:
    """``core.guard.entry_visible`` for an entry already in its JSON form (pushes)."""
    if visible is None:
        return True
    ports = entry.get("ports") or ()
    if not ports:
        return entry.get("kind") in PUBLIC_KINDS
    return ports_visible(ports, visible)
