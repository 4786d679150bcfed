"""``kvmswitchd gadget setup|teardown`` on a stand-in configfs: what is built, from which
descriptors, in which order; idempotence; teardown; an error naming each missing piece."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hid.descriptors import (
    ABSOLUTE_POINTER_FUNCTION,
    BOOT_KEYBOARD_FUNCTION,
    NKRO_KEYBOARD_FUNCTION,
    RELATIVE_MOUSE_FUNCTION,
    HidFunction,
)
from kvmswitchd.config import parse_config
from kvmswitchd.errors import ConfigError, DeviceError
from kvmswitchd.gadget.apply import Action, Configfs
from kvmswitchd.gadget.plan import (
    ConfigTree,
    GadgetTree,
    Rmdir,
    Unbind,
    Unlink,
    setup_plan,
    teardown_plan,
)
from kvmswitchd.port_config import PortConfig
from kvmswitchd.targets.usbip_device import PRODUCT, VENDOR
from tests.gadget.fake_configfs import FakeKernel


def ports(doc: dict[str, Any]) -> list[PortConfig]:
    config = parse_config({"switch": {"ports": 4}, "ports": doc})
    return [config.port(u) for u in range(1, 5)]


TWO = {
    "1": {"target": "gadget", "hidg_user": "kvmswitchd", "hidg_mode": 0o660},
    "3": {"target": "gadget", "nkro": True, "mouse": "absolute", "udc": "dummy_udc.0"},
}


def applier(kernel: FakeKernel) -> Configfs:
    return Configfs(kernel.roots, kernel, load_module=kernel.modprobe, ids=kernel.ids)


def read(path: Path) -> str:
    return path.read_text().strip()


def assert_function(function: Path, hid: HidFunction) -> None:
    assert (function / "report_desc").read_bytes() == hid.report_descriptor
    assert int(read(function / "report_length")) == hid.report_length
    assert int(read(function / "subclass")) == hid.subclass
    assert int(read(function / "protocol")) == hid.protocol


def test_setup_builds_one_composite_gadget_per_gadget_port_from_the_encoders_descriptors(
    tmp_path: Path,
) -> None:
    kernel = FakeKernel(tmp_path)
    result = applier(kernel).setup(ports(TWO))
    assert [b.unit for b in result.built] == [1, 3]
    assert sorted(p.name for p in kernel.gadgets.iterdir()) == [
        "kvmswitchd-port1",
        "kvmswitchd-port3",
    ]
    g1, g3 = kernel.gadgets / "kvmswitchd-port1", kernel.gadgets / "kvmswitchd-port3"
    assert_function(g1 / "functions/hid.keyboard", BOOT_KEYBOARD_FUNCTION)
    assert_function(g1 / "functions/hid.mouse", RELATIVE_MOUSE_FUNCTION)
    assert_function(g3 / "functions/hid.keyboard", NKRO_KEYBOARD_FUNCTION)
    assert_function(g3 / "functions/hid.mouse", ABSOLUTE_POINTER_FUNCTION)
    assert int(read(g1 / "idVendor"), 16) == VENDOR
    assert int(read(g1 / "idProduct"), 16) == PRODUCT
    assert read(g3 / "strings/0x409/product") == "KVM port 3"
    assert read(g3 / "strings/0x409/serialnumber") == "kvmswitchd-3"
    assert read(g1 / "strings/0x409/manufacturer") == "kvmswitchd"
    lun = g1 / "functions/mass_storage.storage/lun.0"
    assert (read(lun / "removable"), read(lun / "file")) == ("1", "")
    links = sorted(p.name for p in (g1 / "configs/c.1").iterdir() if p.is_symlink())
    assert links == ["hid.keyboard", "hid.mouse", "mass_storage.storage"]
    # port 3 asked for dummy_udc.0, so port 1 gets the first free one
    assert (read(g3 / "UDC"), read(g1 / "UDC")) == ("dummy_udc.0", "dummy_udc.1")
    one = result.built[0]
    assert (one.udc, one.action, one.lun) == ("dummy_udc.1", Action.CREATED, lun)
    assert Path(one.keyboard).parent == kernel.roots.dev
    assert Path(one.keyboard).exists() and Path(one.mouse).exists()
    assert kernel.owners[Path(one.keyboard)] == (990, 0)
    assert Path(one.mouse).stat().st_mode & 0o777 == 0o660
    for name in ("file", "ro", "forced_eject"):  # the daemon's user loads images
        assert kernel.owners[lun / name] == (990, 0)
        assert (lun / name).stat().st_mode & 0o777 == 0o660
    three = result.built[1]
    assert kernel.owners[Path(three.keyboard)] == (0, 0)  # the default: root only
    assert Path(three.keyboard).stat().st_mode & 0o777 == 0o600


def test_every_plan_step_comes_after_the_directory_it_needs_and_binding_is_last() -> None:
    for port in ports(TWO):
        if port.target != "gadget":
            continue
        plan = setup_plan(port)
        made: set[str] = set()
        for step in plan.steps[:-1]:
            parent = step.path.rsplit("/", 1)[0]
            if type(step).__name__ == "Mkdir":
                made.add(step.path)
            elif "/functions/" in parent and parent.endswith("lun.0"):
                assert parent.rsplit("/", 1)[0] in made  # lun.0 comes with its function
            else:
                assert parent in made, step
            if type(step).__name__ == "Symlink":
                assert step.target in made  # type: ignore[union-attr]
        assert type(plan.steps[-1]).__name__ == "Bind"


def test_a_second_setup_changes_nothing(tmp_path: Path) -> None:
    kernel = FakeKernel(tmp_path)
    first = applier(kernel).setup(ports(TWO))
    kernel.mutations.clear()
    again = applier(kernel).setup(ports(TWO))
    # nothing but the owner and mode of the nodes, which are set again every time
    assert [m for m in kernel.mutations if not m.startswith(("chown ", "chmod "))] == []
    assert [b.action for b in again.built] == [Action.UNCHANGED, Action.UNCHANGED]
    assert [(b.keyboard, b.mouse, b.udc) for b in again.built] == [
        (b.keyboard, b.mouse, b.udc) for b in first.built
    ]


def test_a_changed_port_is_rebuilt_with_its_new_descriptor(tmp_path: Path) -> None:
    kernel = FakeKernel(tmp_path)
    applier(kernel).setup(ports(TWO))
    changed = dict(TWO, **{"1": {"target": "gadget", "nkro": True}})
    result = applier(kernel).setup(ports(changed))
    assert [b.action for b in result.built] == [Action.REBUILT, Action.UNCHANGED]
    function = kernel.gadgets / "kvmswitchd-port1/functions/hid.keyboard"
    assert_function(function, NKRO_KEYBOARD_FUNCTION)


def test_a_changed_owner_is_applied_without_rebuilding(tmp_path: Path) -> None:
    kernel = FakeKernel(tmp_path)
    applier(kernel).setup(ports(TWO))
    changed = dict(TWO, **{"3": dict(TWO["3"], hidg_group="kvmswitchd")})
    result = applier(kernel).setup(ports(changed))
    assert result.built[1].action is Action.UNCHANGED
    assert kernel.owners[Path(result.built[1].keyboard)] == (0, 991)


def test_a_udc_a_port_asks_for_is_taken_back_from_a_port_that_took_the_first_free_one(
    tmp_path: Path,
) -> None:
    kernel = FakeKernel(tmp_path)
    applier(kernel).setup(ports({"3": {"target": "gadget"}}))  # gets dummy_udc.0
    doc = {"2": {"target": "gadget", "udc": "dummy_udc.0"}, "3": {"target": "gadget"}}
    result = applier(kernel).setup(ports(doc))
    assert [(b.unit, b.udc, b.action) for b in result.built] == [
        (2, "dummy_udc.0", Action.CREATED),
        (3, "dummy_udc.1", Action.REBUILT),
    ]


def test_setup_removes_our_gadget_of_a_port_that_is_no_longer_a_gadget(tmp_path: Path) -> None:
    kernel = FakeKernel(tmp_path)
    applier(kernel).setup(ports(TWO))
    result = applier(kernel).setup(ports({"3": TWO["3"]}))
    assert result.removed == ("kvmswitchd-port1",)
    assert [p.name for p in kernel.gadgets.iterdir()] == ["kvmswitchd-port3"]


def test_teardown_leaves_configfs_clean_and_other_gadgets_alone(tmp_path: Path) -> None:
    kernel = FakeKernel(tmp_path)
    applier(kernel).setup(ports(TWO))
    kernel.mkdir(kernel.gadgets / "someone-else")
    assert applier(kernel).teardown() == ("kvmswitchd-port1", "kvmswitchd-port3")
    assert [p.name for p in kernel.gadgets.iterdir()] == ["someone-else"]
    assert list(kernel.roots.dev.iterdir()) == []  # the hidg nodes went with the binding
    assert applier(kernel).teardown() == ()  # idempotent


def test_teardown_unbinds_unlinks_then_removes_children_before_parents() -> None:
    tree = GadgetTree(
        name="usb_gadget/kvmswitchd-port2",
        bound=True,
        configs=(ConfigTree("c.1", ("hid.keyboard", "hid.mouse"), ("0x409",)),),
        functions=("hid.keyboard", "hid.mouse"),
        strings=("0x409",),
    )
    g = "usb_gadget/kvmswitchd-port2"
    assert teardown_plan(tree) == (
        Unbind(f"{g}/UDC"),
        Unlink(f"{g}/configs/c.1/hid.keyboard"),
        Unlink(f"{g}/configs/c.1/hid.mouse"),
        Rmdir(f"{g}/configs/c.1/strings/0x409"),
        Rmdir(f"{g}/configs/c.1"),
        Rmdir(f"{g}/functions/hid.keyboard"),
        Rmdir(f"{g}/functions/hid.mouse"),
        Rmdir(f"{g}/strings/0x409"),
        Rmdir(g),
    )


def test_teardown_of_a_half_built_gadget_removes_what_is_there(tmp_path: Path) -> None:
    kernel = FakeKernel(tmp_path)
    g = kernel.gadgets / "kvmswitchd-port2"
    kernel.mkdir(g)
    kernel.mkdir(g / "functions/hid.keyboard")
    assert applier(kernel).teardown() == ("kvmswitchd-port2",)
    assert list(kernel.gadgets.iterdir()) == []


def test_configfs_not_mounted_is_named(tmp_path: Path) -> None:
    kernel = FakeKernel(tmp_path, mounted=False)
    with pytest.raises(DeviceError, match=r"configfs is not mounted on .*mount -t configfs"):
        applier(kernel).setup(ports(TWO))


def test_libcomposite_is_loaded_when_modprobe_can(tmp_path: Path) -> None:
    kernel = FakeKernel(
        tmp_path,
        modules=frozenset({"usb_f_hid", "usb_f_mass_storage"}),
        loadable=frozenset({"libcomposite"}),
    )
    result = applier(kernel).setup(ports(TWO))
    assert kernel.modprobed[0] == "libcomposite"
    assert len(result.built) == 2


def test_libcomposite_absent_is_named(tmp_path: Path) -> None:
    kernel = FakeKernel(tmp_path, modules=frozenset({"usb_f_hid", "usb_f_mass_storage"}))
    with pytest.raises(DeviceError, match="libcomposite kernel module is not loaded"):
        applier(kernel).setup(ports(TWO))


@pytest.mark.parametrize("module", ["usb_f_hid", "usb_f_mass_storage"])
def test_a_missing_function_module_is_named_and_nothing_is_left_behind(
    tmp_path: Path, module: str
) -> None:
    kernel = FakeKernel(
        tmp_path, modules=frozenset({"libcomposite", "usb_f_hid", "usb_f_mass_storage"} - {module})
    )
    with pytest.raises(DeviceError, match=f"the {module} module is missing"):
        applier(kernel).setup(ports(TWO))
    assert list(kernel.gadgets.iterdir()) == []


def test_no_udc_is_named(tmp_path: Path) -> None:
    kernel = FakeKernel(tmp_path, udcs=())
    with pytest.raises(DeviceError, match="no USB device controller"):
        applier(kernel).setup(ports(TWO))


def test_an_unknown_configured_udc_is_a_config_error_naming_the_key(tmp_path: Path) -> None:
    kernel = FakeKernel(tmp_path)
    doc = {"2": {"target": "gadget", "udc": "fe980000.usb"}}
    with pytest.raises(ConfigError) as info:
        applier(kernel).setup(ports(doc))
    assert info.value.path == "ports.2.udc"
    assert "dummy_udc.0, dummy_udc.1" in str(info.value)


def test_two_ports_on_one_udc_is_a_config_error(tmp_path: Path) -> None:
    kernel = FakeKernel(tmp_path)
    doc = {p: {"target": "gadget", "udc": "dummy_udc.1"} for p in ("1", "2")}
    with pytest.raises(ConfigError) as info:
        applier(kernel).setup(ports(doc))
    assert info.value.path == "ports.2.udc"


def busy(kernel: FakeKernel, udc: str) -> None:
    """Another program's gadget bound to ``udc``."""
    other = kernel.gadgets / "g1"
    kernel.mkdir(other)
    kernel.write(other / "UDC", udc.encode())


