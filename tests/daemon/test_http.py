"""Issue 2 acceptance over HTTP only, against the whole daemon on emulated ports."""

from __future__ import annotations

import aiohttp

from tests.daemon.conftest import Running


async def test_health_answers(running: Running) -> None:
    assert (await running.get("/health"))["ok"] is True


async def test_switch_type_switch_type_lands_on_the_right_ports_and_is_logged(
    running: Running,
) -> None:
    await running.post("/switch", {"port": "3"})
    await running.post("/input", {"text": "hello"})
    await running.post("/switch", {"port": "1"})
    await running.post("/input", {"text": "x"})
    assert await running.text("3") == "hello"
    assert await running.text("1") == "x"
    log = await running.get("/log?kind=switch")
    switches = [e for e in log["entries"] if e["source"] == "http"]
    assert [e["detail"]["to"] for e in switches] == ["3", "1"]


async def test_state_shows_focus_per_channel_and_subset_switching(running: Running) -> None:
    await running.post("/switch", {"port": "2", "channels": ["video", "audio"]})
    state = await running.get("/state")
    assert state["focus"] == {"km": "1", "video": "2", "audio": "2", "usb": "1"}
    ports = {p["id"]: p for p in state["ports"]}
    assert ports["2"]["focus"] == ["video", "audio"]


async def test_next_prev_and_rename(running: Running) -> None:
    await running.post("/switch/prev")
    assert (await running.get("/state"))["focus"]["km"] == "4"
    await running.post("/switch/next")
    assert (await running.get("/state"))["focus"]["km"] == "1"
    async with running.http.patch(
        running.url + "/api/v1/ports/2", json={"name": "Build server"}
    ) as r:
        assert r.status == 200
        assert (await r.json())["name"] == "Build server"


async def test_typing_shift_caps_lock_and_backspace_on_the_target(running: Running) -> None:
    await running.post("/input", {"text": "Hi!\b?\tx\ny"})
    assert await running.text("1") == "Hi?     x\ny"
    await running.post(
        "/input",
        {
            "events": [
                {"type": "EV_KEY", "code": "KEY_CAPSLOCK", "value": 1},
                {"type": "EV_KEY", "code": "KEY_CAPSLOCK", "value": 0},
            ]
        },
    )
    await running.post("/input", {"text": "ab"})
    target = await running.get("/ports/1/target")
    assert target["text"].endswith("yAB")
    assert target["leds"]["caps"] is True
    assert (await running.get("/ports/1"))["leds"]["caps"] is True
    assert (await running.get("/state"))["console"]["leds"]["caps"] is True


async def test_pointer_moves_and_clicks_on_the_target(running: Running) -> None:
    before = (await running.get("/ports/1/target"))["pointer"]
    await running.post(
        "/input",
        {
            "events": [
                {"type": "EV_REL", "code": "REL_X", "value": 300},
                {"type": "EV_REL", "code": "REL_Y", "value": -20},
                {"type": "EV_SYN", "code": "SYN_REPORT", "value": 0},
                {"type": "EV_KEY", "code": "BTN_LEFT", "value": 1},
                {"type": "EV_KEY", "code": "BTN_LEFT", "value": 0},
            ]
        },
    )
    after = (await running.get("/ports/1/target"))["pointer"]
    assert after["x"] == before["x"] + 300 and after["y"] == before["y"] - 20
    assert after["clicks"]["left"] == 1 and after["buttons"] == []


async def expect_error(resp: aiohttp.ClientResponse, status: int, code: str | None = None) -> None:
    assert resp.status == status, await resp.text()
    body = await resp.json()
    assert set(body) == {"error", "message"} and body["message"]
    if code:
        assert body["error"] == code


async def test_bad_requests_get_clear_json_errors_and_the_daemon_keeps_serving(
    running: Running,
) -> None:
    api = running.url + "/api/v1"
    http = running.http
    async with http.post(api + "/switch", json={"port": "9"}) as r:
        await expect_error(r, 404, "unknown_port")
    async with http.get(api + "/ports/77") as r:
        await expect_error(r, 404)
    async with http.get(api + "/ports/abc/target") as r:
        await expect_error(r, 400)
    malformed = {"Content-Type": "application/json"}
    async with http.post(api + "/switch", data=b"{not json", headers=malformed) as r:
        await expect_error(r, 400, "bad_request")
    async with http.post(api + "/switch", json=["2"]) as r:
        await expect_error(r, 400)
    async with http.post(api + "/switch", json={"port": 2.5}) as r:
        await expect_error(r, 400)
    async with http.post(api + "/switch", json={"port": "2", "channels": ["kb"]}) as r:
        await expect_error(r, 400)
    async with http.post(api + "/switch", json={"port": "2", "force": "yes"}) as r:
        await expect_error(r, 400)
    async with http.post(api + "/input", json={"text": "snow ☃"}) as r:
        await expect_error(r, 400)
    async with http.post(
        api + "/input", json={"events": [{"type": "EV_KEY", "code": "KEY_NOPE"}]}
    ) as r:
        await expect_error(r, 400)
    async with http.get(api + "/log?limit=abc") as r:
        await expect_error(r, 400)
    async with http.post(api + "/input", data=b"x" * (2 << 20)) as r:
        await expect_error(r, 413)
    async with http.get(api + "/nowhere") as r:
        await expect_error(r, 404)
    async with http.delete(api + "/switch") as r:
        await expect_error(r, 405)
    assert (await running.get("/health"))["ok"]


async def test_metrics_are_served_in_prometheus_format_to_loopback(running: Running) -> None:
    await running.post("/switch", {"port": "2"})
    async with running.http.get(running.url + "/metrics") as r:
        assert r.status == 200
        body = await r.text()
    assert 'kvmswitchd_switches_total{source="http"} 1.0' in body
    assert 'kvmswitchd_focus{channel="km"} 2.0' in body
    assert "kvmswitchd_events_routed_total" in body
