"""Assembly: the switchboard built from the config — the backend each port's target is
(one ``match``, the import inside each branch, so the emulated default never imports
Linux-only modules: HOUSE-STYLE principle 3), the core restored from the saved state, the
ports, the router, the EDIDs, the event log, and who each actor is.

``kvmswitchd.daemon`` (the composition root) calls :func:`build_board`, then starts the
listeners; tests build boards here with no listener at all.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from hid.leds import Leds
from kvmswitchd.config import Config, PortConfig
from kvmswitchd.core.guard import Actor, ActorKind
from kvmswitchd.core.holds import Holds
from kvmswitchd.core.hotkeys import HotkeyDetector
from kvmswitchd.core.ports import Channel
from kvmswitchd.core.switch import SwitchCore
from kvmswitchd.edids import EdidBook, Override
from kvmswitchd.errors import ConfigError
from kvmswitchd.journal import Journal
from kvmswitchd.port import Port
from kvmswitchd.router import Router
from kvmswitchd.savedstate import Reset, SavedState, read_saved_state
from kvmswitchd.switchboard import Switchboard
from kvmswitchd.targets.target import TargetBackend

log = logging.getLogger(__name__)


class Backends:
    """Shared backend resources, created on first use (one USB/IP server per daemon)."""

    def __init__(self, config: Config, record: Callable[..., object] | None = None) -> None:
        self.config = config
        self.record = record  # the event journal's, for the USB/IP imports and refusals
        self.usbip: Any = None
        self.state_dir: Path | None = None  # where qemu ports take their screendumps

    def usbip_server(self) -> Any:
        if self.usbip is None:
            from kvmswitchd.targets.usbip_export import LOOPBACK, UsbipServer

            config = self.config
            self.usbip = UsbipServer(
                config.usbip_host,
                config.usbip_port,
                allow=config.usbip_allow or LOOPBACK,
                record=self.record or (lambda *_entry: None),
            )
        return self.usbip

    async def stop(self) -> None:
        if self.usbip is not None:
            await self.usbip.stop()


def make_target(config: PortConfig, backends: Backends) -> TargetBackend:
    keyboard = "usb-nkro" if config.keyboard == "usb" and config.nkro else config.keyboard
    match config.target:
        case "emulated":
            from kvmswitchd.targets.emulated import EmulatedTarget

            return EmulatedTarget(
                keyboard=keyboard, mouse=config.mouse, poll_interval=config.poll_interval
            )
        case "gadget":
            from kvmswitchd.gadget.discovery import lun_dir, port_nodes
            from kvmswitchd.gadget.lun import ConfigfsLun
            from kvmswitchd.targets.hidg import GadgetTarget

            roots = backends.config.gadget
            keyboard_node, mouse_node = config.hidg_keyboard, config.hidg_mouse
            if keyboard_node is None or mouse_node is None:  # the nodes gadget setup built
                keyboard_node, mouse_node = port_nodes(roots, config.unit)
            lun = lun_dir(roots, config.unit)
            return GadgetTarget(
                keyboard_node,
                mouse_node,
                mouse=config.mouse,
                name=f"port {config.unit}",
                lun=ConfigfsLun(lun) if lun.is_dir() else None,
            )
        case "usbip":
            target: TargetBackend = backends.usbip_server().add_port(
                config.unit, keyboard=keyboard, mouse=config.mouse, allow=config.usbip_allow
            )
            return target
        case "ch9329":
            from kvmswitchd.targets.ch9329 import Ch9329Target

            assert config.ch9329_device is not None  # the config parser requires it
            return Ch9329Target(
                config.ch9329_device,
                baud=config.ch9329_baud,
                address=config.ch9329_address,
                mouse=config.mouse,
                kinds=config.ch9329_kinds,
                name=f"port {config.unit}",
            )
        case "qemu":
            from kvmswitchd.targets.qemu import QemuTarget, qmp_address

            assert config.qmp is not None  # port_config requires it on a qemu port
            state = backends.state_dir or Path(".")
            return QemuTarget(
                qmp_address(config.qmp),
                mouse=config.mouse,
                name=f"port {config.unit}",
                vm_name=config.vm_name,
                screens=state / "qemu",
                input_interval=config.input_interval,
            )
        case other:
            raise ConfigError(f"ports.{config.unit}.target", f"target {other!r} is not available")


def restore_core(config: Config, saved: SavedState) -> SwitchCore:
    """The switch core as saved: configured names, then what the API set last."""
    names: dict[int, str] = {}
    for unit in range(1, config.ports + 1):
        configured = config.port(unit).name
        if configured:
            names[unit] = configured
    names.update(saved.names)
    return SwitchCore(config.ports, names, dict(saved.focus))


def make_detector(config: Config) -> HotkeyDetector | None:
    profile = config.console.hotkeys
    if not profile.enabled:
        return None
    return HotkeyDetector(
        replace(profile, keypad_digits=config.console.keypad_digits), config.ports
    )


def build_board(
    config: Config,
    state_dir: Path,
    saved: dict[str, Any],
    *,
    monotonic: Callable[[], float],
    rearm: Callable[[float | None], None] | None = None,
    log_group: int | None = None,
    rearm_noise: Callable[[float | None], None] | None = None,
) -> Switchboard:
    """Wire the switch core, ports, targets, router and event log (no listeners yet)."""
    journal = Journal(
        state_dir,
        max_bytes=config.log.max_bytes,
        keep=config.log.keep,
        clock=time.time,
        group=log_group,
        rearm=rearm_noise,
    )
    journal.open()
    state, resets = read_saved_state(saved, config.ports)
    core = restore_core(config, state)
    board_ref: list[Switchboard] = []

    def on_leds(unit: int, leds: Leds) -> None:
        if board_ref:
            board_ref[0].port_leds_changed(unit, leds)

    ports: dict[int, Port] = {}
    backends = Backends(config, journal.record)
    backends.state_dir = state_dir
    holds = Holds()  # who holds which key, across all ports
    for unit in range(1, config.ports + 1):
        pc = config.port(unit)
        ports[unit] = Port(pc, make_target(pc, backends), on_leds, holds)
    router = Router(
        ports,
        core.focus_of(Channel.KM).unit,
        make_detector(config),
        on_action=lambda action, _now, actor: board_ref[0].hotkey_action(action, actor),
        on_key_activity=lambda: board_ref[0].stop_scan_on_activity(),  # noqa: PLW0108  # board built below
        rearm=rearm,
    )
    edids = EdidBook({u: config.port(u) for u in ports}, config.drm_root)
    edids.learn()
    for unit in ports:
        pc = config.port(unit)
        if pc.edid is not None:
            edids.set_override(unit, Override.parse(pc.edid))
        edids.idle_monitor[unit] = pc.idle_monitor
    # what the API set last wins over the config file
    unusable = edids.restore(state.overrides, state.idle_monitor)
    resets += tuple(Reset(f"edids.overrides.{u}", why) for u, why in unusable.items())
    board = Switchboard(config, core, ports, journal, router, edids, monotonic=monotonic)
    board.tesmart.settings = state.tesmart
    board.backends = backends
    router.typing = board.typing
    console = config.console
    board.actors.console = Actor("console", console.role, console.ports, ActorKind.CONSOLE)
    board_ref.append(board)
    for link in ports.values():
        if link.target.kind == "qemu":  # a VM's run state changes /state
            link.target.on_change = board.push_state  # type: ignore[attr-defined]  # QemuTarget
    for reset in resets:
        log.warning("state file: %s dropped: %s", reset.what, reset.why)
        journal.record("state_reset", "system", (), None, reset.detail())
    board.present_all()
    return board
