"""Issue 6 acceptance at daemon level: learned console EDID, per-port overrides over the
API, mode warnings, idle monitors, screens."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from kvmswitchd.assembly import build_board
from kvmswitchd.config import parse_config
from kvmswitchd.core.commands import Origin, Source
from kvmswitchd.errors import InputError
from kvmswitchd.switchboard import Switchboard
from tests.daemon.conftest import start
from video import build_edid, parse_edid

MONITOR = build_edid("1080p60", name="Console 1080", audio="stereo")


def fake_drm(root: Path, blob: bytes) -> Path:
    (root / "card0-DP-1").mkdir(parents=True)
    (root / "card0-DP-1" / "status").write_text("disconnected\n")
    (root / "card0-DP-1" / "edid").write_bytes(b"")
    (root / "card0-HDMI-A-1").mkdir()
    (root / "card0-HDMI-A-1" / "status").write_text("connected\n")
    (root / "card0-HDMI-A-1" / "edid").write_bytes(blob)
    return root


@pytest.fixture
async def video_daemon(tmp_path: Path) -> Any:
    drm = fake_drm(tmp_path / "drm", MONITOR)
    daemon, board = await start(tmp_path / "state", {"video": {"drm_root": str(drm)}})
    async with aiohttp.ClientSession() as http:
        yield daemon, board, http
    await daemon.stop()


async def test_a_learned_edid_becomes_every_ports_default_and_warnings_follow_overrides(
    video_daemon: Any,
) -> None:
    daemon, _board, http = video_daemon
    api = daemon.http_url + "/api/v1"
    for unit in ("1", "2", "3", "4"):
        async with http.get(f"{api}/ports/{unit}/edid") as r:
            assert r.status == 200
            assert await r.read() == MONITOR
    state = await (await http.get(api + "/state")).json()
    assert state["console"]["monitor"] == "learned from card0-HDMI-A-1"
    assert all(p["warnings"] == [] for p in state["ports"])

    async with http.put(f"{api}/ports/2/edid", json={"preset": "4k60"}) as r:
        assert r.status == 200, await r.text()
        view = await r.json()
    assert view["mode"] == "3840x2160@60"
    assert "black screen risk" in view["warning"]
    assert "1920x1080@60" in view["alternatives"]
    port = await (await http.get(api + "/ports/2")).json()
    assert port["warnings"] and "3840x2160" in port["warnings"][0]
    target = await (await http.get(api + "/ports/2/target")).json()
    assert target["mode"] == "3840x2160@60"
    log = await (await http.get(api + "/log?kind=mode_warning")).json()
    assert log["entries"][-1]["ports"] == ["2"]

    async with http.put(f"{api}/ports/2/edid", json={"preset": "1080p60"}) as r:
        assert (await r.json())["warning"] is None
    assert (await (await http.get(api + "/ports/2")).json())["warnings"] == []
    async with http.put(f"{api}/ports/2/edid", json={"default": True}) as r:
        assert (await r.json())["source"] == "console"


async def test_edid_blobs_by_hex_base64_and_binary_and_formats(video_daemon: Any) -> None:
    daemon, _board, http = video_daemon
    api = daemon.http_url + "/api/v1"
    blob = build_edid("1440p60", name="Blob")
    async with http.put(f"{api}/ports/3/edid", json={"hex": blob.hex()}) as r:
        assert (await r.json())["source"] == "blob"
    async with http.put(
        f"{api}/ports/3/edid", json={"base64": base64.b64encode(blob).decode()}
    ) as r:
        assert r.status == 200
    async with http.put(
        f"{api}/ports/3/edid", data=blob, headers={"Content-Type": "application/octet-stream"}
    ) as r:
        assert r.status == 200
    detail = await (await http.get(f"{api}/ports/3/edid?format=json")).json()
    assert detail["name"] == "Blob"
    assert detail["preferred"].startswith("2560x1440@")
    assert (await (await http.get(f"{api}/ports/3/edid?format=hex")).json())["hex"] == blob.hex()
    async with http.get(f"{api}/ports/3/edid?format=xml") as r:
        assert r.status == 400


async def test_bad_edids_get_400_with_the_place_and_the_daemon_keeps_serving(
    video_daemon: Any,
) -> None:
    daemon, _board, http = video_daemon
    api = daemon.http_url + "/api/v1"
    broken = bytearray(MONITOR)
    broken[0] = 0x01
    cases: list[dict[str, Any]] = [
        {"hex": "zz"},
        {"hex": bytes(broken).hex()},
        {"base64": "!!"},
        {"preset": "8k"},
        {"hex": MONITOR[:100].hex()},
        {"preset": "4k60", "hex": "00"},
        {"colour": "red"},
        {},
    ]
    for body in cases:
        async with http.put(f"{api}/ports/1/edid", json=body) as r:
            assert r.status == 400, body
            assert (await r.json())["message"]
    async with http.put(f"{api}/ports/1/edid", json={"hex": bytes(broken).hex()}) as r:
        assert "byte 0" in (await r.json())["message"]
    async with http.put(f"{api}/ports/1/edid", data=b"x" * 20000) as r:
        assert r.status == 413
    assert (await (await http.get(api + "/health")).json())["ok"]


async def test_edid_overrides_persist_across_restart(tmp_path: Path) -> None:
    daemon, board = await start(tmp_path / "state", {"video": {"drm_root": ""}})
    board.set_edid("2", {"preset": "1440p60", "idle_monitor": False}, Origin(Source.HTTP))
    await daemon.stop()
    daemon, board = await start(tmp_path / "state", {"video": {"drm_root": ""}})
    try:
        view = board.port("2")["edid"]
        assert view["override"] == {"preset": "1440p60"}
        assert view["idle_monitor"] is False and view["present"] is False
    finally:
        await daemon.stop()


async def test_an_idle_port_without_its_monitor_sees_no_signal_until_it_gets_video(
    tmp_path: Path,
) -> None:
    daemon, board = await start(
        tmp_path / "state", {"video": {"drm_root": ""}, "ports": {"2": {"idle_monitor": False}}}
    )
    try:
        assert board.target("2")["monitor"] is False
        board.switch("2", ["video"], False, Origin(Source.HTTP))
        assert board.target("2")["monitor"] is True
        board.switch("1", ["video"], False, Origin(Source.HTTP))
        assert board.target("2")["monitor"] is False
    finally:
        await daemon.stop()


async def test_the_screen_is_a_png_that_changes_when_text_is_typed(video_daemon: Any) -> None:
    daemon, _board, http = video_daemon
    api = daemon.http_url + "/api/v1"
    async with http.get(api + "/ports/1/screen") as r:
        assert r.status == 200 and r.content_type == "image/png"
        first = await r.read()
    assert first.startswith(b"\x89PNG")
    await http.post(api + "/input", json={"text": "hello"})
    second = await (await http.get(api + "/ports/1/screen")).read()
    assert second != first
    assert Image.open(io.BytesIO(second)).size == (1920, 1080)


@pytest.fixture
def edid_board(tmp_path: Path) -> Iterator[Switchboard]:
    """A switchboard with no listeners or loop, for the property test below."""
    config = replace(parse_config({"video": {"drm_root": ""}}), serial=())
    board = build_board(config, tmp_path, {}, monotonic=lambda: 0.0)
    yield board
    board.journal.close()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    blob=st.one_of(
        st.binary(max_size=600),
        st.integers(0, 255).flatmap(lambda i: st.just(MONITOR[:i])),
        st.tuples(st.integers(0, len(MONITOR) - 1), st.integers(1, 255)).map(
            lambda t: MONITOR[: t[0]] + bytes([(MONITOR[t[0]] + t[1]) % 256]) + MONITOR[t[0] + 1 :]
        ),
    )
)
def test_random_truncated_and_corrupted_blobs_are_clean_input_errors(
    edid_board: Switchboard, blob: bytes
) -> None:
    try:
        parse_edid(blob)
        valid = True
    except InputError:
        valid = False
    if valid:
        edid_board.set_edid("1", {"hex": blob.hex()}, Origin(Source.HTTP))
    else:
        with pytest.raises(InputError, match=r"\S"):
            edid_board.set_edid("1", {"hex": blob.hex()}, Origin(Source.HTTP))
