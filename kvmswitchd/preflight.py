"""Preflight: every check the daemon makes on its configuration before it opens anything.

``preflight(config)`` is the one function both ``kvmswitchd --check-config FILE`` and
``Daemon.start`` run, so the check refuses exactly what the daemon refuses, with the same
message naming the key path. Its ``Findings`` hold errors (the daemon refuses to start on
the first) and named warnings: legal configurations that are unsafe or useless, printed
by the check and logged (and journaled) by the daemon at start.

With ``files=True`` it also looks at the files the configuration names: the TLS pair is
loaded with ``ssl`` exactly as the daemon loads it (``server_tls``), and the places where
the daemon would create a pty link or a console fifo must be usable. What only the
running system can tell (a TCP port already taken, a device that appears later) is left
to the start.
"""

from __future__ import annotations

import grp
import ipaddress
import os
import ssl
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from kvmswitchd.config import Config, HttpConfig
from kvmswitchd.errors import ConfigError
from kvmswitchd.serial.endpoint import EndpointSpec, LinkKind
from kvmswitchd.syslog.settings import SyslogConfig, Transport

# A certificate chain or a key is a few kilobytes. The cap stops a wrong path (a disk
# image, a log, /dev/zero behind a symlink) from being read whole into memory.
MAX_TLS_FILE_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem: ``name`` is stable (for tests, docs and log searches), ``path`` the key."""

    name: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message} [{self.name}]"

    def error(self) -> ConfigError:
        """The exception the daemon raises for this finding (its text: ``path: message``)."""
        return ConfigError(self.path, self.message)


@dataclass(frozen=True, slots=True)
class Findings:
    errors: tuple[Finding, ...] = ()
    warnings: tuple[Finding, ...] = ()

    def raise_first(self) -> None:
        """Raise the first error as a ConfigError (what the daemon does at start)."""
        if self.errors:
            raise self.errors[0].error()


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def preflight(config: Config, *, files: bool = True) -> Findings:
    """Every refusal and warning for ``config``; ``files`` also checks the named files."""
    errors = list(_errors(config))
    if files:
        errors += _file_errors(config)
    return Findings(tuple(errors), tuple(_warnings(config)))


# -- refusals ------------------------------------------------------------------------


def _errors(config: Config) -> Iterator[Finding]:
    http = config.http
    if not http.auth and not is_loopback(http.listen_host):
        yield Finding(
            "auth_off_network",
            "http.auth",
            f"auth = false is allowed on a loopback address only, not {http.listen_host}",
        )
    if config.usbip_allow is None and not is_loopback(config.usbip_host):
        # USB/IP has no login: without a list, any host that reaches the listener could
        # import a port, read its keystrokes and its storage.
        yield Finding(
            "usbip_no_allow_list",
            "usbip.allow",
            f"usbip.listen is {config.usbip_host}, not a loopback address: list the hosts "
            'that may import ports (allow = ["192.0.2.10", "10.0.0.0/24"]); USB/IP has no '
            "login or encryption",
        )


def _file_errors(config: Config) -> Iterator[Finding]:
    try:
        server_tls(config.http)
    except ConfigError as exc:
        yield Finding("tls_unusable", exc.path, exc.message)
    if config.syslog is not None and config.syslog.transport is Transport.TLS:
        try:
            syslog_tls(config.syslog)
        except ConfigError as exc:
            yield Finding("syslog_tls_unusable", exc.path, exc.message)
    for index, spec in enumerate(config.serial or ()):
        if spec.kind is LinkKind.PTY and spec.path is not None:
            # the daemon replaces a symlink there (links.place_symlink), never a file
            problem = _creatable(Path(spec.path), "pty link", "symlink", stat.S_ISLNK)
            if problem:
                yield Finding("serial_path_unusable", f"serial[{index}].endpoint", problem)
    for index, device in enumerate(config.console.devices):
        if device.kind == "fifo" and device.path:
            # the daemon uses a FIFO there, following symlinks (fifo.ensure_fifo)
            problem = _creatable(
                Path(device.path), "console fifo", "FIFO", stat.S_ISFIFO, follow=True
            )
            if problem:
                yield Finding("console_path_unusable", f"console.devices[{index}]", problem)
    if config.buttons is not None and not os.path.exists(config.buttons.chip):
        yield Finding(
            "gpio_chip_missing",
            "buttons.chip",
            f"{config.buttons.chip} does not exist (is this the switch's own board?)",
        )


def _creatable(
    path: Path, what: str, kind: str, right_kind: Callable[[int], bool], *, follow: bool = False
) -> str | None:
    """Why the daemon could not place its ``what`` at ``path`` (None: it can)."""
    try:
        mode = (path.stat() if follow else path.lstat()).st_mode
    except (FileNotFoundError, NotADirectoryError):  # nothing there: look at the directory
        if path.is_symlink():
            return f"{path} is a symlink to nothing; refusing to create the {what} through it"
    except OSError as exc:
        return f"cannot look at {path}: {exc.strerror}"
    else:
        if right_kind(mode):
            return None  # the daemon reuses or replaces it
        return f"{path} exists and is not a {kind}; refusing to replace it with the {what}"
    parent = path.parent
    if not parent.is_dir():
        why = "is not a directory" if parent.exists() else "does not exist"
        return f"cannot create the {what} {path}: {parent} {why}"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"cannot create the {what} {path}: the directory {parent} is not writable"
    return None


# -- TLS -----------------------------------------------------------------------------


def server_tls(http: HttpConfig) -> ssl.SSLContext | None:
    """The HTTPS context for ``http`` (None without TLS). Raises ConfigError naming
    ``http.tls_cert`` or ``http.tls_key``: missing, not a file, unreadable, not PEM,
    encrypted, or a key that is not the certificate's."""
    cert, key = http.tls_cert, http.tls_key
    if cert is None or key is None:
        return None
    _readable_file(cert, "http.tls_cert")
    _readable_file(key, "http.tls_key")

    def no_passphrase() -> bytes:
        # OpenSSL would otherwise prompt on the terminal, which a daemon does not have.
        raise ConfigError("http.tls_key", f"{key} is encrypted; store the key without a passphrase")

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key, password=no_passphrase)
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            raise ConfigError(
                "http.tls_key", f"{key} is not the private key of the certificate in {cert}"
            ) from None
        try:
            ssl.create_default_context().load_verify_locations(cafile=cert)
        except ssl.SSLError:
            raise ConfigError("http.tls_cert", f"{cert} holds no PEM certificate") from None
        raise ConfigError("http.tls_key", f"{key} holds no PEM private key") from None
    except OSError as exc:  # gone or changed between the checks above and here
        raise ConfigError("http.tls_cert", f"cannot load {cert}: {exc.strerror}") from None
    return context


