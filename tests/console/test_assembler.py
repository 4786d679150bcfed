"""The per-device assembler: batching, autorepeat, SYN_DROPPED, lost devices."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from kvmswitchd.console.events import (
    ABS_X,
    ABS_Y,
    EV_ABS,
    EV_KEY,
    EV_MSC,
    EV_REL,
    EV_SYN,
    MAX_BATCH_INPUTS,
    MAX_MOTION,
    REL_HWHEEL,
    REL_WHEEL,
    REL_WHEEL_HI_RES,
    REL_X,
    REL_Y,
    SYN_DROPPED,
    SYN_REPORT,
    AbsMotion,
    ButtonChange,
    ConsoleAssembler,
    ConsoleInput,
    InputEvent,
    KeyChange,
    Motion,
    encode_record,
)

KEY_A, KEY_B, KEY_LEFTSHIFT, BTN_LEFT = 30, 48, 42, 0x110
SYN = (EV_SYN, SYN_REPORT, 0)


def stream(*events: tuple[int, int, int]) -> bytes:
    return b"".join(encode_record(*e) for e in events)


def key(code: int, value: int) -> tuple[int, int, int]:
    return (EV_KEY, code, value)


def rel(code: int, value: int) -> tuple[int, int, int]:
    return (EV_REL, code, value)


def test_a_key_press_is_delivered_at_syn_report() -> None:
    asm = ConsoleAssembler()
    assert asm.feed(InputEvent(0, 0, EV_MSC, 4, 0x70004)) is None
    assert asm.feed(InputEvent(0, 0, *key(KEY_A, 1))) is None
    assert asm.feed(InputEvent(0, 0, *SYN)) == [KeyChange(KEY_A, True)]
    assert asm.pressed == {KEY_A}


def test_autorepeat_is_dropped() -> None:
    asm = ConsoleAssembler()
    batches = asm.feed_bytes(stream(key(KEY_A, 1), SYN, key(KEY_A, 2), SYN, key(KEY_A, 2), SYN))
    assert batches == [[KeyChange(KEY_A, True)]]


def test_motion_is_coalesced_per_syn_report() -> None:
    asm = ConsoleAssembler()
    batches = asm.feed_bytes(
        stream(rel(REL_X, 3), rel(REL_Y, -1), rel(REL_X, 4), SYN, rel(REL_Y, 2), SYN)
    )
    assert batches == [[Motion(7, -1)], [Motion(0, 2)]]


def test_buttons_come_before_the_motion_of_their_batch() -> None:
    asm = ConsoleAssembler()
    batches = asm.feed_bytes(stream(rel(REL_X, 1), key(BTN_LEFT, 1), rel(REL_WHEEL, -1), SYN))
    assert batches == [[ButtonChange(BTN_LEFT, True), Motion(1, 0, -1, 0)]]


def test_high_resolution_wheel_is_not_counted_twice() -> None:
    asm = ConsoleAssembler()  # a real hi-res mouse sends both kinds for one detent
    batches = asm.feed_bytes(
        stream(
            rel(REL_WHEEL_HI_RES, 60), SYN,
            rel(REL_WHEEL_HI_RES, 60), rel(REL_WHEEL, 1), SYN,
            rel(REL_WHEEL_HI_RES, 120), rel(REL_WHEEL, 1), SYN,
        )
    )  # fmt: skip
    assert batches == [[Motion(0, 0, 1, 0)], [Motion(0, 0, 1, 0)]]


def test_high_resolution_wheel_alone_is_counted_in_detents() -> None:
    asm = ConsoleAssembler()
    batches = asm.feed_bytes(
        stream(
            rel(REL_WHEEL_HI_RES, 60), SYN,
            rel(REL_WHEEL_HI_RES, 90), SYN,
            rel(REL_WHEEL_HI_RES, -330), SYN,
        )
    )  # fmt: skip
    assert batches == [[Motion(0, 0, 1, 0)], [Motion(0, 0, -2, 0)]]  # 150: 1 rest 30; -300: -2


def test_huge_deltas_are_clamped() -> None:
    asm = ConsoleAssembler()
    batches = asm.feed_bytes(stream(*[rel(REL_X, 2**31 - 1)] * 4, rel(REL_HWHEEL, -500), SYN))
    assert batches == [[Motion(MAX_MOTION, 0, 0, -127)]]


def test_absolute_pointer_reports_position_with_the_device_range() -> None:
    asm = ConsoleAssembler(abs_range={ABS_X: (0, 1023), ABS_Y: (0, 767)})
    batches = asm.feed_bytes(
        stream((EV_ABS, ABS_X, 512), (EV_ABS, ABS_Y, 300), SYN, (EV_ABS, ABS_Y, 9999), SYN)
    )
    assert batches == [
        [AbsMotion(512, 300, 0, 1023, 0, 767)],
        [AbsMotion(512, 767, 0, 1023, 0, 767)],  # y kept, clamped to the range
    ]


def test_syn_dropped_discards_up_to_the_next_report_then_resyncs() -> None:
    asm = ConsoleAssembler()
    assert asm.feed_bytes(stream(key(KEY_A, 1), key(KEY_LEFTSHIFT, 1), SYN)) == [
        [KeyChange(KEY_A, True), KeyChange(KEY_LEFTSHIFT, True)]
    ]
    lost = [key(KEY_B, 1), (EV_SYN, SYN_DROPPED, 0), key(KEY_A, 0), rel(REL_X, 5), SYN]
    assert [asm.feed(InputEvent(0, 0, *e)) for e in lost] == [None] * 5
    assert asm.needs_resync
    assert asm.pressed == {KEY_A, KEY_LEFTSHIFT}  # the undelivered B press was undone
    # The device really holds Shift and B now: A is released, B pressed.
    assert asm.resync([KEY_LEFTSHIFT, KEY_B]) == [KeyChange(KEY_A, False), KeyChange(KEY_B, True)]
    assert not asm.needs_resync
    assert asm.feed_bytes(stream(key(KEY_B, 0), SYN)) == [[KeyChange(KEY_B, False)]]


def test_feed_bytes_resyncs_in_stream_order_with_the_device_keys() -> None:
    asm = ConsoleAssembler()
    data = stream(key(KEY_A, 1), SYN, (EV_SYN, SYN_DROPPED, 0), SYN, key(BTN_LEFT, 1), SYN)
    batches = asm.feed_bytes(data, active_keys=lambda: [KEY_B])
    assert batches == [
        [KeyChange(KEY_A, True)],
        [KeyChange(KEY_A, False), KeyChange(KEY_B, True)],
        [ButtonChange(BTN_LEFT, True)],
    ]


def test_a_lost_device_releases_everything_it_held() -> None:
    asm = ConsoleAssembler()
    asm.feed_bytes(stream(key(KEY_A, 1), key(BTN_LEFT, 1), SYN, key(KEY_B, 1)))
    assert asm.device_lost() == [KeyChange(KEY_A, False), ButtonChange(BTN_LEFT, False)]
    assert asm.pressed == frozenset()
    assert asm.device_lost() == []


def test_duplicate_presses_and_stray_releases_are_dropped() -> None:
    asm = ConsoleAssembler()
    batches = asm.feed_bytes(stream(key(KEY_A, 0), SYN, key(KEY_A, 1), key(KEY_A, 1), SYN))
    assert batches == [[KeyChange(KEY_A, True)]]


def test_without_syn_every_event_is_delivered_at_once() -> None:
    asm = ConsoleAssembler(syn=False)
    batches = asm.feed_bytes(stream(key(KEY_A, 1), rel(REL_X, 2), rel(REL_Y, 3)))
    assert batches == [[KeyChange(KEY_A, True)], [Motion(2, 0)], [Motion(0, 3)]]


def test_auto_syn_flushes_each_event_until_the_first_syn_report() -> None:
    asm = ConsoleAssembler(syn=None)
    batches = asm.feed_bytes(
        stream(key(KEY_A, 1), key(KEY_A, 0), SYN, rel(REL_X, 2), rel(REL_X, 3), SYN)
    )
    assert batches == [[KeyChange(KEY_A, True)], [KeyChange(KEY_A, False)], [Motion(5, 0)]]


def test_a_batch_without_syn_is_delivered_at_the_cap() -> None:
    asm = ConsoleAssembler()
    events = [key(code, value) for code in range(1, 200) for value in (1, 0)]
    batches = asm.feed_bytes(stream(*events))
    assert [len(b) for b in batches] == [MAX_BATCH_INPUTS]


def test_garbage_events_are_counted_and_ignored() -> None:
    asm = ConsoleAssembler()
    garbage = stream((0x99, 1, 1), key(0x300, 1), key(KEY_A, 7), rel(0x40, 1), (EV_ABS, 0x50, 1))
    assert asm.feed_bytes(garbage + stream(key(KEY_A, 1), SYN)) == [[KeyChange(KEY_A, True)]]
    assert asm.ignored == 5


def test_a_partial_record_waits_for_the_next_read_or_is_dropped() -> None:
    asm = ConsoleAssembler()
    data = stream(key(KEY_A, 1), SYN)
    assert asm.feed_bytes(data[:30]) == []
    assert asm.feed_bytes(data[30:]) == [[KeyChange(KEY_A, True)]]
    asm.feed_bytes(data[:5])
    assert asm.drop_partial() == 5
    assert asm.feed_bytes(data) == []  # aligned again; A is already down
    assert asm.pressed == {KEY_A}


event_tuples = st.tuples(
    st.sampled_from([EV_SYN, EV_KEY, EV_REL, EV_ABS, EV_MSC, 0x20]),
    st.sampled_from([0, 1, 3, 8, 11, KEY_A, KEY_B, BTN_LEFT, 0x300]),
    st.sampled_from([-5, 0, 1, 2, 3, 120]),
)


@settings(max_examples=200)
@given(st.lists(event_tuples, max_size=60), st.data())
def test_any_chunking_gives_the_same_batches(
    events: list[tuple[int, int, int]], data: st.DataObject
) -> None:
    raw = stream(*events)
    whole = ConsoleAssembler().feed_bytes(raw, active_keys=lambda: [KEY_A])
    cuts = sorted(data.draw(st.lists(st.integers(0, len(raw)), max_size=6)))
    asm = ConsoleAssembler()
    chunked: list[list[ConsoleInput]] = []
    for start, end in zip([0, *cuts], [*cuts, len(raw)], strict=True):
        chunked += asm.feed_bytes(raw[start:end], active_keys=lambda: [KEY_A])
    assert chunked == whole


@settings(max_examples=200)
@given(st.binary(max_size=600))
def test_arbitrary_bytes_never_leave_a_key_held_after_device_lost(raw: bytes) -> None:
    asm = ConsoleAssembler(syn=None)
    held: set[int] = set()
    batches = asm.feed_bytes(raw)
    batches.append(asm.device_lost())
    for batch in batches:
        for item in batch:
            if isinstance(item, KeyChange | ButtonChange):
                assert (item.code in held) != item.pressed  # presses and releases alternate
                (held.add if item.pressed else held.discard)(item.code)
    assert held == set()
