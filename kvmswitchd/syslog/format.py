"""RFC 5424 syslog messages from event-log entries, and their framing (sans-IO).

``Formatter.message(entry)`` builds one SYSLOG-MSG (RFC 5424 §6)::

    <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [kvm@32473 ...][kvmDetail@32473 ...] BOM MSG

Our structured data lives under SD-IDs of the ``name@<private enterprise number>`` form
(RFC 5424 §7.2.2). 32473 is the number IANA reserves for documentation (RFC 5612), used
here as a placeholder until the project registers its own; the SD-IDs are constants below.

``[kvm@32473]`` carries the audit fields: ``kind``, ``source`` (http, serial, hotkey, ...),
``user`` (absent for none), ``ports`` (comma-separated), ``seq`` (the journal's number).
``[kvmDetail@32473]`` carries the entry's scalar details (``to``, ``via``, ``remote``...).
MSG is the entry's one-line description, UTF-8 with the BOM (§6.4).

Everything a peer or a user can put into an entry is made safe here: header fields are
PRINTUSASCII of bounded length, SD values are escaped (``"`` ``\\`` ``]``, §6.3.3), control
characters anywhere become ``\\xNN`` text (a name with a newline can't forge a record in a
collector's plain-text file), and the whole message never exceeds ``max_bytes``: detail
parameters are dropped first, then MSG is cut on a character boundary.

``octet_counted(message)`` frames a message for TCP (RFC 6587 §3.4.1) and TLS (RFC 5425
§4.3): ``MSG-LEN SP SYSLOG-MSG``. UDP sends one message per datagram (RFC 5426).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum

from kvmswitchd.core.eventlog import LogEntry, describe

SD_ID = "kvm@32473"
SD_DETAIL_ID = "kvmDetail@32473"
BOM = b"\xef\xbb\xbf"
NILVALUE = "-"

# RFC 5424 §6 field limits, in PRINTUSASCII characters.
MAX_HOSTNAME = 255
MAX_APP_NAME = 48
MAX_PROCID = 128
MAX_MSGID = 32
MAX_PARAM_NAME = 32
# Caps on what one entry contributes, so a user name or detail a peer chose (a failed
# login's attempted name, a port name) can't crowd out the audit fields or bloat a record.
MAX_SD_VALUE = 80  # characters of one SD value before escaping (<= 320 bytes after)
MAX_DETAIL_PARAMS = 12  # scalar detail keys carried in [kvmDetail@32473]
# The smallest message size one may configure: the header (at most ~500 bytes with the
# longest hostname) plus [kvm@32473] (4 values of at most 4 x MAX_SD_VALUE bytes, a seq)
# always fit, with room left for MSG.
MIN_MESSAGE_BYTES = 2048
# RFC 5426 §3.2: the largest UDP payload over IPv4.
MAX_MESSAGE_BYTES = 65507

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NOT_PRINTUSASCII = re.compile(r"[^\x21-\x7e]")
_NOT_PARAM_NAME = re.compile(r'[^\x21-\x7e]|[= \]"]')


class Facility(IntEnum):
    """RFC 5424 §6.2.1 facility codes."""

    KERN = 0
    USER = 1
    MAIL = 2
    DAEMON = 3
    AUTH = 4
    SYSLOG = 5
    LPR = 6
    NEWS = 7
    UUCP = 8
    CRON = 9
    AUTHPRIV = 10
    FTP = 11
    NTP = 12
    AUDIT = 13
    ALERT = 14
    CLOCK = 15
    LOCAL0 = 16
    LOCAL1 = 17
    LOCAL2 = 18
    LOCAL3 = 19
    LOCAL4 = 20
    LOCAL5 = 21
    LOCAL6 = 22
    LOCAL7 = 23


class Severity(IntEnum):
    """RFC 5424 §6.2.1 severity codes."""

    EMERGENCY = 0
    ALERT = 1
    CRITICAL = 2
    ERROR = 3
    WARNING = 4
    NOTICE = 5
    INFO = 6
    DEBUG = 7


# How serious each kind of entry is; any other kind is INFO.
SEVERITY: Mapping[str, Severity] = {
    "switch": Severity.NOTICE,
    "login": Severity.NOTICE,
    "logout": Severity.NOTICE,
    "rename": Severity.NOTICE,
    "login_failed": Severity.WARNING,
    "serial_login_failed": Severity.WARNING,
    "refused": Severity.WARNING,
    "noise_summary": Severity.WARNING,
    "syslog_dropped": Severity.WARNING,
    "device_lost": Severity.ERROR,
    "device_missing": Severity.ERROR,
    "state_reset": Severity.ERROR,
}


def header_field(value: str, limit: int) -> str:
    """A header field: PRINTUSASCII only (others become ``_``), at most ``limit``, or
    NILVALUE when nothing is left."""
    cleaned = _NOT_PRINTUSASCII.sub("_", value)[:limit]
    return cleaned or NILVALUE


def param_name(value: str) -> str:
    """An SD PARAM-NAME: PRINTUSASCII except ``=``, space, ``]`` and ``"``; 1..32 chars."""
    return _NOT_PARAM_NAME.sub("_", value)[:MAX_PARAM_NAME] or "_"


