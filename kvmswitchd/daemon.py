"""The composition root: the only place that picks backends and wires the daemon.

Backends are chosen here in one ``match`` with the import inside each branch, so the
emulated default never imports Linux-only modules (HOUSE-STYLE principle 3).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import ssl
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from aiohttp import web

from hid.leds import Leds
from kvmswitchd.accounts import Accounts
from kvmswitchd.config import Config, PortConfig
from kvmswitchd.console.records import leds_from_hid
from kvmswitchd.console.sources import ConsoleSource, build_sources
from kvmswitchd.core.commands import Command, Origin, Source, Step, SwitchTo
from kvmswitchd.core.holds import Holds
from kvmswitchd.core.hotkeys import HotkeyDetector
from kvmswitchd.core.permissions import command_permission
from kvmswitchd.core.ports import Channel, PortId
from kvmswitchd.core.switch import SwitchCore
from kvmswitchd.edids import EdidBook, Override
from kvmswitchd.errors import ConfigError, StateFileError
from kvmswitchd.journal import Journal
from kvmswitchd.port import Port
from kvmswitchd.router import Router
from kvmswitchd.serial.adapter import SerialEndpoint
from kvmswitchd.serial.endpoint import parse_endpoint
from kvmswitchd.statefile import StateFile, StateSaver
from kvmswitchd.switchboard import Switchboard
from kvmswitchd.targets.target import TargetBackend

log = logging.getLogger(__name__)

# Serial reports worth an event-log entry (connections and protocol noise go to stderr).
SERIAL_EVENTS_LOGGED = frozenset(
    {"login", "login_failed", "logout", "lease", "call", "device_missing", "device_lost", "refused"}
)


def default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "kvmswitchd"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Backends:
    """Shared backend resources, created on first use (one USB/IP server per daemon)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.usbip: Any = None

    def usbip_server(self) -> Any:
        if self.usbip is None:
            from kvmswitchd.targets.usbip_export import UsbipServer

            self.usbip = UsbipServer(self.config.usbip_host, self.config.usbip_port)
        return self.usbip

    async def stop(self) -> None:
        if self.usbip is not None:
            await self.usbip.stop()


def make_target(config: PortConfig, backends: Backends) -> TargetBackend:
    keyboard = "usb-nkro" if config.keyboard == "usb" and config.nkro else config.keyboard
    match config.target:
        case "emulated":
            from kvmswitchd.targets.emulated import EmulatedTarget

            return EmulatedTarget(keyboard=keyboard, mouse=config.mouse)
        case "gadget":
            from kvmswitchd.targets.hidg import GadgetTarget

            if config.hidg_keyboard is None or config.hidg_mouse is None:
                raise ConfigError(f"ports.{config.unit}.hidg_keyboard", "a gadget port needs both")
            return GadgetTarget(
                config.hidg_keyboard,
                config.hidg_mouse,
                mouse=config.mouse,
                name=f"port {config.unit}",
            )
        case "usbip":
            target: TargetBackend = backends.usbip_server().add_port(
                config.unit, keyboard=keyboard, mouse=config.mouse
            )
            return target
        case other:
            raise ConfigError(f"ports.{config.unit}.target", f"target {other!r} is not available")