def test_a_configured_udc_bound_to_another_gadget_is_busy(tmp_path: Path) -> None:
    kernel = FakeKernel(tmp_path)
    busy(kernel, "dummy_udc.0")
    with pytest.raises(DeviceError, match=r"UDC dummy_udc\.0 is busy: gadget g1 is bound to it"):
        applier(kernel).setup(ports({"3": TWO["3"]}))
    assert [p.name for p in kernel.gadgets.iterdir()] == ["g1"]


def test_no_free_udc_names_who_holds_them(tmp_path: Path) -> None:
    kernel = FakeKernel(tmp_path, udcs=("dummy_udc.0",))
    busy(kernel, "dummy_udc.0")
    with pytest.raises(DeviceError, match=r"no free UDC: dummy_udc.0 \(g1\)"):
        applier(kernel).setup(ports({"1": {"target": "gadget"}}))


def test_an_unknown_node_owner_is_a_config_error(tmp_path: Path) -> None:
    kernel = FakeKernel(tmp_path)
    with pytest.raises(ConfigError) as info:
        applier(kernel).setup(ports({"1": {"target": "gadget", "hidg_group": "nobody-here"}}))
    assert info.value.path == "ports.1.hidg_group"
    assert list(kernel.gadgets.iterdir()) == []


def test_setup_with_no_gadget_port_builds_nothing_and_needs_no_udc(tmp_path: Path) -> None:
    kernel = FakeKernel(tmp_path, udcs=())
    assert applier(kernel).setup(ports({})).built == ()


