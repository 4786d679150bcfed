"""Learning the console monitor's EDID from a fake DRM sysfs tree."""

from __future__ import annotations

from pathlib import Path

from tests.video.conftest import real_edid
from video import build_edid, learn_console_edid, read_connectors

GOOD = real_edid("dell-u2212hm")


def _connector(root: Path, name: str, status: str | None, edid: bytes | None) -> None:
    path = root / name
    path.mkdir(parents=True)
    (path / "enabled").write_text("enabled\n")
    if status is not None:
        (path / "status").write_text(f"{status}\n")
    if edid is not None:
        (path / "edid").write_bytes(edid)


def test_learns_the_first_connected_valid_edid_and_says_why_others_were_skipped(
    tmp_path: Path,
) -> None:
    (tmp_path / "card0").mkdir()  # the card itself is not a connector
    (tmp_path / "version").write_text("drm 1.1.0\n")
    _connector(tmp_path, "card0-DP-1", "disconnected", b"")
    _connector(tmp_path, "card0-DP-2", "connected", b"")
    corrupt = bytearray(GOOD)
    corrupt[40] ^= 0xFF
    _connector(tmp_path, "card0-HDMI-A-1", "connected", bytes(corrupt))
    _connector(tmp_path, "card0-HDMI-A-2", "connected", GOOD)
    _connector(tmp_path, "card1-DP-1", "connected", build_edid("4k60"))

    learned = learn_console_edid(tmp_path)

    assert learned is not None
    assert learned.connector == "card0-HDMI-A-2"
    assert learned.blob == GOOD
    assert learned.info.name == "DELL U2212HM"
    reasons = {r.connector: r.reason for r in learned.skipped}
    assert reasons == {
        "card0-DP-1": "status is 'disconnected', not 'connected'",
        "card0-DP-2": "connected but its edid is empty",
        "card0-HDMI-A-1": "invalid EDID: EDID block 0, byte 127 (0x7f): checksum mismatch "
        "(expected 0xdb, got 0xd8)",
    }


def test_connectors_are_tried_in_natural_order(tmp_path: Path) -> None:
    _connector(tmp_path, "card0-DP-10", "connected", build_edid("4k60"))
    _connector(tmp_path, "card0-DP-2", "connected", GOOD)
    _connector(tmp_path, "card10-DP-1", "connected", build_edid("1440p60"))
    _connector(tmp_path, "card2-DP-1", "connected", build_edid("4k30"))
    assert [r.connector for r in read_connectors(tmp_path)] == [
        "card0-DP-2",
        "card0-DP-10",
        "card2-DP-1",
        "card10-DP-1",
    ]
    learned = learn_console_edid(tmp_path)
    assert learned is not None
    assert learned.connector == "card0-DP-2"
    assert learned.skipped == ()


def test_nothing_learned_when_no_connector_has_a_valid_edid(tmp_path: Path) -> None:
    _connector(tmp_path, "card0-HDMI-A-1", "disconnected", b"")
    _connector(tmp_path, "card0-HDMI-A-2", None, GOOD)
    _connector(tmp_path, "card0-HDMI-A-3", "connected", None)
    _connector(tmp_path, "card0-HDMI-A-4", "connected", GOOD * 3)  # 768 bytes: over the cap
    assert learn_console_edid(tmp_path) is None
    reasons = [r.reason or "" for r in read_connectors(tmp_path)]
    assert reasons[0] == "status is 'disconnected', not 'connected'"
    assert reasons[1].startswith("cannot read status")
    assert reasons[2].startswith("cannot read edid")
    assert reasons[3] == (
        "invalid EDID: EDID block 4, byte 512 (0x200): is 513 bytes, more than the cap of 512 "
        "(4 blocks)"
    )


def test_an_empty_or_missing_root_learns_nothing(tmp_path: Path) -> None:
    assert learn_console_edid(tmp_path) is None
    assert learn_console_edid(tmp_path / "missing") is None
    assert read_connectors(tmp_path / "missing") == ()


def test_an_edid_that_lists_no_video_modes_is_not_learned(tmp_path: Path) -> None:
    blob = bytearray(build_edid("1080p60"))
    blob[35:38] = bytes(3)  # no established timings
    blob[38:54] = b"\x01\x01" * 8  # no standard timings
    blob[54:72] = bytes([0, 0, 0, 0x10, 0]) + bytes(13)  # DTD 1 becomes a dummy descriptor
    blob[127] = -sum(blob[:127]) % 256
    _connector(tmp_path, "card0-HDMI-A-1", "connected", bytes(blob))
    _connector(tmp_path, "card0-HDMI-A-2", "connected", GOOD)

    learned = learn_console_edid(tmp_path)

    assert learned is not None and learned.connector == "card0-HDMI-A-2"
    assert [(r.connector, r.reason) for r in learned.skipped] == [
        ("card0-HDMI-A-1", "its EDID lists no video modes")
    ]
