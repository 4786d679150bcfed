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
    """The holder sets per (port, code), and the holds per holder, kept in step."""

    __slots__ = ("_held", "_holders")

    def __init__(self) -> None:
        self._holders: dict[Hold, set[Holder]] = {}
        self._held: dict[Holder, set[Hold]] = {}

    def press(self, holder: Holder, port: int, code: int) -> bool:
        """``holder`` holds ``code`` on ``port``; True when nobody held it before (send it)."""
        key = (port, code)
        holders = self._holders.get(key)
        if holders is None:
            self._holders[key] = {holder}
            first = True
        elif holder in holders:
            return False  # a repeat: nothing changes
        else:
            holders.add(holder)
            first = False
        held = self._held.get(holder)
        if held is None:
            self._held[holder] = {key}
        else:
            held.add(key)
        return first

    def release(self, holder: Holder, port: int, code: int) -> bool:
        """``holder`` lets go of ``code`` on ``port``; True when nobody holds it any more
        (send the release). A release of a key the holder never held changes nothing and
        lifts nothing another holder holds; one nobody holds is passed on (harmless)."""
        key = (port, code)
        holders = self._holders.get(key)
        if holders is None:
            return True
        if holder not in holders:
            return False
        holders.discard(holder)
        self._forget(holder, key)
        if holders:
            return False
        del self._holders[key]
        return True

    def release_holder(self, holder: Holder) -> list[Hold]:
        """Forget everything ``holder`` holds; the pairs nobody else holds, to release."""
        lifted: list[Hold] = []
        for key in sorted(self._held.pop(holder, ())):
            holders = self._holders[key]
            holders.discard(holder)
            if not holders:
                del self._holders[key]
                lifted.append(key)
        return lifted

    def clear_port(self, port: int) -> None:
        """``port`` released everything: no holder holds anything there any more."""
        for key in [k for k in self._holders if k[0] == port]:
            for holder in self._holders.pop(key):
                self._forget(holder, key)

    def holders(self, port: int, code: int) -> frozenset[Holder]:
        return frozenset(self._holders.get((port, code), ()))

    def held_by(self, holder: Holder) -> frozenset[Hold]:
        return frozenset(self._held.get(holder, ()))

    def held(self, port: int | None = None) -> frozenset[Hold]:
        """Every (port, code) held by someone (on ``port`` only, when given)."""
        return frozenset(k for k in self._holders if port is None or k[0] == port)

    def _forget(self, holder: Holder, key: Hold) -> None:
        held = self._held[holder]
        held.discard(key)
        if not held:
            del self._held[holder]
