"""The target machine's systemd template unit starts the shipped script the way its
tests run it: the host from the EnvironmentFile, the instance as the busid, SIGTERM to
the script alone (so it can detach its port before the rest of the unit is killed)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "systemd" / "kvmswitchd-attach@.service"


def service() -> dict[str, list[str]]:
    """The [Service] keys (a key may repeat, as EnvironmentFile does)."""
    keys: dict[str, list[str]] = {}
    section = ""
    for line in UNIT.read_text().splitlines():
        if line.startswith("["):
            section = line.strip("[]")
        elif section == "Service" and "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            keys.setdefault(key, []).append(value)
    return keys


def test_the_unit_runs_the_shipped_script_with_the_host_and_the_instance_busid() -> None:
    (exec_start,) = service()["ExecStart"]
    program, *args = exec_start.split()
    assert Path(program).name == "kvmswitchd-attach"
    assert (ROOT / "target-side" / Path(program).name).is_file()
    assert args == ["${KVMSWITCHD_HOST}", "%i"]


def test_the_host_comes_from_an_environment_file_with_an_optional_per_port_one() -> None:
    files = service()["EnvironmentFile"]
    assert files[0] == "/etc/default/kvmswitchd-attach"
    assert files[1] == "-/etc/default/kvmswitchd-attach-%i"  # "-": may be absent


def test_stopping_signals_the_script_alone_so_it_can_detach() -> None:
    keys = service()
    assert keys["KillMode"] == ["mixed"]
    assert "ProtectKernelModules" not in keys  # it loads vhci-hcd
