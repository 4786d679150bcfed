"""The read side of the switchboard: what a reader may see of the running switch.

Every read takes the reader (``viewer``: a user, or None when accounts are off) and shows
only the ports it may view (core.guard.visible_units, core.views): ``GET /state``,
``/ports``, ``/log``, metrics labels, serial ``status``. The switchboard inherits these; the
write side (the guarded command path, input, live updates) stays in switchboard.py.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hid.leds import Leds
from kvmswitchd.config import Config
from kvmswitchd.core.commands import PortView, StatusView
from kvmswitchd.core.eventlog import LogQuery
from kvmswitchd.core.guard import entry_visible, ports_visible, visible_units
from kvmswitchd.core.permissions import Principal
from kvmswitchd.core.ports import Channel, parse_port_id
from kvmswitchd.core.scan import AutoScan
from kvmswitchd.core.switch import SwitchCore
from kvmswitchd.core.views import focus_for, state_for
from kvmswitchd.edids import EdidBook
from kvmswitchd.errors import InputError, NotFoundError
from kvmswitchd.journal import Journal
from kvmswitchd.port import Port
from kvmswitchd.router import Router
from kvmswitchd.storage.service import StorageService
from kvmswitchd.targets.target import PowerControl

# journal.recent(ALL_ENTRIES): every entry the journal keeps in memory
ALL_ENTRIES = 1 << 30


def leds_json(leds: Leds) -> dict[str, bool]:
    return {"num": leds.num, "caps": leds.caps, "scroll": leds.scroll}


class BoardReads:
    """Reads of the switch state, filtered per reader (the switchboard sets these)."""

    config: Config
    core: SwitchCore
    links: Mapping[int, Port]
    journal: Journal
    router: Router
    edids: EdidBook
    storage: StorageService | None
    scan: AutoScan
    console_leds: Leds
    extra_state: dict[str, Callable[[], Any]]
    switch_count: dict[str, int]
    error_count: int
    counters: dict[str, int]

    def health(self) -> dict[str, Any]:
        return {"ok": True, "ports": self.core.ports}

    def port_json(self, unit: int) -> dict[str, Any]:
        port = self.links[unit]
        cfg = port.config
        focused = self.core.focus_of(Channel.VIDEO).unit == unit
        edid = self.edids.view(unit, video_focus=focused)
        view = {
            "id": str(unit),
            "name": self.core.name(unit),
            "target": cfg.target,
            "keyboard": cfg.keyboard,
            "nkro": cfg.nkro,
            "mouse": cfg.mouse,
            "video": cfg.video,
            "audio": cfg.audio,
            "focus": [c.value for c, p in self.core.focus.items() if p.unit == unit],
            "leds": leds_json(port.leds),
            "edid": edid,
            "warnings": [edid["warning"]] if edid["warning"] else [],
        }
        if isinstance(port.target, PowerControl):  # a VM: its run state and power path
            view["power"] = port.target.power_view()
        return view

    def visible(self, viewer: Principal | None) -> frozenset[int] | None:
        """The ports ``viewer`` may view (None: all of them, or no viewer: auth is off)."""
        return visible_units(viewer, self.core.ports) if viewer is not None else None

    def ports(self, viewer: Principal | None = None) -> list[dict[str, Any]]:
        visible = self.visible(viewer)
        return [
            self.port_json(u)
            for u in range(1, self.core.ports + 1)
            if visible is None or u in visible
        ]

    def state(self, viewer: Principal | None = None) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "ports": self.ports(),
            "focus": dict(self.core.focus_view()),
            "scan": {"on": self.scan.on, "dwell": self.scan.dwell},
            "console": {
                "leds": leds_json(self.console_leds),
                "monitor": self.edids.console_source,
            },
        }
        for key, view in self.extra_state.items():
            doc[key] = view()
        return state_for(doc, self.visible(viewer))

    def port(self, port_id: str) -> dict[str, Any]:
        return self.port_json(parse_port_id(port_id, self.core.ports).unit)

    def target(self, port_id: str) -> dict[str, Any]:
        unit = parse_port_id(port_id, self.core.ports).unit
        view = dict(self.links[unit].target.view(), port=str(unit))
        if self.storage is not None:
            view["storage"] = self.storage.target_view(unit)
        return view

    def screen(self, port_id: str) -> bytes:
        unit = parse_port_id(port_id, self.core.ports).unit
        frame = self.links[unit].target.screen()
        if frame is None:
            raise NotFoundError(
                f"port {unit}'s target ({self.links[unit].config.target}) has no screen"
            )
        return frame

    def log(
        self, params: Mapping[str, str], viewer: Principal | None = None
    ) -> list[dict[str, Any]]:
        query = LogQuery.from_params(params)
        visible = self.visible(viewer)
        if visible is None:
            return [e.to_json() for e in self.journal.query(query)]
        # filter first, then apply the query's limit to what this reader may see
        seen = [e for e in self.journal.recent(ALL_ENTRIES) if entry_visible(e, visible)]
        return [e.to_json() for e in query.select(seen)]

    def metrics(self, viewer: Principal | None = None) -> dict[str, Any]:
        syslog = self.extra_state.get("syslog")  # the forwarder's view, when [syslog] is set
        return {
            "syslog": syslog() if syslog is not None else None,
            "switches": dict(self.switch_count),
            "events_routed": self.router.events_routed,
            "errors": self.error_count,
            "focus": focus_for(self.core.focus_view(), self.visible(viewer)),
            "serial_sessions": self.counters.get("serial_sessions", 0),
            "ports": self.core.ports,
        }

    def status_view(self, viewer: Principal | None = None) -> StatusView:
        held_by, reason = self.storage.held() if self.storage is not None else (None, None)
        visible = visible_units(viewer, self.core.ports) if viewer is not None else None
        shown = [u for u in range(1, self.core.ports + 1) if visible is None or u in visible]
        focus = {
            c: p if ports_visible((p,), visible) else "-" for c, p in self.core.focus_view().items()
        }
        if visible is not None and held_by is not None and not ports_visible((held_by,), visible):
            held_by, reason = "-", None
        return StatusView(
            ports=tuple(PortView(str(u), self.core.name(u)) for u in shown),
            focus=focus,
            scanning=self.scan.on,
            storage_held_by=held_by,
            storage_held_reason=reason,
        )

    def edid(self, port_id: str, fmt: str) -> bytes | dict[str, Any]:
        unit = parse_port_id(port_id, self.core.ports).unit
        focused = self.core.focus_of(Channel.VIDEO).unit == unit
        if fmt == "json":
            return self.edids.detail(unit, video_focus=focused)
        if fmt == "hex":
            return {"port": str(unit), "hex": self.edids.video(unit).edid.hex()}
        if fmt in ("", "binary"):
            return self.edids.video(unit).edid
        raise InputError(f"unknown format {fmt!r}: use binary, hex or json")
