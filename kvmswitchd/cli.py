"""``kvmswitchd``: the daemon's command line (SPEC §10)."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kvmswitchd import __version__, systemd
from kvmswitchd.config import Config, GadgetConfig, load_config, with_overrides
from kvmswitchd.errors import ConfigError, KvmError, StateDirError
from kvmswitchd.preflight import preflight

if TYPE_CHECKING:
    from kvmswitchd.gadget.apply import Configfs, SetupResult

EXIT_CONFIG = 2  # also: the state directory is in use by another daemon, or unsafe
# Files the daemon creates are private unless it says otherwise (images, the pty link,
# anything a library writes into the state dir): group and others get nothing.
UMASK = 0o077
Kernel = Callable[[GadgetConfig], "Configfs"]


def setup_json(result: SetupResult) -> dict[str, Any]:
    """What ``gadget setup --json`` prints: per port, its gadget, UDC and nodes."""
    return {
        "ports": [
            {
                "port": b.unit,
                "gadget": str(b.gadget),
                "udc": b.udc,
                "action": b.action.value,
                "hidg_keyboard": b.keyboard,
                "hidg_mouse": b.mouse,
                "lun": str(b.lun),
            }
            for b in result.built
        ],
        "removed": list(result.removed),
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kvmswitchd",
        description="IP KVM switch daemon. With no arguments: 4 emulated ports, web UI on "
        "http://127.0.0.1:8080, a text serial endpoint on a pty.",
    )
    parser.add_argument("--version", action="version", version=f"kvmswitchd {__version__}")
    parser.add_argument("--config", type=Path, help="TOML configuration file")
    parser.add_argument("--check-config", type=Path, metavar="FILE", help="validate FILE and exit")
    parser.add_argument("--ports", type=int, help="number of ports (2..64)")
    parser.add_argument("--listen", help="HTTP address HOST:PORT (default 127.0.0.1:8080)")
    parser.add_argument("--state-dir", type=Path, help="state directory")
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING, ERROR")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    gadget = commands.add_parser(
        "gadget",
        help="build or remove the USB gadgets of the gadget ports (configfs; run as root)",
        description="Build (setup) or remove (teardown) one USB gadget per "
        'target = "gadget" port in configfs. Both are idempotent.',
    )
    gadget.add_argument("action", choices=("setup", "teardown"))
    # SUPPRESS: given before the subcommand, `--config` is not overwritten with None
    gadget.add_argument("--config", type=Path, default=argparse.SUPPRESS, help="TOML file")
    gadget.add_argument("--json", action="store_true", help="print what was built as JSON")
    chip = commands.add_parser(
        "ch9329-chip",
        help="run an emulated CH9329 cable on a pty (try a ch9329 port with no hardware)",
        description="Open a pseudo-terminal with an emulated CH9329 chip and a virtual "
        "computer behind it, print its path, then what the computer types. Point a "
        'target = "ch9329" port\'s ch9329_device at the path. Stop with Ctrl-C.',
    )
    chip.add_argument("--link", help="also make this symlink to the pty (a stable path)")
    chip.add_argument("--address", type=int, default=0, help="the chip's address, 0..254")
    chip.add_argument("--mouse", choices=("relative", "absolute"), default="relative")
    return parser


def configure(args: argparse.Namespace) -> Config:
    config = load_config(args.config)
    return with_overrides(config, ports=args.ports, listen=args.listen, state_dir=args.state_dir)


def check_config(args: argparse.Namespace) -> int:
    """``--check-config FILE``: the daemon's own preflight, on FILE and the flags given."""
    config = with_overrides(load_config(args.check_config), ports=args.ports, listen=args.listen)
    findings = preflight(config)
    for warning in findings.warnings:
        print(f"kvmswitchd: warning: {warning}", file=sys.stderr)
    for error in findings.errors:  # the first is the one the daemon would stop on
        print(f"kvmswitchd: configuration error: {error.error()}", file=sys.stderr)
    if findings.errors:
        return EXIT_CONFIG
    print(f"{args.check_config}: OK")
    return 0


