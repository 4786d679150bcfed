"""The emulated port goes through the same report queue as hardware: with a poll interval
its virtual host takes one report per interface per tick, and still gets every one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest

from kvmswitchd.config import parse_config
from kvmswitchd.errors import ConfigError
from kvmswitchd.targets.emulated import EmulatedTarget
from tests.daemon.conftest import start

TEXT = ("The quick brown fox jumps over the lazy dog; PACK MY BOX! " * 4)[:220]


async def test_a_220_character_post_input_reaches_a_slowly_polled_emulated_port_whole(
    tmp_path: Path,
) -> None:
    doc: dict[str, Any] = {"ports": {"1": {"poll_interval": 0.0005}}}
    daemon, board = await start(tmp_path / "state", doc)
    try:
        target = board.links[1].target
        assert isinstance(target, EmulatedTarget)
        async with aiohttp.ClientSession() as http:
            url = daemon.http_url + "/api/v1/input"
            async with http.post(url, json={"text": TEXT}) as resp:
                assert resp.status == 200, await resp.text()
        assert len(target.keyboard_queue) > 0  # the virtual host has not taken them yet
        await target.drained()
        view = board.target("1")
        assert view["text"].replace("\n", "") == TEXT
        assert view["pacing"]["keyboard"]["discarded"] == 0
        assert view["pressed"] == []
    finally:
        await daemon.stop()


async def test_poll_interval_zero_takes_each_report_as_it_is_pushed() -> None:
    target = EmulatedTarget("usb", "relative")
    await target.start()
    target.write_keyboard(bytes((0, 0, 4, 0, 0, 0, 0, 0)))
    assert target.computer.screen.text == "a"
    assert len(target.keyboard_queue) == 0
    await target.stop()


@pytest.mark.parametrize(
    ("port", "message"),
    [
        ({"poll_interval": -1}, "0.0..1.0"),
        ({"poll_interval": 2}, "0.0..1.0"),
        ({"poll_interval": "fast"}, "0.0..1.0"),
        ({"poll_interval": True}, "0.0..1.0"),
        ({"target": "usbip", "poll_interval": 0.01}, "only an emulated port"),
    ],
)
def test_a_bad_poll_interval_is_refused_naming_the_key(port: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"ports": {"2": port}})
    assert caught.value.path == "ports.2.poll_interval"
    assert message in str(caught.value)


def test_a_poll_interval_is_carried_into_the_port_config() -> None:
    config = parse_config({"ports": {"2": {"poll_interval": 0.008}}})
    assert config.port(2).poll_interval == 0.008
