"""GPIO front-panel buttons: config parsing, and presses from a fake line request."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kvmswitchd.config import parse_config
from kvmswitchd.console.gpio import GpioButtons, GpioSpec, parse_gpio
from kvmswitchd.errors import ConfigError
from tests.conftest import require_module


@dataclass
class Edge:
    line_offset: int


class FakeRequest:
    """A line request whose fd becomes readable when the test 'presses' a line."""

    def __init__(self) -> None:
        self.read_fd, self.write_fd = os.pipe()
        self.pending: list[Edge] = []
        self.released = False

    def press(self, offset: int) -> None:
        self.pending.append(Edge(offset))
        os.write(self.write_fd, b"x")

    def fileno(self) -> int:
        return self.read_fd

    def read_edge_events(self) -> list[Any]:
        os.read(self.read_fd, 64)
        events, self.pending = self.pending, []
        return events

    def release(self) -> None:
        self.released = True
        os.close(self.read_fd)
        os.close(self.write_fd)


def test_the_buttons_table_is_validated_with_key_paths() -> None:
    spec = parse_gpio({"chip": "/dev/gpiochip0", "lines": {"1": 17, "next": 22}}, 4)
    assert spec == GpioSpec("/dev/gpiochip0", {"1": 17, "next": 22})
    cases: list[tuple[dict[str, Any], str]] = [
        ({"lines": {"1": 1}}, "buttons.chip"),
        ({"chip": "/dev/gpiochip0", "lines": {"9": 1}}, "buttons.lines.9"),
        ({"chip": "/dev/gpiochip0", "lines": {"1": -1}}, "buttons.lines.1"),
        ({"chip": "/dev/gpiochip0", "lines": {"1": 3, "2": 3}}, "buttons.lines.2"),
        ({"chip": "/dev/gpiochip0", "lines": {"1": 3}, "debounce_ms": 5000}, "buttons.debounce_ms"),
        ({"chip": "/dev/gpiochip0", "lines": {"1": 3}, "colour": 1}, "buttons.colour"),
    ]
    for table, path in cases:
        with pytest.raises(ConfigError) as info:
            parse_gpio(table, 4)
        assert info.value.path == path
    config = parse_config({"buttons": {"chip": "/dev/gpiochip1", "lines": {"prev": 5}}})
    assert config.buttons is not None and config.buttons.lines == {"prev": 5}


async def test_presses_on_gpio_lines_become_button_presses() -> None:
    fake = FakeRequest()
    pressed: asyncio.Queue[str] = asyncio.Queue()
    spec = GpioSpec("/dev/gpiochip0", {"2": 17, "next": 22})
    buttons = GpioButtons(spec, pressed.put_nowait, opener=lambda _spec: fake)
    buttons.start()
    try:
        fake.press(22)
        fake.press(17)
        fake.press(99)  # not a button line: ignored
        got = [await asyncio.wait_for(pressed.get(), 5), await asyncio.wait_for(pressed.get(), 5)]
        assert got == ["next", "2"]
        assert pressed.empty()
    finally:
        buttons.close()
    assert fake.released


def test_requesting_lines_through_gpiod_on_a_missing_chip_is_a_device_error(tmp_path: Path) -> None:
    require_module("gpiod", "front-panel GPIO buttons")
    from kvmswitchd.console.gpio import open_lines
    from kvmswitchd.errors import DeviceError

    # no GPIO chip on this machine: the request fails cleanly with a DeviceError
    with pytest.raises(DeviceError, match="cannot request GPIO lines"):
        open_lines(GpioSpec(str(tmp_path / "gpiochip9"), {"1": 3}))
