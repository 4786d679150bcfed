"""The image store: names, blank images, uploads that never leave partial files, metadata."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kvmswitchd.core.ports import PortId
from kvmswitchd.core.storage import AccessMode, Attachment
from kvmswitchd.errors import (
    BusyError,
    InputError,
    LocalProtocolError,
    NotFoundError,
)
from kvmswitchd.storage.images import (
    MAX_NAME_LENGTH,
    META_FILE,
    ImageStore,
    TooLargeError,
    validate_image_name,
)

MiB = 1 << 20


def open_store(tmp_path: Path) -> ImageStore:
    return ImageStore.open(tmp_path / "images")


def leftovers(store: ImageStore) -> list[str]:
    return sorted(name for name in os.listdir(store.root) if name != META_FILE)


def attach_rw(store: ImageStore, name: str, port: int = 1) -> Attachment:
    attachment = Attachment(name, PortId(port), AccessMode.READ_WRITE, pinned=False)
    store.set_attachment(attachment)
    return attachment


@pytest.mark.parametrize(
    "name",
    [
        "",
        ".hidden",
        "a/b",
        "../etc",
        "a\\b",
        "x" * (MAX_NAME_LENGTH + 1),
        "caf\u00e9.img",
        "a..b",
        " lead",
        "tab\there",
        "-dash",
        "nul\0",
    ],
)
def test_bad_image_names_are_input_errors(name: str) -> None:
    with pytest.raises(InputError):
        validate_image_name(name)


def test_non_string_name_is_an_input_error() -> None:
    with pytest.raises(InputError):
        validate_image_name(5)


@pytest.mark.parametrize(
    "name", ["disk.img", "Ubuntu-24.04_amd64+live.iso", "9", "x" * MAX_NAME_LENGTH]
)
def test_good_image_names_pass(name: str) -> None:
    assert validate_image_name(name) == name


@given(st.text(max_size=120))
def test_any_valid_name_is_a_plain_file_name(name: str) -> None:
    try:
        validate_image_name(name)
    except InputError:
        return
    assert "/" not in name
    assert not name.startswith(".")
    assert name not in (".", "..")


def test_blank_image_is_sparse_zero_filled_and_listed(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    info = store.create_blank("blank.img", 64 * MiB)
    assert (info.name, info.size, info.sha256, info.read_only, info.attachment) == (
        "blank.img",
        64 * MiB,
        None,
        False,
        None,
    )
    stat = store.path("blank.img").stat()
    assert stat.st_size == 64 * MiB
    assert stat.st_blocks * 512 < MiB
    assert [i.name for i in store.list()] == ["blank.img"]
    assert leftovers(store) == ["blank.img"]


@pytest.mark.parametrize("size", [0, -512, 100, 513])
def test_blank_image_size_must_be_whole_blocks(tmp_path: Path, size: int) -> None:
    with pytest.raises(InputError):
        open_store(tmp_path).create_blank("x.img", size)


def test_blank_image_over_the_cap_is_too_large(tmp_path: Path) -> None:
    store = ImageStore.open(tmp_path / "images", max_image_size=MiB)
    with pytest.raises(TooLargeError):
        store.create_blank("x.img", 2 * MiB)


def test_an_existing_name_is_busy(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    store.create_blank("x.img", 512)
    with pytest.raises(BusyError):
        store.create_blank("x.img", 512)
    with pytest.raises(BusyError):
        store.begin_upload("x.img", MiB)


def test_upload_commits_atomically_with_its_sha256(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    payload = os.urandom(3 * 4096 + 512)
    with store.begin_upload("up.img", MiB) as upload:
        for i in range(0, len(payload), 1000):
            upload.write(payload[i : i + 1000])
            assert store.list() == []  # the partial file is never listed
        info = upload.commit()
    assert info.sha256 == hashlib.sha256(payload).hexdigest()
    assert info.size == len(payload)
    assert store.path("up.img").read_bytes() == payload
    assert leftovers(store) == ["up.img"]
    assert store.get("up.img") == info


def test_upload_over_the_cap_fails_at_once_and_leaves_nothing(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    upload = store.begin_upload("big.img", 2048)
    upload.write(bytes(2048))
    with pytest.raises(TooLargeError) as info:
        upload.write(b"\0")
    assert info.value.code == "too_large"
    assert leftovers(store) == []
    with pytest.raises(LocalProtocolError):
        upload.write(b"more")
    store.begin_upload("big.img", 2048).abort()  # the name is free again


def test_aborted_upload_leaves_no_image_and_no_partial_file(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    upload = store.begin_upload("x.img", MiB)
    upload.write(bytes(4096))
    upload.abort()
    upload.abort()  # idempotent
    assert leftovers(store) == []
    assert store.list() == []


def test_an_exception_mid_upload_cleans_up(tmp_path: Path) -> None:
    store = open_store(tmp_path)

    class ClientWentAwayError(Exception):
        pass

    def handler() -> None:
        with store.begin_upload("x.img", MiB) as upload:
            upload.write(bytes(4096))
            raise ClientWentAwayError

    with pytest.raises(ClientWentAwayError):
        handler()
    assert leftovers(store) == []
    with pytest.raises(NotFoundError):
        store.get("x.img")


def test_restart_removes_a_leftover_partial_upload(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    upload = store.begin_upload("x.img", MiB)
    upload.write(bytes(4096))  # the daemon dies here: no abort, no commit
    (store.root / ".tmp-deadbeef").write_text("{")  # and a half-written metadata file
    restarted = open_store(tmp_path)
    assert leftovers(restarted) == []
    assert restarted.list() == []
    upload.abort()  # the old process's handle (closing it touches nothing on disk)
    assert leftovers(restarted) == []


def test_same_name_cannot_be_uploaded_twice_at_once(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    first = store.begin_upload("x.img", MiB)
    with pytest.raises(BusyError):
        store.begin_upload("x.img", MiB)
    first.abort()


def test_upload_smaller_than_a_block_is_refused_and_removed(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    upload = store.begin_upload("x.img", MiB)
    upload.write(b"short")
    with pytest.raises(InputError):
        upload.commit()
    assert leftovers(store) == []


def test_write_after_commit_is_a_local_error(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    upload = store.begin_upload("x.img", MiB)
    upload.write(bytes(512))
    upload.commit()
    with pytest.raises(LocalProtocolError):
        upload.write(b"x")
    upload.abort()  # no-op after commit
    assert store.get("x.img").size == 512


def test_deleting_an_attached_image_is_busy(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    store.create_blank("x.img", 512)
    attach_rw(store, "x.img")
    with pytest.raises(BusyError):
        store.delete("x.img")
    store.set_attachment(None)
    store.delete("x.img")
    assert store.list() == []
    with pytest.raises(NotFoundError):
        store.delete("x.img")


def test_attachment_is_listed_and_survives_restart(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    store.create_blank("x.img", 512)
    attachment = attach_rw(store, "x.img", port=3)
    assert store.get("x.img").attachment == attachment
    restarted = open_store(tmp_path)
    assert restarted.attachment() == attachment
    assert restarted.list()[0].attachment == attachment


def test_read_only_flag_persists_and_blocks_read_write_attach(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    store.create_blank("x.img", 512)
    assert store.set_read_only("x.img", True).read_only
    restarted = open_store(tmp_path)
    assert restarted.get("x.img").read_only
    with pytest.raises(InputError, match="read-only"):
        restarted.check_attachable("x.img", AccessMode.READ_WRITE)
    restarted.set_attachment(Attachment("x.img", PortId(1), AccessMode.READ_ONLY, False))
    with pytest.raises(BusyError):
        restarted.set_read_only("x.img", False)


def test_only_one_image_is_attached_at_a_time(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    store.create_blank("a.img", 512)
    store.create_blank("b.img", 512)
    attach_rw(store, "a.img")
    with pytest.raises(BusyError):
        store.check_attachable("b.img", AccessMode.READ_ONLY)


def test_read_write_attach_forgets_the_hash_until_rehashed(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    with store.begin_upload("x.img", MiB) as upload:
        upload.write(b"\x01" * 1024)
        digest = upload.commit().sha256
    attach_rw(store, "x.img")
    assert store.get("x.img").sha256 is None
    store.set_attachment(None)
    assert store.rehash("x.img").sha256 == digest


def test_corrupt_metadata_is_moved_aside_and_images_still_listed(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    store.create_blank("x.img", 512)
    (store.root / META_FILE).write_text('{"images": [1, 2]')
    restarted = open_store(tmp_path)
    assert restarted.recovered is not None
    assert "corrupt" in restarted.recovered
    assert [i.name for i in restarted.list()] == ["x.img"]
    assert (store.root / f"{META_FILE}.bad").exists()


def test_metadata_file_is_valid_json_with_no_temp_files_left(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    store.create_blank("x.img", 512)
    store.set_read_only("x.img", True)
    doc = json.loads((store.root / META_FILE).read_text())
    assert doc["images"]["x.img"]["read_only"] is True
    assert not [n for n in os.listdir(store.root) if n.startswith(".tmp-")]


def test_symlinks_in_the_images_directory_are_not_images(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    secret = tmp_path / "secret"
    secret.write_bytes(bytes(512))
    (store.root / "link.img").symlink_to(secret)
    assert store.list() == []
    with pytest.raises(NotFoundError):
        store.path("link.img")


async def test_upload_streams_from_asyncio_and_commits_in_an_executor(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    upload = store.begin_upload("x.img", MiB)
    for _ in range(16):
        upload.write(bytes(1024))  # small chunks: fine on the event loop
    info = await asyncio.get_running_loop().run_in_executor(None, upload.commit)
    assert info.size == 16 * 1024
