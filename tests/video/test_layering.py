"""video/ is a pure library: standard library, itself, and the daemon's error tree only."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import video

ALLOWED = {"video", "kvmswitchd.errors"}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def test_video_imports_only_the_standard_library_itself_and_the_error_tree() -> None:
    root = Path(video.__file__).parent
    for path in sorted(root.glob("*.py")):
        for name in _imports(path):
            top = name.split(".")[0]
            allowed = top in sys.stdlib_module_names or top == "video" or name in ALLOWED
            assert allowed, f"{path.name} imports {name}"


def test_only_the_learn_module_touches_the_filesystem() -> None:
    root = Path(video.__file__).parent
    for path in sorted(root.glob("*.py")):
        names = _imports(path)
        if path.name != "learn.py":
            assert not names & {"pathlib", "os", "io", "asyncio", "time"}, path.name
