"""An ordered report queue paced by the device, one per HID interface (sans-IO).

The console side pushes reports as fast as input arrives (a pasted text is thousands of
reports in one go); the device takes them one at a time (a USB host polls an interrupt
endpoint, a gadget node accepts one ``write()`` per poll). ``ReportQueue`` sits between:

* Key and button reports are never dropped, merged or reordered: every transition the
  console made reaches the device, in order.
* Only mouse motion is coalesced, and only into the newest waiting report when it has the
  same buttons: relative deltas are summed (split into a second report when a sum would
  leave int8, so no motion is lost); an absolute pointer keeps the newest position and
  sums its wheels the same way.
* A stall rule bounds what waits: when the queued bytes exceed ``budget``, or reports
  wait and the device has taken none for ``stall_after`` seconds, the queue is *stalled*:
  it is emptied, pushes are discarded while it stays stalled, and the next report the
  device takes is the rest report (all keys and buttons up; an absolute pointer stays
  where it is). A stale backlog is never replayed to a device that comes back. Stalls and
  recoveries are counted for the port's target view; the adapter logs the transitions.

Time is passed in as ``now`` (seconds, any monotonic origin).
"""

from __future__ import annotations

from collections import deque
from enum import IntEnum
from typing import Any, Final

# Bytes one waiting report costs besides its payload: the bytes object header and its
# deque slot, roughly, so the budget tracks real memory rather than payload only.
REPORT_OVERHEAD: Final = 48
# Bytes of waiting reports per interface. A 2,000-character paste with shifts is ~8,000
# keyboard reports of 8 bytes, ~450 KiB with overhead; 2 MiB leaves four times that. It
# stops a device that never polls (or a flood) from growing our memory without bound.
MEMORY_BUDGET: Final = 2 << 20
# Seconds reports may wait without the device taking one before the queue is declared
# stalled: a host that polls at all takes a report every few milliseconds.
STALL_AFTER: Final = 3.0
_INT8_MIN, _INT8_MAX = -127, 127


class ReportKind(IntEnum):
    """What an interface's reports carry, which decides what may be coalesced."""

    KEYS = 0  # keyboard (or anything else): pure state, never merged
    RELATIVE = 1  # buttons, then int8 dx, dy, wheel(, pan)
    ABSOLUTE = 2  # buttons, uint16 x, uint16 y, then int8 wheel(, pan)


def _int8(byte: int) -> int:
    return byte - 0x100 if byte & 0x80 else byte


def _split(older: bytes, newer: bytes) -> tuple[bytes, bytes]:
    """Per int8 field, the sum as far as int8 goes, and what is left over."""
    head = bytearray()
    rest = bytearray()
    for a, b in zip(older, newer, strict=True):
        total = _int8(a) + _int8(b)
        fits = min(max(total, _INT8_MIN), _INT8_MAX)
        head.append(fits & 0xFF)
        rest.append((total - fits) & 0xFF)
    return bytes(head), bytes(rest)


def rest_report(kind: ReportKind, report: bytes) -> bytes:
    """``report`` with every key and button up and no motion (an absolute pointer keeps
    its position)."""
    if kind is ReportKind.ABSOLUTE and len(report) >= 5:
        return b"\x00" + report[1:5] + bytes(len(report) - 5)
    return bytes(len(report))


class ReportQueue:
    """The reports of one interface waiting for its device, in order."""

    __slots__ = (
        "_bytes",
        "_queue",
        "_rest",
        "_since",
        "budget",
        "coalesced",
        "discarded",
        "kind",
        "recoveries",
        "stall_after",
        "stalled",
        "stalls",
    )

    def __init__(
        self,
        kind: ReportKind,
        length: int = 8,
        *,
        budget: int = MEMORY_BUDGET,
        stall_after: float = STALL_AFTER,
    ) -> None:
        self.kind, self.budget, self.stall_after = kind, budget, stall_after
        self.stalled = False
        self.stalls = self.recoveries = self.discarded = self.coalesced = 0
        self._queue: deque[bytes] = deque()
        self._bytes = 0
        self._since = 0.0  # when the head started waiting (pushed, or the previous taken)
        self._rest = bytes(length)  # what a stalled queue gives the device first

    def __len__(self) -> int:
        return len(self._queue)

    @property
    def queued_bytes(self) -> int:
        return self._bytes

    def push(self, report: bytes, now: float) -> None:
        """Queue ``report`` (coalescing mouse motion); may stall the queue."""
        if len(report) != len(self._rest) or self.kind is ReportKind.ABSOLUTE:
            self._rest = rest_report(self.kind, report)
        self._age(now)
        if self.stalled:
            self.discarded += 1
            return
        queue = self._queue
        if queue and self.kind is not ReportKind.KEYS and self._coalesce(report):
            return
        if not queue:
            self._since = now
        queue.append(report)
        self._bytes += len(report) + REPORT_OVERHEAD
        if self._bytes > self.budget:
            self._stall()

    def peek(self, now: float) -> bytes | None:
        """What the device gets next (without taking it), or None: nothing waits."""
        self._age(now)
        if self.stalled:
            return self._rest
        return self._queue[0] if self._queue else None

    def take(self, now: float) -> None:
        """The device took what ``peek`` gave."""
        if self.stalled:
            self.stalled = False
            self.recoveries += 1
            return
        report = self._queue.popleft()
        self._bytes -= len(report) + REPORT_OVERHEAD
        self._since = now

    def pop(self, now: float) -> bytes | None:
        """The next report for the device (taken), or None: nothing waits."""
        report = self.peek(now)
        if report is not None:
            self.take(now)
        return report

    def check(self, now: float) -> bool:
        """Apply the age rule now (a timer's tick); True if the queue is stalled."""
        self._age(now)
        return self.stalled

    def stall(self) -> None:
        """Declare the device gone: drop the backlog, give the rest report next."""
        if not self.stalled:
            self._stall()

    def clear(self) -> None:
        """A bus reset: nothing waits and nothing is owed."""
        self._queue.clear()
        self._bytes = 0
        self.stalled = False

    def view(self) -> dict[str, Any]:
        return {
            "queued": len(self._queue),
            "stalled": self.stalled,
            "stalls": self.stalls,
            "recoveries": self.recoveries,
            "discarded": self.discarded,
        }

    # -- internals ------------------------------------------------------------------------

    def _age(self, now: float) -> None:
        if self._queue and now - self._since > self.stall_after:
            self._stall()

    def _stall(self) -> None:
        self.discarded += len(self._queue)
        self._queue.clear()
        self._bytes = 0
        self.stalled = True
        self.stalls += 1

    def _coalesce(self, report: bytes) -> bool:
        """Merge motion ``report`` into the newest waiting one; False: queue it."""
        queue = self._queue
        last = queue[-1]
        if len(last) != len(report) or last[0] != report[0]:
            return False  # a button changed: a transition, never merged
        if self.kind is ReportKind.RELATIVE:
            if len(report) < 4:
                return False
            head, rest = _split(last[1:], report[1:])
            queue[-1] = report[:1] + head
            self.coalesced += 1
            if any(rest):
                self._append(report[:1] + rest)
            return True
        if len(report) < 6:
            return False
        head, rest = _split(last[5:], report[5:])
        queue[-1] = report[:5] + head
        self.coalesced += 1
        if any(rest):
            self._append(report[:5] + rest)
        return True

    def _append(self, report: bytes) -> None:
        self._queue.append(report)
        self._bytes += len(report) + REPORT_OVERHEAD
        if self._bytes > self.budget:
            self._stall()
