"""The composition root: the daemon built from its config and started — the board
(``kvmswitchd.assembly`` picks each port's backend), then accounts, storage, console,
buttons, serial endpoints and HTTP, in that order; and stopped within a bounded time.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

from aiohttp import web

from hid.leds import Leds
from kvmswitchd.accounts import Accounts
from kvmswitchd.assembly import build_board
from kvmswitchd.config import Config
from kvmswitchd.console.records import leds_from_hid
from kvmswitchd.console.sources import ConsoleSource, build_sources
from kvmswitchd.core.commands import Origin, Source, Step, SwitchTo
from kvmswitchd.core.guard import Actor, ActorKind
from kvmswitchd.core.permissions import Permission, Role
from kvmswitchd.core.ports import Channel, PortId
from kvmswitchd.errors import ConfigError, StateFileError
from kvmswitchd.preflight import Finding, preflight, server_tls
from kvmswitchd.serial.adapter import SerialEndpoint
from kvmswitchd.serial.endpoint import Dialect, parse_endpoint
from kvmswitchd.statedir import StateDir
from kvmswitchd.statefile import StateFile, StateSaver
from kvmswitchd.switchboard import Switchboard
from kvmswitchd.syslog.sender import SyslogForwarder, start_forwarder

log = logging.getLogger(__name__)

# The rights of a serial line that requires a login, with nobody logged in: none.
NO_RIGHTS = (Role.VIEWER, {Permission.VIEW: frozenset[str]()})

# Daemon.stop() returns within this many seconds, whatever clients or devices stall.
STOP_BUDGET = 5.0
# Of that, kept back for the last steps (state and users saved, log closed).
SAVE_RESERVE = 1.0
# In-flight HTTP requests (uploads, websockets) get this long to finish, then are cancelled.
HTTP_GRACE = 1.5
# Serial reports worth an event-log entry (connections and protocol noise go to stderr).
SERIAL_EVENTS_LOGGED = frozenset(
    {"login", "login_failed", "logout", "lease", "call", "device_missing", "device_lost", "refused"}
)


def default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "kvmswitchd"


def log_group_id(name: str | None) -> int | None:
    """The gid of the configured ``[log] group`` (ConfigError if there is none)."""
    if name is None:
        return None
    import grp

    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        raise ConfigError("log.group", f"there is no group named {name!r}") from None


class Daemon:
    def __init__(self, config: Config, state_dir: Path | None = None) -> None:
        self.config = config
        # Resolved once, here: a relative --state-dir means the directory it names now.
        self.state = StateDir(state_dir or config.state_dir or default_state_dir())
        self.state_dir = self.state.path
        self._noise_timer: asyncio.TimerHandle | None = None
        self._closing = False
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
        # opens the [buttons] GPIO lines (console.gpio.Opener); None: gpiod. Tests pass a fake.
        self.gpio_opener: Any = None
        self.setup_token: str | None = None
        self.warnings: tuple[Finding, ...] = ()  # preflight's, logged and journaled at start
        self.syslog: SyslogForwarder | None = None  # [syslog]: the event log's forwarder

    def check(self) -> tuple[Finding, ...]:
        """Refuse what the configuration can't run (before opening anything): the same
        ``preflight`` as ``--check-config``. Returns its warnings."""
        findings = preflight(self.config)
        findings.raise_first()
        self.state.group = log_group_id(self.config.log.group)
        return findings.warnings

    async def start(self) -> Switchboard:
        """Take the state dir, then start everything. If this raises, call ``stop()``
        (it stops what did start and releases the state dir's lock)."""
        self.warnings = self.check()
        loop = asyncio.get_running_loop()
        # First of all: nothing in the directory is read or written before the lock.
        self.state.acquire()
        self._closing = False
        statefile = StateFile(self.state_dir / "state.json")
        board = build_board(
            self.config,
            self.state_dir,
            statefile.load(),
            monotonic=loop.time,
            rearm=self._rearm_hotkeys,
            log_group=self.state.group,
            rearm_noise=self._rearm_noise,
        )
        self.board = board
        if self.config.syslog is not None:  # before the first record: every one is forwarded
            self.syslog = start_forwarder(self.config.syslog, board.journal)
            board.extra_state["syslog"] = self.syslog.view
        for warning in self.warnings:
            log.warning("%s", warning)
            board.journal.record(
                "config_warning",
                "system",
                (),
                None,
                {"warning": warning.name, "detail": str(warning)},
            )
        self._saver = StateSaver(statefile, board.snapshot)
        board.on_dirty = self._saver.mark_dirty
        board.persist = statefile.save
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
        from kvmswitchd.gadget.lun import GadgetLuns
        from kvmswitchd.storage.images import ImageStore
        from kvmswitchd.storage.service import StorageService
        from kvmswitchd.storage.space import SpacePolicy

        loop = asyncio.get_running_loop()
        links = board.links
        media = GadgetLuns(
            {unit: link.target.kind for unit, link in links.items()},
            {
                unit: getattr(link.target, "lun", None)
                for unit, link in links.items()
                if link.target.kind == "gadget"
            },
        )

        def on_plug(old: PortId | None, new: PortId | None) -> None:
            # USB/IP exports carry the storage device to their remote host; a gadget's LUN
            # gets the image file (the kernel serves it); emulated computers reach it
            # through the service's own host side.
            for port, transport in ((old, None), (new, storage.transport)):
                if port is None:
                    continue
                target = links[port.unit].target
                if target.kind == "usbip":
                    target.set_storage(transport)  # type: ignore[attr-defined]  # UsbipTarget
                elif target.kind == "gadget":
                    media.plug(port.unit, None if transport is None else storage.medium())
                elif target.kind == "qemu":  # QMP: blockdev-add + device_add usb-storage
                    disk = target.disk  # type: ignore[attr-defined]  # QemuTarget
                    disk.set(None if transport is None else storage.medium())

        config = self.config
        store = ImageStore.open(
            self.state_dir / "images",
            max_image_size=config.max_image_size,
            policy=SpacePolicy(quota=config.storage_quota, reserve=config.storage_reserve),
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
            upload_idle_timeout=config.upload_idle_timeout,
            media=media,
        )

        def vm_io(write: bool) -> None:  # a VM's disk counters moved: I/O just happened
            storage.io_started(write)
            storage.io_finished(write)

        for link in links.values():
            if link.target.kind == "qemu":  # the VM's disk I/O and ejects, as a host's
                disk = link.target.disk  # type: ignore[attr-defined]  # QemuTarget
                disk.on_io = vm_io
                disk.on_ejected = storage.host_ejected
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

        board.authenticator = authenticate
        board.actors.accounts = accounts.user  # every command: the account's rights now

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
            # nobody logged in: the line acts with its own rights; a line that requires a
            # login has none of its own (its user's apply)
            rights = (spec.role, spec.ports) if not spec.login_required else NO_RIGHTS
            board.actors.lines[spec.name] = Actor(spec.name, *rights, ActorKind.LINE)
            # its warnings: preflight's; every tesmart endpoint is the one unit
            endpoint = SerialEndpoint(spec, board, on_event, tesmart=board.tesmart, focus=board)
            await endpoint.start()
            self._serial.append(endpoint)
        board.extra_state["serial"] = lambda: [e.describe() for e in self._serial]
        if any(spec.dialect is Dialect.TESMART for spec in specs):
            # what TESmart clients set (buzzer, LED timeout, LAN): read-only here
            board.extra_state["tesmart"] = board.tesmart.view

    def _start_buttons(self, board: Switchboard) -> None:
        spec = self.config.buttons
        if spec is None:
            return
        from kvmswitchd.console.gpio import GpioButtons, open_lines

        def press(name: str) -> None:
            step = name in ("next", "prev")
            command = Step(1 if name == "next" else -1) if step else SwitchTo(name)
            board.run(command, Origin(Source.BUTTON, detail=f"gpio button {name}"))

        self._buttons = GpioButtons(spec, press, self.gpio_opener or open_lines)
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

    def _rearm_noise(self, deadline: float | None) -> None:
        """Wake the journal when a held-back noise summary may be written."""
        if self._noise_timer is not None:
            self._noise_timer.cancel()
            self._noise_timer = None
        if deadline is not None and not self._closing:
            delay = max(0.0, deadline - time.time())  # the journal's clock is wall time
            self._noise_timer = asyncio.get_running_loop().call_later(delay, self._noise_fire)

    def _noise_fire(self) -> None:
        self._noise_timer = None
        if self.board is not None:
            self.board.journal.handle_timer()

    def _hotkey_fire(self) -> None:
        self._hotkey_timer = None
        if self.board is not None:
            self.board.router.handle_timer(asyncio.get_running_loop().time())

    async def _start_http(self, board: Switchboard) -> None:
        from web.app import create_app
        from web.connections import Limits
        from web.listener import serve

        http = self.config.http

        app = create_app(
            board,
            max_body=http.max_body,
            accounts=self.accounts,
            allowed_origins=frozenset(http.allowed_origins),
            storage=board.storage,
            hosts=http.hosts,
            listen_host=http.listen_host,
            body_timeout=http.body_timeout,
        )
        ssl_context = server_tls(http)  # as preflight loaded it, so the same errors
        limits = Limits(http.header_timeout, http.idle_timeout, http.max_connections)
        self._runner = await serve(
            app,
            http.listen_host,
            http.listen_port,
            limits=limits,
            ssl_context=ssl_context,
            shutdown_timeout=HTTP_GRACE,
        )
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
            lines.append(
                f"USB/IP exports on {host}:{port} (on each target: kvmswitchd-attach "
                f"{host}:{port} 1-<port>, which re-attaches after a drop)"
            )
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
        if self.syslog is not None:
            lines.append(f"event log forwarded to syslog at {self.syslog.config.target}")
        return lines

    def request_stop(self) -> None:
        self._stopped.set()

    async def wait_stopped(self) -> None:
        await self._stopped.wait()

    async def stop(self) -> None:
        """Clean shutdown within ``STOP_BUDGET`` seconds: release-all on every port, stop
        listeners and devices (each step gets what is left of the budget, then is
        cancelled), save state last, release the state directory."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STOP_BUDGET - SAVE_RESERVE
        self._closing = True  # no new noise timer from here on
        board = self.board
        for timer in (self._hotkey_timer, self._noise_timer):
            if timer is not None:
                timer.cancel()
        self._noise_timer = None
        for endpoint in self._serial:
            await _bounded(endpoint.stop(), f"serial {endpoint.spec.name}", deadline)
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
            await _bounded(self._runner.cleanup(), "the web server", deadline)
            self._runner = None
        if board is not None:
            for port in board.links.values():
                await _bounded(port.target.stop(), f"port {port.unit}", deadline)
            await _bounded(board.backends.stop(), "the USB/IP server", deadline)
            final = deadline + SAVE_RESERVE
            if self._saver is not None:
                await _bounded(self._saver.flush(), "the state save", final)
            if self.accounts is not None:
                await _bounded(self.accounts.flush(), "the users save", final)
            if board.storage is not None:
                board.storage.close()
            board.journal.record("shutdown", "system")
            if self.syslog is not None:
                await _bounded(self.syslog.close(), "syslog forwarding", final)
                self.syslog = None
            board.journal.close()
            self.board = None
        self.state.release()


async def _bounded(step: Awaitable[None], what: str, deadline: float) -> None:
    """Await one shutdown step until ``deadline`` (loop time), then cancel it. A step that
    fails is logged: the steps after it still run."""
    remaining = max(0.0, deadline - asyncio.get_running_loop().time())
    try:
        await asyncio.wait_for(step, remaining)
    except TimeoutError:
        log.warning("stopping %s took too long; cancelled", what)
    except Exception:
        log.exception("stopping %s failed", what)
