"""kvmctl's progress bar: one line on stderr, redrawn in place, for long work (uploads,
image creation, storage hand-over waits). On anything but a terminal (a pipe, a file, a
``TERM=dumb`` console) it writes nothing at all, so scripts and logs see only results.

::

    with Progress("upload debian.iso", total=size) as bar:
        send(file, on_sent=bar.update)

A wait with no figures (``total=None``) shows a bouncing marker and the seconds elapsed;
``delay`` keeps quick work from flashing a bar. ``ticking()`` redraws from a thread while
the caller blocks on a request.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import TextIO

BAR = 24  # characters of the bar itself
MIN_REDRAW = 0.1  # seconds between redraws (an upload reads 8 KiB blocks: thousands a second)
TICK = 0.1  # seconds between redraws while ticking


def human(amount: float, unit: str) -> str:
    if unit != "bytes":
        return f"{amount:.0f} {unit}"
    for prefix in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(amount) < 1024 or prefix == "TiB":
            return f"{amount:.0f} {prefix}" if prefix == "B" else f"{amount:.1f} {prefix}"
        amount /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def render(
    label: str, done: float, total: float | None, *, unit: str, elapsed: float, width: int
) -> str:
    """The bar line, at most ``width`` characters."""
    if total:
        part = min(max(done / total, 0.0), 1.0)
        filled = int(part * BAR)
        bar = "#" * filled + "-" * (BAR - filled)
        tail = f" [{bar}] {int(part * 100):3d}%  {human(done, unit)} / {human(total, unit)}"
    else:  # no figures: a marker bouncing along the bar, and the time so far
        span = BAR - 3
        step = int(elapsed / TICK) % (2 * span) if span > 0 else 0
        at = step if step <= span else 2 * span - step
        bar = " " * at + "<=>" + " " * (span - at)
        tail = f" [{bar}] {elapsed:.0f} s"
    room = max(width - len(tail), 0)
    if len(label) > room:
        label = label[: max(room - 1, 0)] + "…" if room else ""
    return (label + tail)[:width]


def is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty() and os.environ.get("TERM", "") != "dumb"
    except (AttributeError, ValueError):  # a closed or odd stream: no bar
        return False


def _width(stream: TextIO) -> int:
    try:
        columns = os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, ValueError, OSError):  # a fake terminal in tests, or gone
        columns = 0
    # 0: a terminal that doesn't know its size (a fresh pty, a serial console)
    return max(columns - 1, 20) if columns else 79


class Progress:
    def __init__(
        self,
        label: str,
        total: float | None = None,
        *,
        unit: str = "bytes",
        stream: TextIO | None = None,
        delay: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = is_terminal(self.stream)
        self.label = label
        self.total = total
        self.unit = unit
        self.done = 0.0
        self._delay = delay  # seconds before the first draw (quick work shows nothing)
        self._clock = clock
        self._start = clock()
        self._last = float("-inf")
        self._shown = 0  # characters on the line now (0: nothing drawn)
        self._lock = threading.Lock()  # update() and the ticking thread both draw

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def update(self, done: float, *, label: str | None = None) -> None:
        self.done = done
        if label is not None:
            self.label = label
        finished = self.total is not None and done >= self.total
        self.draw(force=finished or label is not None)

    def draw(self, *, force: bool = False) -> None:
        if not self.enabled:
            return
        with self._lock:
            now = self._clock()
            elapsed = now - self._start
            if elapsed < self._delay or (not force and now - self._last < MIN_REDRAW):
                return
            self._last = now
            line = render(
                self.label,
                self.done,
                self.total,
                unit=self.unit,
                elapsed=elapsed,
                width=_width(self.stream),
            )
            self.stream.write("\r" + line.ljust(self._shown))
            self.stream.flush()
            self._shown = len(line)

    @contextlib.contextmanager
    def ticking(self) -> Iterator[Progress]:
        """Redraw every ``TICK`` seconds from a thread while the block runs (a request
        that gives no figures of its own)."""
        if not self.enabled:
            yield self
            return
        stop = threading.Event()

        def tick() -> None:
            while not stop.wait(TICK):
                self.draw()

        thread = threading.Thread(target=tick, name="kvmctl-progress", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            stop.set()
            thread.join()

    def close(self) -> None:
        """Clear the bar's line, so what the command prints next starts clean."""
        with self._lock:
            if self.enabled and self._shown:
                self.stream.write("\r" + " " * self._shown + "\r")
                self.stream.flush()
            self._shown = 0
