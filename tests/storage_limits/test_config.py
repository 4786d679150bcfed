"""[storage] quota, reserve and upload_idle_timeout: sizes as numbers or strings."""

from __future__ import annotations

import pytest

from kvmswitchd.config import Config, parse_config
from kvmswitchd.errors import ConfigError


def storage(**table: object) -> Config:
    return parse_config({"storage": table})


def test_the_defaults_keep_64_mib_free_no_quota_and_drop_uploads_idle_for_30_s() -> None:
    config = parse_config({})
    assert config.storage_reserve == 64 << 20
    assert config.storage_quota == 0
    assert config.upload_idle_timeout == 30.0


@pytest.mark.parametrize(
    ("text", "size"),
    [
        (4096, 4096),
        ("4096", 4096),
        ("64 MiB", 64 << 20),
        ("64MiB", 64 << 20),
        ("2G", 2 << 30),
        ("1.5 GiB", 3 << 29),
        ("5 GB", 5 * 10**9),
        ("512k", 512 << 10),
        ("0", 0),
    ],
)
def test_quota_and_reserve_take_bytes_or_a_size_string(text: object, size: int) -> None:
    assert storage(quota=text).storage_quota == size
    assert storage(reserve=text).storage_reserve == size


@pytest.mark.parametrize(
    "bad", ["lots", "-1 MiB", "12 parsecs", "1e400 G", "inf", "nan", "", True, 1.5, [1], "9" * 60]
)
def test_a_bad_size_names_the_key(bad: object) -> None:
    with pytest.raises(ConfigError) as caught:
        storage(quota=bad)
    assert caught.value.path == "storage.quota"


def test_max_image_size_takes_a_size_string_too() -> None:
    assert storage(max_image_size="4 GiB").max_image_size == 4 << 30


def test_the_idle_timeout_must_be_at_least_a_tenth_of_a_second() -> None:
    assert storage(upload_idle_timeout=5).upload_idle_timeout == 5.0
    with pytest.raises(ConfigError) as caught:
        storage(upload_idle_timeout=0)
    assert caught.value.path == "storage.upload_idle_timeout"
