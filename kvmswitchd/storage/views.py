"""What the storage looks like from outside, rendered from the hand-over state.

Pure functions: the ``storage`` object of GET /state and GET /storage, the storage part
of a switch result, where an image is attached, and what a target computer sees. The
service (``service.StorageService``) passes in the state and the device facts.
"""

from __future__ import annotations

from typing import Any

from kvmswitchd.core.ports import PortId
from kvmswitchd.core.storage import (
    AccessMode,
    HandoverResult,
    HoldReason,
    StayReason,
    StorageDetached,
    StorageHeld,
    StorageMoved,
    StorageState,
)
from kvmswitchd.errors import InputError, KvmError
from kvmswitchd.storage.blockdev import BlockDevice
from kvmswitchd.storage.volume import FlatVolume

Json = dict[str, Any]


def port_text(port: PortId | None) -> str | None:
    return None if port is None else str(port)


def parse_mode(value: object) -> AccessMode:
    try:
        return AccessMode(str(value))
    except ValueError:
        raise InputError('mode must be "ro" or "rw"') from None


def switch_detail(result: HandoverResult) -> Json:
    """What a switch result and its log line say about the storage (empty: nothing)."""
    if isinstance(result, StorageHeld):
        return {
            "usb": "held",
            "held_by": str(result.by_port),
            "wanted": str(result.wanted_port),
            "reason": result.reason.value,
        }
    if isinstance(result, StorageMoved):
        detail: Json = {"usb": "moved", "from": str(result.from_port), "to": str(result.to_port)}
        if result.forced:
            detail["forced"] = True
            detail["overrode"] = result.overrode.value if result.overrode else None
        return detail
    if result.reason is StayReason.PINNED:
        return {"usb": "stayed", "held_by": port_text(result.port), "reason": result.reason.value}
    return {}


def move_detail(event: StorageMoved) -> Json:
    """The journal detail of a move."""
    detail: Json = {"action": "move", "image": event.image, "from": str(event.from_port)}
    detail |= {"to": str(event.to_port), "forced": event.forced, "deferred": event.deferred}
    if event.forced:
        detail["overrode"] = event.overrode.value if event.overrode else None
    return detail


def eject_detail(event: StorageDetached, problem: str) -> Json:
    """The journal detail of an eject (``problem``: why the final flush failed, or "")."""
    detail: Json = {"action": "eject", "image": event.image, "forced": event.forced}
    if event.forced:
        detail["overrode"] = event.reason.value if event.reason else None
    if problem:
        detail["problem"] = problem
    return detail


def storage_view(
    state: StorageState,
    *,
    present: bool,
    busy: HoldReason | None,
    quiet_period: float,
    max_image_size: int,
) -> Json:
    """The ``storage`` object of GET /state and GET /storage (without ``images``)."""
    return {
        "image": state.image,
        "mode": state.mode.value if state.mode else None,
        "port": port_text(state.port),
        "pinned": state.pinned,
        "focus": port_text(state.focus),
        "present": present,
        "held_by": port_text(state.port) if state.held else None,
        "held_reason": state.reason.value if state.held and state.reason else None,
        "pending": port_text(state.pending),
        "locked": state.locked,
        "in_flight": state.in_flight,
        "busy": busy.value if busy is not None else None,
        "ejected": state.ejected,
        "quiet_period": quiet_period,
        "max_image_size": max_image_size,
    }


def placement(state: StorageState, name: str) -> Json | None:
    """Where image ``name`` is attached, or None."""
    if state.image != name or state.mode is None:
        return None
    return {"port": port_text(state.port), "mode": state.mode.value, "pinned": state.pinned}


def target_view(state: StorageState, medium: BlockDevice | None) -> Json:
    """What a computer sees of the storage (``medium``: the medium plugged into it, or
    None). Files are read from the medium directly (no SCSI, so no I/O is reported)."""
    if medium is None or state.mode is None:
        return {"present": False, "image": None, "mode": None, "files": []}
    try:
        files: list[Json] | None = [
            {"name": n, "size": s} for n, s in FlatVolume.mount(medium).files().items()
        ]
    except KvmError:  # blank or not a flat volume: the computer sees raw blocks
        files = None
    return {"present": True, "image": state.image, "mode": state.mode.value, "files": files}
