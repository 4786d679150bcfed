"""Loading state never bricks the daemon: an entry that no longer validates is logged as
``state_reset`` (what and why), reset to its default, and the daemon starts (issue 12,
item 2)."""

from __future__ import annotations

import functools
import json
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kvmswitchd.assembly import build_board, restore_core
from kvmswitchd.config import Config, parse_config
from kvmswitchd.core.eventlog import LogQuery
from kvmswitchd.core.ports import Channel, PortId
from kvmswitchd.core.switch import MAX_NAME_LEN
from kvmswitchd.edids import EdidBook, Override
from kvmswitchd.savedstate import MAX_RESETS, read_saved_state
from kvmswitchd.statefile import STATE_VERSION
from tests.daemon.conftest import start
from tests.validate.test_edid_refusals import checksum_broken, without_modes
from video import build_edid

PORTS = 4
GOOD = build_edid("1440p60", name="Good")


@functools.cache
def config(ports: int = PORTS) -> Config:
    return replace(parse_config({"switch": {"ports": ports}, "video": {"drm_root": ""}}), serial=())


def whats(doc: object, ports: int = PORTS) -> dict[str, str]:
    _state, resets = read_saved_state(doc, ports)
    return {r.what: r.why for r in resets}


# -- each kind of bad entry ---------------------------------------------------------------


def test_a_valid_document_loads_whole_with_nothing_reset() -> None:
    doc = {
        "version": STATE_VERSION,
        "focus": {"km": "3", "video": "2", "audio": "2.4", "usb": "1"},
        "names": {"2": "Build server"},
        "edids": {
            "overrides": {"1": {"hex": GOOD.hex()}, "3": {"preset": "4k30"}},
            "idle_monitor": {"2": False},
        },
    }
    state, resets = read_saved_state(doc, PORTS)
    assert resets == ()
    assert state.focus[Channel.KM] == PortId(3) and state.focus[Channel.AUDIO] == PortId(2, 4)
    assert state.names == {2: "Build server"}
    assert state.overrides == {1: Override(blob=GOOD), 3: Override(preset="4k30")}
    assert state.idle_monitor == {2: False}


def test_names_too_long_not_strings_empty_or_beyond_the_ports_are_reset() -> None:
    got = whats(
        {
            "names": {
                "1": "x" * (MAX_NAME_LEN + 1),
                "2": 7,
                "3": "   ",
                "9": "Gone",
                "two": "Word",
                "2.1": "Cascade",
                "4": "Fine",
            }
        }
    )
    assert set(got) == {"names.1", "names.2", "names.3", "names.9", "names.two", "names.2.1"}
    assert "longer than" in got["names.1"] and "string" in got["names.2"]
    assert "no port 9" in got["names.9"]
    state, _ = read_saved_state({"names": {"4": "Fine", "9": "Gone"}}, PORTS)
    assert state.names == {4: "Fine"}


def test_a_focus_beyond_the_ports_of_a_wrong_type_or_unknown_channel_is_reset() -> None:
    got = whats({"focus": {"km": "12", "video": 2, "audio": ["1"], "hdmi": "1", "usb": "2"}})
    assert set(got) == {"focus.km", "focus.video", "focus.audio", "focus.hdmi"}
    assert "no port 12" in got["focus.km"] and "unknown channel" in got["focus.hdmi"]
    state, _ = read_saved_state({"focus": {"km": "12", "usb": "2"}}, PORTS)
    assert dict(state.focus) == {Channel.USB: PortId(2)}


def test_bad_edids_and_idle_flags_are_reset_with_the_reason() -> None:
    got = whats(
        {
            "edids": {
                "overrides": {
                    "1": {"hex": checksum_broken().hex()},
                    "2": {"hex": without_modes().hex()},
                    "3": {"preset": "8k"},
                    "4": ["not", "an", "edid"],
                    "5": {"preset": "4k30"},
                },
                "idle_monitor": {"1": "no", "2": None, "7": False, "3": False},
                "colour": "red",
            }
        }
    )
    assert set(got) == {
        "edids.overrides.1",
        "edids.overrides.2",
        "edids.overrides.3",
        "edids.overrides.4",
        "edids.overrides.5",
        "edids.idle_monitor.1",
        "edids.idle_monitor.2",
        "edids.idle_monitor.7",
        "edids.colour",
    }
    assert "checksum" in got["edids.overrides.1"]
    assert "no video modes" in got["edids.overrides.2"]


def test_unknown_keys_and_wrong_top_level_types_are_reported() -> None:
    assert whats({"focus": [], "names": "x", "edids": 3, "surprise": {}}) == {
        "focus": "expected an object, got an array",
        "names": "expected an object, got a string",
        "edids": "expected an object, got a number",
        "surprise": "unknown key",
    }
    assert set(whats([1, 2])) == {"state"}


def test_a_hostile_key_is_quoted_short_in_the_reset() -> None:
    got = whats({"names": {"9" * 100_000: "x"}, "k" * 100_000: 1})
    assert all(len(what) < 100 for what in got)
    assert all(len(why) < 300 for why in got.values())


