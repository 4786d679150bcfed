"""The /api/v1/storage routes on a real aiohttp app over a real StorageService."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from kvmswitchd.core.commands import Origin
from kvmswitchd.storage.blockdev import FileBlockDevice
from kvmswitchd.storage.service import StorageService
from kvmswitchd.storage.volume import FlatVolume
from tests.storage_service.conftest import Bench, leftovers, make_app, new_bench
from web import openapi, storage

Client = TestClient[Any, Any]
API = "/api/v1/storage"
CAP = 1 << 20  # the bench's image size cap


class Observed(StorageService):
    """The real service; ``receiving`` resolves once an upload's first chunk is in."""

    receiving: asyncio.Future[None] | None = None

    async def upload_image(
        self, name: str, chunks: AsyncIterable[bytes], length: int | None, origin: Origin
    ) -> dict[str, Any]:
        async def watched() -> AsyncIterator[bytes]:
            async for chunk in chunks:
                yield chunk
                if self.receiving is not None and not self.receiving.done():
                    self.receiving.set_result(None)

        return await super().upload_image(name, watched(), length, origin)


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[tuple[Bench, Client]]:
    bench = new_bench(tmp_path, Observed)
    async with TestClient(TestServer(make_app(bench.service))) as client:
        yield bench, client
    bench.service.close()


async def call(
    client: Client, method: str, path: str, body: Any = None, status: int = 200, **kw: Any
) -> Any:
    async with client.request(method, API + path, json=body, **kw) as resp:
        text = await resp.text()
        assert resp.status == status, text
        assert resp.content_type == "application/json", text
        return await resp.json()


def files_in(path: Path) -> dict[str, bytes]:
    device = FileBlockDevice.open(path, read_only=True)
    try:
        volume = FlatVolume.mount(device)
        return {name: volume.read_file(name) for name in volume.files()}
    finally:
        device.close()


async def test_create_list_and_delete_an_image(api: tuple[Bench, Client]) -> None:
    bench, client = api
    created = await call(client, "POST", "/images", {"name": "blank.img", "size": 8192}, 201)
    assert created == {
        "name": "blank.img",
        "size": 8192,
        "sha256": None,
        "read_only": False,
        "attached": None,
    }
    listed = await call(client, "GET", "/images")
    assert listed == {"images": [created]}
    assert (await call(client, "GET", ""))["images"] == [created]
    assert await call(client, "DELETE", "/images/blank.img") == {"ok": True, "deleted": "blank.img"}
    assert await call(client, "GET", "/images") == {"images": []}
    assert bench.journal.actions() == ["create", "delete"]


async def test_a_streamed_upload_reports_the_sha256_of_what_was_sent(
    api: tuple[Bench, Client],
) -> None:
    bench, client = api
    data = bytes(range(256)) * 1024  # 256 KiB

    async def body() -> AsyncIterator[bytes]:  # chunked: no Content-Length
        for offset in range(0, len(data), 10_000):
            yield data[offset : offset + 10_000]

    async with client.put(API + "/images/up.img", data=body()) as resp:
        assert resp.status == 201, await resp.text()
        info = await resp.json()
    assert info["sha256"] == hashlib.sha256(data).hexdigest()
    assert info["size"] == len(data)
    assert (bench.root / "up.img").read_bytes() == data
    assert leftovers(bench.root) == ["up.img"]


async def test_an_upload_with_a_length_is_stored_whole(api: tuple[Bench, Client]) -> None:
    bench, client = api
    data = b"\x5a" * 4096
    async with client.put(API + "/images/sized.img", data=data) as resp:
        assert resp.status == 201, await resp.text()
        assert (await resp.json())["sha256"] == hashlib.sha256(data).hexdigest()
    assert bench.journal.last("upload").detail["size"] == 4096


async def test_attach_rw_and_a_file_written_on_the_focused_port_is_in_the_image_after_eject(
    api: tuple[Bench, Client],
) -> None:
    bench, client = api
    await call(client, "POST", "/images", {"name": "stick.img", "size": 64 * 1024}, 201)
    state = await call(client, "POST", "/attach", {"image": "stick.img", "mode": "rw"})
    assert (state["ok"], state["image"], state["port"], state["mode"]) == (
        True,
        "stick.img",
        "1",
        "rw",
    )
    host = bench.service.host_for(1)
    host.format()
    host.write_file("report.txt", b"written by the computer on port 1")
    listed = await call(client, "GET", "/images")
    assert listed["images"][0]["attached"] == {"port": "1", "mode": "rw", "pinned": False}
    ejected = await call(client, "POST", "/eject", {})
    assert (ejected["image"], ejected["forced"]) == (None, False)
    assert files_in(bench.root / "stick.img") == {
        "report.txt": b"written by the computer on port 1"
    }


