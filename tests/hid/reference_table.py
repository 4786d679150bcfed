"""The reference §4.5 key table (tests/hid/data/keymap_reference.md) as rows, for tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DATA = Path(__file__).parent / "data" / "keymap_reference.md"


@dataclass(frozen=True, slots=True)
class RefRow:
    name: str
    code: int
    usage: int
    ps2: str  # the table cell as written


def rows() -> list[RefRow]:
    out = []
    for line in DATA.read_text(encoding="utf-8").splitlines():
        if not line.startswith("| KEY_"):
            continue
        name, code, usage, ps2 = (c.strip() for c in line.strip().strip("|").split("|"))
        out.append(RefRow(name, int(code), int(usage, 16), ps2))
    return out


def plain_make(row: RefRow) -> bytes | None:
    """The make bytes of a single-code row (``1C`` or ``E0 70``; POWER's leading code);
    None for ``—`` rows and for the two sequences."""
    if row.ps2 == "—" or "/" in row.ps2 or "no break" in row.ps2:
        return None
    return bytes.fromhex(" ".join(row.ps2.split()[:2]) if row.ps2.startswith("E0") else row.ps2[:2])
