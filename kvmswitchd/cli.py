"""``kvmswitchd``: the daemon's command line (SPEC §10)."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import signal
import sys
from pathlib import Path

from kvmswitchd import __version__, systemd
from kvmswitchd.config import Config, load_config, with_overrides
from kvmswitchd.errors import ConfigError, KvmError, StateDirError
from kvmswitchd.preflight import preflight

EXIT_CONFIG = 2  # also: the state directory is in use by another daemon, or unsafe
# Files the daemon creates are private unless it says otherwise (images, the pty link,
# anything a library writes into the state dir): group and others get nothing.
UMASK = 0o077


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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, str(args.log_level).upper(), logging.INFO),
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
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
