"""The keyboard and mouse reports waiting for one serial line, in the order they came.

A USB host polls a keyboard and a mouse as two endpoints; a CH9329 takes both over one
line, one command at a time. ``Lanes`` holds one ``hid.pacing.ReportQueue`` per
interface (order kept, nothing dropped, only motion coalesced) and remembers which
interface each waiting report is on, so Shift then click goes out as Shift then click.
It also keeps each interface's latest report: the state to send at rest after an outage.
"""

from __future__ import annotations

from collections import deque
from enum import IntEnum
from typing import Any

from hid.pacing import ReportKind, ReportQueue


class Iface(IntEnum):
    KEYBOARD = 0
    MOUSE = 1


def at_rest(kind: ReportKind, report: bytes) -> bytes:
    """The state to re-send to a target that is back: keys as they are, no motion."""
    if kind is ReportKind.KEYS:
        return report
    if kind is ReportKind.RELATIVE:
        return report[:1] + bytes(len(report) - 1)
    return report[:5] + bytes(len(report) - 5)


class Lanes:
    __slots__ = ("_order", "last", "queues")

    def __init__(self, *, absolute: bool) -> None:
        motion = ReportKind.ABSOLUTE if absolute else ReportKind.RELATIVE
        self.queues = (ReportQueue(ReportKind.KEYS), ReportQueue(motion, 7 if absolute else 5))
        self.last: list[bytes | None] = [None, None]  # the latest report per interface
        self._order: deque[Iface] = deque()  # the interface of each waiting report

    @property
    def empty(self) -> bool:
        return not any(len(q) or q.stalled for q in self.queues)

    def remember(self, iface: Iface, report: bytes) -> None:
        """Keep ``report`` as the interface's state, without queueing it (offline)."""
        self.last[iface] = report

    def push(self, iface: Iface, report: bytes, now: float) -> None:
        self.last[iface] = report
        queue = self.queues[iface]
        before = len(queue)
        queue.push(report, now)
        self._order.extend([iface] * (len(queue) - before))

    def push_at_rest(self, now: float) -> None:
        """Queue each interface's latest state at rest (a target that is back)."""
        for iface in Iface:
            last = self.last[iface]
            if last is not None:
                self.push(iface, at_rest(self.queues[iface].kind, last), now)

    def next(self, now: float) -> tuple[Iface, bytes] | None:
        """The interface whose report came first and that report (not taken yet); a
        stalled queue's rest report goes first."""
        order, queues = self._order, self.queues
        for iface in Iface:
            if queues[iface].stalled:
                while iface in order:
                    order.remove(iface)
                report = queues[iface].peek(now)
                assert report is not None  # a stalled queue gives its rest report
                return iface, report
        while order:
            iface = order.popleft()
            if len(queues[iface]) and (report := queues[iface].peek(now)) is not None:
                order.appendleft(iface)
                return iface, report
            # else: a tag left from a report the queue merged or dropped
        return None

    def stalled(self, iface: Iface) -> bool:
        return self.queues[iface].stalled

    def take(self, iface: Iface, now: float, *, was_rest: bool = False) -> None:
        """The chip took what ``next`` gave for ``iface`` (``was_rest``: the rest report
        of a stalled queue). A queue that stalled while its report was on the way still
        owes the rest report, so that stays next."""
        if self.queues[iface].stalled and not was_rest:
            return
        order = self._order
        if order and order[0] is iface:
            order.popleft()
        elif iface in order:
            order.remove(iface)
        self.queues[iface].take(now)

    def clear(self) -> None:
        """An outage: nothing waits (the latest states are kept)."""
        for queue in self.queues:
            queue.clear()
        self._order.clear()

    def view(self) -> dict[str, Any]:
        return {
            "keyboard": self.queues[Iface.KEYBOARD].view(),
            "mouse": self.queues[Iface.MOUSE].view(),
        }
