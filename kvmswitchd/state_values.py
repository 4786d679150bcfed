"""How a bad value in the state file is named in its ``state_reset`` message: a key cut to
a readable length, and a JSON type name instead of the value (which may be huge, or a
secret somebody pasted into the wrong field)."""

from __future__ import annotations

from typing import Final

# A saved key or string is shown up to this many characters: a reset message names the
# entry, it does not repeat a megabyte planted in the file.
MAX_QUOTED: Final = 40


def quote(key: object) -> str:
    text = str(key)
    return text if len(text) <= MAX_QUOTED else text[:MAX_QUOTED] + "…"


def kind(value: object) -> str:
    """A JSON type name for a message (never the value itself)."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    kinds = {dict: "an object", list: "an array", str: "a string"}
    return next((name for t, name in kinds.items() if isinstance(value, t)), "null")
