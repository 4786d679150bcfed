"""In a real browser: what the page holds on the target is let go when the capture ends —
the screen loses focus, the tab is hidden, the tab is closed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from tests.web.conftest import receive, receive_until
from tests.web.test_browser import browser, open_page

if TYPE_CHECKING:
    import aiohttp
    from playwright.async_api import Browser, Page

    from tests.daemon.conftest import Running

pytestmark = pytest.mark.browser
__all__ = ["browser"]  # the fixture, used by name


async def hold_keys_and_a_button(live: Running, page: Page) -> None:
    """Capture the screen, hold Shift+A and the left button; the target shows them."""
    from playwright.async_api import expect  # only when not skipped

    await page.locator("#monitor").click()  # the first click only takes the focus
    await page.keyboard.down("Shift")
    await page.keyboard.down("KeyA")
    await page.mouse.down()
    await expect(page.locator("#target-status")).to_contain_text("clicks L1")
    target = await live.get("/ports/1/target")
    assert (target["pressed_names"], target["pointer"]["buttons"]) == (
        ["KEY_A", "KEY_LEFTSHIFT"],
        [0],
    )


async def released(observer: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    while True:
        entry: dict[str, Any] = (await receive_until(observer, "log"))["entry"]
        if entry["kind"] == "keys_released":
            return entry


async def nothing_held(live: Running) -> None:
    target = await live.get("/ports/1/target")
    assert (target["pressed"], target["pointer"]["buttons"]) == ([], [])
    assert live.board.holds.held() == frozenset()


@pytest.mark.parametrize("how", ["blur", "hidden", "closed"])
async def test_the_page_lets_go_of_what_it_holds_when_the_capture_ends(
    live: Running, browser: Browser, how: str
) -> None:
    errors: list[str] = []
    page = await open_page(browser, live.url + "/", errors)
    async with live.http.ws_connect(live.url + "/api/v1/ws") as observer:
        await receive(observer)
        await hold_keys_and_a_button(live, page)
        if how == "blur":
            await page.locator("#type-text").focus()
        elif how == "hidden":  # as when the tab goes to the background
            await page.evaluate(
                """() => {
                    Object.defineProperty(document, "hidden", { value: true });
                    document.dispatchEvent(new Event("visibilitychange"));
                }"""
            )
        else:
            await page.close()
        assert (await released(observer))["detail"]["released"] == 3
        await nothing_held(live)
    if how != "closed":
        await page.close()
    assert errors == []
