"""Console device entries from config, and building the sources for them."""

from __future__ import annotations

import pytest

from kvmswitchd.console.evdev_source import EvdevSource
from kvmswitchd.console.fifo import FifoSource
from kvmswitchd.console.sources import (
    DeviceSpec,
    build_sources,
    parse_device_spec,
    parse_device_specs,
)
from kvmswitchd.errors import ConfigError
from tests.console.sinks import RecordingSink


@pytest.mark.parametrize(
    ("text", "spec"),
    [
        ("evdev:auto", DeviceSpec("evdev", None)),
        (
            "evdev:/dev/input/by-id/usb-kbd-event-kbd",
            DeviceSpec("evdev", "/dev/input/by-id/usb-kbd-event-kbd"),
        ),
        ("fifo:/run/kvmswitchd/console", DeviceSpec("fifo", "/run/kvmswitchd/console")),
        ("fifo:console.pipe", DeviceSpec("fifo", "console.pipe")),
    ],
)
def test_device_entries_are_parsed(text: str, spec: DeviceSpec) -> None:
    assert parse_device_spec(text, "console.devices[0]") == spec
    assert str(spec) == text


@pytest.mark.parametrize(
    "value",
    ["auto", "evdev:", "usb:/dev/x", "evdev:event3", "fifo:", "fifo:a\0b", "fifo:" + "x" * 5000, 3],
)
def test_bad_device_entries_are_config_errors_naming_the_entry(value: object) -> None:
    with pytest.raises(ConfigError) as info:
        parse_device_specs(["evdev:auto", value], "console.devices")
    assert info.value.path == "console.devices[1]"


def test_the_device_list_must_be_a_list_without_repeats() -> None:
    with pytest.raises(ConfigError, match="a list"):
        parse_device_specs("evdev:auto", "console.devices")
    with pytest.raises(ConfigError, match="twice"):
        parse_device_specs(["fifo:/a", "fifo:/a"], "console.devices")


def test_one_source_per_fifo_and_one_for_all_evdev_entries() -> None:
    specs = parse_device_specs(
        ["fifo:/tmp/a", "evdev:auto", "fifo:/tmp/b", "evdev:/dev/input/event3"], "console.devices"
    )
    sources = build_sources(specs, RecordingSink())
    assert [type(s) for s in sources] == [FifoSource, FifoSource, EvdevSource]
    assert [s.path for s in sources if isinstance(s, FifoSource)] == ["/tmp/a", "/tmp/b"]


def test_no_devices_means_no_sources() -> None:
    assert build_sources((), RecordingSink()) == []
