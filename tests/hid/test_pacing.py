"""The device-paced report queue: key and button transitions in order and never dropped,
mouse motion coalesced without losing any, and the stall rule (budget, age) ending in
release-all rather than a stale replay."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from hid.pacing import (
    MEMORY_BUDGET,
    REPORT_OVERHEAD,
    STALL_AFTER,
    ReportKind,
    ReportQueue,
    rest_report,
)

RELEASE = bytes(8)


def key(usage: int, shift: bool = False) -> bytes:
    return bytes((0x02 if shift else 0, 0, usage, 0, 0, 0, 0, 0))


def rel(buttons: int, dx: int, dy: int, wheel: int = 0) -> bytes:
    return bytes((buttons, dx & 0xFF, dy & 0xFF, wheel & 0xFF))


def absolute(buttons: int, x: int, y: int, wheel: int = 0) -> bytes:
    return bytes((buttons, x & 0xFF, x >> 8, y & 0xFF, y >> 8, wheel & 0xFF))


def s8(byte: int) -> int:
    return byte - 256 if byte > 127 else byte


def drain(queue: ReportQueue, now: float = 0.0) -> list[bytes]:
    out = []
    while (report := queue.pop(now)) is not None:
        out.append(report)
    return out


def transitions(reports: list[bytes]) -> list[int]:
    """The button byte each time it changes (starting from all up)."""
    out, last = [], 0
    for report in reports:
        if report[0] != last:
            out.append(report[0])
            last = report[0]
    return out


def test_a_2000_character_paste_with_shifts_fits_the_budget_with_room() -> None:
    reports = 2000 * 4  # shift down, key down, key up, shift up
    assert reports * (8 + REPORT_OVERHEAD) * 4 <= MEMORY_BUDGET
    queue = ReportQueue(ReportKind.KEYS)
    paste = [key(4 + i % 26, shift=i % 3 == 0) if i % 2 else RELEASE for i in range(reports)]
    for report in paste:
        queue.push(report, 0.0)
    assert not queue.stalled
    assert drain(queue) == paste


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["key", "rel", "pop"]),
            st.integers(0, 7),
            st.integers(-127, 127),
            st.integers(-127, 127),
        ),
        max_size=200,
    )
)
def test_keys_buttons_and_motion_pushed_faster_than_popped_all_arrive(
    steps: list[tuple[str, int, int, int]],
) -> None:
    keys, mouse = ReportQueue(ReportKind.KEYS), ReportQueue(ReportKind.RELATIVE, 4)
    pushed_keys: list[bytes] = []
    pushed_mouse: list[bytes] = []
    got_keys: list[bytes] = []
    got_mouse: list[bytes] = []
    for i, (what, value, dx, dy) in enumerate(steps):
        now = i * 0.001
        if what == "key":
            pushed_keys.append(key(4 + value))
            keys.push(pushed_keys[-1], now)
        elif what == "rel":
            pushed_mouse.append(rel(value & 3, dx, dy, wheel=value - 3))
            mouse.push(pushed_mouse[-1], now)
        else:  # the slow device takes one of each
            for queue, got in ((keys, got_keys), (mouse, got_mouse)):
                report = queue.pop(now)
                if report is not None:
                    got.append(report)
    got_keys += drain(keys, len(steps) * 0.001)
    got_mouse += drain(mouse, len(steps) * 0.001)
    assert got_keys == pushed_keys  # every key report, in order, never merged
    assert transitions(got_mouse) == transitions(pushed_mouse)
    for axis in (1, 2, 3):
        assert sum(s8(r[axis]) for r in got_mouse) == sum(s8(r[axis]) for r in pushed_mouse)
    assert all(-127 <= s8(r[axis]) <= 127 for r in got_mouse for axis in (1, 2, 3))
    assert len(got_mouse) <= len(pushed_mouse)
    assert keys.discarded == mouse.discarded == 0


def test_relative_motion_with_the_same_buttons_is_summed_and_split_at_int8() -> None:
    queue = ReportQueue(ReportKind.RELATIVE, 4)
    queue.push(rel(1, 100, -100), 0.0)
    queue.push(rel(1, 100, -100, wheel=1), 0.0)
    queue.push(rel(0, 1, 1), 0.0)  # a button change is never merged
    assert drain(queue) == [rel(1, 127, -127, 1), rel(1, 73, -73), rel(0, 1, 1)]


def test_absolute_motion_keeps_the_newest_position_and_sums_wheels() -> None:
    queue = ReportQueue(ReportKind.ABSOLUTE, 6)
    queue.push(absolute(0, 10, 20, wheel=100), 0.0)
    queue.push(absolute(0, 500, 600, wheel=100), 0.0)
    queue.push(absolute(1, 500, 600), 0.0)
    assert drain(queue) == [
        absolute(0, 500, 600, 127),
        absolute(0, 500, 600, 73),
        absolute(1, 500, 600),
    ]


def test_over_the_budget_the_queue_stalls_and_the_device_gets_release_all_then_normal() -> None:
    queue = ReportQueue(ReportKind.KEYS, budget=10 * (8 + REPORT_OVERHEAD))
    for _ in range(11):
        queue.push(key(4), 0.0)
    assert queue.stalled and len(queue) == 0
    queue.push(key(5), 0.0)  # while stalled: not queued for a stale replay
    assert queue.pop(0.0) == RELEASE
    assert not queue.stalled
    queue.push(key(6), 0.0)
    assert drain(queue) == [key(6)]
    assert (queue.stalls, queue.recoveries, queue.discarded) == (1, 1, 12)


def test_reports_waiting_longer_than_stall_after_stall_the_queue() -> None:
    queue = ReportQueue(ReportKind.KEYS)
    queue.push(key(4), 100.0)
    assert not queue.check(100.0 + STALL_AFTER)
    assert queue.check(100.0 + STALL_AFTER + 0.1)
    assert queue.view() == {
        "queued": 0,
        "stalled": True,
        "stalls": 1,
        "recoveries": 0,
        "discarded": 1,
    }
    assert queue.pop(200.0) == RELEASE
    assert queue.pop(200.0) is None


def test_a_device_that_keeps_taking_never_stalls_however_long_the_backlog_lasts() -> None:
    queue = ReportQueue(ReportKind.KEYS)
    for i in range(100):
        queue.push(key(4 + i % 20), 0.0)
    now = 0.0
    while queue.pop(now) is not None:
        now += STALL_AFTER / 2  # a slow device, but one that takes
    assert queue.stalls == 0


def test_the_rest_report_releases_everything_and_an_absolute_pointer_stays_put() -> None:
    assert rest_report(ReportKind.KEYS, key(4, shift=True)) == RELEASE
    assert rest_report(ReportKind.RELATIVE, rel(1, 5, 5, 1)) == bytes(4)
    assert rest_report(ReportKind.ABSOLUTE, absolute(3, 500, 600, 1)) == absolute(0, 500, 600)
    queue = ReportQueue(ReportKind.ABSOLUTE, 6)
    queue.push(absolute(1, 500, 600), 0.0)
    queue.stall()
    assert queue.pop(0.0) == absolute(0, 500, 600)
