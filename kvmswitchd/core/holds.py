"""Who holds which key or mouse button on which port (SPEC §3.2: no stuck keys).

Several holders type into the same port: the physical console, ``POST /input`` and every
websocket client. A key is down on the target while at least one of them holds it, so
the first press goes to the target and only the last release does: one client letting go
of Shift (or leaving) never lifts the Shift another still holds.

``release_holder`` is what a leaving client leaves behind: exactly the (port, code)
pairs nobody else holds, to release on the target now. ``clear_port`` follows a port's
release-all (km focus left it): nothing is held there any more, by anyone.

Keys and mouse buttons share the evdev code space (``BTN_LEFT`` is 0x110), so one table
holds both. Memory is bounded by the callers: codes are evdev codes the port can send
(< 0x300), ports are the unit's ports, and holders are live connections.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Holder:
    """One source of key presses: ``kind`` names the channel, ``number`` the client."""

    kind: str
    number: int = 0

    def __str__(self) -> str:
        return f"{self.kind} {self.number}" if self.number else self.kind


# The physical console (and everything routed through the console path: the fifo and
# ``POST /console/events``), and ``POST /input``: one holder each.
CONSOLE = Holder("console")
HTTP = Holder("http")

Hold = tuple[int, int]  # (port unit, evdev code)


class Holds:
    """The holders per (port, code). Pressing and releasing run for every key event (the
    console's too), so they touch one dict entry, and a key with one holder — nearly
    always — keeps it bare (no set to build or hash); the rare questions (what does this
    holder hold, what is held on that port) scan the held keys, which are few."""

    __slots__ = ("_holders",)

    def __init__(self) -> None:
        self._holders: dict[Hold, Holder | set[Holder]] = {}

    def press(self, holder: Holder, port: int, code: int) -> bool:
        """``holder`` holds ``code`` on ``port``; True when nobody held it before (send it)."""
        key = (port, code)
        held = self._holders.get(key)
        if held is None:
            self._holders[key] = holder
            return True
        if isinstance(held, set):
            held.add(holder)
        elif held is not holder and held != holder:
            self._holders[key] = {held, holder}
        return False  # another holder's key, or a repeat: already down

    def release(self, holder: Holder, port: int, code: int) -> bool:
        """``holder`` lets go of ``code`` on ``port``; True when nobody holds it any more
        (send the release). A release of a key the holder never held changes nothing and
        lifts nothing another holder holds; one nobody holds is passed on (harmless)."""
        key = (port, code)
        held = self._holders.get(key)
        if held is None:
            return True
        if isinstance(held, set):
            held.discard(holder)
            if len(held) == 1:
                self._holders[key] = next(iter(held))
            return False
        if held is holder or held == holder:
            del self._holders[key]
            return True
        return False

    def release_holder(self, holder: Holder) -> list[Hold]:
        """Forget everything ``holder`` holds; the pairs nobody else holds, to release."""
        lifted: list[Hold] = []
        for key, held in list(self._holders.items()):
            if isinstance(held, set):
                held.discard(holder)
                if len(held) == 1:
                    self._holders[key] = next(iter(held))
            elif held == holder:
                del self._holders[key]
                lifted.append(key)
        return sorted(lifted)

    def clear_port(self, port: int) -> None:
        """``port`` released everything: no holder holds anything there any more."""
        for key in [k for k in self._holders if k[0] == port]:
            del self._holders[key]

    def holders(self, port: int, code: int) -> frozenset[Holder]:
        held = self._holders.get((port, code))
        if held is None:
            return frozenset()
        return frozenset(held) if isinstance(held, set) else frozenset((held,))

    def held_by(self, holder: Holder) -> frozenset[Hold]:
        return frozenset(k for k in self._holders if holder in self.holders(*k))

    def held(self, port: int | None = None) -> frozenset[Hold]:
        """Every (port, code) held by someone (on ``port`` only, when given)."""
        return frozenset(k for k in self._holders if port is None or k[0] == port)
