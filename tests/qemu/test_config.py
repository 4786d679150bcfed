"""A qemu port's config keys: the QMP socket (unix or TCP), the VM's name, the input
interval; every error names its key."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from kvmswitchd.config import parse_config
from kvmswitchd.errors import ConfigError
from kvmswitchd.preflight import preflight
from kvmswitchd.targets.qemu import qmp_address


def port2(**entry: object) -> dict[str, object]:
    return {"ports": {"2": {"target": "qemu", **entry}}}


def test_a_qemu_port_takes_a_unix_or_tcp_qmp_socket_and_a_vm_name() -> None:
    config = parse_config(port2(qmp="unix:/run/kvmswitchd/vm1.qmp", vm_name=" web "))
    port = config.port(2)
    assert (port.qmp, port.vm_name, port.input_interval) == (
        "unix:/run/kvmswitchd/vm1.qmp",
        "web",
        0.01,
    )
    assert qmp_address(port.qmp or "") == "/run/kvmswitchd/vm1.qmp"
    tcp = parse_config(port2(qmp="tcp:127.0.0.1:4444", input_interval=0.05)).port(2)
    assert qmp_address(tcp.qmp or "") == ("127.0.0.1", 4444)
    assert tcp.input_interval == 0.05
    assert qmp_address("tcp:[::1]:4444") == ("::1", 4444)


@pytest.mark.parametrize(
    ("doc", "path"),
    [
        (port2(), "ports.2.qmp"),
        (port2(qmp="/run/vm.qmp"), "ports.2.qmp"),
        (port2(qmp="unix:relative.qmp"), "ports.2.qmp"),
        (port2(qmp="tcp:127.0.0.1"), "ports.2.qmp"),
        (port2(qmp="tcp:127.0.0.1:70000"), "ports.2.qmp"),
        (port2(qmp="unix:/" + "x" * 5000), "ports.2.qmp"),
        (port2(qmp="unix:/vm", vm_name=""), "ports.2.vm_name"),
        (port2(qmp="unix:/vm", vm_name="x" * 65), "ports.2.vm_name"),
        (port2(qmp="unix:/vm", input_interval=2), "ports.2.input_interval"),
        (port2(qmp="unix:/vm", keyboard="ps2"), "ports.2.keyboard"),
        ({"ports": {"2": {"qmp": "unix:/vm"}}}, "ports.2.qmp"),
        ({"ports": {"2": {"target": "usbip", "vm_name": "x"}}}, "ports.2.vm_name"),
    ],
)
def test_every_qemu_key_error_names_its_key(doc: dict[str, object], path: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(doc)
    assert info.value.path == path
    assert "expected" in info.value.message


def test_the_readme_qemu_example_is_a_valid_port() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    (block,) = [b for b in re.findall(r"```toml\n(.*?)```", readme, re.S) if '"qemu"\nqmp' in b]
    port = parse_config(tomllib.loads(block)).port(3)
    assert (port.target, port.qmp, port.vm_name) == ("qemu", "unix:/run/kvmswitchd/vm1.qmp", "vm1")
    (command,) = [b for b in re.findall(r"```sh\n(.*?)```", readme, re.S) if "-qmp" in b]
    # the QMP socket the command line makes is the one the port connects to
    assert f"-qmp {port.qmp},server=on,wait=off" in command
    assert "-device qemu-xhci" in command


@pytest.mark.parametrize(
    ("qmp", "warned"),
    [
        ("unix:/run/vm.qmp", False),
        ("tcp:127.0.0.1:4444", False),
        ("tcp:localhost:4444", False),
        ("tcp:[::1]:4444", False),
        ("tcp:192.0.2.7:4444", True),
        ("tcp:vmhost.example:4444", True),
    ],
)
def test_qmp_over_the_network_is_a_warning_naming_the_port(qmp: str, warned: bool) -> None:
    findings = preflight(parse_config(port2(qmp=qmp)), files=False)
    assert findings.errors == ()
    names = [(f.name, f.path) for f in findings.warnings]
    assert names == ([("qmp_not_loopback", "ports.2.qmp")] if warned else [])
