"""The web UI in a real Chromium (Playwright) against the whole daemon on emulated ports.

Run: ``.venv/bin/pytest -m browser tests/web`` (needs /usr/bin/chromium; screenshots land in
``test-artifacts/``).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from aiohttp import web
from aiohttp.typedefs import Handler

from kvmswitchd.core.commands import SwitchTo
from tests.conftest import require_module, require_tool
from tests.web.conftest import FakeService, serve

if TYPE_CHECKING:
    from playwright.async_api import Browser, ConsoleMessage, Page

    from tests.daemon.conftest import Running

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ON = re.compile(r"\bon\b")
# With auth off the daemon has no /api/v1/auth/state: the page's probe of it is a 404,
# which Chromium logs as a console error. Expected, so allowed.
AUTH_OFF = r"/api/v1/auth/state$"


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    chromium = require_tool("chromium", "the web UI is tested in a real browser")
    require_module("playwright")
    from playwright.async_api import async_playwright  # only when not skipped

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


async def open_page(
    browser: Browser, url: str, errors: list[str], *, allow: str = AUTH_OFF
) -> Page:
    """A page at 1280x800 that collects page and console errors (except URLs matching
    ``allow``) into ``errors``."""
    from playwright.async_api import expect  # only when not skipped

    page = await browser.new_page(viewport={"width": 1280, "height": 800})
    page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    allowed = re.compile(allow)

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error" and not allowed.search(message.location.get("url", "")):
            errors.append(f"console: {message.text} {message.location}")

    page.on("console", on_console)
    await page.goto(url)
    await expect(page.locator("#conn")).to_have_text("live")
    await expect(page.locator(".port")).to_have_count(4)
    return page


async def test_switch_type_and_see_live_updates_in_a_real_browser(
    live: Running, browser: Browser
) -> None:
    from playwright.async_api import expect  # only when not skipped

    errors: list[str] = []
    page = await open_page(browser, live.url + "/", errors)
    screen = page.locator("#screen-text")

    # switch by clicking a port
    await page.locator('.port[data-port="3"] .port-select').click()
    await expect(page.locator('.port[data-port="3"] .badge.km')).to_have_class(ON)
    await expect(page.locator('.port[data-port="1"] .badge.km')).not_to_have_class(ON)
    await expect(page.locator("#screen-title")).to_have_text("Port 3")
    assert (await live.get("/state"))["focus"] == dict.fromkeys(
        ("km", "video", "audio", "usb"), "3"
    )

    # keyboard capture: click the screen, type; it lands on port 3 only
    await page.locator("#monitor").click()
    await page.keyboard.type("hello")
    await page.keyboard.press("Shift+Digit1")
    await expect(screen).to_have_text("hello!")
    assert await live.text("3") == "hello!"
    assert await live.text("1") == ""

    # mouse capture: a click on the focused screen is a left click on the target
    await page.locator("#monitor").click()
    await expect(page.locator("#target-status")).to_contain_text("clicks L1")
    target = await live.get("/ports/3/target")
    assert target["pointer"]["clicks"]["left"] == 1
    assert target["pressed"] == []  # and nothing stays pressed

    # the type-text box
    await page.locator("#type-text").fill(" world")
    await page.locator("#type-form button").click()
    await expect(screen).to_have_text("hello! world")

    # rename inline
    await page.locator('.port[data-port="1"] .rename').click()
    await page.locator(".rename-input").fill("Build server")
    await page.locator(".rename-input").press("Enter")
    await expect(page.locator('.port[data-port="1"] .port-name')).to_have_text("Build server")
    assert (await live.get("/ports/1"))["name"] == "Build server"

    # a switch made elsewhere (another HTTP client) shows up live: focus, screen, log
    await live.post("/switch", {"port": "2"})
    await expect(page.locator('.port[data-port="2"] .badge.km')).to_have_class(ON)
    await expect(page.locator("#screen-title")).to_have_text("Port 2")
    await expect(screen).to_have_text("")
    await expect(page.locator("#log .entry").first).to_contain_text("switch to 2")

    # next / prev buttons, and the log filter
    await page.locator("#next").click()
    await expect(page.locator('.port[data-port="3"] .badge.km')).to_have_class(ON)
    await page.locator("#f-kind").select_option("rename")
    await expect(page.locator("#log .entry")).to_have_count(1)
    await expect(page.locator("#log .entry")).to_contain_text("Build server")
    await page.locator("#f-kind").select_option("")

    # auto-scan toggle
    await page.locator("#scan").click()
    await expect(page.locator("#scan")).to_have_attribute("aria-pressed", "true")
    await page.locator("#scan").click()
    await expect(page.locator("#scan")).to_have_attribute("aria-pressed", "false")

    ARTIFACTS.mkdir(exist_ok=True)
    await page.locator("#monitor").click()
    await page.keyboard.type("ls -l")
    await expect(screen).to_have_text("hello! worldls -l")
    # the daemon renders frames: the screen shows the PNG, not the text fallback
    image = page.locator("#screen-img")
    await expect(image).to_be_visible()
    await expect(screen).to_be_hidden()
    await page.wait_for_function(
        "() => document.querySelector('#screen-img').complete"
        " && document.querySelector('#screen-img').naturalWidth > 0"
    )
    await page.screenshot(path=ARTIFACTS / "ui-1280x800.png")
    await page.set_viewport_size({"width": 390, "height": 844})
    await page.screenshot(path=ARTIFACTS / "ui-390x844.png")
    await page.screenshot(path=ARTIFACTS / "ui-390x844-full.png", full_page=True)
    assert errors == []


KEY_CODES = {
    "KeyA": "KEY_A",
    "KeyZ": "KEY_Z",
    "Digit1": "KEY_1",
    "Digit0": "KEY_0",
    "Enter": "KEY_ENTER",
    "ShiftLeft": "KEY_LEFTSHIFT",
    "ShiftRight": "KEY_RIGHTSHIFT",
    "ControlLeft": "KEY_LEFTCTRL",
    "AltRight": "KEY_RIGHTALT",
    "MetaLeft": "KEY_LEFTMETA",
    "ScrollLock": "KEY_SCROLLLOCK",
    "CapsLock": "KEY_CAPSLOCK",
    "ArrowUp": "KEY_UP",
    "ArrowLeft": "KEY_LEFT",
    "PageDown": "KEY_PAGEDOWN",
    "F1": "KEY_F1",
    "F12": "KEY_F12",
    "F24": "KEY_F24",
    "Numpad5": "KEY_KP5",
    "NumpadEnter": "KEY_KPENTER",
    "Backquote": "KEY_GRAVE",
    "Quote": "KEY_APOSTROPHE",
    "Period": "KEY_DOT",
    "IntlBackslash": "KEY_102ND",
    "F25": None,
    "KeyAA": None,
    "Fn": None,
    "toString": None,
}


async def test_browser_key_codes_map_to_evdev_names(service: FakeService, browser: Browser) -> None:
    errors: list[str] = []
    async with serve(service) as client:
        page = await open_page(
            browser, str(client.make_url("/")), errors, allow=f"{AUTH_OFF}|/screen"
        )
        mapped = await page.evaluate(
            """async (codes) => {
                const keys = await import("/static/keys.js");
                return Object.fromEntries(codes.map((c) => [c, keys.evdevKey(c)]));
            }""",
            list(KEY_CODES),
        )
    assert mapped == KEY_CODES
    assert errors == []


async def test_a_switch_that_would_hold_storage_or_has_warnings_asks_first(
    service: FakeService, browser: Browser
) -> None:
    from playwright.async_api import expect  # only when not skipped

    service.extra["storage"] = {"held_by": "1", "reason": "writing"}
    service.warnings["4"] = ["black screen risk: 3840x2160@60 is beyond the console monitor"]
    errors: list[str] = []
    async with serve(service) as client:
        page = await open_page(
            browser, str(client.make_url("/")), errors, allow=f"{AUTH_OFF}|/screen"
        )
        await expect(page.locator('.port[data-port="4"] .warnings')).to_contain_text("black screen")
        # no frame from this service: the screen falls back to the text view
        await expect(page.locator("#screen-text")).to_be_visible()
        await expect(page.locator("#screen-img")).to_be_hidden()

        await page.locator('.port[data-port="4"] .port-select').click()
        dialog = page.locator("#confirm")
        await expect(dialog).to_be_visible()
        await expect(dialog).to_contain_text("USB storage is in use by port 1 (writing)")
        await expect(dialog).to_contain_text("black screen risk")
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=ARTIFACTS / "ui-confirm.png")
        await dialog.get_by_role("button", name="Cancel").click()
        await expect(dialog).to_be_hidden()
        assert service.executed == []

        await page.locator('.port[data-port="4"] .port-select').click()
        await dialog.get_by_role("button", name="Force storage to move").click()
        await expect(page.locator('.port[data-port="4"] .badge.usb')).to_have_class(ON)
        assert [c for c, _ in service.executed] == [SwitchTo("4", None, True)]

        await page.locator('.port[data-port="2"] .port-select').click()  # no warnings there...
        await expect(dialog).to_be_visible()  # ...but storage would still be held
        await dialog.get_by_role("button", name="Switch", exact=True).click()
        await expect(page.locator('.port[data-port="2"] .badge.km')).to_have_class(ON)
        assert service.executed[-1][0] == SwitchTo("2", None, False)
    assert errors == []


async def test_a_401_from_the_api_shows_the_login_form(
    service: FakeService, browser: Browser
) -> None:
    from playwright.async_api import expect  # only when not skipped

    @web.middleware
    async def signed_out(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith("/api/"):
            return web.json_response({"error": "unauthorized", "message": "log in"}, status=401)
        return await handler(request)

    async with serve(service, middleware=signed_out) as client:
        page = await browser.new_page(viewport={"width": 1280, "height": 800})
        await page.goto(str(client.make_url("/")))
        await expect(page.locator("#login-form")).to_be_visible()
        await expect(page.locator("#login-form")).to_contain_text("Sign in")
        await expect(page.locator("#app")).to_be_hidden()
        await expect(page.locator("#conn")).to_be_hidden()
