"""USB storage hand-over (SPEC §3.4): storage is never yanked from a busy host.

The switch has **one** storage device, holding at most one image at a time. It sits on
one port: by default it follows ``usb`` focus, or it is *pinned* to a port and ignores
focus. When focus asks it to move while its current host is using it, it stays (a
``StorageHeld`` result naming the reason) and follows once that host has had no I/O, no
medium lock, for ``quiet_period`` seconds, or as soon as the host ejects the medium.
``force=True`` moves it at once; the ``StorageMoved`` event then says ``forced=True``.

This core is sans-IO: the device model (``kvmswitchd.storage.scsi``) or a gadget backend
reports I/O, locks and ejects as they happen, each with ``now`` (monotonic seconds); the
asyncio adapter re-arms one timer at ``next_deadline()`` and calls ``handle_timer(now)``.
Reports naming a port the storage is no longer on are stale and ignored; a move forgets
the old host's I/O and lock (the storage was unplugged from it).
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from kvmswitchd.core.ports import PortId
from kvmswitchd.errors import BusyError, ConfigError, LocalProtocolError, NotFoundError


class AccessMode(enum.StrEnum):
    """How the host sees the medium."""

    READ_ONLY = "ro"
    READ_WRITE = "rw"


class HoldReason(enum.StrEnum):
    """Why the storage stays with its current port (worst first)."""

    WRITE_IN_FLIGHT = "write in flight"
    READ_IN_FLIGHT = "read in flight"
    MEDIUM_LOCKED = "medium locked by host"
    RECENTLY_ACTIVE = "host active within the quiet period"


class StayReason(enum.StrEnum):
    """Why a focus move left the storage where it is without holding anything."""

    NO_IMAGE = "no image attached"
    PINNED = "pinned to its port"
    ALREADY_THERE = "already on that port"


@dataclass(frozen=True, slots=True)
class Attachment:
    """Where the attached image is and how (the record the image store persists)."""

    image: str
    port: PortId
    mode: AccessMode
    pinned: bool


@dataclass(frozen=True, slots=True)
class StorageAttached:
    image: str
    port: PortId
    mode: AccessMode
    pinned: bool


@dataclass(frozen=True, slots=True)
class StorageDetached:
    """The operator detached (ejected) the image; ``forced`` if a busy host lost it."""

    image: str
    port: PortId
    forced: bool
    reason: HoldReason | None = None


@dataclass(frozen=True, slots=True)
class StorageMoved:
    """The storage left ``from_port`` for ``to_port``.

    ``forced``: an operator override took it from a busy host (``overrode`` says how it
    was busy). ``deferred``: it had been held and followed later.
    """

    image: str
    from_port: PortId
    to_port: PortId
    forced: bool = False
    deferred: bool = False
    overrode: HoldReason | None = None


@dataclass(frozen=True, slots=True)
class StorageHeld:
    """The storage stays on ``by_port`` for ``reason``; it will follow to ``wanted_port``."""

    image: str
    by_port: PortId
    wanted_port: PortId
    reason: HoldReason


@dataclass(frozen=True, slots=True)
class StorageStayed:
    """Nothing to move (no image, pinned, already there): not worth an event-log line."""

    port: PortId | None
    reason: StayReason


@dataclass(frozen=True, slots=True)
class StorageEjected:
    """The host on ``port`` ejected the medium itself (START STOP UNIT, "Safely remove")."""

    image: str
    port: PortId


HandoverResult = StorageMoved | StorageHeld | StorageStayed
StorageEvent = StorageAttached | StorageDetached | StorageMoved | StorageHeld | StorageEjected


@dataclass(frozen=True, slots=True)
class StorageState:
    """Everything the API and UI show about the storage device."""

    image: str | None
    mode: AccessMode | None
    port: PortId | None
    pinned: bool
    focus: PortId | None
    held: bool
    reason: HoldReason | None
    pending: PortId | None
    locked: bool
    in_flight: int
    ejected: bool


_NEVER = -math.inf


class StorageHandover:
    """The storage-safety state machine. All methods are synchronous and do no I/O."""

    def __init__(self, quiet_period: float, focus: PortId | None = None) -> None:
        if not math.isfinite(quiet_period) or quiet_period < 0:
            raise ConfigError("storage.quiet_period", "must be a number of seconds >= 0")
        self._quiet = quiet_period
        self._focus = focus
        self._image: str | None = None
        self._mode: AccessMode | None = None
        self._port: PortId | None = None
        self._pinned = False
        self._pending: PortId | None = None
        self._reason: HoldReason | None = None
        self._reset_host()

    def _reset_host(self) -> None:
        self._reads = 0
        self._writes = 0
        self._locked = False
        self._ejected = False
        self._last_activity = _NEVER

    # -- operator actions -------------------------------------------------------------

    def attach(self, image: str, mode: AccessMode, *, pin: PortId | None = None) -> StorageAttached:
        """Insert ``image``: on ``pin`` (pinned there) or else on the usb-focus port.

        Raises ``BusyError`` if an image is already attached (one per switch; detach
        first) and ``LocalProtocolError`` if neither ``pin`` nor the focus is known.
        """
        if self._image is not None:
            raise BusyError(f"image {self._image!r} is attached; detach it first")
        port = pin if pin is not None else self._focus
        if port is None:
            raise LocalProtocolError("usb focus unknown: report focus_moved() or pass pin")
        self._image, self._mode, self._port, self._pinned = image, mode, port, pin is not None
        self._pending = self._reason = None
        self._reset_host()
        return StorageAttached(image, port, mode, self._pinned)

    def detach(self, *, force: bool = False) -> StorageDetached:
        """Remove the image (API eject).

        Refused with ``BusyError`` while the host has I/O in flight or the medium locked
        (the kernel answers EBUSY for the lock), unless ``force``. A recently active but
        idle, unlocked host does not block an explicit eject.
        """
        if self._image is None or self._port is None:
            raise NotFoundError("no image is attached")
        reason = self._busy_reason()
        if reason is not None and not force:
            raise BusyError(
                f"host has the medium locked on port {self._port}"
                if reason is HoldReason.MEDIUM_LOCKED
                else f"{reason} on port {self._port}"
            )
        event = StorageDetached(self._image, self._port, forced=reason is not None, reason=reason)
        self._image = self._mode = self._port = self._pending = self._reason = None
        self._pinned = False
        self._reset_host()
        return event

    def focus_moved(self, port: PortId, now: float, *, force: bool = False) -> HandoverResult:
        """Usb focus moved to ``port``: move the storage, hold it, or leave it (pinned)."""
        self._focus = port
        if self._image is None:
            return StorageStayed(None, StayReason.NO_IMAGE)
        if self._pinned:
            return StorageStayed(self._port, StayReason.PINNED)
        return self._request(port, now, force)

    def pin(self, port: PortId | None, now: float, *, force: bool = False) -> HandoverResult:
        """Pin the storage to ``port`` (moving it there under the hold rules), or unpin
        (``None``): it then follows usb focus again, starting with a move to the focus."""
        if self._image is None:
            raise NotFoundError("no image is attached")
        self._pinned = port is not None
        target = port if port is not None else self._focus
        assert self._port is not None  # attached implies placed
        return self._request(target if target is not None else self._port, now, force)

    # -- reports from the device (emulated model or gadget backend) -------------------

    def io_started(self, port: PortId, now: float, *, write: bool) -> None:
        if not self._current(port):
            return
        if write:
            self._writes += 1
        else:
            self._reads += 1
        self._activity(now)

    def io_finished(self, port: PortId, now: float, *, write: bool) -> None:
        if not self._current(port):
            return
        if write:
            self._writes = max(0, self._writes - 1)
        else:
            self._reads = max(0, self._reads - 1)
        self._activity(now)

    def lock_changed(self, port: PortId, locked: bool, now: float) -> None:
        """The host sent PREVENT ALLOW MEDIUM REMOVAL (or a gadget LUN answered EBUSY)."""
        if not self._current(port):
            return
        self._locked = locked
        self._activity(now)

    def host_ejected(self, port: PortId, now: float) -> tuple[StorageEvent, ...]:
        """The host ejected the medium; a held move completes at once.

        The image stays attached (the record and ``state().image``) but the host on
        ``port`` no longer sees it (``state().ejected``); the next move presents it
        afresh to the new port.
        """
        if not self._current(port) or self._image is None:
            return ()
        self._ejected = True
        self._locked = False
        self._activity(now)
        events: list[StorageEvent] = [StorageEjected(self._image, port)]
        if self._pending is not None and self._hold_reason(now) is None:
            events.append(self._move(self._pending, deferred=True))
        return tuple(events)

    # -- timer ------------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        """When a held move may complete (the quiet period ends); None: no timer needed."""
        if self._pending is None or self._busy_reason() is not None:
            return None
        return self._last_activity + self._quiet

    def handle_timer(self, now: float) -> StorageMoved | None:
        """Complete a held move if the holding host has become quiet."""
        if self._pending is None:
            return None
        reason = self._hold_reason(now)
        if reason is not None:
            self._reason = reason
            return None
        return self._move(self._pending, deferred=True)

    def state(self) -> StorageState:
        held = self._pending is not None
        return StorageState(
            image=self._image,
            mode=self._mode,
            port=self._port,
            pinned=self._pinned,
            focus=self._focus,
            held=held,
            reason=self._reason if held else None,
            pending=self._pending,
            locked=self._locked,
            in_flight=self._reads + self._writes,
            ejected=self._ejected,
        )

    def hold_reason(self, now: float) -> HoldReason | None:
        """Why the storage would be held if its port were asked to give it up now."""
        return self._hold_reason(now) if self._image is not None else None

    # -- internals --------------------------------------------------------------------

    def _current(self, port: PortId) -> bool:
        return self._image is not None and port == self._port

    def _activity(self, now: float) -> None:
        self._last_activity = max(self._last_activity, now)
        if self._pending is not None:
            self._reason = self._hold_reason(now)

    def _busy_reason(self) -> HoldReason | None:
        if self._writes:
            return HoldReason.WRITE_IN_FLIGHT
        if self._reads:
            return HoldReason.READ_IN_FLIGHT
        if self._locked:
            return HoldReason.MEDIUM_LOCKED
        return None

    def _hold_reason(self, now: float) -> HoldReason | None:
        busy = self._busy_reason()
        if busy is not None:
            return busy
        if not self._ejected and now - self._last_activity < self._quiet:
            return HoldReason.RECENTLY_ACTIVE
        return None

    def _request(self, target: PortId, now: float, force: bool) -> HandoverResult:
        assert self._image is not None  # callers checked: an image is attached
        assert self._port is not None
        if target == self._port:
            self._pending = self._reason = None
            return StorageStayed(self._port, StayReason.ALREADY_THERE)
        reason = self._hold_reason(now)
        if reason is None or force:
            return self._move(target, overrode=reason)
        self._pending, self._reason = target, reason
        return StorageHeld(self._image, self._port, target, reason)

    def _move(
        self, target: PortId, *, deferred: bool = False, overrode: HoldReason | None = None
    ) -> StorageMoved:
        assert self._image is not None  # callers checked: an image is attached
        assert self._port is not None
        event = StorageMoved(
            self._image,
            self._port,
            target,
            forced=overrode is not None,
            deferred=deferred,
            overrode=overrode,
        )
        self._port = target
        self._pending = self._reason = None
        self._reset_host()
        return event
