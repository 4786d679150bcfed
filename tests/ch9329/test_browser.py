"""The web UI on a ch9329 switch in a real Chromium: typing reaches the chip's computer,
and a pulled cable shows on the screen's status line with its reason."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from kvmswitchd.targets.ch9329 import Ch9329Target
from kvmswitchd.targets.ch9329_link import LinkState
from tests.ch9329.test_daemon import WAIT, Ch9329Running, ch9329_daemon, ch9329_ports
from tests.web.test_browser import browser, open_page

if TYPE_CHECKING:
    from playwright.async_api import Browser

pytestmark = pytest.mark.browser
__all__ = ["browser"]  # the fixture, imported to be used here


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[Ch9329Running]:
    run = await ch9329_daemon(tmp_path / "state", {"ports": ch9329_ports(4)})
    yield run
    await run.http.close()
    await run.daemon.stop()


async def test_the_ui_types_on_a_ch9329_port_and_shows_it_offline_when_unplugged(
    live: Ch9329Running, browser: Browser
) -> None:
    from playwright.async_api import expect  # only when not skipped

    errors: list[str] = []
    page = await open_page(browser, live.url, errors)
    await live.post("/input", {"text": "over serial"})
    await expect(page.locator("#screen-text")).to_have_text("over serial")
    target = live.board.links[1].target
    assert isinstance(target, Ch9329Target) and target.chip_pty is not None
    target.chip_pty.close()
    async with asyncio.timeout(WAIT):
        await target.wait_for(LinkState.CLOSED)
    await expect(page.locator("#target-status")).to_contain_text("offline: ")
    target.chip_pty.open()
    async with asyncio.timeout(WAIT):
        await target.wait_for(LinkState.ONLINE)
    await expect(page.locator("#target-status")).not_to_contain_text("offline")
    assert errors == []
