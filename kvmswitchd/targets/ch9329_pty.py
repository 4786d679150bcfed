"""An emulated CH9329 on a pseudo-terminal: its far end is the chip's serial port.

``ChipPty(chip).open()`` makes a raw pty; any serial program (our ``ch9329`` target,
pyserial, minicom) opens ``device`` (``/dev/pts/N``) or the symlink ``link`` if one was
given, and talks to ``chip`` (a sans-IO ``EmulatedChip``) as to a real one. ``close()``
is pulling the cable: the host's next read fails. ``open()`` again plugs it back in (a
new pts, the symlink moved to it).

``mangle`` (tests) sees every chunk in each direction (``"in"``: host to chip, ``"out"``)
and returns what gets through, to inject line noise. ``serve_chip`` is ``kvmswitchd
ch9329-chip``: a chip on a pty for a daemon in another process, echoing what it types.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable
from typing import TextIO

from kvmswitchd.serial.links import open_raw_pty, place_symlink
from kvmswitchd.targets.ch9329_chip import EmulatedChip
from kvmswitchd.targets.computer import VirtualComputer

READ_SIZE = 4096
# Reply bytes held for a host that does not read. A chip answers a few bytes per command;
# the cap stops a host that writes but never reads from growing our memory.
MAX_BACKLOG = 64 * 1024

Mangle = Callable[[str, bytes], bytes]


class ChipPty:
    def __init__(
        self,
        chip: EmulatedChip,
        *,
        link: str | None = None,
        mangle: Mangle | None = None,
        on_input: Callable[[], None] | None = None,
    ) -> None:
        self.chip = chip
        self.link = link
        self.mangle = mangle
        self.on_input = on_input  # called after each chunk the chip took
        self.device: str | None = None
        self._master = -1
        self._slave = -1
        self._out = bytearray()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None

    @property
    def path(self) -> str:
        """What a host opens: the symlink, or the pts itself."""
        assert self.device is not None, "open() first"
        return self.link or self.device

    @property
    def plugged(self) -> bool:
        return self._master >= 0

    def open(self) -> str:
        self._loop = asyncio.get_running_loop()
        master, slave, self.device = open_raw_pty()  # bytes as a UART carries them
        try:
            if self.link is not None:
                place_symlink(self.device, self.link)
        except BaseException:
            os.close(master)
            os.close(slave)
            raise
        os.set_blocking(master, False)
        # We keep the slave open too: while a host has it closed (between two opens) the
        # master would read EIO at once and spin; with ours open it just waits.
        self._master, self._slave = master, slave
        self._loop.add_reader(master, self._readable)
        return self.path

    def close(self) -> None:
        """Unplug: the host's reads and writes on the far end fail from now on."""
        if self._master < 0:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        assert self._loop is not None
        self._loop.remove_reader(self._master)
        self._loop.remove_writer(self._master)
        self._out.clear()
        for fd in (self._master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._master = self._slave = -1
        if self.link is not None:
            with contextlib.suppress(OSError):
                if os.readlink(self.link) == self.device:
                    os.unlink(self.link)

    def _readable(self) -> None:
        try:
            data = os.read(self._master, READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return  # EIO while no one has the far end open: the slave we hold stops that
        if self.mangle is not None:
            data = self.mangle("in", data)
        if data:
            assert self._loop is not None
            self._send(self.chip.receive_data(data, self._loop.time()))
            if self.on_input is not None:
                self.on_input()
        self._rearm()

    def _tick(self) -> None:
        self._timer = None
        assert self._loop is not None
        self._send(self.chip.handle_timer(self._loop.time()))
        self._rearm()

    def _rearm(self) -> None:
        deadline = self.chip.next_deadline()
        if self._timer is not None:
            if deadline is not None and self._timer.when() == deadline:
                return
            self._timer.cancel()
            self._timer = None
        if deadline is not None and self._loop is not None:
            self._timer = self._loop.call_at(deadline, self._tick)

    def _send(self, data: bytes) -> None:
        if self.mangle is not None and data:
            data = self.mangle("out", data)
        if not data or self._master < 0:
            return
        if len(self._out) + len(data) > MAX_BACKLOG:
            return  # the host is not reading: a real chip's UART would overrun too
        if self._out:
            self._out += data
            return
        try:
            sent = os.write(self._master, data)
        except BlockingIOError:
            sent = 0
        except OSError:
            return
        if sent < len(data):
            self._out += data[sent:]
            assert self._loop is not None
            self._loop.add_writer(self._master, self._flush)

    def _flush(self) -> None:
        try:
            sent = os.write(self._master, self._out)
        except BlockingIOError:
            return
        except OSError:
            sent = len(self._out)
        del self._out[:sent]
        if not self._out:
            assert self._loop is not None
            self._loop.remove_writer(self._master)


async def serve_chip(link: str | None, address: int, mouse: str, out: TextIO) -> None:
    """An emulated chip on a pty until SIGINT/SIGTERM; prints where, then each line the
    virtual computer's screen shows as it changes."""
    computer = VirtualComputer(mouse=mouse)
    shown = [computer.screen.version]

    def echo() -> None:
        if computer.screen.version != shown[0]:
            shown[0] = computer.screen.version
            print(f"screen: {computer.screen.lines[-1]}", file=out, flush=True)

    # the pty is far from a UART: give a frame split across reads time to complete
    pty = ChipPty(EmulatedChip(computer, address=address, packet_gap=0.1), link=link, on_input=echo)
    path = pty.open()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"emulated CH9329 (address {address:#04x}) on {path}", file=out, flush=True)
    print(f'set ch9329_device = "{path}" on a target = "ch9329" port', file=out, flush=True)
    try:
        await stop.wait()
    finally:
        pty.close()