async def serve(config: Config) -> int:
    from kvmswitchd.daemon import Daemon  # here, so --check-config doesn't load the web stack

    daemon = Daemon(config)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, daemon.request_stop)
    try:
        await daemon.start()
    except BaseException:
        await daemon.stop()  # whatever started is stopped, the state dir's lock released
        raise
    # Everything built so far lives as long as the daemon: move it out of the garbage
    # collector's sight, so later collections stay short (no full-heap pause on the input
    # path). Only the real process does this; tests start many daemons in one interpreter.
    gc.collect()
    gc.freeze()
    for problem in daemon.startup_problems:
        print(f"kvmswitchd: warning: {problem}", file=sys.stderr)
    print(f"kvmswitchd: {config.ports} ports; web UI and API on {daemon.http_url}", flush=True)
    print(f"kvmswitchd: state in {daemon.state_dir}", flush=True)
    for line in daemon.banner():
        print(f"kvmswitchd: {line}", flush=True)
    systemd.notify("READY=1")
    interval = systemd.watchdog_interval()
    pinger = asyncio.create_task(systemd.watchdog(interval)) if interval else None
    await daemon.wait_stopped()
    systemd.notify("STOPPING=1")
    if pinger is not None:
        pinger.cancel()
    await daemon.stop()
    print("kvmswitchd: stopped", file=sys.stderr, flush=True)
    return 0


def gadget_command(args: argparse.Namespace, kernel: Kernel | None) -> int:
    """``kvmswitchd gadget setup|teardown``: prints what it built (the hidg nodes) or
    removed. Exit 0 on success, 1 if the kernel lacks something, 2 on a config error."""
    config = load_config(args.config)
    if kernel is None:
        from kvmswitchd.gadget.apply import Configfs  # only this command needs it

        kernel = Configfs
    try:
        return _gadget(args, config, kernel(config.gadget))
    except ConfigError:
        raise  # main() reports it, exit 2
    except (OSError, KvmError) as exc:
        print(f"kvmswitchd gadget {args.action}: {exc}", file=sys.stderr)
        return 1


def _gadget(args: argparse.Namespace, config: Config, configfs: Configfs) -> int:
    if args.action == "teardown":
        removed = configfs.teardown()
        if args.json:
            print(json.dumps({"removed": list(removed)}))
        for name in removed:
            print(f"kvmswitchd: removed gadget {name}")
        if not removed and not args.json:
            print("kvmswitchd: no gadget of ours to remove")
        return 0
    result = configfs.setup(config.port(u) for u in range(1, config.ports + 1))
    if args.json:
        print(json.dumps(setup_json(result)))
        return 0
    for name in result.removed:
        print(f"kvmswitchd: removed gadget {name} (its port is no longer a gadget port)")
    for built in result.built:
        print(
            f"kvmswitchd: port {built.unit}: {built.gadget.name} on {built.udc} "
            f"({built.action}): keyboard {built.keyboard}, mouse {built.mouse}, "
            f"storage {built.lun}"
        )
    if not result.built:
        print("kvmswitchd: no gadget ports in the configuration; nothing to build")
    return 0


def chip_command(args: argparse.Namespace) -> int:
    """``kvmswitchd ch9329-chip``: an emulated CH9329 on a pty until Ctrl-C."""
    from kvmswitchd.targets.ch9329_pty import serve_chip  # only this command needs it

    if not 0 <= args.address <= 0xFE:
        raise ConfigError("--address", "expected 0..254 (255 is broadcast)")
    asyncio.run(serve_chip(args.link, args.address, args.mouse, sys.stdout))
    return 0


def main(argv: list[str] | None = None, *, kernel: Kernel | None = None) -> int:
    """The command line. ``kernel`` builds the gadget applier (tests: a stand-in)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, str(args.log_level).upper(), logging.INFO),
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        if args.command == "gadget":
            return gadget_command(args, kernel)
        if args.command == "ch9329-chip":
            return chip_command(args)
        if args.check_config is not None:
            return check_config(args)
        config = configure(args)
        preflight(config).raise_first()  # what Daemon.start checks, before any event loop
        os.umask(UMASK)
        return asyncio.run(serve(config))
    except ConfigError as exc:
        print(f"kvmswitchd: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except StateDirError as exc:  # in use by another daemon (its PID), or unsafe
        print(f"kvmswitchd: cannot start: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except (OSError, KvmError) as exc:  # a device or port the config names is not usable now
        print(f"kvmswitchd: cannot start: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
