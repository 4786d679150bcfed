"""The ``emulated`` target backend: a virtual computer inside the daemon (SPEC §8)."""

from __future__ import annotations

from typing import Any

from kvmswitchd.targets.computer import Mode, VirtualComputer
from kvmswitchd.targets.screen import render
from kvmswitchd.targets.target import OutputListener
from video import preferred_mode


class EmulatedTarget:
    kind = "emulated"

    def __init__(self, keyboard: str, mouse: str) -> None:
        self.computer = VirtualComputer(keyboard=keyboard, mouse=mouse)
        self._frame = b""
        self._frame_key: object = None

    def write_keyboard(self, report: bytes) -> None:
        self.computer.receive_keyboard(report)

    def write_mouse(self, report: bytes) -> None:
        self.computer.receive_mouse(report)

    def set_output_listener(self, listener: OutputListener) -> None:
        self.computer.set_output(listener)

    def present_edid(self, edid: bytes | None) -> None:
        """The virtual computer drives the preferred timing of the EDID it is shown."""
        if edid is None:
            self.computer.monitor = False
            return
        mode = preferred_mode(edid)
        self.computer.monitor = True
        self.computer.set_mode(Mode(mode.width, mode.height, mode.refresh_hz))

    def screen(self) -> bytes:
        key = (
            self.computer.screen.version,
            self.computer.pointer_x,
            self.computer.pointer_y,
            self.computer.mode,
            self.computer.monitor,
        )
        if key != self._frame_key:
            self._frame = render(self.computer)
            self._frame_key = key
        return self._frame

    def view(self) -> dict[str, Any]:
        return self.computer.view()

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None
