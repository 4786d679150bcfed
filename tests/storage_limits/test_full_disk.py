"""A full state disk (a real 8 MiB tmpfs): logins and state saves keep working, and every
refused or failed write leaves no trace (no image, no temp file, not listed, name free,
metadata as before)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp

from kvmswitchd.core.commands import Origin, Source
from tests.daemon.conftest import start
from tests.storage_limits.conftest import MiB, fill, leftovers, make_rig, serve

API = "/api/v1/storage"
PASSWORD = "a long password"


async def test_creating_an_image_on_a_full_disk_is_507_and_leaves_no_trace(
    small_disk: Path,
) -> None:
    rig = make_rig(small_disk / "images", capacity=None, reserve=0)  # the real disk
    client = await serve(rig)
    try:
        filler = fill(small_disk)
        async with client.post(API + "/images", json={"name": "d.img", "size": MiB}) as resp:
            assert resp.status == 507, await resp.text()
            assert (await resp.json())["error"] == "no_space"
        async with client.get(API + "/images") as resp:
            assert (await resp.json())["images"] == []
        assert leftovers(rig.root) == []
        filler.unlink()
        async with client.post(API + "/images", json={"name": "d.img", "size": MiB}) as resp:
            assert resp.status == 201  # the name was never taken
    finally:
        await client.close()
        rig.service.close()


async def test_when_the_disk_fills_behind_the_checks_every_write_fails_cleanly(
    small_disk: Path,
) -> None:
    # The disk reports room (as when another program fills it after the check): the
    # file operations themselves hit ENOSPC.
    rig = make_rig(small_disk / "images", capacity=1 << 40, reserve=0, lie=True)
    client = await serve(rig)
    try:
        async with client.put(API + "/images/keep.img", data=bytes(64 * 1024)) as resp:
            assert resp.status == 201
        async with client.post(API + "/images", json={"name": "sparse.img", "size": MiB}) as r:
            assert r.status == 201  # a blank image: deleting it frees no space
        fill(small_disk)
        async with client.delete(API + "/images/sparse.img") as resp:
            assert resp.status == 200, await resp.text()  # what the user asked is done
        catalog = (rig.root / ".images.json").read_bytes()
        async with client.post(API + "/images", json={"name": "d.img", "size": MiB}) as resp:
            assert resp.status == 507, await resp.text()
        async with client.put(API + "/images/u.img", data=bytes(256 * 1024)) as resp:
            assert resp.status == 507, await resp.text()
        async with client.patch(API + "/images/keep.img", json={"read_only": True}) as resp:
            assert resp.status == 507, await resp.text()
        async with client.get(API + "/images") as resp:
            images = (await resp.json())["images"]
        assert [(i["name"], i["read_only"]) for i in images] == [("keep.img", False)]
        assert leftovers(rig.root) == ["keep.img"]
        assert (rig.root / ".images.json").read_bytes() == catalog
    finally:
        await client.close()
        rig.service.close()


async def test_uploads_cannot_fill_the_state_disk_so_login_and_state_saves_keep_working(
    small_disk: Path,
) -> None:
    state = small_disk / "state"
    doc = {"http": {"auth": True}, "storage": {"reserve": "2 MiB"}}
    daemon, _board = await start(state, doc)
    try:
        assert daemon.accounts is not None and daemon.setup_token is not None
        await daemon.accounts.setup(daemon.setup_token, "admin", PASSWORD, Origin(Source.HTTP))
        api = daemon.http_url + "/api/v1"
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(cookie_jar=jar) as http:
            login = {"name": "admin", "password": PASSWORD}
            async with http.post(api + "/auth/login", json=login) as r:
                assert r.status == 200, await r.text()
            big = api + "/storage/images/big.img"
            async with http.put(big, data=bytes(7 * MiB), expect100=True) as r:
                assert r.status == 507, await r.text()  # refused before the body

            async def body() -> AsyncIterator[bytes]:
                for _ in range(7 * 16):
                    yield bytes(64 * 1024)

            async with http.put(big, data=body()) as r:
                assert r.status == 507, await r.text()  # cut off at the reserve
            async with http.post(api + "/auth/logout") as r:
                assert r.status == 200
            async with http.post(api + "/auth/login", json=login) as r:
                assert r.status == 200, await r.text()  # the disk still has room to log in
            async with http.post(api + "/switch", json={"port": "3"}) as r:
                assert r.status == 200
        assert [p.name for p in (state / "images").iterdir() if p.name != ".images.json"] == []
    finally:
        await daemon.stop()
    saved = json.loads((state / "state.json").read_text())
    assert saved["focus"]["km"] == "3"
