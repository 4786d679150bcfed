"""Generate the static evdev table in ``hid/evcodes.py`` from python-evdev.

Run ``.venv/bin/python -m tests.hid.evcodes_gen`` after upgrading python-evdev; it rewrites
only the block between the BEGIN/END markers. ``test_evcodes.py`` checks the checked-in
block still matches what this script renders from the installed ``evdev.ecodes``.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path
from types import ModuleType

TARGET = Path(__file__).resolve().parents[2] / "hid" / "evcodes.py"
BEGIN = "# --- BEGIN GENERATED TABLE (tests/hid/evcodes_gen.py; do not edit by hand) ---"
END = "# --- END GENERATED TABLE ---"

# (event type name, the name prefixes of its codes), in the order the table is written.
GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("EV", ("EV_",)),
    ("EV_SYN", ("SYN_",)),
    ("EV_KEY", ("KEY_", "BTN_")),
    ("EV_REL", ("REL_",)),
    ("EV_ABS", ("ABS_",)),
    ("EV_MSC", ("MSC_",)),
    ("EV_LED", ("LED_",)),
    ("EV_REP", ("REP_",)),
)
# Not codes of any event type: bounds and counts (kept apart as MAX_CODE) and two ioctl-level
# values that python-evdev files under EV_.
SKIPPED = frozenset(
    {f"{p}_MAX" for p in ("EV", "SYN", "KEY", "REL", "ABS", "MSC", "LED", "REP")}
    | {f"{p}_CNT" for p in ("EV", "SYN", "KEY", "REL", "ABS", "MSC", "LED", "REP")}
    | {"EV_VERSION", "EV_UINPUT"}
)
# The kernel's own name where python-evdev reports several for one code: every other name of
# the group is an alias (input-event-codes.h defines it as ``#define ALIAS PRIMARY``).
PRIMARY = frozenset(
    {
        "KEY_MUTE",
        "KEY_HANGEUL",
        "KEY_SCREENLOCK",
        "KEY_ROTATE_DISPLAY",
        "KEY_ALL_APPLICATIONS",
        "KEY_BRIGHTNESS_AUTO",
        "KEY_WWAN",
        "KEY_FULL_SCREEN",
        "KEY_ASPECT_RATIO",
        "KEY_DISPLAYTOGGLE",
        "BTN_0",
        "BTN_LEFT",
        "BTN_TRIGGER",
        "BTN_SOUTH",
        "BTN_EAST",
        "BTN_NORTH",
        "BTN_WEST",
        "BTN_TOOL_PEN",
        "BTN_GEAR_DOWN",
        "BTN_TRIGGER_HAPPY1",
        "REP_PERIOD",
    }
)


def table_entries(ecodes: ModuleType) -> list[tuple[str, int]]:
    """Every (name, code) we keep, grouped by event type, then by code, primary name first."""
    names: dict[str, int] = dict(ecodes.ecodes)
    out: list[tuple[str, int]] = []
    for _type, prefixes in GROUPS:
        chosen = [(n, v) for n, v in names.items() if n.startswith(prefixes) and n not in SKIPPED]
        chosen.sort(key=lambda nv: (nv[1], nv[0] not in PRIMARY, nv[0]))
        out.extend(chosen)
    return out


def aliases(ecodes: ModuleType) -> list[str]:
    """Names that share their code with the kernel's primary name (sorted)."""
    by_group: dict[tuple[str, int], list[str]] = {}
    for type_name, prefixes in GROUPS:
        for name, value in table_entries(ecodes):
            if name.startswith(prefixes):
                by_group.setdefault((type_name, value), []).append(name)
    result: list[str] = []
    for (type_name, value), group in by_group.items():
        if len(group) == 1:
            continue
        primaries = [n for n in group if n in PRIMARY]
        if len(primaries) != 1:
            msg = f"{type_name} code {value}: pick one primary among {group} in PRIMARY"
            raise SystemExit(msg)
        result.extend(n for n in group if n not in PRIMARY)
    return sorted(result)


def max_codes(ecodes: ModuleType) -> dict[str, int]:
    """The highest valid code of each event type we cover (``KEY_MAX`` and friends)."""
    return {t: int(getattr(ecodes, t[3:] + "_MAX")) for t, _ in GROUPS if t != "EV"}


def render(ecodes: ModuleType) -> str:
    """The text between (and including) the markers."""
    version = importlib.metadata.version("evdev")
    lines = [BEGIN, f"# Source: python-evdev {version} ``evdev.ecodes``.", ""]
    previous_prefix = ""
    for name, value in table_entries(ecodes):
        prefix = name.split("_", 1)[0]
        if prefix != previous_prefix and previous_prefix:
            lines.append("")
        previous_prefix = prefix
        lines.append(f"{name}: Final = {value}")
    lines += ["", "# Highest valid event type (EV_MAX) and code per event type (KEY_MAX, ...)."]
    lines.append(f"MAX_TYPE: Final = {int(ecodes.EV_MAX)}")
    lines.append("MAX_CODE: Final[dict[int, int]] = {")
    lines += [f"    {t}: {v}," for t, v in max_codes(ecodes).items()]
    lines += ["}", "", "# Second names of a code; code_name() never returns these."]
    lines.append("ALIASES: Final[frozenset[str]] = frozenset(")
    lines.append("    {")
    lines += [f'        "{n}",' for n in aliases(ecodes)]
    lines += ["    }", ")", END]
    return "\n".join(lines)


def current_block(text: str) -> str:
    start = text.index(BEGIN)
    end = text.index(END) + len(END)
    return text[start:end]


def main() -> None:
    from evdev import ecodes

    text = TARGET.read_text(encoding="utf-8")
    TARGET.write_text(text.replace(current_block(text), render(ecodes)), encoding="utf-8")


if __name__ == "__main__":
    main()