def syslog_tls(syslog: SyslogConfig) -> ssl.SSLContext:
    """The client context for a ``tls://`` collector: its certificate verified against
    ``tls_ca`` (else the system's CAs) and its name; ours presented if ``tls_cert`` is set.
    Raises ConfigError naming ``syslog.tls_ca``, ``syslog.tls_cert`` or ``syslog.tls_key``."""
    ca, cert, key = syslog.tls_ca, syslog.tls_cert, syslog.tls_key
    if ca is not None:
        _readable_file(ca, "syslog.tls_ca")
    try:
        context = ssl.create_default_context(cafile=ca)
    except (ssl.SSLError, OSError):
        raise ConfigError("syslog.tls_ca", f"{ca} holds no PEM certificate") from None
    if cert is not None:
        _readable_file(cert, "syslog.tls_cert")
        if key is not None:
            _readable_file(key, "syslog.tls_key")

        def no_passphrase() -> bytes:
            raise ConfigError("syslog.tls_key", "the key is encrypted; store it without one")

        try:
            context.load_cert_chain(cert, key, password=no_passphrase)
        except (ssl.SSLError, OSError):
            raise ConfigError(
                "syslog.tls_cert", f"cannot load a certificate and its key from {cert}"
            ) from None
    return context


def _readable_file(path: Path, key: str) -> None:
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(key, f"expected a PEM file, but {path} is not a regular file")
        if info.st_size > MAX_TLS_FILE_BYTES:
            raise ConfigError(
                key, f"{path} is {info.st_size} bytes; a PEM file is under {MAX_TLS_FILE_BYTES}"
            )
        with path.open("rb") as handle:
            handle.read(1)
    except FileNotFoundError:
        raise ConfigError(key, f"{path} does not exist") from None
    except OSError as exc:
        raise ConfigError(key, f"cannot read {path}: {exc.strerror}") from None


# -- warnings ------------------------------------------------------------------------