PORT_CONFIGS = st.fixed_dictionaries(
    {},
    optional={
        "nkro": st.booleans(),
        "mouse": st.sampled_from(["relative", "absolute"]),
        "udc": st.sampled_from(["dummy_udc.0", "dummy_udc.1", "dummy_udc.2"]),
    },
)


@settings(max_examples=25)
@given(
    first=st.dictionaries(st.sampled_from("123"), PORT_CONFIGS, max_size=3),
    second=st.dictionaries(st.sampled_from("123"), PORT_CONFIGS, max_size=3),
)
def test_any_two_setups_then_teardown_leave_configfs_as_it_was(
    tmp_path_factory: pytest.TempPathFactory,
    first: dict[str, dict[str, Any]],
    second: dict[str, dict[str, Any]],
) -> None:
    kernel = FakeKernel(
        tmp_path_factory.mktemp("k"), udcs=("dummy_udc.0", "dummy_udc.1", "dummy_udc.2")
    )
    for doc in (first, second):
        wanted = {k: dict(v, target="gadget") for k, v in doc.items()}
        udcs = [v["udc"] for v in wanted.values() if "udc" in v]
        try:
            result = applier(kernel).setup(ports(wanted))
        except ConfigError:
            assert len(udcs) != len(set(udcs))  # only two ports on one UDC is refused
            continue
        assert sorted(b.unit for b in result.built) == sorted(int(k) for k in wanted)
        bound = [b.udc for b in result.built]
        assert len(bound) == len(set(bound))  # each port on a UDC of its own
        again = applier(kernel).setup(ports(wanted))
        assert {b.action for b in again.built} <= {Action.UNCHANGED}
    applier(kernel).teardown()
    assert list(kernel.gadgets.iterdir()) == []
    assert list(kernel.roots.dev.iterdir()) == []
