"""Typed readers for the TOML configuration: each takes a table, a key and the path of
the table (``ports.2``), and raises ``ConfigError`` naming the full key path
(``ports.2.keyboard``) and what was expected. The section parsers (``config``,
``port_config``) are built from these.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kvmswitchd.errors import ConfigError


def table(value: object, path: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(path, f"expected a table, got {kind(value)}")
    return value


def kind(value: object) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}.get(
        type(value), type(value).__name__
    )


def check_keys(table: Mapping[str, Any], path: str, allowed: set[str]) -> None:
    for key in table:
        if key not in allowed:
            where = f"{path}.{key}" if path else key
            raise ConfigError(where, f"unknown key; expected one of {', '.join(sorted(allowed))}")


def integer(table: Mapping[str, Any], key: str, path: str, default: int, lo: int, hi: int) -> int:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{path}.{key}", f"expected an integer {lo}..{hi}, got {kind(value)}")
    if not lo <= value <= hi:
        raise ConfigError(f"{path}.{key}", f"expected an integer {lo}..{hi}, got {value}")
    return value


def number(
    table: Mapping[str, Any],
    key: str,
    path: str,
    default: float,
    lo: float,
    hi: float | None = None,
) -> float:
    value = table.get(key, default)
    expected = f"a number ≥ {lo}" if hi is None else f"a number {lo}..{hi}"
    bad = isinstance(value, bool) or not isinstance(value, int | float)
    if bad or not lo <= value <= (value if hi is None else hi):  # also refuses nan
        raise ConfigError(f"{path}.{key}", f"expected {expected}, got {value!r}")
    return float(value)


def boolean(table: Mapping[str, Any], key: str, path: str, default: bool) -> bool:
    value = table.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{path}.{key}", f"expected true or false, got {kind(value)}")
    return value


def choice(
    table: Mapping[str, Any], key: str, path: str, default: str, options: tuple[str, ...]
) -> str:
    value = table.get(key, default)
    if value not in options:
        raise ConfigError(f"{path}.{key}", f"expected one of {', '.join(options)}, got {value!r}")
    return str(value)


def file_path(table: Mapping[str, Any], key: str, path: str) -> Path | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{path}.{key}", "expected a file path string")
    return Path(value).expanduser()


def parse_listen(value: object, path: str) -> tuple[str, int]:
    if not isinstance(value, str) or ":" not in value:
        raise ConfigError(path, f'expected "HOST:PORT", got {value!r}')
    host, _, port_text = value.rpartition(":")
    host = host.strip("[]")
    if not host or not port_text.isdigit() or not 0 <= int(port_text) < 65536:
        raise ConfigError(
            path, f'expected "HOST:PORT" with a port 0..65535 (0: any free one), got {value!r}'
        )
    return host, int(port_text)


_SIZE_UNITS = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_SIZE_UNITS |= {f"{u}IB": n for u, n in _SIZE_UNITS.items() if u not in ("", "B")}
_SIZE_UNITS |= {"KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12}


def size(table: Mapping[str, Any], key: str, path: str, default: int, lo: int, hi: int) -> int:
    """Bytes: an integer, or a string like ``"64 MiB"``, ``"2G"`` (binary) or ``"5 GB"``."""
    value = table.get(key, default)
    where, expected = f"{path}.{key}", f'expected a size {lo}..{hi} bytes (like 4096 or "64 MiB")'
    if isinstance(value, str) and len(value) <= 40:  # a size string needs no more
        text = value.strip().upper()
        number = text.rstrip("KMGTIB ")
        unit = text[len(number) :].strip()
        try:
            amount = float(number)
        except ValueError:
            raise ConfigError(where, f"{expected}, got {value!r}") from None
        if unit not in _SIZE_UNITS or not 0 <= amount <= hi:  # also refuses nan, inf
            raise ConfigError(where, f"{expected}, got {value!r}")
        value = int(amount * _SIZE_UNITS[unit])
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(where, f"{expected}, got {kind(value)}")
    if not lo <= value <= hi:
        raise ConfigError(where, f"{expected}, got {value}")
    return value
