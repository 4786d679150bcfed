"""Edges of the switch core that mutation testing showed the other tests leave open.

The reasons a rejection carries are what an HTTP client, a serial line and the log show,
so they are pinned word for word here; everything else is pinned as behaviour.
"""

from __future__ import annotations

import pytest

from kvmswitchd.core.ports import MAX_PORTS, MIN_PORTS, Channel, PortId
from kvmswitchd.core.switch import (
    MAX_NAME_LEN,
    FocusMoved,
    Renamed,
    SwitchCore,
    switch_message,
    validate_name,
)
from kvmswitchd.errors import InputError


@pytest.mark.parametrize("count", [MIN_PORTS, MAX_PORTS])
def test_the_smallest_and_the_largest_unit_are_accepted(count: int) -> None:
    core = SwitchCore(count)
    assert core.name(count) == f"Port {count}"
    assert core.switch(PortId(count)).ok is True


def test_a_refused_port_count_says_what_is_allowed() -> None:
    with pytest.raises(InputError, match=r"^ports must be 2\.\.64, got 65$"):
        SwitchCore(65)


def test_restored_focus_and_names_are_kept_including_the_last_port_and_cascades() -> None:
    focus = {Channel.KM: PortId(4), Channel.VIDEO: PortId(1, 3), Channel.AUDIO: PortId(2)}
    core = SwitchCore(4, names={3: "NAS"}, focus=dict(focus))
    assert core.focus_of(Channel.KM) == PortId(4)
    assert core.focus_of(Channel.VIDEO) == PortId(1, 3)
    assert core.focus_of(Channel.AUDIO) == PortId(2)
    assert core.focus_of(Channel.USB) == PortId(1)  # missing: the default
    assert core.name(3) == "NAS"


def test_restored_state_of_a_wider_unit_is_cut_to_this_one() -> None:
    core = SwitchCore(4, names={6: "gone"}, focus={Channel.KM: PortId(6), Channel.USB: PortId(0)})
    assert 6 not in core.names
    assert sorted(core.names) == [1, 2, 3, 4]
    assert core.focus_of(Channel.KM) == PortId(1)
    assert core.focus_of(Channel.USB) == PortId(1)


def test_focus_view_names_each_channel_and_its_port_as_text() -> None:
    core = SwitchCore(4)
    core.switch(PortId(2, 3), frozenset({Channel.VIDEO}))
    assert core.focus_view() == {"km": "1", "video": "2.3", "audio": "1", "usb": "1"}


def test_rejections_are_not_ok_and_say_why() -> None:
    core = SwitchCore(4)
    rejected = {
        "no port 9: ports are 1..4": core.switch(PortId(9)),
        "no port 0: ports are 1..4": core.switch(PortId(0)),
        "no channel named": core.switch(PortId(2), frozenset()),
        "direction must be +1 or -1": core.step(2),
        "no port 9 to rename": core.rename(PortId(9), "x"),
        "no port 0 to rename": core.rename(PortId(0), "x"),
        "no port 2.1 to rename": core.rename(PortId(2, 1), "x"),
    }
    for reason, t in rejected.items():
        assert t.ok is False
        assert t.reason == reason
        assert t.effects == ()
    assert core.focus_view() == {c.value: "1" for c in Channel}
    assert [core.name(u) for u in range(1, 5)] == [f"Port {u}" for u in range(1, 5)]


def test_step_zero_moves_nothing() -> None:
    core = SwitchCore(4)
    assert core.step(0).ok is False
    assert core.focus_of(Channel.KM) == PortId(1)


@pytest.mark.parametrize("unit", [1, 4])
def test_the_first_and_the_last_port_can_be_renamed(unit: int) -> None:
    core = SwitchCore(4)
    t = core.rename(PortId(unit), "Desk")
    assert t.ok is True
    assert t.effects == (Renamed(PortId(unit), f"Port {unit}", "Desk"),)
    assert core.name(unit) == "Desk"


def test_renaming_to_the_same_name_is_a_success_without_effects() -> None:
    core = SwitchCore(4)
    t = core.rename(PortId(2), " Port 2 ")
    assert t.ok is True
    assert not t.changed
    assert core.name(2) == "Port 2"


def test_a_name_of_exactly_the_cap_is_accepted() -> None:
    name = "n" * MAX_NAME_LEN
    assert validate_name(name) == name


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (7, "name must be a string"),
        (None, "name must be a string"),
        ("  ", "name must not be empty"),
        ("n" * (MAX_NAME_LEN + 1), "name is longer than 64 characters"),
        ("tab\there", "name must contain printable characters only"),
    ],
)
def test_a_refused_name_says_what_is_wrong(name: object, message: str) -> None:
    with pytest.raises(InputError) as caught:
        validate_name(name)
    assert str(caught.value) == message


def test_switch_message_names_the_target_and_only_a_subset_of_channels() -> None:
    def moves(to: PortId, *channels: Channel) -> list[FocusMoved]:
        return [FocusMoved(c, PortId(1), to) for c in channels]

    assert switch_message(moves(PortId(3), *Channel)) == "switched to 3"
    assert switch_message(moves(PortId(2, 4), Channel.VIDEO, Channel.AUDIO)) == (
        "switched video,audio to 2.4"
    )
    mixed = [FocusMoved(Channel.KM, PortId(1), PortId(2))]
    mixed.append(FocusMoved(Channel.VIDEO, PortId(1), PortId(3)))
    assert switch_message(mixed) == "switched km,video to 2, 3"
    assert switch_message([]) == "renamed"
