"""Keyboard and mouse reports for one line leave in the order they came (sans-IO)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from kvmswitchd.targets.ch9329_lanes import Iface, Lanes


def drain(lanes: Lanes) -> list[tuple[Iface, bytes]]:
    out = []
    while (head := lanes.next(0.0)) is not None:
        out.append(head)
        lanes.take(head[0], 0.0)
    return out


def test_reports_leave_in_push_order_across_interfaces_and_motion_merges() -> None:
    lanes = Lanes(absolute=False)
    shift, click, up = bytes((2, 0, 0, 0, 0, 0, 0, 0)), b"\x01\x00\x00\x00\x00", bytes(5)
    lanes.push(Iface.KEYBOARD, shift, 0.0)
    lanes.push(Iface.MOUSE, click, 0.0)
    lanes.push(Iface.MOUSE, b"\x01\x05\x00\x00\x00", 0.0)  # motion, same buttons: merged
    lanes.push(Iface.KEYBOARD, bytes(8), 0.0)
    lanes.push(Iface.MOUSE, up, 0.0)
    assert drain(lanes) == [
        (Iface.KEYBOARD, shift),
        (Iface.MOUSE, b"\x01\x05\x00\x00\x00"),
        (Iface.KEYBOARD, bytes(8)),
        (Iface.MOUSE, up),
    ]
    assert lanes.empty


def test_after_an_outage_the_latest_state_goes_out_at_rest() -> None:
    lanes = Lanes(absolute=True)
    lanes.push(Iface.KEYBOARD, bytes((0, 0, 4, 0, 0, 0, 0, 0)), 0.0)
    lanes.remember(Iface.MOUSE, bytes((1, 0x00, 0x40, 0x00, 0x40, 3, 0)))
    lanes.clear()
    assert lanes.empty and lanes.next(0.0) is None
    lanes.push_at_rest(0.0)
    assert drain(lanes) == [
        (Iface.KEYBOARD, bytes((0, 0, 4, 0, 0, 0, 0, 0))),  # the key stays held
        (Iface.MOUSE, bytes((1, 0x00, 0x40, 0x00, 0x40, 0, 0))),  # buttons, place; no wheel
    ]


@given(st.lists(st.tuples(st.sampled_from(list(Iface)), st.integers(0, 7)), max_size=60))
def test_key_and_button_transitions_keep_their_global_order(
    pushes: list[tuple[Iface, int]],
) -> None:
    lanes = Lanes(absolute=False)
    sent = []
    for iface, bits in pushes:
        report = bytes((bits, 0, 0, 0, 0)) if iface is Iface.MOUSE else bytes((bits, *bytes(7)))
        lanes.push(iface, report, 0.0)
        sent.append((iface, report))
    # button-only mouse reports: equal consecutive ones may merge, nothing else changes
    merged = [s for i, s in enumerate(sent) if not (i and s[0] is Iface.MOUSE and _same(sent, i))]
    assert drain(lanes) == merged


def _same(sent: list[tuple[Iface, bytes]], i: int) -> bool:
    """The mouse report at ``i`` merges into the previous mouse report still waiting."""
    previous = [s for s in sent[:i] if s[0] is Iface.MOUSE]
    return bool(previous) and previous[-1][1][0] == sent[i][1][0]
