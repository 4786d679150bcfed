"""Issue 5 acceptance: the web UI in a real Chromium against the whole daemon with
authentication on — first-start setup, logout, login, switching, typing, a switch made
over a serial pty showing up live, and the EDID panel's black-screen warning.

Run: ``.venv/bin/pytest -m browser tests/web`` (needs /usr/bin/chromium; screenshots land
in ``test-artifacts/``).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from tests.conftest import require_module, require_tool
from tests.web.conftest import FakeService, serve
from tests.web.test_browser import ARTIFACTS, CHROMIUM_ARGS, ON

if TYPE_CHECKING:
    from playwright.async_api import Browser, ConsoleMessage, Locator, Page, ViewportSize

    from kvmswitchd.daemon import Daemon

pytestmark = pytest.mark.browser

ADMIN = "admin"
PASSWORD = "correct horse battery"
WAIT = 10.0
# Requests this test makes fail on purpose (Chromium logs each failed load as an error):
# a wrong setup token and a wrong password (401), bad EDIDs (400).
EXPECTED_FAILURES = r"/api/v1/auth/(login|setup)$|/api/v1/ports/\d+/edid$"
PHONE: ViewportSize = {"width": 390, "height": 844}
DESKTOP: ViewportSize = {"width": 1280, "height": 800}


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    chromium = require_tool("chromium", "the web UI is tested in a real browser")
    require_module("playwright")
    from playwright.async_api import async_playwright  # only when not skipped

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


@dataclass
class Secured:
    daemon: Daemon
    url: str
    link: Path  # the serial endpoint's pty symlink


@pytest.fixture
async def secured(tmp_path: Path) -> AsyncIterator[Secured]:
    """The whole daemon with accounts on (no users yet), the console monitor at the
    1080p60 preset (no DRM tree) and a text serial endpoint on a pty."""
    from tests.daemon.conftest import start  # the daemon only when a test needs it

    link = tmp_path / "ttyKVM0"
    doc = {
        "http": {"auth": True},
        "video": {"drm_root": ""},
        "serial": [{"endpoint": f"pty:{link}", "echo": False}],
    }
    daemon, _board = await start(tmp_path / "state", doc)
    yield Secured(daemon, daemon.http_url, link)
    await daemon.stop()


def collect_errors(page: Page, errors: list[str], allow: str) -> None:
    allowed = re.compile(allow)
    page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error" and not allowed.search(message.location.get("url", "")):
            errors.append(f"console: {message.text} {message.location}")

    page.on("console", on_console)


async def both_sizes(page: Page, name: str, *, show: Locator | None = None) -> None:
    """Screenshots at 1280x800 and 390x844 with ``show`` scrolled into view, and the
    whole page on the phone."""
    ARTIFACTS.mkdir(exist_ok=True)
    for size, label in ((DESKTOP, "1280x800"), (PHONE, "390x844")):
        await page.set_viewport_size(size)
        if show is not None:
            await show.scroll_into_view_if_needed()
        await page.screenshot(path=ARTIFACTS / f"{name}-{label}.png")
    await page.evaluate("window.scrollTo(0, 0)")  # a sticky top bar stays on top
    await page.screenshot(path=ARTIFACTS / f"{name}-390x844-full.png", full_page=True)
    await page.set_viewport_size(DESKTOP)


async def serial_switch(link: Path, port: int) -> bytes:
    """Send ``switch N`` on the serial line; the daemon's reply."""
    import serial_asyncio_fast  # the pty's far end, as a serial client would open it

    reader, writer = await serial_asyncio_fast.open_serial_connection(url=str(link), baudrate=9600)
    try:
        writer.write(f"switch {port}\r\n".encode())
        async with asyncio.timeout(WAIT):
            return await reader.readuntil(b"OK\r\n")
    finally:
        writer.close()


