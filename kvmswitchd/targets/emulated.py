"""The ``emulated`` target backend: a virtual computer inside the daemon (SPEC §8)."""

from __future__ import annotations

from typing import Any

from kvmswitchd.targets.computer import VirtualComputer
from kvmswitchd.targets.target import OutputListener


class EmulatedTarget:
    kind = "emulated"

    def __init__(self, keyboard: str, mouse: str) -> None:
        self.computer = VirtualComputer(keyboard=keyboard, mouse=mouse)

    def write_keyboard(self, report: bytes) -> None:
        self.computer.receive_keyboard(report)

    def write_mouse(self, report: bytes) -> None:
        self.computer.receive_mouse(report)

    def set_output_listener(self, listener: OutputListener) -> None:
        self.computer.set_output(listener)

    def view(self) -> dict[str, Any]:
        return self.computer.view()

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None
