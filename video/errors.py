"""The one error the EDID library raises: where the bytes are wrong, and how."""

from __future__ import annotations

from kvmswitchd.errors import InputError


class EdidError(InputError):
    """An EDID blob (or its text form) is malformed.

    ``block`` is the 128-byte block number (0 = base block), ``offset`` the absolute byte
    offset in the blob, ``expected``/``got`` the two values that disagree. Any of them is
    ``None`` when it does not apply (an empty blob has no offset). The message names all
    that are known, so logging ``str(err)`` is enough to find the bad byte.
    """

    def __init__(
        self,
        problem: str,
        *,
        block: int | None = None,
        offset: int | None = None,
        expected: str | None = None,
        got: str | None = None,
    ) -> None:
        where = []
        if block is not None:
            where.append(f"block {block}")
        if offset is not None:
            where.append(f"byte {offset} (0x{offset:02x})")
        text = f"EDID {', '.join(where)}: {problem}" if where else f"EDID: {problem}"
        detail = [f"expected {expected}"] if expected is not None else []
        detail += [f"got {got}"] if got is not None else []
        if detail:
            text += f" ({', '.join(detail)})"
        super().__init__(text)
        self.problem = problem
        self.block = block
        self.offset = offset
        self.expected = expected
        self.got = got
