"""``feed_bytes`` runs plain key changes and their SYN_REPORT inline; event by event,
``feed`` takes the general path. Both must give the same batches and the same state."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from kvmswitchd.console.events import (
    EV_ABS,
    EV_KEY,
    EV_MSC,
    EV_REL,
    EV_SYN,
    MAX_BATCH_INPUTS,
    SYN_DROPPED,
    SYN_REPORT,
    ButtonChange,
    ConsoleAssembler,
    ConsoleInput,
    KeyChange,
    encode_record,
)

KEY_A, KEY_B, BTN_LEFT = 30, 48, 0x110

event_tuples = st.tuples(
    st.sampled_from([EV_SYN, EV_SYN, EV_KEY, EV_KEY, EV_KEY, EV_REL, EV_ABS, EV_MSC, 0x20]),
    st.sampled_from([SYN_REPORT, SYN_DROPPED, 1, 8, KEY_A, KEY_B, BTN_LEFT, 0x2FF, 0x300]),
    st.sampled_from([0, 1, 1, 0, 2, 3, -5]),
)


def one_by_one(
    asm: ConsoleAssembler, events: list[tuple[int, int, int]]
) -> list[list[ConsoleInput]]:
    out: list[list[ConsoleInput]] = []
    for etype, code, value in events:
        batch = asm.feed((0, 0, etype, code, value))
        if batch is not None:
            out.append(batch)
        elif asm.needs_resync:
            released = asm.resync(())
            if released:
                out.append(released)
    return out


@settings(max_examples=300)
@given(st.lists(event_tuples, max_size=80), st.sampled_from([True, False, None]))
def test_the_inline_path_gives_what_the_general_path_gives(
    events: list[tuple[int, int, int]], syn: bool | None
) -> None:
    raw = b"".join(encode_record(*e) for e in events)
    fast, slow = ConsoleAssembler(syn=syn), ConsoleAssembler(syn=syn)
    assert fast.feed_bytes(raw) == one_by_one(slow, events)
    assert fast.pressed == slow.pressed
    assert fast.ignored == slow.ignored
    assert fast.device_lost() == slow.device_lost()


def test_a_long_batch_of_key_changes_is_cut_at_the_cap_on_the_inline_path() -> None:
    codes = list(range(1, MAX_BATCH_INPUTS + 11))
    raw = b"".join(encode_record(EV_KEY, c, 1) for c in codes) + encode_record(EV_SYN, 0, 0)
    asm = ConsoleAssembler(syn=True)
    batches = asm.feed_bytes(raw)
    assert [len(b) for b in batches] == [MAX_BATCH_INPUTS, 10]
    changes = [item for b in batches for item in b]
    assert [(i.code, i.pressed) for i in changes if isinstance(i, KeyChange | ButtonChange)] == [
        (c, True) for c in codes
    ]
