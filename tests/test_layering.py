"""The import rules of HOUSE-STYLE, enforced by reading every module's imports (AST)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("kvmswitchd", "hid", "video", "web")
PURE = ("hid", "video", "kvmswitchd.core", "kvmswitchd.syslog.format", "kvmswitchd.syslog.outbox")
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
    # the daemon's storage code: web reaches it through web.storage.StorageApi, and shares
    # only core values and the error tree
    "kvmswitchd.storage",
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
    """Every name imported anywhere in the module (also inside functions and
    ``if TYPE_CHECKING:``); ``from a import b`` gives ``a`` and ``a.b``."""
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
                source = f"{prefix}.{node.module}" if node.module else prefix
            elif node.module:
                source = node.module
            else:
                continue
            names.add(source)
            # the imported name may itself be a module (`from kvmswitchd import systemd`)
            names.update(f"{source}.{alias.name}" for alias in node.names)
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


def project_graph() -> dict[str, set[str]]:
    """Module → the project modules it imports.

    Imports under ``if TYPE_CHECKING:`` and inside functions count: a type-only or a
    deferred import is still a dependency of the design, and a cycle hidden behind one is
    the same tangle (the reader of either module must understand both). A package's
    ``__init__`` is not an implicit dependency of its submodules: that would make every
    package that re-exports its modules (``video``, ``hid``) a cycle.
    """
    known = {name for name, _ in ALL}
    graph: dict[str, set[str]] = {}
    for module, path in ALL:
        targets = set()
        for name in imports_of(path, module):
            if name in known and name != module:
                targets.add(name)
        graph[module] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each
    sorted, in a stable order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def test_the_cycle_finder_sees_a_type_checking_only_cycle(tmp_path: Path) -> None:
    first = tmp_path / "first.py"
    first.write_text("from pkg.second import thing\n")
    second = tmp_path / "second.py"
    second.write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.first import Other\n"
    )
    graph = {
        "pkg.first": imports_of(first, "pkg.first") & {"pkg.second"},
        "pkg.second": imports_of(second, "pkg.second") & {"pkg.first"},
        "pkg.third": {"pkg.first"},
    }
    assert cycles(graph) == [["pkg.first", "pkg.second"]]


def test_project_modules_import_each_other_without_cycles() -> None:
    found = cycles(project_graph())
    assert not found, "import cycles (break them with a Protocol or a shared value module): " + (
        "; ".join(" <-> ".join(component) for component in found)
    )