async def test_setup_login_switch_type_serial_and_edid_with_auth_on(
    secured: Secured, browser: Browser
) -> None:
    from playwright.async_api import expect  # only when not skipped

    token = secured.daemon.setup_token
    assert token
    errors: list[str] = []
    page = await browser.new_page(viewport=DESKTOP)
    collect_errors(page, errors, EXPECTED_FAILURES)
    await page.goto(secured.url + "/")

    # -- first start: the setup form (client-side checks, then a wrong token, then right)
    setup = page.locator("#setup-form")
    await expect(setup).to_be_visible()
    await expect(page.locator("#app")).to_be_hidden()
    await both_sizes(page, "auth-setup")
    await page.locator("#setup-token").fill("not-the-token")
    await page.locator("#setup-name").fill(ADMIN)
    await page.locator("#setup-password").fill(PASSWORD)
    await page.locator("#setup-password2").fill(PASSWORD + "!")
    await page.locator("#setup-submit").click()
    await expect(page.locator("#setup-error")).to_have_text("The two passwords differ.")
    await page.locator("#setup-password2").fill(PASSWORD)
    await page.locator("#setup-submit").click()
    await expect(page.locator("#setup-error")).to_have_text("The setup token is not valid.")
    await page.locator("#setup-token").fill(token)
    await page.locator("#setup-submit").click()
    await expect(page.locator("#conn")).to_have_text("live")
    await expect(page.locator("#who")).to_contain_text(ADMIN)
    await expect(page.locator("#who .role")).to_have_text("admin")
    await expect(page.locator(".port")).to_have_count(4)
    assert secured.daemon.accounts is not None and not secured.daemon.accounts.needs_setup

    # -- logout: back to the login form, and the cookie no longer works
    await page.locator("#logout").click()
    login = page.locator("#login-form")
    await expect(login).to_be_visible()
    await expect(page.locator("#login-info")).to_have_text("You have signed out.")
    await expect(page.locator("#app")).to_be_hidden()
    await expect(page.locator("#who")).to_be_hidden()
    assert (await page.request.get(secured.url + "/api/v1/state")).status == 401

    # -- a wrong password first: a clear error, still signed out
    await page.locator("#login-name").fill(ADMIN)
    await page.locator("#login-password").fill("wrong password")
    await page.locator("#login-submit").click()
    await expect(page.locator("#login-error")).to_have_text("Wrong user name or password.")
    await expect(page.locator("#app")).to_be_hidden()
    await both_sizes(page, "auth-login")
    await page.locator("#login-password").fill(PASSWORD)
    await page.locator("#login-password").press("Enter")
    await expect(page.locator("#conn")).to_have_text("live")
    await expect(page.locator(".port")).to_have_count(4)
    await expect(page.locator("#login-form")).to_be_hidden()

    # -- switch by clicking a port; type into it through the UI
    await page.locator('.port[data-port="3"] .port-select').click()
    await expect(page.locator('.port[data-port="3"] .badge.km')).to_have_class(ON)
    await expect(page.locator("#screen-title")).to_have_text("Port 3")
    await page.locator("#monitor").click()
    await page.keyboard.type("hello")
    await page.keyboard.press("Shift+Digit1")
    await expect(page.locator("#screen-text")).to_have_text("hello!")
    await page.locator("#type-text").fill(" ok")
    await page.locator("#type-form button").click()
    await expect(page.locator("#screen-text")).to_have_text("hello! ok")
    await both_sizes(page, "auth-app")
    # the browser's own session sees it on port 3 ...
    target = await page.request.get(secured.url + "/api/v1/ports/3/target")
    assert target.ok and (await target.json())["text"] == "hello! ok"
    # ... and so does a script with a bearer token (port 1 got nothing)
    made = await page.request.post(secured.url + "/api/v1/auth/tokens", data={"name": "ci"})
    assert made.status == 201
    bearer = {"Authorization": f"Bearer {(await made.json())['token']}"}
    api = secured.url + "/api/v1"
    async with aiohttp.ClientSession(headers=bearer) as http:

        async def get(path: str) -> Any:
            async with http.get(api + path) as resp:
                assert resp.status == 200, await resp.text()
                return await resp.json()

        assert (await get("/ports/3/target"))["text"] == "hello! ok"
        assert (await get("/ports/1/target"))["text"] == ""

        # -- a switch made over the serial line shows up live in the page
        assert await serial_switch(secured.link, 2) == b"switched to 2\r\nOK\r\n"
        await expect(page.locator('.port[data-port="2"] .badge.km')).to_have_class(ON)
        await expect(page.locator('.port[data-port="3"] .badge.km')).not_to_have_class(ON)
        await expect(page.locator("#screen-title")).to_have_text("Port 2")
        await expect(page.locator("#log .entry").first).to_contain_text("switch to 2")
        await expect(page.locator("#log .entry").first).to_contain_text("serial")
        await expect(page.locator("#serial-info")).to_contain_text(str(secured.link))

        # -- the EDID panel follows the shown port; bad input gets the server's message
        panel = page.locator("#edid")
        await expect(page.locator("#edid-port")).to_have_value("2")
        await expect(page.locator("#edid-facts")).to_contain_text("1920x1080@60")
        await expect(page.locator("#edid-warning")).to_be_hidden()
        await page.locator("#edid-hex-box summary").click()
        await page.locator("#edid-hex").fill("00 ff ff")
        await page.locator("#edid-hex-form button").click()
        await expect(page.locator("#edid-error")).to_contain_text("128-byte blocks")
        await page.locator("#edid-hex-box summary").click()  # folded away again
        await page.locator("#edid-file").set_input_files(
            {"name": "short.bin", "mimeType": "application/octet-stream", "buffer": b"\x00\xff"}
        )
        await expect(page.locator("#edid-error")).to_contain_text("got 2 bytes")
        # a real blob (port 1's) as a .bin upload
        async with http.get(api + "/ports/1/edid") as resp:
            blob = await resp.read()
        await page.locator("#edid-file").set_input_files(
            {"name": "port1.bin", "mimeType": "application/octet-stream", "buffer": blob}
        )
        await expect(page.locator("#edid-done")).to_contain_text("port1.bin")
        await expect(page.locator("#edid-error")).to_be_hidden()
        await expect(page.locator("#edid-facts")).to_contain_text("uploaded EDID")
        assert (await get("/ports/2/edid?format=json"))["hex"] == blob.hex()

        # -- the 4k60 preset: the console monitor (1080p60) can't show it
        await page.locator("#edid-preset").select_option("4k60")
        await panel.get_by_role("button", name="Apply preset").click()
        warning = page.locator("#edid-warning")
        await expect(warning).to_be_visible()
        await expect(warning).to_contain_text("black screen risk")
        await expect(warning).to_contain_text("3840x2160@60")
        await expect(page.locator("#edid-alternatives")).to_contain_text("Use 1080p60")
        await expect(page.locator("#edid-facts")).to_contain_text("preset 4k60")
        await expect(page.locator('.port[data-port="2"] .warnings')).to_contain_text("black screen")
        view = await get("/ports/2/edid?format=json")
        assert view["override"] == {"preset": "4k60"} and view["mode"] == "3840x2160@60"
        await both_sizes(page, "auth-app-edid", show=panel)
        await panel.screenshot(path=ARTIFACTS / "auth-edid-panel.png")

        # -- idle monitor off, then back to the default EDID
        await page.locator("#edid-idle").uncheck()
        await expect(page.locator("#edid-done")).to_contain_text("no monitor while idle")
        assert (await get("/ports/2/edid?format=json"))["idle_monitor"] is False
        await page.locator("#edid-default").click()
        await expect(warning).to_be_hidden()
        await expect(page.locator("#edid-facts")).to_contain_text("default")
        assert (await get("/ports/2/edid?format=json"))["override"] is None
    assert errors == []

    # -- the session ended elsewhere ("log out everywhere"): the page asks for a login
    jar = aiohttp.CookieJar(unsafe=True)  # unsafe: keep cookies for an IP-address host
    async with aiohttp.ClientSession(cookie_jar=jar) as other:
        credentials = {"name": ADMIN, "password": PASSWORD}
        async with other.post(api + "/auth/login", json=credentials) as resp:
            assert resp.status == 200, await resp.text()
        async with other.post(api + "/auth/logout", json={"all": True}) as resp:
            assert (await resp.json())["sessions_ended"] == 2
    await expect(page.locator("#login-form")).to_be_visible()
    await expect(page.locator("#login-info")).to_have_text("Your session has ended. Sign in again.")
    await expect(page.locator("#app")).to_be_hidden()
    assert all("status of 401" in e for e in errors), errors  # the refused requests only
    await page.close()


