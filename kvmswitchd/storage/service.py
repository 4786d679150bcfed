"""The USB storage service (SPEC §3.4): images, the hand-over rules and the device, wired.

One ``StorageService`` per switch puts together the image store (``images``), the
hand-over core (``kvmswitchd.core.storage``), the emulated mass-storage device (a SCSI
``LogicalUnit`` behind an ``EmulatedLun`` and a ``BulkOnlyTransport``) and one timer:

- the service is the device's ``MediumListener``: its reports (I/O, lock, host eject)
  reach the core with the current port and ``clock()``; after each, the timer
  (``timer.Deadline``) is re-armed at the core's ``next_deadline()``;
- the switchboard calls ``focus_moved`` when usb focus moves; a move unplugs the device
  from the old host (``transport.disconnect``) and, if that host had ejected the medium,
  presents the image afresh to the new one;
- the HTTP routes (``web.storage``) call the operator actions and the image methods
  (``library.ImageLibrary``: uploads, quota and free-space checks); the JSON they
  answer is rendered by ``views``; changes are journalled (kind ``storage``,
  ``detail.action`` says what) and announced with ``on_change()``;
- ``host_for(unit)`` is the emulated computer of a port as a USB host (SCSI over BOT,
  with a ``FlatVolume`` for files): it reaches the device only while the storage is on
  its port, as a real computer only sees a USB stick plugged into it.

Host ejects are reported while the host's command is still running; the events they
cause (a held move completing) are queued and applied by ``drain()``: scheduled with
``call_soon`` when a loop runs, and called by the emulated host after each command.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterable, Callable, Mapping
from typing import Any

from kvmswitchd.core.commands import Origin, Source
from kvmswitchd.core.ports import PortId, parse_port_id
from kvmswitchd.core.storage import (
    AccessMode,
    Attachment,
    HandoverResult,
    StorageEjected,
    StorageEvent,
    StorageHandover,
    StorageHeld,
    StorageMoved,
    StorageState,
)
from kvmswitchd.errors import BusyError, DeviceError, InputError, KvmError
from kvmswitchd.storage.bot import BulkOnlyTransport
from kvmswitchd.storage.host import StorageHost
from kvmswitchd.storage.images import ImageStore
from kvmswitchd.storage.library import DEFAULT_IDLE_TIMEOUT, ImageLibrary
from kvmswitchd.storage.lun import EmulatedLun, Opener
from kvmswitchd.storage.media import MEDIA_POLL_INTERVAL, PortMedia
from kvmswitchd.storage.scsi import LogicalUnit
from kvmswitchd.storage.timer import Deadline, Rearm
from kvmswitchd.storage.views import (
    eject_detail,
    move_detail,
    parse_mode,
    placement,
    port_text,
    storage_view,
    switch_detail,
    target_view,
)

__all__ = ["SYSTEM", "StorageService", "parse_mode", "switch_detail"]

log = logging.getLogger(__name__)

Json = dict[str, Any]
# Journal.record(kind, source, ports, user, detail)
Record = Callable[[str, str, tuple[str, ...], str | None, Mapping[str, Any]], object]
# on_plug(old_port, new_port): the device moved (None: nowhere); a real backend (usbip)
# takes ``service.transport`` away from the old port's target and gives it to the new one.
Plug = Callable[[PortId | None, PortId | None], None]


DEFAULT_QUIET_PERIOD = 5.0
# The default cap on one image (config ``[storage] max_image_size``): a big USB stick.
DEFAULT_MAX_IMAGE_SIZE = 16 << 30
SYSTEM = Origin(Source.SYSTEM)


class StorageService:
    """The one storage device of the switch, its images and its emulated hosts."""

    def __init__(
        self,
        store: ImageStore,
        *,
        ports: int,
        focus: PortId,
        quiet_period: float = DEFAULT_QUIET_PERIOD,
        record: Record,
        clock: Callable[[], float],
        on_change: Callable[[], None] = lambda: None,
        rearm: Rearm | None = None,
        on_plug: Plug | None = None,
        opener: Opener | None = None,
        upload_idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        media: PortMedia | None = None,
    ) -> None:
        self.store = store
        self.ports = ports
        self.quiet_period = quiet_period
        self.core = StorageHandover(quiet_period, focus=focus.local)
        self.unit = LogicalUnit(listener=self)  # it hears the device (``MediumListener``)
        self.bus = EmulatedLun(self.unit) if opener is None else EmulatedLun(self.unit, opener)
        self.transport = BulkOnlyTransport(self.unit)
        self._record, self._clock = record, clock
        self._on_change, self._on_plug = on_change, on_plug
        self._media = media
        self._timer = Deadline(self.handle_timer, rearm)
        self._queued: list[StorageEvent] = []
        self._hosts: dict[int, StorageHost] = {}
        # The port the device is plugged into. It lags the core's port while a move that
        # a host eject caused waits for ``drain()`` (the host's command is still running).
        self._plugged: PortId | None = None
        self.library = ImageLibrary(
            store,
            log=self._log,
            changed=self._changed,
            placement=lambda name: placement(self.core.state(), name),
            idle_timeout=upload_idle_timeout,
        )
        self._shown = self._summary(self.core.state())

    @property
    def max_image_size(self) -> int:
        return self.store.max_image_size

    def restore(self) -> None:
        """Re-attach the image the store records (pinned: to its port; else to focus)."""
        if self.store.recovered:
            self._log(SYSTEM, (), action="catalog_reset", problem=self.store.recovered)
        att = self.store.attachment()
        if att is None or self.core.state().image is not None:
            return
        try:
            self._attach(att.image, att.mode, att.port if att.pinned else None)
        except KvmError as exc:
            with contextlib.suppress(KvmError):
                self.store.set_attachment(None)
            self._log(SYSTEM, (), action="restore_failed", image=att.image, problem=str(exc))
            return
        state = self.core.state()
        self._log(
            SYSTEM, (str(state.port),), action="restore", image=att.image, mode=att.mode.value
        )

    def close(self) -> None:
        """Shutdown: stop the timer, flush and close the medium (the record is kept)."""
        self._timer.cancel()
        try:
            self.unit.unload(force=True)
        except DeviceError as exc:
            log.warning("storage: closing the medium: %s", exc)

    # -- the switchboard's hook ----------------------------------------------------------

    def focus_moved(
        self, port: PortId, now: float, force: bool = False, *, origin: Origin = SYSTEM
    ) -> HandoverResult:
        """Usb focus moved: move, hold or leave the storage. The caller pushes state."""
        self._observe()
        result = self.core.focus_moved(port.local, now, force=force)
        self._apply(result, origin)
        self._shown = self._summary(self.core.state())
        return result

    def held(self) -> tuple[str | None, str | None]:
        """(port holding the storage back, reason) for ``StatusView``; (None, None)."""
        state = self.core.state()
        if not state.held:
            return None, None
        return port_text(state.port), state.reason.value if state.reason else None

    # -- operator actions (the HTTP routes) ----------------------------------------------

    def attach(self, image: str, mode: str, pin: str | None, origin: Origin) -> Json:
        access = parse_mode(mode)
        pinned = self.parse_port(pin) if pin is not None else None
        port = self._attach(image, access, pinned)
        self._log(
            origin, (str(port),), action="attach", image=image, mode=access.value, pinned=bool(pin)
        )
        self._changed()
        return self.view()

    def eject(self, force: bool, origin: Origin) -> Json:
        """Detach the image: 409 (BusyError) while the host is busy with it, unless forced."""
        self._observe()
        event = self.core.detach(force=force)
        problem = ""
        try:
            if self.unit.locked:
                self.bus.forced_eject()
            else:
                self.bus.set_file("")
        except DeviceError as exc:  # the final flush failed; the medium is closed anyway
            problem = str(exc)
        finally:
            self._plug(None)
            self.store.set_attachment(None)
            self._rearm()
        if event.forced:
            log.warning("storage: forced eject of %s from busy port %s", event.image, event.port)
        self._log(origin, (str(event.port),), **eject_detail(event, problem))
        self._changed()
        return dict(self.view(), forced=event.forced)

    def pin(self, port: str | None, force: bool, origin: Origin) -> Json:
        """Pin to ``port`` (moving there under the hold rules) or unpin (``None``)."""
        target = self.parse_port(port) if port is not None else None
        self._observe()
        result = self.core.pin(target, self._clock(), force=force)
        self._log(origin, (str(target),) if target else (), action="pin", port=port)
        self._apply(result, origin)
        self._persist()
        self._changed()
        return dict(self.view(), **switch_detail(result))

    async def create_image(self, name: str, size: int, origin: Origin) -> Json:
        return await self.library.create(name, size, origin)

    def check_upload(self, name: str, length: int | None, origin: Origin) -> None:
        self.library.check_upload(name, length, origin)

    async def upload_image(
        self, name: str, chunks: AsyncIterable[bytes], length: int | None, origin: Origin
    ) -> Json:
        return await self.library.upload(name, chunks, length, origin)

    async def cancel_uploads(self) -> None:
        await self.library.cancel_uploads()

    async def set_read_only(self, name: str, read_only: bool, origin: Origin) -> Json:
        return await self.library.set_read_only(name, read_only, origin)

    async def delete_image(self, name: str, origin: Origin) -> None:
        await self.library.delete(name, origin)

    # -- views --------------------------------------------------------------------------

    def view(self, *, images: bool = True) -> Json:
        """The ``storage`` object of GET /state and GET /storage."""
        doc = storage_view(
            self.core.state(),
            present=self.unit.medium is not None,
            busy=self.core.hold_reason(self._clock()),
            quiet_period=self.quiet_period,
            max_image_size=self.max_image_size,
        )
        if images:
            doc["images"] = self.images()
        return doc

    def images(self) -> list[Json]:
        return self.library.images()

    def target_view(self, unit: int) -> Json:
        """The ``storage`` field of GET /ports/{id}/target: what that computer sees."""
        medium = self.unit.medium if self.medium_on(PortId(unit)) else None
        return target_view(self.core.state(), medium)

    def host_for(self, unit: int | PortId) -> StorageHost:
        """The emulated computer of port ``unit`` as a USB mass-storage host."""
        port = unit if isinstance(unit, PortId) else PortId(unit)
        port = self.parse_port(str(port.local))
        host = self._hosts.get(port.unit)
        if host is None:
            host = self._hosts[port.unit] = StorageHost(self, port)
        return host

    def device_on(self, port: PortId) -> BulkOnlyTransport:
        """The device, for the host on ``port`` (``StorageHost``'s ``Socket``)."""
        if self._plugged is None or self._plugged != port:
            raise DeviceError(f"no USB storage is plugged into port {port}")
        return self.transport

    def medium_on(self, port: PortId) -> bool:
        return self._plugged == port and self.unit.medium is not None

    def parse_port(self, text: object) -> PortId:
        port = parse_port_id(text, self.ports)
        if port.channel is not None:
            raise InputError("storage plugs into a port of this unit, not a cascaded one")
        return port

    # -- device reports (``MediumListener``) and the timer --------------------------------

    def io_started(self, write: bool) -> None:
        if (port := self._plugged) is not None:
            self.core.io_started(port, self._clock(), write=write)
            self._device_changed()

    def io_finished(self, write: bool) -> None:
        if (port := self._plugged) is not None:
            self.core.io_finished(port, self._clock(), write=write)
            self._device_changed()

    def _device_changed(self) -> None:
        self._rearm()
        self._changed_if_shown_differs()

    def lock_changed(self, locked: bool) -> None:
        port = self._plugged
        if port is not None:
            self.core.lock_changed(port, locked, self._clock())
            self._device_changed()

    def host_ejected(self) -> None:
        port = self._plugged
        if port is None:
            return
        self._queued.extend(self.core.host_ejected(port, self._clock()))
        with contextlib.suppress(RuntimeError):  # no loop: the caller drains (StorageHost)
            asyncio.get_running_loop().call_soon(self.drain)

    def drain(self) -> None:
        """Apply what host ejects caused (call once the host's command has completed)."""
        queued, self._queued = self._queued, []
        for item in queued:
            if isinstance(item, StorageEjected):
                self._log(SYSTEM, (str(item.port),), action="host_eject", image=item.image)
            elif isinstance(item, StorageMoved):
                self._move(item, SYSTEM)
        if queued:
            self._rearm()
            self._changed()

    def handle_timer(self) -> StorageMoved | None:
        """The quiet period may be over: complete a held move (``loop.call_at`` calls it)."""
        self._observe()
        moved = self.core.handle_timer(self._clock())
        if moved is not None:
            self._move(moved, SYSTEM)
        self._rearm()
        if moved is not None:
            self._changed()
        else:
            self._changed_if_shown_differs()
        return moved

    def _rearm(self) -> None:
        deadline = self.core.next_deadline()
        port = self._plugged
        if (
            deadline is None
            and self._media is not None
            and port is not None
            and self.core.state().held
            and self._media.serves(port.unit)
        ):
            deadline = self._clock() + MEDIA_POLL_INTERVAL
        self._timer.arm(deadline)

    def _observe(self) -> None:
        """Before a decision: what a port's own medium shows (a gadget LUN's lock and the
        host's eject) reaches the core, as the device model's reports do for the others."""
        port = self._plugged
        if self._media is None or port is None or self.core.state().image is None:
            return
        report = self._media.report(port.unit)
        if report is None:
            return
        state = self.core.state()
        if report.ejected and not state.ejected:
            self._queued.extend(self.core.host_ejected(port, self._clock()))
            self.drain()
        elif report.locked is not None and report.locked != state.locked:
            self.core.lock_changed(port, report.locked, self._clock())

    def medium(self) -> tuple[str, bool] | None:
        """The attached image's file and whether the host gets it read-only (for a port
        that serves it itself); None with no image."""
        if self.core.state().image is None:
            return None
        path = self.bus.file()
        return (path, self.bus.ro()) if path else None

    # -- internals ----------------------------------------------------------------------

    def _attach(self, image: str, mode: AccessMode, pin: PortId | None) -> PortId:
        info = self.store.check_attachable(image, mode)
        where = pin if pin is not None else self.core.state().focus
        if self._media is not None and where is not None:
            refusal = self._media.refusal(where.unit)
            if refusal is not None:
                raise BusyError(refusal)  # not "attached" to a port whose host gets no disk
        event = self.core.attach(image, mode, pin=pin)
        try:
            self.transport.disconnect()  # the device is plugged afresh into that port
            self.bus.set_ro(mode is AccessMode.READ_ONLY or info.read_only)
            self.bus.set_file(str(self.store.path(image)))
            self._plug(event.port)  # a port serving the medium itself loads it now
            self.store.set_attachment(Attachment(image, event.port, mode, event.pinned))
        except BaseException:
            self.core.detach(force=True)
            with contextlib.suppress(KvmError):
                self._plug(None)
            with contextlib.suppress(KvmError):
                self.bus.forced_eject()
            raise
        self._rearm()
        return event.port

    def _apply(self, result: HandoverResult, origin: Origin) -> None:
        if isinstance(result, StorageMoved):
            self._move(result, origin)
        elif isinstance(result, StorageHeld):
            self._log(
                origin,
                (str(result.by_port), str(result.wanted_port)),
                action="held",
                image=result.image,
                wanted=str(result.wanted_port),
                reason=result.reason.value,
            )
        self._rearm()

    def _move(self, event: StorageMoved, origin: Origin) -> None:
        self.transport.disconnect()  # unplugged from the old host...
        detail = move_detail(event)
        if event.forced:
            log.warning("storage: forced move of %s off busy port %s", event.image, event.from_port)
        if self.bus.file() == "":  # the old host ejected it: present it to the new host
            try:
                self.bus.set_file(str(self.store.path(event.image)))
            except KvmError as exc:
                detail["problem"] = str(exc)
        try:
            self._plug(event.to_port)  # ...and plugged into the new one
        except KvmError as exc:  # a gadget LUN refused the image: the host gets no disk
            log.warning("storage: port %s did not take %s: %s", event.to_port, event.image, exc)
            detail["problem"] = str(exc)
        self._log(origin, (str(event.to_port), str(event.from_port)), **detail)

    def _plug(self, port: PortId | None) -> None:
        old, self._plugged = self._plugged, port
        if old != port and self._on_plug is not None:
            self._on_plug(old, port)

    def _persist(self) -> None:
        state = self.core.state()
        if state.image is None or state.mode is None or state.port is None:
            return
        port = state.pending if state.pinned and state.pending is not None else state.port
        self.store.set_attachment(Attachment(state.image, port, state.mode, state.pinned))

    def _log(self, origin: Origin, ports: tuple[str, ...], **detail: Any) -> None:
        if origin.detail:
            detail.setdefault("via", origin.detail)
        self._record("storage", origin.source.value, ports, origin.user, detail)

    @staticmethod
    def _summary(state: StorageState) -> tuple[object, ...]:
        return (state.port, state.held, state.reason, state.locked, state.ejected)

    def _changed(self) -> None:
        self._shown = self._summary(self.core.state())
        self._on_change()

    def _changed_if_shown_differs(self) -> None:
        if self._summary(self.core.state()) != self._shown:
            self._changed()
