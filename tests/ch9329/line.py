"""A CH9329 link and an emulated chip joined by a simulated serial line, in virtual time.

``Line.run(until)`` moves bytes both ways and fires both sides' timers in deadline order,
with no I/O and no clock; ``noise`` (if set) sees every chunk (``"in"``: host to chip)
and returns what gets through.
"""

from __future__ import annotations

from collections.abc import Callable

from kvmswitchd.targets.ch9329_chip import EmulatedChip
from kvmswitchd.targets.ch9329_link import Ch9329Link, Event
from kvmswitchd.targets.computer import VirtualComputer

Noise = Callable[[str, bytes], bytes]


class Line:
    def __init__(
        self,
        link: Ch9329Link | None = None,
        chip: EmulatedChip | None = None,
        *,
        mouse: str = "relative",
    ) -> None:
        self.link = link if link is not None else Ch9329Link(mouse=mouse)
        self.chip = chip if chip is not None else EmulatedChip(VirtualComputer(mouse=mouse))
        self.now = 0.0
        self.noise: Noise | None = None
        self.sent: list[bytes] = []  # chunks host → chip (before noise)
        self.replies: list[bytes] = []  # chunks chip → host (before noise)
        self.events: list[Event] = []
        self.connected = True  # False: the chip is off the line (no bytes either way)

    @property
    def computer(self) -> VirtualComputer:
        return self.chip.computer

    def open(self) -> None:
        self.link.connection_made(self.now)
        self.pump()

    def pump(self) -> None:
        """Deliver every byte in flight, both ways, until the line is quiet."""
        while True:
            data = self.link.data_to_send()
            self.events += self.link.events()
            if not data:
                return
            self.sent.append(data)
            if self.noise is not None:
                data = self.noise("in", data)
            if not data or not self.connected:
                continue
            reply = self.chip.receive_data(data, self.now)
            self._reply(reply)

    def _reply(self, reply: bytes) -> None:
        if not reply:
            return
        self.replies.append(reply)
        if self.noise is not None:
            reply = self.noise("out", reply)
        if reply and self.connected:
            self.link.receive_data(reply, self.now)

    def step(self) -> bool:
        """Advance to the next deadline and fire it; False if nothing is due ever."""
        self.pump()
        deadlines = [
            d for d in (self.link.next_deadline(), self.chip.next_deadline()) if d is not None
        ]
        if not deadlines:
            return False
        self.now = max(self.now, min(deadlines))
        chip_due = self.chip.next_deadline()
        if chip_due is not None and chip_due <= self.now:
            self._reply(self.chip.handle_timer(self.now))
        self.link.handle_timer(self.now)
        self.pump()
        return True

    def run(self, until: Callable[[], bool], limit: float = 60.0) -> None:
        """Step until ``until()`` holds; fail past ``limit`` virtual seconds."""
        end = self.now + limit
        self.pump()
        while not until():
            if not self.step() or self.now > end:
                raise AssertionError(f"not reached by t={self.now:.3f}: {self.link.view()}")

    def settle(self, seconds: float = 0.0) -> None:
        """Run until nothing waits to be sent (and ``seconds`` have passed)."""
        end = self.now + seconds
        self.run(lambda: self.now >= end and self.idle())

    def idle(self) -> bool:
        link = self.link
        return not link.busy and not any(len(q) for q in link.queues)
