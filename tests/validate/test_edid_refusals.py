"""A refused ``PUT /ports/N/edid`` changes nothing: not memory, not the state file, not
any read endpoint, not the next start (issue 12, item 2)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from kvmswitchd.core.commands import Origin, Source
from kvmswitchd.daemon import Daemon
from kvmswitchd.errors import InputError
from tests.daemon.conftest import start
from video import build_edid

GOOD = build_edid("1440p60", name="Good")
NO_DRM = {"video": {"drm_root": ""}}


def checksum_broken() -> bytes:
    blob = bytearray(build_edid("1080p60", name="Broken"))
    blob[127] ^= 0x01
    return bytes(blob)


def without_modes() -> bytes:
    """A well-formed EDID (right checksum) that lists no video mode at all."""
    blob = bytearray(build_edid("1080p60"))
    blob[35:38] = bytes(3)  # no established timings
    blob[38:54] = b"\x01\x01" * 8  # standard timing slots unused
    blob[54:72] = bytes([0, 0, 0, 0x10, 0]) + bytes(13)  # DTD 1 becomes a dummy descriptor
    blob[127] = -sum(blob[:127]) % 256
    return bytes(blob)


REFUSED: list[tuple[str, dict[str, Any]]] = [
    ("checksum", {"hex": checksum_broken().hex()}),
    ("no modes", {"hex": without_modes().hex()}),
    ("checksum with idle flag", {"hex": checksum_broken().hex(), "idle_monitor": False}),
]


async def read_views(daemon: Daemon, http: aiohttp.ClientSession) -> dict[str, Any]:
    api = daemon.http_url + "/api/v1"
    views: dict[str, Any] = {}
    for path in ("/state", "/ports", "/ports/2", "/ports/2/edid?format=json"):
        async with http.get(api + path) as resp:
            assert resp.status == 200, (path, await resp.text())
            views[path] = await resp.json()
    return views


@pytest.mark.parametrize(("why", "body"), REFUSED, ids=[r[0] for r in REFUSED])
async def test_a_refused_edid_leaves_memory_the_state_file_and_every_read_as_before(
    tmp_path: Path, why: str, body: dict[str, Any]
) -> None:
    state_dir = tmp_path / "state"
    daemon, board = await start(state_dir, NO_DRM)
    board.set_edid("2", {"hex": GOOD.hex()}, Origin(Source.HTTP))
    await daemon.stop()
    saved = (state_dir / "state.json").read_bytes()

    daemon, board = await start(state_dir, NO_DRM)
    async with aiohttp.ClientSession() as http:
        before = await read_views(daemon, http)
        async with http.put(daemon.http_url + "/api/v1/ports/2/edid", json=body) as resp:
            assert resp.status == 400, why
            assert (await resp.json())["message"]
        assert await read_views(daemon, http) == before
        async with http.put(
            daemon.http_url + "/api/v1/ports/2/edid", json={"preset": "1080p60"}
        ) as resp:
            assert resp.status == 200  # a preset still repairs the port
        async with http.put(
            daemon.http_url + "/api/v1/ports/2/edid", json={"hex": GOOD.hex()}
        ) as resp:
            assert resp.status == 200
    await daemon.stop()
    assert json.loads((state_dir / "state.json").read_bytes()) == json.loads(saved)


async def test_a_refused_edid_with_no_other_change_writes_no_state(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    daemon, board = await start(state_dir, NO_DRM)
    try:
        dirty: list[bool] = []
        board.on_dirty = lambda: dirty.append(True)
        with pytest.raises(InputError, match="checksum"):
            board.set_edid("1", {"hex": checksum_broken().hex()}, Origin(Source.HTTP))
        assert dirty == []
        assert board.edids.overrides == {}
        assert board.port("1")["edid"]["override"] is None
    finally:
        await daemon.stop()


async def test_an_edid_that_lists_no_modes_is_refused_from_the_config_too(
    tmp_path: Path,
) -> None:
    from kvmswitchd.config import parse_config
    from kvmswitchd.errors import ConfigError

    with pytest.raises(ConfigError, match=r"ports\.1\.edid.*no video modes"):
        parse_config({"ports": {"1": {"edid": without_modes().hex()}}})