async def test_an_upload_whose_length_is_over_the_cap_gets_413_before_its_body_is_read(
    api: tuple[Bench, Client],
) -> None:
    bench, client = api
    async with client.put(API + "/images/big.img", data=bytes(CAP + 512)) as resp:
        assert resp.status == 413
        assert (await resp.json())["error"] == "too_large"
    assert leftovers(bench.root) == []
    assert "upload_failed" not in bench.journal.actions()  # refused before it began


async def test_a_chunked_upload_growing_past_the_cap_gets_413_and_leaves_nothing(
    api: tuple[Bench, Client],
) -> None:
    bench, client = api

    async def body() -> AsyncIterator[bytes]:
        for _ in range(40):
            yield bytes(64 * 1024)  # 2.5 MiB in all

    async with client.put(API + "/images/big.img", data=body()) as resp:
        assert resp.status == 413
        assert (await resp.json())["error"] == "too_large"
    assert leftovers(bench.root) == []
    assert bench.journal.last("upload_failed").detail["image"] == "big.img"


async def test_a_client_disconnecting_mid_upload_leaves_no_image_and_no_partial_file(
    api: tuple[Bench, Client],
) -> None:
    bench, client = api
    service = bench.service
    assert isinstance(service, Observed)
    loop = asyncio.get_running_loop()
    service.receiving = loop.create_future()
    failed = bench.journal.wait("upload_failed")
    reader, writer = await asyncio.open_connection(client.host, client.port)
    writer.write(
        b"PUT /api/v1/storage/images/cut.img HTTP/1.1\r\nHost: test\r\n"
        b"Content-Type: application/octet-stream\r\nContent-Length: 500000\r\n\r\n" + bytes(100_000)
    )
    await writer.drain()
    await asyncio.wait_for(service.receiving, 5)  # the server is writing the temp file
    assert any(name.startswith(".upload-") for name in leftovers(bench.root))
    writer.close()
    await writer.wait_closed()
    entry = await asyncio.wait_for(failed, 5)
    assert entry.detail["image"] == "cut.img"
    assert leftovers(bench.root) == []
    assert await call(client, "GET", "/images") == {"images": []}
    assert reader.at_eof() or not await reader.read()


async def test_deleting_an_attached_image_is_409(api: tuple[Bench, Client]) -> None:
    bench, client = api
    await call(client, "POST", "/images", {"name": "a.img", "size": 4096}, 201)
    await call(client, "POST", "/attach", {"image": "a.img"})
    body = await call(client, "DELETE", "/images/a.img", status=409)
    assert body["error"] == "busy"
    assert "attached" in body["message"]
    assert leftovers(bench.root) == ["a.img"]
    await call(client, "PATCH", "/images/a.img", {"read_only": True}, 409)


async def test_eject_while_the_host_has_the_medium_locked_is_409_unless_forced(
    api: tuple[Bench, Client],
) -> None:
    bench, client = api
    await call(client, "POST", "/images", {"name": "a.img", "size": 64 * 1024}, 201)
    await call(client, "POST", "/attach", {"image": "a.img"})
    bench.service.host_for(1).lock(True)
    refused = await call(client, "POST", "/eject", {"force": False}, 409)
    assert "locked" in refused["message"]
    assert (await call(client, "GET", ""))["image"] == "a.img"
    forced = await call(client, "POST", "/eject", {"force": True})
    assert (forced["forced"], forced["image"]) == (True, None)
    assert bench.journal.last("eject").detail["forced"] is True


async def test_pinning_away_from_a_busy_host_says_held_and_why_then_force_moves_it(
    api: tuple[Bench, Client],
) -> None:
    bench, client = api
    await call(client, "POST", "/images", {"name": "a.img", "size": 64 * 1024}, 201)
    await call(client, "POST", "/attach", {"image": "a.img", "mode": "rw"})
    bench.service.host_for(1).lock(True)
    held = await call(client, "POST", "/pin", {"port": "2"})
    assert (held["usb"], held["held_by"], held["reason"], held["pending"]) == (
        "held",
        "1",
        "medium locked by host",
        "2",
    )
    state = await call(client, "GET", "")
    assert (state["held_by"], state["held_reason"]) == ("1", "medium locked by host")
    moved = await call(client, "POST", "/pin", {"port": "2", "force": True})
    assert (moved["usb"], moved["port"], moved["forced"], moved["pinned"]) == (
        "moved",
        "2",
        True,
        True,
    )
    followed = await call(client, "POST", "/pin", {"port": None})
    assert (followed["pinned"], followed["port"]) == (False, "1")


