"""Gadget ports without hand-written hidg paths: the daemon finds the nodes setup built;
the port keys of gadget setup are validated and named."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from kvmswitchd.config import parse_config
from kvmswitchd.core.commands import Origin, Source
from kvmswitchd.errors import ConfigError, DeviceError
from kvmswitchd.gadget.apply import Configfs
from kvmswitchd.gadget.discovery import port_nodes
from tests.daemon.conftest import start
from tests.gadget.fake_configfs import HIDG_MAJOR, FakeKernel

PRESS_A = bytes((0, 0, 4, 0, 0, 0, 0, 0))
RELEASED = bytes(8)


def built(tmp_path: Path, doc: dict[str, Any]) -> FakeKernel:
    kernel = FakeKernel(tmp_path)
    config = parse_config({"ports": doc})
    Configfs(kernel.roots, kernel, load_module=kernel.modprobe, ids=kernel.ids).setup(
        config.port(u) for u in range(1, config.ports + 1)
    )
    return kernel


def test_the_nodes_are_found_through_the_function_dev_and_its_uevent(tmp_path: Path) -> None:
    kernel = built(tmp_path, {"2": {"target": "gadget"}, "3": {"target": "gadget"}})
    dev = kernel.roots.dev
    assert port_nodes(kernel.roots, 3, kernel) == (str(dev / "hidg2"), str(dev / "hidg3"))


def test_without_sysfs_entries_the_node_with_that_device_number_is_taken(tmp_path: Path) -> None:
    kernel = built(tmp_path, {"1": {"target": "gadget"}})
    shutil.rmtree(kernel.roots.sysfs / "dev" / "char" / f"{HIDG_MAJOR}:1")
    assert port_nodes(kernel.roots, 1, kernel)[1] == str(kernel.roots.dev / "hidg1")


def test_a_port_whose_gadget_was_never_built_says_to_run_setup(tmp_path: Path) -> None:
    kernel = built(tmp_path, {"1": {"target": "gadget"}})
    with pytest.raises(DeviceError, match=r"port 2: no USB gadget .*kvmswitchd gadget setup"):
        port_nodes(kernel.roots, 2, kernel)


def test_an_unbound_gadget_has_no_node_and_says_so(tmp_path: Path) -> None:
    kernel = built(tmp_path, {"1": {"target": "gadget"}})
    kernel.write(kernel.gadgets / "kvmswitchd-port1" / "UDC", b"")
    with pytest.raises(DeviceError, match="is the gadget bound to its UDC"):
        port_nodes(kernel.roots, 1, kernel)


async def test_a_daemon_gadget_port_without_paths_types_into_the_node_setup_built(
    tmp_path: Path,
) -> None:
    kernel = built(tmp_path, {"1": {"target": "gadget"}})
    roots = kernel.roots
    doc = {
        "gadget": {
            "configfs": str(roots.configfs),
            "sysfs": str(roots.sysfs),
            "dev": str(roots.dev),
        },
        "ports": {"1": {"target": "gadget"}},
    }
    daemon, board = await start(tmp_path / "state", doc)
    try:
        board.type_input("a", None, Origin(Source.HTTP, "test"))
        view = board.target("1")
        assert view["keyboard"]["path"] == str(roots.dev / "hidg0")
        assert view["mouse"]["path"] == str(roots.dev / "hidg1")
    finally:
        await daemon.stop()
    # the stand-in nodes are plain files: every report written is there, in order
    assert (roots.dev / "hidg0").read_bytes().startswith(PRESS_A + RELEASED)


@pytest.mark.parametrize(
    ("port", "key"),
    [
        ({"target": "emulated", "udc": "dummy_udc.0"}, "ports.2.udc"),
        ({"target": "usbip", "hidg_mode": 0o660}, "ports.2.hidg_mode"),
        ({"target": "gadget", "udc": "../../x"}, "ports.2.udc"),
        ({"target": "gadget", "udc": ""}, "ports.2.udc"),
        ({"target": "gadget", "hidg_user": "x" * 65}, "ports.2.hidg_user"),
        ({"target": "gadget", "hidg_group": 5}, "ports.2.hidg_group"),
        ({"target": "gadget", "hidg_mode": 0o1777}, "ports.2.hidg_mode"),
        ({"target": "gadget", "hidg_mode": True}, "ports.2.hidg_mode"),
        ({"target": "gadget", "hidg_mode": "660"}, "ports.2.hidg_mode"),
    ],
)
def test_gadget_setup_keys_are_validated_and_named(port: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"ports": {"2": port}})
    assert info.value.path == key


def test_a_gadget_port_may_omit_both_node_paths_and_name_its_udc_and_owner() -> None:
    config = parse_config(
        {
            "ports": {
                "2": {
                    "target": "gadget",
                    "udc": "fe980000.usb",
                    "hidg_group": "kvmswitchd",
                    "hidg_mode": 0o660,
                }
            }
        }
    )
    port = config.port(2)
    assert (port.hidg_keyboard, port.hidg_mouse, port.udc) == (None, None, "fe980000.usb")
    assert (port.hidg_user, port.hidg_group, port.hidg_mode) == (None, "kvmswitchd", 0o660)
