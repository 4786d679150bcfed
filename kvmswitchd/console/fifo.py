"""``fifo:PATH`` console source: a named pipe any program can write input events to.

Writers send Linux ``struct input_event`` records (24 bytes each on 64-bit), exactly as
an evdev node would deliver them, so they travel the same parsing, hotkey and routing
path as a physical keyboard or mouse. ``SYN_REPORT`` may be omitted: until a writer's
stream shows its first ``SYN_REPORT`` every event is delivered at once.

Writers may come and go. When the last one closes, a partial record it left behind is
dropped (with a warning) and the pipe is reopened, so the next writer starts aligned.
(A writer that connects before the source has seen the previous one leave shares its
stream: write whole records, as every ``write`` of up to 4096 bytes is atomic.)
Keys a writer left pressed stay pressed until some writer releases them (or the source
closes).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
from collections.abc import Callable, Collection, Mapping

from kvmswitchd.console.events import ConsoleSink
from kvmswitchd.console.records import RECORD_SIZE
from kvmswitchd.console.stream import InputStream, Warn
from kvmswitchd.errors import DeviceError

log = logging.getLogger(__name__)

FIFO_MODE = 0o660
# Bytes read per wakeup: bounds the work one busy writer does per event-loop turn (the
# rest waits in the pipe for the next turn).
READ_SIZE = RECORD_SIZE * 256


def ensure_fifo(path: str) -> None:
    """Create the named pipe at ``path`` (mode 0660) unless a FIFO is already there."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        try:
            os.mkfifo(path, FIFO_MODE)
            os.chmod(path, FIFO_MODE)  # mkfifo's mode is filtered by the umask
        except OSError as exc:
            raise DeviceError(f"cannot create console fifo {path}: {exc.strerror}") from exc
        return
    except OSError as exc:
        raise DeviceError(f"cannot use console fifo {path}: {exc.strerror}") from exc
    if not stat.S_ISFIFO(mode):
        raise DeviceError(f"console fifo {path} exists and is not a FIFO; refusing to use it")


class FifoSource:
    """Reads one named pipe and delivers its input batches to the sink."""

    def __init__(
        self,
        path: str,
        sink: ConsoleSink,
        *,
        clock: Callable[[], float] | None = None,
        warn: Warn | None = None,
        abs_range: Mapping[int, tuple[int, int]] | None = None,
    ) -> None:
        self.path = path
        self.name = f"fifo:{path}"
        self._sink = sink
        self._clock = clock
        self._warn = warn or log.warning
        self._abs_range = abs_range
        self._fd = -1
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stream: InputStream | None = None

    def start(self) -> None:
        """Create the pipe if needed and start reading (inside the running loop)."""
        loop = asyncio.get_running_loop()
        ensure_fifo(self.path)
        self._stream = InputStream(
            self.name,
            self._sink,
            self._clock or loop.time,
            self._warn,
            syn=None,
            abs_range=self._abs_range,
        )
        self._fd = self._open()
        self._loop = loop
        loop.add_reader(self._fd, self._on_readable)

    def close(self) -> None:
        """Stop reading and release everything the writers held."""
        if self._loop is None:
            return
        self._loop.remove_reader(self._fd)
        os.close(self._fd)
        self._fd = -1
        self._loop = None
        if self._stream is not None:
            self._stream.lost()

    def set_leds(self, leds: Collection[int]) -> None:
        """A pipe has no LEDs."""

    def _open(self) -> int:
        # Opening the read side non-blocking succeeds with no writer present.
        try:
            return os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            raise DeviceError(f"cannot open console fifo {self.path}: {exc.strerror}") from exc

    def _on_readable(self) -> None:
        assert self._stream is not None  # set by start()
        try:
            data = os.read(self._fd, READ_SIZE)
        except BlockingIOError:
            return
        except OSError as exc:
            self._warn(f"{self.name}: read failed ({exc.strerror}); reopening")
            self._reopen()
            return
        if data:
            self._stream.data(data)
            return
        # Every writer closed (EOF): a new writer must start on a record boundary.
        dropped = self._stream.assembler.drop_partial()
        if dropped:
            self._warn(f"{self.name}: writer left a partial record ({dropped} bytes); dropped")
        self._reopen()

    def _reopen(self) -> None:
        """Replace the read fd: a FIFO whose writers all left reports EOF forever."""
        assert self._loop is not None  # only called while started
        try:
            fd = self._open()
        except DeviceError as exc:
            self._warn(f"{exc}; the fifo source stops")
            self._loop.remove_reader(self._fd)
            return
        self._loop.remove_reader(self._fd)
        with contextlib.suppress(OSError):
            os.close(self._fd)
        self._fd = fd
        self._loop.add_reader(fd, self._on_readable)
