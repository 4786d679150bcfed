"""The tesmart dialect core: byte-exact frames per reference §2.1."""

from __future__ import annotations

import pytest

from kvmswitchd.core.commands import SwitchTo
from kvmswitchd.serial.channel import EventKind
from kvmswitchd.serial.tesmart import TesmartDialect
from tests.serial.fakes import Driver


def tesmart_driver() -> Driver:
    return Driver(lambda: TesmartDialect(channel="tesmart"))


def test_query_replies_with_the_active_port_zero_based() -> None:
    d = tesmart_driver()
    assert d.feed(bytes.fromhex("AABB031000EE")) == bytes.fromhex("AABB031100EE")
    d.switch.focus["km"] = "4"
    assert d.feed(bytes.fromhex("AABB031000EE")) == bytes.fromhex("AABB031103EE")


def test_switch_is_one_based_and_replies_with_the_new_port() -> None:
    d = tesmart_driver()
    assert d.feed(bytes.fromhex("AABB030102EE")) == bytes.fromhex("AABB031101EE")
    assert d.switch.executed() == [SwitchTo("2")]
    assert d.switch.focus["km"] == "2"


def test_switch_to_a_missing_port_replies_with_the_unchanged_port() -> None:
    d = tesmart_driver()
    assert d.feed(bytes.fromhex("AABB030110EE")) == bytes.fromhex("AABB031100EE")
    assert d.switch.focus["km"] == "1"


def test_cascade_focus_reports_its_unit() -> None:
    d = tesmart_driver()
    d.switch.focus["km"] = "3.2"
    assert d.feed(bytes.fromhex("AABB031000EE")) == bytes.fromhex("AABB031102EE")


@pytest.mark.parametrize(
    ("frame", "attribute", "value"),
    [
        ("AABB030200EE", "buzzer", False),
        ("AABB030201EE", "buzzer", True),
        ("AABB03030AEE", "led_timeout", 10),
        ("AABB03031EEE", "led_timeout", 30),
        ("AABB038101EE", "auto_detect", True),
    ],
)
def test_settings_are_acknowledged_with_the_status_frame(
    frame: str, attribute: str, value: object
) -> None:
    d = tesmart_driver()
    assert d.feed(bytes.fromhex(frame)) == bytes.fromhex("AABB031100EE")
    assert getattr(d.core, attribute) == value
    assert d.switch.executed() == []


def test_garbage_is_skipped_to_the_next_frame_and_reported() -> None:
    d = tesmart_driver()
    noisy = bytes.fromhex("00 AA AA BB 03 AA BB 03 01 03 EE".replace(" ", ""))
    assert d.feed(noisy) == bytes.fromhex("AABB031102EE")
    assert d.switch.focus["km"] == "3"
    assert [n.kind for n in d.notices] == [EventKind.PROTOCOL]


def test_a_frame_with_a_bad_trailer_is_not_executed() -> None:
    d = tesmart_driver()
    assert d.feed(bytes.fromhex("AABB030103FF")) == b""
    assert d.switch.executed() == []


def test_unknown_commands_are_ignored() -> None:
    d = tesmart_driver()
    assert d.feed(bytes.fromhex("AABB035501EE")) == b""
    assert d.feed(bytes.fromhex("AABB031000EE")) == bytes.fromhex("AABB031100EE")


def test_lan_config_queries_answer_factory_values() -> None:
    d = tesmart_driver()
    assert d.feed(b"IP?;") == b"IP:192.168.001.010;"
    assert d.feed(b"PT?;") == b"PT:5000;"
    assert d.feed(b"GW?;MA?;") == b"GW:192.168.001.001;MA:255.255.255.000;"


def test_lan_config_set_replies_ok_and_is_remembered() -> None:
    d = tesmart_driver()
    assert d.feed(b"IP: 10.0.0.5;") == b"OK"
    assert d.feed(b"IP?;") == b"IP:010.000.000.005;"
    assert d.feed(b"PT:5001;PT?;") == b"OKPT:5001;"
    assert d.feed(b"IP:300.1.1.1;") == b""