def visible(text: str) -> str:
    """``text`` with every control character written out as ``\\xNN`` (or ``\\uNNNN``)."""

    def spell(match: re.Match[str]) -> str:
        code = ord(match.group())
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"

    return _CONTROL.sub(spell, text)


def _utf8(text: str) -> str:
    """``text`` with what UTF-8 can't encode (lone surrogates) replaced."""
    return text.encode("utf-8", "replace").decode("utf-8")


def sd_value(value: str) -> str:
    """An escaped PARAM-VALUE (RFC 5424 §6.3.3): controls spelt out, capped, then ``\\``,
    ``"`` and ``]`` escaped with a backslash."""
    capped = visible(_utf8(value))[:MAX_SD_VALUE]
    return capped.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def sd_element(sd_id: str, params: list[tuple[str, str]]) -> str:
    inner = "".join(f' {param_name(name)}="{sd_value(value)}"' for name, value in params)
    return f"[{sd_id}{inner}]"


def civil(days: int) -> tuple[int, int, int]:
    """(year, month, day) of ``days`` since 1970-01-01 in the proleptic Gregorian calendar
    (H. Hinnant's days-to-civil; arithmetic, so this module needs no datetime or clock)."""
    days += 719_468
    era = days // 146_097
    day_of_era = days - era * 146_097
    year_of_era = (
        day_of_era - day_of_era // 1460 + day_of_era // 36_524 - day_of_era // 146_096
    ) // 365
    day_of_year = day_of_era - (365 * year_of_era + year_of_era // 4 - year_of_era // 100)
    shifted = (5 * day_of_year + 2) // 153  # months counted from March
    day = day_of_year - (153 * shifted + 2) // 5 + 1
    month = shifted + 3 if shifted < 10 else shifted - 9
    return year_of_era + era * 400 + (month <= 2), month, day


def timestamp(unix: float) -> str:
    """RFC 5424 §6.2.3 TIMESTAMP in UTC with microseconds (``2026-12-03T19:44:34.123456Z``);
    NILVALUE for a time outside years 1..9999 (the RFC's 4DIGIT), or not a number."""
    if not math.isfinite(unix):
        return NILVALUE
    micros = round(unix * 1_000_000)
    seconds, micro = divmod(micros, 1_000_000)
    days, second = divmod(seconds, 86_400)
    year, month, day = civil(days)
    if not 1 <= year <= 9999:
        return NILVALUE
    hour, rest = divmod(second, 3600)
    minute, second = divmod(rest, 60)
    return f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}.{micro:06d}Z"


def _detail_params(detail: Mapping[str, object]) -> list[tuple[str, str]]:
    params: list[tuple[str, str]] = []
    for key, value in detail.items():
        if len(params) >= MAX_DETAIL_PARAMS:
            break
        if isinstance(value, bool):
            params.append((key, "true" if value else "false"))
        elif isinstance(value, str | int | float):
            params.append((key, str(value)))
        elif isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            params.append((key, ",".join(str(v) for v in value)))
    return params


def _cut_utf8(data: bytes, limit: int) -> bytes:
    """The first ``limit`` bytes of UTF-8 ``data``, not splitting a character."""
    if len(data) <= limit:
        return data
    return data[: max(0, limit)].decode("utf-8", "ignore").encode("utf-8")


@dataclass(frozen=True, slots=True)
class Formatter:
    """Turns event-log entries into RFC 5424 messages for one sender."""

    facility: Facility = Facility.LOCAL0
    hostname: str = NILVALUE
    app_name: str = "kvmswitchd"
    procid: str = NILVALUE
    max_bytes: int = MIN_MESSAGE_BYTES

    def message(self, entry: LogEntry) -> bytes:
        severity = SEVERITY.get(entry.kind, Severity.INFO)
        header = " ".join(
            (
                f"<{self.facility * 8 + severity}>1",
                timestamp(entry.time),
                header_field(self.hostname, MAX_HOSTNAME),
                header_field(self.app_name, MAX_APP_NAME),
                header_field(self.procid, MAX_PROCID),
                header_field(entry.kind, MAX_MSGID),
            )
        )
        audit = [("kind", entry.kind), ("source", entry.source)]
        if entry.user is not None:
            audit.append(("user", entry.user))
        if entry.ports:
            audit.append(("ports", ",".join(entry.ports)))
        audit.append(("seq", str(entry.seq)))
        head = f"{header} {sd_element(SD_ID, audit)}".encode()
        details = _detail_params(entry.detail)
        text = BOM + visible(_utf8(describe(entry))).encode("utf-8")
        while True:
            extra = sd_element(SD_DETAIL_ID, details).encode() if details else b""
            room = self.max_bytes - len(head) - len(extra) - 1  # the space before MSG
            if room >= len(BOM) + 1 or not details:
                break
            details.pop()  # no room for MSG: the least important detail goes first
        return head + extra + b" " + _cut_utf8(text, room)


def octet_counted(message: bytes) -> bytes:
    """RFC 6587 §3.4.1 / RFC 5425 §4.3 framing: ``MSG-LEN SP SYSLOG-MSG``."""
    return b"%d %s" % (len(message), message)