async def test_a_read_only_image_attaches_only_read_only(api: tuple[Bench, Client]) -> None:
    _bench, client = api
    await call(client, "POST", "/images", {"name": "iso.img", "size": 4096}, 201)
    flagged = await call(client, "PATCH", "/images/iso.img", {"read_only": True})
    assert flagged["read_only"] is True
    refused = await call(client, "POST", "/attach", {"image": "iso.img", "mode": "rw"}, 400)
    assert "read-only" in refused["message"]
    state = await call(client, "POST", "/attach", {"image": "iso.img", "mode": "ro", "pin": "3"})
    assert (state["mode"], state["port"], state["pinned"]) == ("ro", "3", True)


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("POST", "/images", "{not json", 400),
        ("POST", "/images", {"name": "a.img", "size": 4096, "x": 1}, 400),
        ("POST", "/images", {"name": "a.img", "size": True}, 400),
        ("POST", "/images", {"name": "a.img", "size": 1000}, 400),
        ("POST", "/images", {"name": "a.img", "size": -512}, 400),
        ("POST", "/images", {"name": "../x", "size": 4096}, 400),
        ("POST", "/images", {"name": ".hidden", "size": 4096}, 400),
        ("POST", "/images", {"name": 7, "size": 4096}, 400),
        ("POST", "/images", {"name": "a.img", "size": 1 << 40}, 413),
        ("POST", "/attach", {"image": "a.img", "mode": "xx"}, 400),
        ("POST", "/attach", {"image": "a.img", "pin": ["1"]}, 400),
        ("POST", "/attach", {"image": "a.img", "pin": "77"}, 404),
        ("POST", "/attach", {"image": "nope.img"}, 404),
        ("POST", "/attach", {}, 400),
        ("POST", "/eject", {"force": "yes"}, 400),
        ("POST", "/eject", {}, 404),
        ("POST", "/pin", {"force": True}, 400),
        ("POST", "/pin", {"port": "2"}, 404),
        ("PATCH", "/images/a.img", {}, 400),
        ("PATCH", "/images/nope.img", {"read_only": True}, 404),
        ("DELETE", "/images/nope.img", None, 404),
        ("DELETE", "/images/a..b", None, 400),
    ],
)
async def test_bad_requests_get_clear_json_errors(
    api: tuple[Bench, Client], method: str, path: str, body: Any, status: int
) -> None:
    _bench, client = api
    data = body if isinstance(body, str) else None
    json_body = None if isinstance(body, str) else body
    headers = {"Content-Type": "application/json"} if data is not None else None
    async with client.request(
        method, API + path, data=data, json=json_body, headers=headers
    ) as resp:
        assert resp.status == status, await resp.text()
        doc = await resp.json()
    assert set(doc) == {"error", "message"}


async def test_uploads_refuse_taken_names_bad_names_and_tiny_bodies(
    api: tuple[Bench, Client],
) -> None:
    bench, client = api
    await call(client, "POST", "/images", {"name": "a.img", "size": 4096}, 201)
    for name, data, status in [
        ("a.img", bytes(4096), 409),
        ("bad%20name", bytes(4096), 400),
        ("tiny.img", bytes(100), 400),
        ("empty.img", b"", 400),
    ]:
        async with client.put(f"{API}/images/{name}", data=data) as resp:
            assert resp.status == status, (name, await resp.text())
    assert leftovers(bench.root) == ["a.img"]


async def test_the_authorize_hook_is_asked_about_the_port_each_action_affects(
    tmp_path: Path,
) -> None:
    bench = new_bench(tmp_path)
    asked: list[tuple[str, str | None]] = []

    def check(request: web.Request, port: str | None) -> None:
        asked.append((request.path.removeprefix(API), port))

    app = make_app(bench.service)
    app[storage.AUTHORIZE] = check
    async with TestClient(TestServer(app)) as client:
        await call(client, "POST", "/images", {"name": "a.img", "size": 4096}, 201)
        await call(client, "POST", "/attach", {"image": "a.img"})
        await call(client, "POST", "/pin", {"port": "3"})
        await call(client, "POST", "/eject", {})
    bench.service.close()
    assert asked == [("/images", None), ("/attach", "1"), ("/pin", "3"), ("/eject", "3")]


def registered(app: web.Application) -> set[str]:
    return {
        f"{route.method} {route.resource.canonical}"
        for route in app.router.routes()
        if route.resource is not None and route.method not in ("HEAD", "*")
    }


def test_the_openapi_rows_and_permissions_cover_exactly_the_storage_routes(tmp_path: Path) -> None:
    bench = new_bench(tmp_path)
    routes = registered(make_app(bench.service))
    bench.service.close()
    assert routes == set(storage.OPENAPI_PATHS)
    assert routes == {f"{m} {p}" for m, p in storage.PERMISSIONS}


def test_the_merged_openapi_document_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the lead's one-line merge produces (web/openapi.py is not ours to edit)."""
    monkeypatch.setattr(openapi, "OPERATIONS", {**openapi.OPERATIONS, **storage.OPENAPI_PATHS})
    monkeypatch.setattr(openapi, "SCHEMAS", {**openapi.SCHEMAS, **storage.OPENAPI_SCHEMAS})
    schema = schemathesis.openapi.from_dict(openapi.document())
    schema.validate()
    for key, operation in storage.OPENAPI_PATHS.items():
        statuses = set(operation.responses)
        assert statuses & {200, 201}, key
        for status in statuses - {200, 201}:
            assert operation.responses[status].schema == openapi.ref("Error"), (key, status)
        if operation.body is not None:
            assert {400, 413} <= statuses, key
