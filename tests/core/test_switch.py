from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kvmswitchd.core.ports import ALL_CHANNELS, Channel, PortId, parse_channels, parse_port_id
from kvmswitchd.core.switch import FocusMoved, ReleaseAll, Renamed, SwitchCore
from kvmswitchd.errors import InputError, PortError


def test_default_ports_are_named_and_focused_on_port_one() -> None:
    core = SwitchCore(4)
    assert [core.name(u) for u in range(1, 5)] == ["Port 1", "Port 2", "Port 3", "Port 4"]
    assert all(core.focus_of(c) == PortId(1) for c in Channel)


@pytest.mark.parametrize("count", [1, 65, 0])
def test_port_count_outside_2_to_64_is_refused(count: int) -> None:
    with pytest.raises(InputError):
        SwitchCore(count)


def test_switch_moves_all_channels_and_releases_the_old_km_port_first() -> None:
    core = SwitchCore(4)
    t = core.switch(PortId(3))
    assert t.ok
    assert t.effects[0] == ReleaseAll(PortId(1))
    assert {m.channel for m in t.moves} == ALL_CHANNELS
    assert all(m.to == PortId(3) and m.from_ == PortId(1) for m in t.moves)


def test_switching_a_subset_leaves_other_channels_alone() -> None:
    core = SwitchCore(4)
    t = core.switch(PortId(2), frozenset({Channel.VIDEO, Channel.AUDIO}))
    assert t.ok
    assert not any(isinstance(e, ReleaseAll) for e in t.effects)  # km did not move
    assert core.focus_of(Channel.KM) == PortId(1)
    assert core.focus_of(Channel.VIDEO) == PortId(2)


def test_switching_to_the_active_port_is_a_no_op_success() -> None:
    core = SwitchCore(4)
    t = core.switch(PortId(1))
    assert t.ok and not t.changed


def test_unknown_port_is_rejected_and_changes_nothing() -> None:
    core = SwitchCore(4)
    t = core.switch(PortId(9))
    assert not t.ok and "no port 9" in t.reason
    assert core.focus_of(Channel.KM) == PortId(1)


def test_next_and_prev_wrap_around() -> None:
    core = SwitchCore(3)
    core.step(-1)
    assert core.focus_of(Channel.KM) == PortId(3)
    core.step(1)
    assert core.focus_of(Channel.KM) == PortId(1)


def test_next_moves_only_the_km_focus_group() -> None:
    core = SwitchCore(4)
    core.switch(PortId(4), frozenset({Channel.AUDIO}))
    t = core.step(1)
    assert {m.channel for m in t.moves} == {Channel.KM, Channel.VIDEO, Channel.USB}
    assert core.focus_of(Channel.AUDIO) == PortId(4)


def test_cascade_port_ids_are_parsed_and_validated() -> None:
    assert parse_port_id("2.4", 4) == PortId(2, 4)
    assert str(PortId(2, 4)) == "2.4"
    with pytest.raises(PortError):
        parse_port_id("5.1", 4)
    for bad in ["", "a", "2.", ".3", "2.x", "1.2.3", "-1", "\uff12"]:
        with pytest.raises((InputError, PortError)):
            parse_port_id(bad, 4)
    core = SwitchCore(4)
    t = core.switch(parse_port_id("2.4", 4))
    assert t.ok and core.focus_of(Channel.KM) == PortId(2, 4)


def test_channel_names_are_validated() -> None:
    assert parse_channels(["km", "video"]) == {Channel.KM, Channel.VIDEO}
    assert parse_channels(None) == ALL_CHANNELS
    assert parse_channels("km,usb") == {Channel.KM, Channel.USB}
    with pytest.raises(InputError):
        parse_channels(["keyboard"])
    with pytest.raises(InputError):
        parse_channels([])


def test_rename_validates_and_reports_the_change() -> None:
    core = SwitchCore(4)
    t = core.rename(PortId(2), "  Build server ")
    assert t.effects == (Renamed(PortId(2), "Port 2", "Build server"),)
    for bad in ["", "   ", "x" * 65, "bad\nname"]:
        with pytest.raises(InputError):
            core.rename(PortId(2), bad)
    assert not core.rename(PortId(9), "x").ok


@given(st.lists(st.tuples(st.integers(0, 9), st.sets(st.sampled_from(list(Channel)))), max_size=40))
def test_every_transition_is_legal_or_a_clean_rejection(
    requests: list[tuple[int, set[Channel]]],
) -> None:
    core = SwitchCore(6)
    for unit, channels in requests:
        before = dict(core.focus)
        t = core.switch(PortId(unit), frozenset(channels) or ALL_CHANNELS)
        if not t.ok:
            assert core.focus == before
            continue
        for move in t.moves:
            assert isinstance(move, FocusMoved) and core.focus[move.channel] == move.to
        release = [e for e in t.effects if isinstance(e, ReleaseAll)]
        moved_km = any(m.channel is Channel.KM for m in t.moves)
        assert bool(release) == moved_km
        if release:
            assert t.effects[0] == ReleaseAll(before[Channel.KM])
