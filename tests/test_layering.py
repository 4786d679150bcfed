"""The import rules of HOUSE-STYLE, enforced by reading every module's imports (AST)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("kvmswitchd", "hid", "video", "web")
PURE = ("hid", "video", "kvmswitchd.core")
# Cores take bytes, events and `now`: no event loop, no OS, no clock, no sockets.
BANNED_IN_PURE = {
    "asyncio",
    "os",
    "time",
    "socket",
    "subprocess",
    "threading",
    "select",
    "selectors",
    "signal",
    "datetime",
    "aiohttp",
    "serial",
    "evdev",
}
PURE_MAY_IMPORT = ("hid", "video", "kvmswitchd.core", "kvmswitchd.errors")
LINUX_ONLY = {"evdev", "pyudev", "gpiod", "libevdev"}
# The backend modules that may import Linux-only modules.
LINUX_BACKENDS = {"kvmswitchd.console.evdev_source", "kvmswitchd.console.gpio"}
WEB_MUST_NOT = (
    "kvmswitchd.targets",
    "kvmswitchd.console",
    "kvmswitchd.daemon",
    "kvmswitchd.switchboard",
    "kvmswitchd.serial",
)


def modules() -> list[tuple[str, Path]]:
    out = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).with_suffix("")
            parts = list(rel.parts)
            if parts[-1] == "__init__":
                parts.pop()
            out.append((".".join(parts), path))
    return out


def imports_of(path: Path, module: str) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                if path.name != "__init__.py":
                    base = base[:-1]
                base = base[: len(base) - (node.level - 1)]
                prefix = ".".join(base)
                names.add(f"{prefix}.{node.module}" if node.module else prefix)
            elif node.module:
                names.add(node.module)
    return names


def within(name: str, roots: tuple[str, ...]) -> bool:
    return any(name == r or name.startswith(r + ".") for r in roots)


ALL = modules()


def test_the_packages_exist_and_have_modules() -> None:
    assert {m.split(".")[0] for m, _ in ALL} == set(PACKAGES)


@pytest.mark.parametrize(
    ("module", "path"),
    [m for m in ALL if within(m[0], PURE)],
    ids=lambda v: str(v) if isinstance(v, str) else "",
)
def test_pure_cores_import_only_stdlib_and_each_other(module: str, path: Path) -> None:
    for name in imports_of(path, module):
        top = name.split(".")[0]
        if within(name, PURE_MAY_IMPORT) or top == "__future__":
            continue
        assert top in sys.stdlib_module_names, f"{module} imports {name} (not stdlib, not a core)"
        assert top not in BANNED_IN_PURE, (
            f"{module} imports {name}: cores do no I/O and read no clock"
        )


@pytest.mark.parametrize(
    ("module", "path"),
    [m for m in ALL if within(m[0], ("web",))],
    ids=lambda v: str(v) if isinstance(v, str) else "",
)
def test_web_never_imports_backends(module: str, path: Path) -> None:
    for name in imports_of(path, module):
        assert not within(name, WEB_MUST_NOT), f"{module} imports {name}; use web.service"


@pytest.mark.parametrize(
    ("module", "path"), ALL, ids=lambda v: str(v) if isinstance(v, str) else ""
)
def test_linux_only_modules_stay_inside_their_backend(module: str, path: Path) -> None:
    for name in imports_of(path, module):
        if name.split(".")[0] in LINUX_ONLY:
            assert module in LINUX_BACKENDS, f"{module} imports Linux-only {name}"
