"""In a real Chromium: the UI runs under its Content-Security-Policy (no violation, the
websocket connects) and another site cannot frame it (clickjacking)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.conftest import require_module, require_tool
from tests.web.test_browser import CHROMIUM_ARGS

if TYPE_CHECKING:
    from playwright.async_api import Browser

pytestmark = pytest.mark.browser


@pytest.fixture
async def ui_url(tmp_path: Path) -> AsyncIterator[str]:
    """The whole daemon, auth off: the UI opens straight onto the ports."""
    from tests.daemon.conftest import start

    daemon, _ = await start(tmp_path / "state")
    yield daemon.http_url
    await daemon.stop()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    chromium = require_tool("chromium", "the web UI is tested in a real browser")
    require_module("playwright")
    from playwright.async_api import async_playwright  # only when not skipped

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


async def test_the_ui_runs_under_its_csp_and_cannot_be_framed(
    ui_url: str, browser: Browser
) -> None:
    from playwright.async_api import expect  # only when not skipped

    page = await browser.new_page()
    violations: list[str] = []
    page.on(
        "console",
        lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
    )
    await page.goto(ui_url + "/")
    await expect(page.locator("#conn")).to_have_text("live")  # the websocket is allowed
    await expect(page.locator(".port")).to_have_count(4)
    assert violations == []

    # another origin (the test's own blank page) frames the UI: the browser refuses
    framer = await browser.new_page()
    await framer.set_content(f'<iframe id="kvm" src="{ui_url}/"></iframe>')
    frame = framer.frame_locator("#kvm")
    await expect(frame.locator("#conn")).to_have_count(0)
    child = next(f for f in framer.frames if f is not framer.main_frame)
    assert 'id="conn"' not in await child.content()