def _warnings(config: Config) -> Iterator[Finding]:
    http = config.http
    if http.auth and http.tls_cert is None and not is_loopback(http.listen_host):
        yield Finding(
            "http_plaintext",
            "http.listen",
            f"{http.listen_host} is not a loopback address and TLS is off: passwords and "
            "session cookies cross the network in clear (set http.tls_cert and http.tls_key)",
        )
    usbip_ports = [u for u in range(1, config.ports + 1) if config.port(u).target == "usbip"]
    if usbip_ports and not is_loopback(config.usbip_host):
        allowed = ", ".join(config.usbip_allow or ())
        yield Finding(
            "usbip_no_login",
            "usbip.listen",
            f"USB/IP has no login or encryption: any host in usbip.allow ({allowed}) that "
            f"reaches {config.usbip_host}:{config.usbip_port} can attach port(s) "
            f"{', '.join(map(str, usbip_ports))}, and its traffic crosses the network in clear",
        )
    syslog = config.syslog
    if syslog and syslog.transport is not Transport.TLS and not is_loopback(syslog.host):
        yield Finding(
            "syslog_plaintext",
            "syslog.target",
            f"{syslog.target} is not a loopback address and not tls://: the audit records "
            "(user names, failed logins) cross the network in clear and can be forged",
        )
    yield from _usbip_port_warnings(config, usbip_ports)
    yield from _ch9329_warnings(config)
    yield from _qmp_warnings(config)
    for index, spec in enumerate(config.serial or ()):
        yield from serial_endpoint_warnings(spec, f"serial[{index}]", config)


def _qmp_warnings(config: Config) -> Iterator[Finding]:
    """A qemu port's QMP over TCP to another host: QMP has no login and owns the VM."""
    for unit in range(1, config.ports + 1):
        qmp = config.port(unit).qmp or ""
        if not qmp.startswith("tcp:"):
            continue
        host = qmp[4:].rpartition(":")[0].strip("[]")
        if not is_loopback(host):
            yield Finding(
                "qmp_not_loopback",
                f"ports.{unit}.qmp",
                f"QMP at {host} has no login or encryption: anyone who reaches it controls "
                "the VM (power, devices, memory); keep it on a unix socket or loopback",
            )


def _usbip_port_warnings(config: Config, units: list[int]) -> Iterator[Finding]:
    """A ``ports.N.usbip_allow`` entry the listener's list does not cover admits nobody."""
    listener = [ipaddress.ip_network(a) for a in config.usbip_allow or ("127.0.0.0/8", "::1/128")]
    for unit in units:
        for index, entry in enumerate(config.port(unit).usbip_allow or ()):
            network = ipaddress.ip_network(entry)
            if not any(
                network.network_address in outer and network.broadcast_address in outer
                for outer in listener
            ):
                yield Finding(
                    "usbip_port_allow_unreachable",
                    f"ports.{unit}.usbip_allow[{index}]",
                    f"{entry} is outside usbip.allow, so the listener closes it before it "
                    "can import this port",
                )


def _ch9329_warnings(config: Config) -> Iterator[Finding]:
    """A CH9329 device that is not there (the port waits for it) or that this user may not
    open (the daemon's user needs the tty's group, usually dialout)."""
    for unit in range(1, config.ports + 1):
        device = config.port(unit).ch9329_device
        if device is None or device == "emulated":
            continue
        path = f"ports.{unit}.ch9329_device"
        if not os.path.exists(device):
            yield Finding(
                "ch9329_device_missing",
                path,
                f"{device} does not exist now: the port stays offline until it appears",
            )
        elif not os.access(device, os.R_OK | os.W_OK):
            try:
                group = grp.getgrgid(os.stat(device).st_gid).gr_name
            except (KeyError, OSError):
                group = "its group"
            yield Finding(
                "ch9329_device_denied",
                path,
                f"this user may not read and write {device}: add the daemon's user to "
                f"{group} (usually dialout), or fix the udev rule",
            )


def serial_endpoint_warnings(spec: EndpointSpec, path: str, config: Config) -> Iterator[Finding]:
    """Warnings about one ``[[serial]]`` endpoint, from ``EndpointSpec.warnings``: a login
    nobody can give (no accounts), a dialect without login open to the whole network."""
    for text in spec.warnings(auth=config.http.auth):
        message = text.removeprefix(f"{spec.key}: ")
        if spec.login_required:
            yield Finding("serial_login_impossible", f"{path}.login", message)
        else:
            yield Finding("serial_no_login", f"{path}.dialect", message)
