"""One console device's input stream: bytes in, batches delivered to the sink.

Shared by the ``fifo:`` and evdev sources; it does no I/O of its own (the clock, the
sink and the warning callback are handed in).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from kvmswitchd.console.events import ConsoleAssembler, ConsoleSink

# At most one "malformed events" warning per device per this many seconds, so a writer
# sending garbage cannot flood the log.
WARN_INTERVAL = 10.0

Warn = Callable[[str], None]


class InputStream:
    """Feeds a device's raw records to its assembler and its batches to the sink."""

    def __init__(
        self,
        name: str,
        sink: ConsoleSink,
        clock: Callable[[], float],
        warn: Warn,
        *,
        syn: bool | None = True,
        abs_range: Mapping[int, tuple[int, int]] | None = None,
    ) -> None:
        self.name = name
        self.assembler = ConsoleAssembler(syn=syn, abs_range=abs_range)
        self._sink = sink
        self._clock = clock
        self._warn = warn
        self._ignored_reported = 0
        self._warned_at = float("-inf")

    def data(self, data: bytes, active_keys: Callable[[], Iterable[int]] | None = None) -> None:
        """Bytes read from the device: deliver every batch they complete."""
        batches = self.assembler.feed_bytes(data, active_keys)
        now = self._clock()
        for batch in batches:
            self._sink.console_input(self.name, batch, now)
        if self.assembler.ignored != self._ignored_reported:
            self._report_ignored(now)

    def lost(self) -> None:
        """The device went away: deliver releases for everything it held."""
        releases = self.assembler.device_lost()
        if releases:
            self._sink.console_input(self.name, releases, self._clock())

    def _report_ignored(self, now: float) -> None:
        if now - self._warned_at < WARN_INTERVAL:
            return
        count = self.assembler.ignored - self._ignored_reported
        self._ignored_reported = self.assembler.ignored
        self._warned_at = now
        self._warn(f"{self.name}: ignored {count} malformed input event(s)")
