"""A qemu port's card in a real Chromium: the VM's run state, and power buttons that
carry the action to the VM (a fake QEMU) and show the new state when QEMU reports it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.daemon.conftest import Running, start
from tests.qemu.fake_qmp import FakeQmp
from tests.web.test_browser import browser, open_page  # noqa: F401  # the fixture

pytestmark = pytest.mark.browser


@pytest.fixture
async def live(tmp_path: Path, vm: FakeQmp) -> AsyncIterator[Running]:
    doc = {"ports": {"2": {"target": "qemu", "qmp": f"unix:{vm.path}", "vm_name": "vm1"}}}
    daemon, board = await start(tmp_path / "state", doc)
    await board.links[2].target.connected.wait()  # type: ignore[attr-defined]  # QemuTarget
    async with aiohttp.ClientSession() as http:
        yield Running(daemon, board, daemon.http_url, http)
    await daemon.stop()


async def test_the_power_buttons_pause_and_resume_the_vm(
    live: Running,
    vm: FakeQmp,
    browser: object,  # noqa: F811  # the fixture imported above
) -> None:
    from playwright.async_api import expect  # only when not skipped

    errors: list[str] = []
    page = await open_page(browser, live.url + "/", errors)  # type: ignore[arg-type]
    card = page.locator('.port[data-port="2"]')
    await expect(card.locator(".power-status")).to_have_text("running")
    assert await page.locator('.port[data-port="1"] .power').count() == 0  # emulated

    await card.locator(".power-pause").click()
    await expect(card.locator(".power-status")).to_have_text("paused")
    assert "stop" in vm.names()
    await card.locator(".power-resume").click()
    await expect(card.locator(".power-status")).to_have_text("running")
    assert "cont" in vm.names()
    assert errors == []
