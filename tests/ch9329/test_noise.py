"""Line noise between the link and the chip never wedges the link, and once the line is
clean again every report arrives, in order (hypothesis, virtual time)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from hid.keyboard import BootKeyboard
from kvmswitchd.targets.ch9329_chip import EmulatedChip
from kvmswitchd.targets.ch9329_link import Ch9329Link
from kvmswitchd.targets.computer import VirtualComputer
from tests.ch9329.line import Line


class RecordingComputer(VirtualComputer):
    """A virtual computer that also keeps every keyboard report it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.received: list[bytes] = []

    def receive_keyboard(self, data: bytes) -> None:
        self.received.append(bytes(data))
        super().receive_keyboard(data)


def dedup(reports: list[bytes]) -> list[bytes]:
    """Consecutive repeats folded (a retried report the chip got twice is one state)."""
    return [r for i, r in enumerate(reports) if i == 0 or r != reports[i - 1]]


def is_subsequence(part: list[bytes], whole: list[bytes]) -> bool:
    it = iter(whole)
    return all(any(item == other for other in it) for item in part)


mutation = st.one_of(
    st.just(("pass",)),
    st.just(("drop",)),
    st.tuples(st.just("cut"), st.integers(0, 13)),
    st.tuples(st.just("flip"), st.integers(0, 13), st.integers(1, 255)),
    st.tuples(st.just("insert"), st.integers(0, 13), st.binary(min_size=1, max_size=20)),
)


def apply(op: tuple[object, ...], data: bytes) -> bytes:
    match op:
        case ("drop",):
            return b""
        case ("cut", int(n)):
            return data[:n]
        case ("flip", int(i), int(x)):
            i %= len(data)
            return data[:i] + bytes((data[i] ^ x,)) + data[i + 1 :]
        case ("insert", int(i), bytes(extra)):
            return data[:i] + extra + data[i:]
    return data


def typing(keyboard: BootKeyboard, usages: list[int]) -> list[bytes]:
    out = []
    for usage in usages:
        for down in (True, False):
            report = keyboard.key(usage, down)
            if report is not None:
                out.append(report)
    return out


@settings(max_examples=150, deadline=None)
@given(
    st.lists(mutation, min_size=1, max_size=40),
    st.lists(st.sampled_from([0x04, 0x05, 0x06, 0x2C, 0xE1]), min_size=0, max_size=30),
    st.lists(st.sampled_from([0x07, 0x08, 0x09, 0xE0]), min_size=1, max_size=30),
    st.sampled_from(["in", "out", "both"]),
)
def test_noise_never_wedges_the_link_and_clean_reports_arrive_complete_in_order(
    mutations: list[tuple[object, ...]],
    noisy_keys: list[int],
    clean_keys: list[int],
    direction: str,
) -> None:
    computer = RecordingComputer()
    line = Line(Ch9329Link(), EmulatedChip(computer))
    line.open()
    line.run(lambda: line.link.online)
    ops = iter(mutations)

    def noise(way: str, data: bytes) -> bytes:
        if direction not in (way, "both"):
            return data
        op = next(ops, None)
        return data if op is None else apply(op, data)

    keyboard = BootKeyboard()
    line.noise = noise
    noisy = typing(keyboard, noisy_keys)
    for report in noisy:
        line.link.push_keyboard(report, line.now)
        line.pump()
        line.step()
    end = line.now + 2.0
    line.run(lambda: line.now >= end)
    line.noise = None  # the line is clean from here on
    line.run(lambda: line.link.online and line.idle(), limit=10)  # never wedged
    start = len(computer.received)
    clean = typing(keyboard, clean_keys)
    for report in clean:
        line.link.push_keyboard(report, line.now)
        line.pump()
    line.settle()
    assert dedup(computer.received[start:]) == clean
    # nothing arrived out of order, noise or not: what came is what was typed, in order
    # (plus the state re-sent at rest after an outage, which is the latest typed)
    assert is_subsequence(dedup(computer.received), [bytes(8), *noisy, *clean])
    assert computer.pressed == set()