def test_a_flood_of_bad_entries_is_reported_in_a_bounded_number_of_resets() -> None:
    state, resets = read_saved_state({"names": {str(n): 0 for n in range(10_000)}}, PORTS)
    assert len(resets) == MAX_RESETS
    assert resets[-1].what == "state" and "more bad entries dropped" in resets[-1].why
    assert state.names == {}


# -- any JSON in any field ----------------------------------------------------------------

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=80)
    | st.sampled_from(["1", "4", "5", "0", "2.3", "-1", "1080p60", GOOD.hex()]),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)
PORT_KEYS = st.sampled_from(["1", "2", "3", "4", "5", "0", "01", "1.2", "x", "", "٣"])
OVERRIDES = st.one_of(
    JSON,
    st.sampled_from([{"preset": "4k60"}, {"hex": GOOD.hex()}, {"hex": checksum_broken().hex()}]),
)
FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "version": JSON,
        "focus": JSON | st.dictionaries(st.sampled_from([*Channel, "x"]), JSON | PORT_KEYS),
        "names": JSON | st.dictionaries(PORT_KEYS, JSON),
        "edids": JSON
        | st.fixed_dictionaries(
            {},
            optional={
                "overrides": JSON | st.dictionaries(PORT_KEYS, OVERRIDES),
                "idle_monitor": JSON | st.dictionaries(PORT_KEYS, JSON),
                "other": JSON,
            },
        ),
        "extra": JSON,
    },
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=JSON | FIELDS, ports=st.sampled_from([2, 4, 16]))
def test_any_json_in_any_field_loads_a_valid_state_and_never_raises(doc: Any, ports: int) -> None:
    cfg = config(ports)
    state, resets = read_saved_state(json.loads(json.dumps(doc)), ports)
    core = restore_core(cfg, state)  # SwitchCore validates focus and names
    assert all(1 <= p.unit <= ports for p in core.focus.values())
    book = EdidBook({u: cfg.port(u) for u in range(1, ports + 1)}, None)
    assert book.restore(state.overrides, state.idle_monitor) == {}
    for unit in range(1, ports + 1):
        book.video(unit)  # every port's EDID decodes
    saved_again = {
        "focus": dict(core.focus_view()),
        "names": {str(u): n for u, n in core.names.items()},
        "edids": book.snapshot(),
    }
    again, more = read_saved_state(json.loads(json.dumps(saved_again)), ports)
    assert more == ()  # what the daemon saves next time is clean
    assert again.overrides == book.overrides
    assert all(len(r.what) < 200 for r in resets)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=FIELDS)
def test_the_daemons_board_builds_from_any_state_document(doc: Any) -> None:
    with tempfile.TemporaryDirectory() as state_dir:
        board = build_board(config(), Path(state_dir), doc, monotonic=lambda: 0.0)
        try:
            state = board.state()  # every read the API serves works
            assert len(state["ports"]) == PORTS
            _again, resets = read_saved_state(json.loads(json.dumps(board.snapshot())), PORTS)
            assert resets == ()
        finally:
            board.close()
            board.journal.close()


# -- the daemon -----------------------------------------------------------------------


async def test_the_daemon_starts_on_a_state_file_with_bad_entries_and_logs_each(
    tmp_path: Path,
) -> None:
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    doc = {
        "version": STATE_VERSION,
        "focus": {"km": "9", "video": "3"},
        "names": {"1": "y" * 500, "2": "Kept"},
        "edids": {
            "overrides": {"1": {"hex": checksum_broken().hex()}, "2": {"preset": "4k30"}},
            "idle_monitor": {"3": "off"},
        },
        "future": True,
    }
    (state_dir / "state.json").write_text(json.dumps(doc))
    daemon, board = await start(state_dir, {"video": {"drm_root": ""}})
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(daemon.http_url + "/api/v1/state") as resp:
                assert resp.status == 200
                state = await resp.json()
        assert state["focus"]["km"] == "1" and state["focus"]["video"] == "3"
        ports = {p["id"]: p for p in state["ports"]}
        assert ports["1"]["name"] == "Port 1" and ports["2"]["name"] == "Kept"
        assert ports["1"]["edid"]["override"] is None
        assert ports["2"]["edid"]["override"] == {"preset": "4k30"}
        assert ports["3"]["edid"]["idle_monitor"] is True
        resets = board.journal.query(LogQuery(kind=frozenset({"state_reset"})))
        by_what = {e.detail["what"]: e.detail["why"] for e in resets}
        assert set(by_what) == {
            "focus.km",
            "names.1",
            "edids.overrides.1",
            "edids.idle_monitor.3",
            "future",
        }
        assert "checksum" in by_what["edids.overrides.1"]
    finally:
        await daemon.stop()
    saved = json.loads((state_dir / "state.json").read_text())
    assert "1" not in saved["edids"]["overrides"] and "future" not in saved
    assert saved["names"]["2"] == "Kept"