def restore_core(config: Config, saved: dict[str, Any]) -> SwitchCore:
    names: dict[int, str] = {}
    for unit in range(1, config.ports + 1):
        configured = config.port(unit).name
        if configured:
            names[unit] = configured
    saved_names = saved.get("names")
    if isinstance(saved_names, dict):
        for key, value in saved_names.items():
            if isinstance(key, str) and key.isdigit() and isinstance(value, str) and value:
                names[int(key)] = value
    focus: dict[Channel, PortId] = {}
    saved_focus = saved.get("focus")
    if isinstance(saved_focus, dict):
        for channel in Channel:
            value = saved_focus.get(channel.value)
            if isinstance(value, str):
                unit_text, _, sub = value.partition(".")
                if unit_text.isdigit() and (not sub or sub.isdigit()):
                    focus[channel] = PortId(int(unit_text), int(sub) if sub else None)
    return SwitchCore(config.ports, names, focus)


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
) -> Switchboard:
    """Wire the switch core, ports, targets, router and event log (no listeners yet)."""
    journal = Journal(
        state_dir, max_bytes=config.log.max_bytes, keep=config.log.keep, clock=time.time
    )
    journal.open()
    core = restore_core(config, saved)
    board_ref: list[Switchboard] = []

    def on_leds(unit: int, leds: Leds) -> None:
        if board_ref:
            board_ref[0].port_leds_changed(unit, leds)

    ports: dict[int, Port] = {}
    backends = Backends(config)
    holds = Holds()  # who holds which key, across all ports
    for unit in range(1, config.ports + 1):
        pc = config.port(unit)
        ports[unit] = Port(pc, make_target(pc, backends), on_leds, holds)
    router = Router(
        ports,
        core.focus_of(Channel.KM).unit,
        make_detector(config),
        on_action=lambda action, _now: board_ref[0].hotkey_action(action),
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
    problems = edids.restore(saved.get("edids"))  # what the API set last wins over the file
    board = Switchboard(config, core, ports, journal, router, edids, monotonic=monotonic)
    board.backends = backends
    board_ref.append(board)
    for problem in problems:
        journal.record("state_reset", "system", (), None, {"problem": problem})
    board.present_all()
    return board


class Daemon:
    def __init__(self, config: Config, state_dir: Path | None = None) -> None:
        self.config = config
        self.state_dir = state_dir or config.state_dir or default_state_dir()
        self.board: Switchboard | None = None
        self.http_url = ""
        self._runner: web.AppRunner | None = None
        self._stopped = asyncio.Event()
        self._hotkey_timer: asyncio.TimerHandle | None = None
        self.startup_problems: list[str] = []
        self._saver: StateSaver | None = None
        self._sources: list[ConsoleSource] = []
        self._serial: list[SerialEndpoint] = []
        self.accounts: Accounts | None = None
        self._buttons: Any = None
        self.setup_token: str | None = None

    def check(self) -> None:
        """Refuse configurations this build can't run safely (before opening anything)."""
        http = self.config.http
        if not http.auth and not is_loopback(http.listen_host):
            raise ConfigError(
                "http.auth",
                f"auth = false is allowed on a loopback address only, not {http.listen_host}",
            )

    async def start(self) -> Switchboard:
        self.check()
        loop = asyncio.get_running_loop()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        statefile = StateFile(self.state_dir / "state.json")
        board = build_board(
            self.config,
            self.state_dir,
            statefile.load(),
            monotonic=loop.time,
            rearm=self._rearm_hotkeys,
        )
        self.board = board
        self._saver = StateSaver(statefile, board.snapshot)
        board.on_dirty = self._saver.mark_dirty
        for port in board.links.values():
            await port.target.start()
        if statefile.problem:
            self.startup_problems.append(statefile.problem)
            board.journal.record("state_reset", "system", (), None, {"problem": statefile.problem})
        self._start_accounts(board)
        self._start_storage(board)
        self._start_console(board)
        self._start_buttons(board)
        await self._start_serial(board)
        await self._start_http(board)
        board.journal.record(
            "startup", "system", (), None, {"ports": self.config.ports, "http": self.http_url}
        )
        return board

    def _start_storage(self, board: Switchboard) -> None:
        from kvmswitchd.storage.images import ImageStore
        from kvmswitchd.storage.service import StorageService

        loop = asyncio.get_running_loop()
        links = board.links

        def on_plug(old: PortId | None, new: PortId | None) -> None:
            # USB/IP exports carry the storage device to their remote host; emulated
            # computers reach it through the service's own host side.
            for port, transport in ((old, None), (new, storage.transport)):
                if port is None:
                    continue
                target = links[port.unit].target
                if target.kind == "usbip":
                    target.set_storage(transport)  # type: ignore[attr-defined]  # UsbipTarget

        store = ImageStore.open(
            self.state_dir / "images", max_image_size=self.config.max_image_size
        )
        storage = StorageService(
            store,
            ports=self.config.ports,
            focus=board.core.focus_of(Channel.USB).local,
            quiet_period=self.config.storage_quiet_period,
            record=board.journal.record,
            clock=loop.time,
            on_change=board.push_state,
            on_plug=on_plug,
        )
        storage.restore()
        board.storage = storage
        board.extra_state["storage"] = storage.view

    def _start_accounts(self, board: Switchboard) -> None:
        if not self.config.http.auth:
            return
        accounts = Accounts(self.state_dir, board.journal.record)
        try:
            accounts.load()
        except StateFileError as exc:
            raise ConfigError("state", str(exc)) from None
        self.accounts = accounts
        self.setup_token = accounts.setup_token()

        async def authenticate(user: str, password: str, origin: Origin) -> str | None:
            # the serial channel journals its own login/login_failed reports
            return await accounts.authenticate_password(user, password, origin, record=False)

        def check_command(command: Command, origin: Origin) -> None:
            permission, port = command_permission(command)
            accounts.check(origin.user or "", permission, port, origin)

        board.authenticator = authenticate
        board.check_command = check_command

    async def _start_serial(self, board: Switchboard) -> None:
        specs = self.config.serial
        if specs is None:  # the emulated default: one text endpoint on a pty
            link = self.state_dir / "ttyKVM0"
            specs = (parse_endpoint({"endpoint": f"pty:{link}"}, "serial[0]"),)
        sessions: set[str] = set()

        def on_event(kind: str, detail: str) -> None:
            name = detail.split(":", 1)[0]
            if kind == "connected":
                sessions.add(name)
            elif kind == "disconnected":
                sessions.discard(name)
            board.counters["serial_sessions"] = len(sessions)
            if kind in SERIAL_EVENTS_LOGGED:
                board.journal.record(f"serial_{kind}", "serial", (), None, {"detail": detail})
            log.info("serial %s: %s", kind, detail)

        for spec in specs:
            endpoint = SerialEndpoint(spec, board, on_event)
            if endpoint.warning:
                log.warning("serial %s: %s", spec.name, endpoint.warning)
                board.journal.record(
                    "serial_warning", "system", (), None, {"warning": endpoint.warning}
                )
            await endpoint.start()
            self._serial.append(endpoint)
        board.extra_state["serial"] = lambda: [e.describe() for e in self._serial]

    def _start_buttons(self, board: Switchboard) -> None:
        spec = self.config.buttons
        if spec is None:
            return
        from kvmswitchd.console.gpio import GpioButtons

        def press(name: str) -> None:
            step = name in ("next", "prev")
            command = Step(1 if name == "next" else -1) if step else SwitchTo(name)
            board.run(command, Origin(Source.BUTTON, detail=f"gpio button {name}"))

        self._buttons = GpioButtons(spec, press)
        self._buttons.start()

    def _start_console(self, board: Switchboard) -> None:
        loop = asyncio.get_running_loop()

        def warn(message: str) -> None:
            log.warning("console: %s", message)
            board.journal.record("console", "system", (), None, {"message": message})

        self._sources = build_sources(
            self.config.console.devices, board.router, clock=loop.time, warn=warn
        )
        for source in self._sources:
            source.start()

        def show_leds(leds: Leds) -> None:
            on = leds_from_hid(leds.to_usb())
            for source in self._sources:
                source.set_leds(on)

        board.on_console_leds = show_leds
        show_leds(board.console_leds)

    def _rearm_hotkeys(self, deadline: float | None) -> None:
        if self._hotkey_timer is not None:
            if deadline is not None and self._hotkey_timer.when() == deadline:
                return
            self._hotkey_timer.cancel()
            self._hotkey_timer = None
        if deadline is not None:
            loop = asyncio.get_running_loop()
            self._hotkey_timer = loop.call_at(deadline, self._hotkey_fire)

    def _hotkey_fire(self) -> None:
        self._hotkey_timer = None
        if self.board is not None:
            self.board.router.handle_timer(asyncio.get_running_loop().time())

    async def _start_http(self, board: Switchboard) -> None:
        from web.app import create_app

        http = self.config.http

        def km_focus() -> str:
            return str(board.core.focus_of(Channel.KM))

        app = create_app(
            board,
            max_body=http.max_body,
            accounts=self.accounts,
            km_focus=km_focus,
            allowed_origins=frozenset(http.allowed_origins),
            storage=board.storage,
        )
        ssl_context = None
        if http.tls_cert is not None and http.tls_key is not None:
            ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            try:
                ssl_context.load_cert_chain(http.tls_cert, http.tls_key)
            except (OSError, ssl.SSLError) as exc:
                raise ConfigError(
                    "http.tls_cert", f"cannot load the certificate/key: {exc}"
                ) from None
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(
            self._runner, http.listen_host, http.listen_port, ssl_context=ssl_context
        )
        await site.start()
        host, port = self._runner.addresses[0][:2]
        shown = f"[{host}]" if ":" in host else host
        scheme = "https" if ssl_context is not None else "http"
        self.http_url = f"{scheme}://{shown}:{port}"

    def banner(self) -> list[str]:
        """Lines printed at start: where each control channel can be reached."""
        lines = []
        server = self.board.backends.usbip if self.board is not None else None
        if server is not None:
            host, port = server.address
            lines.append(f"USB/IP exports on {host}:{port} (usbip attach -r {host} -b 1-<port>)")
        if self.accounts is None:
            lines.append("authentication is OFF ([http] auth = false): loopback clients only")
        elif self.setup_token is not None:
            lines.append(
                f"first start: create the admin account at {self.http_url}/ with the one-time "
                f"setup token {self.setup_token} (also in {self.accounts.setup_path})"
            )
        for endpoint in self._serial:
            spec = endpoint.spec
            where = endpoint.path or endpoint.device or spec.endpoint
            if endpoint.address is not None:
                where = f"tcp://{endpoint.address[0]}:{endpoint.address[1]}"
            lines.append(f"serial {spec.dialect} endpoint {spec.name} on {where}")
        return lines

    def request_stop(self) -> None:
        self._stopped.set()

    async def wait_stopped(self) -> None:
        await self._stopped.wait()

    async def stop(self) -> None:
        """Clean shutdown: release-all on every port, stop listeners, flush state."""
        board = self.board
        if self._hotkey_timer is not None:
            self._hotkey_timer.cancel()
        for endpoint in self._serial:
            await endpoint.stop()
        self._serial = []
        if self._buttons is not None:
            self._buttons.close()
            self._buttons = None
        for source in self._sources:
            source.close()  # releases what the console devices held, through the router
        self._sources = []
        if board is not None:
            board.release_everything()
            board.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if board is not None:
            for port in board.links.values():
                await port.target.stop()
            await board.backends.stop()
            if self._saver is not None:
                await self._saver.flush()
            if self.accounts is not None:
                await self.accounts.flush()
            if board.storage is not None:
                board.storage.close()
            board.journal.record("shutdown", "system")
            board.journal.close()
            self.board = None
