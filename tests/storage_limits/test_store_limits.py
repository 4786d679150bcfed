"""The image store's room checks: per-user quota, the disk's reserve, no trace on refusal."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kvmswitchd.core.commands import Origin, Source
from kvmswitchd.errors import BusyError, NoSpaceError, QuotaError, TooLargeError
from kvmswitchd.storage.images import ImageStore, Upload
from kvmswitchd.storage.library import WRITE_BATCH
from kvmswitchd.storage.space import SpacePolicy
from tests.storage_limits.conftest import FakeDisk, MiB, leftovers, make_rig

BLOCK = 512


def write_until_refused(upload: Upload, chunks: int) -> None:
    for _ in range(chunks):
        upload.write(bytes(64 * 1024))


def store_on(
    tmp_path: Path, capacity: int = 64 * MiB, *, quota: int = 0, reserve: int = 4 * MiB
) -> tuple[ImageStore, FakeDisk]:
    root = tmp_path / "images"
    root.mkdir(exist_ok=True)
    disk = FakeDisk(root, capacity)
    policy = SpacePolicy(quota=quota, reserve=reserve)
    return ImageStore.open(root, policy=policy, disk=disk), disk


def test_a_blank_image_past_the_users_quota_is_refused_with_the_numbers(tmp_path: Path) -> None:
    store, _ = store_on(tmp_path, quota=3 * MiB)
    store.create_blank("a.img", 2 * MiB, "alice")
    with pytest.raises(QuotaError) as caught:
        store.create_blank("b.img", 2 * MiB, "alice")
    message = str(caught.value)
    assert "'alice'" in message and str(3 * MiB) in message and str(4 * MiB) in message
    assert [i.name for i in store.list()] == ["a.img"]
    assert leftovers(store.root) == ["a.img"]
    store.create_blank("b.img", 2 * MiB, "bob")  # another user has a quota of their own
    assert store.used_by("alice") == store.used_by("bob") == 2 * MiB


def test_quota_zero_is_unlimited(tmp_path: Path) -> None:
    store, _ = store_on(tmp_path, quota=0)
    for n in range(5):
        store.create_blank(f"{n}.img", 8 * MiB, "admin")
    assert store.used_by("admin") == 40 * MiB


def test_uploads_in_progress_count_against_the_quota(tmp_path: Path) -> None:
    store, _ = store_on(tmp_path, quota=4 * MiB)
    first = store.begin_upload("a.img", length=3 * MiB, user="alice")
    with pytest.raises(QuotaError):
        store.begin_upload("b.img", length=2 * MiB, user="alice")
    first.abort()
    store.begin_upload("b.img", length=2 * MiB, user="alice").abort()  # the claim went


def test_a_chunked_upload_growing_past_the_quota_is_cut_off_and_leaves_nothing(
    tmp_path: Path,
) -> None:
    store, _ = store_on(tmp_path, quota=1 * MiB)
    upload = store.begin_upload("a.img", user="alice")
    with pytest.raises(QuotaError):
        write_until_refused(upload, 20)
    assert upload.received == 1 * MiB  # every byte up to the quota, none past it
    assert leftovers(store.root) == []
    store.begin_upload("a.img", user="alice").abort()  # the name is free again


def test_a_blank_image_that_would_eat_into_the_reserve_is_507_and_leaves_nothing(
    tmp_path: Path,
) -> None:
    store, _ = store_on(tmp_path, capacity=20 * MiB, reserve=4 * MiB)
    with pytest.raises(NoSpaceError) as caught:
        store.create_blank("big.img", 17 * MiB)
    message = str(caught.value)
    assert str(17 * MiB) in message and str(4 * MiB) in message
    assert store.list() == [] and leftovers(store.root) == []
    store.create_blank("big.img", 16 * MiB)  # exactly up to the reserve is fine


def test_sparse_images_keep_their_room_so_a_host_filling_them_cannot_eat_the_reserve(
    tmp_path: Path,
) -> None:
    store, disk = store_on(tmp_path, capacity=20 * MiB, reserve=4 * MiB)
    store.create_blank("blank.img", 12 * MiB)
    assert disk.free() > 19 * MiB  # sparse: it takes (almost) nothing yet
    with pytest.raises(NoSpaceError):
        store.begin_upload("more.img", length=5 * MiB)
    with pytest.raises(NoSpaceError):
        store.create_blank("more.img", 5 * MiB)
    store.begin_upload("more.img", length=3 * MiB).abort()


def test_a_declared_upload_that_would_eat_into_the_reserve_is_refused_before_it_starts(
    tmp_path: Path,
) -> None:
    store, _ = store_on(tmp_path, capacity=10 * MiB, reserve=4 * MiB)
    with pytest.raises(NoSpaceError):
        store.preflight("a.img", 7 * MiB, None)
    with pytest.raises(NoSpaceError):
        store.begin_upload("a.img", length=7 * MiB)
    assert leftovers(store.root) == []


def test_parallel_uploads_cannot_together_promise_more_than_the_disk_has(tmp_path: Path) -> None:
    store, _ = store_on(tmp_path, capacity=10 * MiB, reserve=2 * MiB)
    first = store.begin_upload("a.img", length=5 * MiB)
    with pytest.raises(NoSpaceError):
        store.begin_upload("b.img", length=5 * MiB)
    first.abort()


def test_a_chunked_upload_stops_at_the_reserve_and_leaves_nothing(tmp_path: Path) -> None:
    store, disk = store_on(tmp_path, capacity=10 * MiB, reserve=2 * MiB)
    upload = store.begin_upload("a.img")
    with pytest.raises(NoSpaceError):
        write_until_refused(upload, 200)
    assert 7 * MiB <= upload.received <= 8 * MiB
    assert leftovers(store.root) == []
    assert disk.free() == 10 * MiB
    store.begin_upload("a.img").abort()


def test_an_over_cap_length_is_too_large_before_any_room_is_claimed(tmp_path: Path) -> None:
    root = tmp_path / "images"
    store = ImageStore.open(root, max_image_size=MiB, disk=FakeDisk(tmp_path, 128 * MiB))
    with pytest.raises(TooLargeError):
        store.begin_upload("a.img", length=MiB + BLOCK)
    store.create_blank("b.img", BLOCK)
    with pytest.raises(BusyError):
        store.create_blank("b.img", BLOCK)


@settings(max_examples=25, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 12).map(lambda n: n * 256 * 1024), min_size=1, max_size=12),
    quota=st.integers(1, 8).map(lambda n: n * MiB),
)
def test_whatever_is_asked_a_user_never_holds_more_than_the_quota_nor_eats_the_reserve(
    tmp_path_factory: pytest.TempPathFactory, sizes: list[int], quota: int
) -> None:
    store, disk = store_on(
        tmp_path_factory.mktemp("q"), capacity=16 * MiB, quota=quota, reserve=4 * MiB
    )
    for n, size in enumerate(sizes):
        try:
            if n % 2:
                store.create_blank(f"{n}.img", size, "alice")
            else:
                with store.begin_upload(f"{n}.img", user="alice") as upload:
                    for _ in range(size // (256 * 1024)):
                        upload.write(bytes(256 * 1024))
                    upload.commit()
        except (QuotaError, NoSpaceError):
            pass
        used = store.used_by("alice")
        assert used <= quota
        holes = sum(i.size for i in store.list()) - (16 * MiB - disk.free())
        assert disk.free() - holes >= 4 * MiB
        assert not any(name.startswith(".") for name in leftovers(store.root))


@settings(max_examples=20, deadline=None)
@given(
    sizes=st.lists(
        st.sampled_from([1, 511, 4096, 65536, WRITE_BATCH - 1, WRITE_BATCH, WRITE_BATCH + 1]),
        min_size=1,
        max_size=12,
    ),
    declared=st.booleans(),
)
def test_any_chunking_of_an_upload_stores_the_same_bytes_in_order(
    tmp_path_factory: pytest.TempPathFactory, sizes: list[int], declared: bool
) -> None:
    rig = make_rig(tmp_path_factory.mktemp("c") / "images")
    data = bytes(n % 253 for n in range(sum(sizes) + BLOCK))
    pieces, at = [], 0
    for size in [*sizes, BLOCK]:
        pieces.append(data[at : at + size])
        at += size

    async def upload() -> dict[str, object]:
        async def chunks() -> AsyncIterator[bytes]:
            for piece in pieces:
                yield piece

        length = len(data) if declared else None
        return await rig.service.upload_image("x.img", chunks(), length, Origin(Source.HTTP))

    try:
        info = asyncio.run(upload())
        assert info["sha256"] == hashlib.sha256(data).hexdigest()
        assert (rig.root / "x.img").read_bytes() == data
        assert leftovers(rig.root) == ["x.img"]
    finally:
        rig.service.close()
