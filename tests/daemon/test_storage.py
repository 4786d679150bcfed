"""Issue 8 at daemon level: images over HTTP, the storage following usb focus, held while a
write is in flight, moved after the quiet period or at once with force."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp

from kvmswitchd.core.eventlog import LogEntry
from tests.daemon.conftest import start


async def test_storage_is_held_during_a_write_then_follows_the_focus(tmp_path: Path) -> None:
    daemon, board = await start(tmp_path / "state", {"storage": {"quiet_period": 0.2}})
    api = daemon.http_url + "/api/v1"
    try:
        async with aiohttp.ClientSession() as http:
            async with http.post(
                api + "/storage/images", json={"name": "disk.img", "size": 1 << 20}
            ) as r:
                assert r.status == 201, await r.text()
            async with http.post(
                api + "/storage/attach", json={"image": "disk.img", "mode": "rw"}
            ) as r:
                assert r.status == 200, await r.text()
            assert board.storage is not None
            host = board.storage.host_for(1)
            host.format()
            host.write_file("hello.txt", b"written on port 1")
            exchange = host.start_write(100, b"x" * 512)  # a write left in flight

            async with http.post(api + "/switch", json={"port": "2"}) as r:
                outcome = await r.json()
            assert r.status == 200
            assert "usb: held by port 1 (write in flight)" in outcome["message"]
            state = outcome["state"]
            assert state["focus"]["usb"] == "2"
            assert state["storage"]["held_by"] == "1"
            assert state["storage"]["held_reason"] == "write in flight"
            switch = [e for e in board.journal.recent(10) if e.kind == "switch"][-1]
            assert switch.detail["storage"]["usb"] == "held"

            moved: asyncio.Future[LogEntry] = asyncio.get_running_loop().create_future()

            def watch(entry: LogEntry) -> None:
                if entry.detail.get("action") == "move" and not moved.done():
                    moved.set_result(entry)

            board.journal.subscribe(watch)
            exchange.run()  # the host finishes its write; after the quiet period it moves
            entry = await asyncio.wait_for(moved, 10)
            assert entry.detail.get("deferred") is True
            assert board.storage.view()["port"] == "2"
            assert board.storage.host_for(2).read_file("hello.txt") == b"written on port 1"
            target = await (await http.get(api + "/ports/2/target")).json()
            assert target["storage"]["present"] is True
            assert {"name": "hello.txt", "size": 17} in target["storage"]["files"]

            async with http.delete(api + "/storage/images/disk.img") as r:
                assert r.status == 409  # attached
    finally:
        await daemon.stop()


async def test_force_moves_the_storage_at_once_and_is_logged(tmp_path: Path) -> None:
    daemon, board = await start(tmp_path / "state")
    api = daemon.http_url + "/api/v1"
    try:
        async with aiohttp.ClientSession() as http:
            await http.post(api + "/storage/images", json={"name": "d.img", "size": 1 << 20})
            await http.post(api + "/storage/attach", json={"image": "d.img", "mode": "rw"})
            assert board.storage is not None
            board.storage.host_for(1).lock()  # the host has the medium locked (mounted)
            async with http.post(api + "/switch", json={"port": "3", "force": True}) as r:
                outcome = await r.json()
            assert "held" not in outcome["message"]
            assert outcome["state"]["storage"]["port"] == "3"
            moves = [e for e in board.journal.recent(10) if e.detail.get("action") == "move"]
            assert moves[-1].detail["forced"] is True
            async with http.post(api + "/storage/eject", json={}) as r:
                assert r.status in (200, 409)
    finally:
        await daemon.stop()


async def test_an_upload_over_the_cap_is_413_and_leaves_nothing(tmp_path: Path) -> None:
    daemon, _board = await start(tmp_path / "state", {"storage": {"max_image_size": 1 << 20}})
    api = daemon.http_url + "/api/v1"
    try:
        async with aiohttp.ClientSession() as http:
            async with http.put(
                api + "/storage/images/big.img", data=b"\0" * ((1 << 20) + 512)
            ) as r:
                assert r.status == 413
            images = await (await http.get(api + "/storage/images")).json()
        assert images["images"] == []
        leftovers = [
            p.name
            for p in (tmp_path / "state" / "images").iterdir()
            if not p.name.startswith(".images")
        ]
        assert leftovers == []
    finally:
        await daemon.stop()
