"""The serial cores are sans-IO: no event loop, OS, clock or device imports (HOUSE-STYLE §1)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import kvmswitchd.serial

CORES = [
    "channel",
    "login",
    "text",
    "replies",
    "tesmart",
    "tesmart_unit",
    "aten",
    "modem",
    "endpoint",
]
FORBIDDEN = {"asyncio", "os", "time", "socket", "select", "serial", "serial_asyncio_fast", "tty"}


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("module", CORES)
def test_serial_core_modules_do_no_io(module: str) -> None:
    path = Path(kvmswitchd.serial.__file__).parent / f"{module}.py"
    assert imported_modules(path) & FORBIDDEN == set()
