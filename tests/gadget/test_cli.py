"""``kvmswitchd gadget setup|teardown``: exit codes, what it prints (the hidg nodes per
port, for scripts with ``--json``), and that ``kvmswitchd`` keeps its other flags."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kvmswitchd.cli import build_parser, main
from kvmswitchd.config import GadgetConfig
from kvmswitchd.gadget.apply import Configfs
from tests.gadget.fake_configfs import FakeKernel


def config_file(tmp_path: Path, kernel: FakeKernel, ports: str) -> Path:
    roots = kernel.roots
    path = tmp_path / "kvm.toml"
    path.write_text(
        f'[gadget]\nconfigfs = "{roots.configfs}"\nsysfs = "{roots.sysfs}"\ndev = "{roots.dev}"\n'
        + ports
    )
    return path


PORTS = '[ports.2]\ntarget = "gadget"\n[ports.4]\ntarget = "gadget"\nmouse = "absolute"\n'


def run(kernel: FakeKernel, *argv: str) -> int:
    def applier(roots: GadgetConfig) -> Configfs:
        assert roots == kernel.roots  # the roots come from the config's [gadget] table
        return Configfs(roots, kernel, load_module=kernel.modprobe, ids=kernel.ids)

    return main(list(argv), kernel=applier)


def test_setup_prints_the_hidg_nodes_of_each_port_and_exits_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kernel = FakeKernel(tmp_path)
    config = config_file(tmp_path, kernel, PORTS)
    assert run(kernel, "gadget", "setup", "--config", str(config)) == 0
    lines = capsys.readouterr().out.splitlines()
    dev = kernel.roots.dev
    assert lines[0] == (
        f"kvmswitchd: port 2: kvmswitchd-port2 on dummy_udc.0 (created): keyboard "
        f"{dev}/hidg0, mouse {dev}/hidg1, storage "
        f"{kernel.gadgets}/kvmswitchd-port2/functions/mass_storage.storage/lun.0"
    )
    assert lines[1].startswith("kvmswitchd: port 4: kvmswitchd-port4 on dummy_udc.1 (created)")
    assert run(kernel, "--config", str(config), "gadget", "setup") == 0  # flag before
    assert "(unchanged)" in capsys.readouterr().out


def test_setup_json_is_for_scripts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kernel = FakeKernel(tmp_path)
    config = config_file(tmp_path, kernel, PORTS)
    assert run(kernel, "gadget", "setup", "--config", str(config), "--json") == 0
    doc = json.loads(capsys.readouterr().out)
    assert [(p["port"], p["udc"], p["action"]) for p in doc["ports"]] == [
        (2, "dummy_udc.0", "created"),
        (4, "dummy_udc.1", "created"),
    ]
    assert doc["ports"][1]["hidg_mouse"] == str(kernel.roots.dev / "hidg3")
    assert doc["removed"] == []


def test_teardown_prints_what_it_removed_and_a_second_one_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kernel = FakeKernel(tmp_path)
    config = config_file(tmp_path, kernel, PORTS)
    run(kernel, "gadget", "setup", "--config", str(config))
    capsys.readouterr()
    assert run(kernel, "gadget", "teardown", "--config", str(config)) == 0
    assert capsys.readouterr().out.splitlines() == [
        "kvmswitchd: removed gadget kvmswitchd-port2",
        "kvmswitchd: removed gadget kvmswitchd-port4",
    ]
    assert run(kernel, "gadget", "teardown", "--config", str(config)) == 0
    assert capsys.readouterr().out == "kvmswitchd: no gadget of ours to remove\n"
    assert list(kernel.gadgets.iterdir()) == []


def test_a_missing_kernel_piece_exits_1_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kernel = FakeKernel(tmp_path, udcs=())
    config = config_file(tmp_path, kernel, PORTS)
    assert run(kernel, "gadget", "setup", "--config", str(config)) == 1
    err = capsys.readouterr().err
    assert err.startswith("kvmswitchd gadget setup: no USB device controller (UDC) in ")


def test_a_config_error_exits_2_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kernel = FakeKernel(tmp_path)
    config = config_file(tmp_path, kernel, '[ports.1]\ntarget = "gadget"\nudc = "nope.0"\n')
    assert run(kernel, "gadget", "setup", "--config", str(config)) == 2
    assert "configuration error: ports.1.udc: no UDC 'nope.0'" in capsys.readouterr().err


def test_the_daemon_flags_still_parse_without_a_subcommand() -> None:
    args = build_parser().parse_args(["--ports", "8", "--listen", "127.0.0.1:9000"])
    assert (args.command, args.ports, args.listen) == (None, 8, "127.0.0.1:9000")