# -- the login form's error handling, against a stand-in server ------------------------------


def auth_stub(login: Callable[[web.Request], Awaitable[web.Response]]) -> Middleware:
    """Middleware: an auth-on daemon with one user and nobody signed in; logins go to
    ``login``; every other API call is a 401."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path == "/api/v1/auth/state":
            return web.json_response({"setup_required": False, "user": None})
        if request.path == "/api/v1/auth/login":
            return await login(request)
        if request.path.startswith("/api/"):
            return web.json_response({"error": "unauthorized", "message": "log in"}, status=401)
        return await handler(request)

    return middleware


async def test_a_throttled_login_says_how_long_to_wait_and_holds_the_button(
    service: FakeService, browser: Browser
) -> None:
    from playwright.async_api import expect  # only when not skipped

    async def throttled(request: web.Request) -> web.Response:
        response = web.json_response(
            {"error": "throttled", "message": "too many failed logins; try again in 7 s"},
            status=429,
        )
        response.headers["Retry-After"] = "7"
        return response

    errors: list[str] = []
    async with serve(service, middleware=auth_stub(throttled)) as client:
        page = await browser.new_page(viewport=DESKTOP)
        collect_errors(page, errors, EXPECTED_FAILURES)
        await page.goto(str(client.make_url("/")))
        await expect(page.locator("#login-form")).to_be_visible()
        await page.locator("#login-name").fill(ADMIN)
        await page.locator("#login-password").fill("guess")
        await page.locator("#login-submit").click()
        error = page.locator("#login-error")
        await expect(error).to_contain_text("Too many failed attempts")
        await expect(error).to_contain_text("Try again in 7 s")
        await expect(page.locator("#login-submit")).to_be_disabled()
        await expect(page.locator("#login-submit")).to_have_text(re.compile(r"Wait \d s"))
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=ARTIFACTS / "auth-login-throttled.png")
    assert errors == []


async def test_a_viewer_sees_the_ports_but_not_the_controls_it_may_not_use(
    service: FakeService, browser: Browser
) -> None:
    from playwright.async_api import expect  # only when not skipped

    viewer = {
        "name": "watcher",
        "role": "viewer",
        "permissions": {"view": None},
        "ports": {},
    }

    @web.middleware
    async def signed_in_viewer(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path == "/api/v1/auth/state":
            return web.json_response({"setup_required": False, "user": viewer})
        if request.method == "POST" and request.path.startswith("/api/"):
            return web.json_response(
                {"error": "forbidden", "message": "role viewer may not switch"}, status=403
            )
        return await handler(request)

    errors: list[str] = []
    async with serve(service, middleware=signed_in_viewer) as client:
        page = await browser.new_page(viewport=DESKTOP)
        collect_errors(page, errors, r"/screen|/api/v1/switch$")  # no frames; the 403
        await page.goto(str(client.make_url("/")))
        await expect(page.locator(".port")).to_have_count(4)
        await expect(page.locator("#who")).to_contain_text("watcher")
        await expect(page.locator("#who .role")).to_have_text("viewer")
        await expect(page.locator("#next")).to_be_disabled()
        await expect(page.locator("#scan")).to_be_disabled()
        await expect(page.locator('.port[data-port="2"] .port-select')).to_be_disabled()
        await expect(page.locator('.port[data-port="2"] .rename')).to_be_hidden()
        await expect(page.locator("#type-text")).to_be_disabled()
        await expect(page.locator("#capture-hint")).to_contain_text("can watch")
        # the server is the one that enforces: a refusal shows its reason
        reply = await page.evaluate(
            """async () => {
                const { api } = await import("/static/api.js");
                try { await api("POST", "/switch", { port: "2" }); return "ok"; }
                catch (err) { return `${err.status} ${err.message}`; }
            }"""
        )
        assert reply == "403 Not allowed: role viewer may not switch"
        assert service.executed == []
    assert errors == []
