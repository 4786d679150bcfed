"""The one error tree of the daemon (HOUSE-STYLE §5).

The HTTP layer maps these to statuses in one place (``web.errors``); serial dialects
turn them into ``ERR <reason>`` replies.
"""

from __future__ import annotations


class KvmError(Exception):
    """Root of every error the daemon raises on purpose."""

    code = "error"


class ConfigError(KvmError):
    """The configuration is invalid. ``path`` names the key (``ports.2.keyboard``)."""

    code = "bad_config"

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message


class InputError(KvmError):
    """A request carried a value that is wrong (a bad port id, an unknown key name...)."""

    code = "bad_request"


class TooLargeError(InputError):
    """A request is over a size cap: an image, an upload, a user's storage quota (413)."""

    code = "too_large"


class QuotaError(TooLargeError):
    """An upload or a new image would take a user past their storage quota (413)."""

    code = "quota_exceeded"


class StalledError(InputError):
    """A client stopped sending in the middle of a request body (408)."""

    code = "timeout"


class PortError(KvmError):
    """A port id names no port of this unit."""

    code = "unknown_port"


class NotFoundError(KvmError):
    """A named thing (image, user, route object) does not exist."""

    code = "not_found"


class BusyError(KvmError):
    """The request conflicts with the current state (storage held, image attached...)."""

    code = "busy"


class DeviceError(KvmError):
    """A device (serial line, hidg node, VM, USB/IP peer) failed or went away."""

    code = "device_error"


class SaveError(KvmError):
    """A change could not be saved (disk full, read-only, I/O error), so it was not made:
    memory and the file are as before (503)."""

    code = "not_saved"


class NoSpaceError(DeviceError):
    """The state disk is full, or a write would eat into the space kept free for state
    saves and logins (507 Insufficient Storage)."""

    code = "no_space"


class ProtocolError(KvmError):
    """A protocol was violated. See the two leaves."""

    code = "protocol_error"


class LocalProtocolError(ProtocolError):
    """We misused a protocol (a bug on our side)."""


class RemoteProtocolError(ProtocolError):
    """The peer misbehaved: garbage, an over-long frame, a bad checksum."""


class AuthError(KvmError):
    """Not authenticated (401)."""

    code = "unauthorized"


class PermissionDenied(KvmError):
    """Authenticated but not allowed (403)."""

    code = "forbidden"


class StateFileError(KvmError):
    """A state file is corrupt or truncated; it is moved aside and defaults are used."""

    code = "bad_state"


class StateDirError(KvmError):
    """The state directory can't be used safely (a planted symlink, not a directory...).
    The daemon refuses to start (exit 2) rather than follow or overwrite it."""

    code = "bad_state_dir"


class StateDirLockedError(StateDirError):
    """Another daemon holds the state directory's lock; ``pid`` is its PID if known."""

    code = "state_dir_locked"

    def __init__(self, path: object, pid: int | None) -> None:
        who = f"PID {pid}" if pid is not None else "a process whose PID is not recorded yet"
        super().__init__(f"the state directory {path} is in use by another kvmswitchd ({who})")
        self.path = path
        self.pid = pid
