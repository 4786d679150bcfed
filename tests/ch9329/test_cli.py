"""``kvmswitchd ch9329-chip``: an emulated cable on a pty, for a daemon in another process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import serial

from kvmswitchd.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_the_chip_command_answers_on_its_pty_and_echoes_what_it_types(tmp_path: Path) -> None:
    link = tmp_path / "ttyCH9329"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "kvmswitchd", "ch9329-chip", "--link", str(link)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("emulated CH9329 (address 0x00) on ") and str(link) in first
        assert f'ch9329_device = "{link}"' in proc.stdout.readline()
        with serial.Serial(str(link), 9600, timeout=10) as port:
            port.write(bytes.fromhex("57 AB 00 02 08 02 00 04 00 00 00 00 00 12"))  # Shift+a
            assert port.read(7) == bytes.fromhex("57 AB 00 82 01 00 85")
            assert proc.stdout.readline() == "screen: A\n"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        assert not link.exists()  # the symlink goes with the pty
    finally:
        proc.kill()
        proc.wait()


def test_a_broadcast_address_is_refused_with_exit_2() -> None:
    assert main(["ch9329-chip", "--address", "255"]) == 2
