"""PS/2 set 2: every table key both ways, sequences, any chunking, host commands."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hid.keymap import KEYS
from hid.leds import Leds
from hid.ps2 import Ps2CommandParser, Ps2Decoder, Ps2Keyboard
from tests.hid.reference_table import RefRow, plain_make, rows

PS2_USAGES = sorted({k.usage for k in KEYS if k.ps2_make is not None})
HOLDABLE = [u for u in PS2_USAGES if u != 0x48]


@pytest.mark.parametrize("row", [r for r in rows() if plain_make(r)], ids=lambda r: r.name)
def test_every_table_key_encodes_and_decodes_both_ways(row: RefRow) -> None:
    make = plain_make(row)
    assert make is not None
    kb = Ps2Keyboard()
    assert kb.press(row.usage) == make
    brk = kb.release(row.usage)
    assert brk == make[:-1] + b"\xf0" + make[-1:]
    assert Ps2Decoder().feed(make + brk) == [(row.usage, True), (row.usage, False)]


def test_extended_break_is_e0_f0_code() -> None:
    kb = Ps2Keyboard()
    assert kb.press(0x52) == bytes.fromhex("E0 75")  # Up
    assert kb.release(0x52) == bytes.fromhex("E0 F0 75")
    assert kb.press(0x04) == bytes.fromhex("1C")
    assert kb.release(0x04) == bytes.fromhex("F0 1C")


def test_print_screen_sequences_round_trip() -> None:
    kb = Ps2Keyboard()
    make, brk = kb.press(0x46), kb.release(0x46)
    assert make == bytes.fromhex("E0 12 E0 7C")
    assert brk == bytes.fromhex("E0 F0 7C E0 F0 12")
    assert Ps2Decoder().feed(make + brk) == [(0x46, True), (0x46, False)]


def test_pause_is_make_only_ending_f0_77_and_decodes_as_a_tap() -> None:
    kb = Ps2Keyboard()
    make = kb.press(0x48)
    assert make == bytes.fromhex("E1 14 77 E1 F0 14 F0 77")
    assert make.endswith(b"\xf0\x77")
    assert kb.release(0x48) == b""
    assert 0x48 not in kb.pressed
    assert kb.press(0x48) == make  # not held, so it can be pressed again
    assert Ps2Decoder().feed(make) == [(0x48, True), (0x48, False)]


def test_keys_without_set2_code_and_repeated_presses_send_nothing() -> None:
    kb = Ps2Keyboard()
    assert kb.press(0x68) == b""  # F13
    assert kb.release(0x68) == b""
    assert kb.press(0x00) == b""
    assert kb.press(0x04) == b"\x1c"
    assert kb.press(0x04) == b""
    assert kb.typematic(0x04) == b"\x1c"
    assert kb.typematic(0x05) == b""
    assert kb.release(0x05) == b""


def test_release_all_breaks_every_held_key_most_recent_first() -> None:
    kb = Ps2Keyboard()
    kb.press(0xE1)  # LShift 12
    kb.press(0x52)  # Up E0 75
    kb.press(0x48)  # Pause: never held
    assert kb.release_all() == bytes.fromhex("E0 F0 75 F0 12")
    assert kb.pressed == frozenset()
    assert kb.release_all() == b""


events = st.lists(st.tuples(st.sampled_from(PS2_USAGES), st.booleans()), max_size=40)


def _encode(sequence: list[tuple[int, bool]]) -> tuple[bytes, list[tuple[int, bool]]]:
    kb = Ps2Keyboard()
    stream = b""
    expected: list[tuple[int, bool]] = []
    for usage, down in sequence:
        data = kb.press(usage) if down else kb.release(usage)
        if data:
            stream += data
            expected += [(usage, True), (usage, False)] if usage == 0x48 else [(usage, down)]
    stream += kb.release_all()
    return stream, expected


@given(events, st.data())
def test_any_chunking_of_an_encoded_stream_decodes_to_the_same_events(
    sequence: list[tuple[int, bool]], data: st.DataObject
) -> None:
    stream, expected = _encode(sequence)
    cuts = sorted(data.draw(st.sets(st.integers(0, len(stream)))))
    decoder = Ps2Decoder()
    got: list[tuple[int, bool]] = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        got += decoder.feed(stream[start:end])
    whole = Ps2Decoder().feed(stream)
    assert got == whole
    assert whole[: len(expected)] == expected
    assert {u for u, _ in whole[len(expected) :]} <= set(HOLDABLE)  # release_all breaks only
    assert decoder.skipped == 0


def test_decoder_ignores_replies_and_counts_unknown_codes() -> None:
    decoder = Ps2Decoder()
    assert decoder.feed(bytes.fromhex("FA AA EE FE 00 FF")) == []
    assert decoder.feed(bytes.fromhex("FA AB 83 1C")) == [(0x04, True)]  # identify reply
    assert decoder.feed(bytes.fromhex("E0 60 1C")) == [(0x04, True)]
    assert decoder.skipped == 1


def test_decoder_resyncs_after_a_broken_pause_sequence() -> None:
    decoder = Ps2Decoder()
    assert decoder.feed(bytes.fromhex("E1 14 1C")) == [(0x04, True)]
    assert decoder.skipped == 1


@given(st.binary(max_size=64))
def test_arbitrary_bytes_decode_to_known_usages_without_raising(data: bytes) -> None:
    for usage, _ in Ps2Decoder().feed(data):
        assert usage in PS2_USAGES


def test_host_sets_leds_with_ed_and_gets_acks() -> None:
    keyboard = Ps2CommandParser()
    first = keyboard.feed(b"\xed")
    assert first.reply == b"\xfa"
    assert first.leds is None
    second = keyboard.feed(b"\x06")
    assert second.reply == b"\xfa"
    assert second.leds == Leds(num=True, caps=True)
    assert keyboard.leds == Leds(num=True, caps=True)
    assert keyboard.feed(b"\xed\x01").leds == Leds(scroll=True)


@pytest.mark.parametrize(
    ("command", "reply"),
    [
        ("EE", "EE"),
        ("F2", "FA AB 83"),
        ("FF", "FA AA"),
        ("F4", "FA"),
        ("F5", "FA"),
        ("F6", "FA"),
        ("F0 00", "FA FA 02"),
        ("F0 01", "FA FA"),
        ("F0 07", "FA FE"),
        ("F3 20", "FA FA"),
        ("F8", "FA"),
        ("12", "FE"),
    ],
)
def test_host_command_replies(command: str, reply: str) -> None:
    assert Ps2CommandParser().feed(bytes.fromhex(command)).reply == bytes.fromhex(reply)


def test_enable_disable_scan_set_and_reset_state() -> None:
    keyboard = Ps2CommandParser()
    keyboard.feed(bytes.fromhex("F5"))
    assert not keyboard.enabled
    keyboard.feed(bytes.fromhex("F4 F0 03"))
    assert keyboard.enabled
    assert keyboard.scan_set == 3
    assert keyboard.feed(bytes.fromhex("F0 00")).reply == bytes.fromhex("FA FA 03")
    keyboard.feed(bytes.fromhex("ED 04"))
    reset = keyboard.feed(bytes.fromhex("FF"))
    assert reset.reply == bytes.fromhex("FA AA")
    assert reset.leds == Leds()
    assert keyboard.scan_set == 2


def test_command_byte_in_place_of_data_starts_a_new_command() -> None:
    keyboard = Ps2CommandParser()
    response = keyboard.feed(bytes.fromhex("ED F2"))
    assert response.reply == bytes.fromhex("FA FA AB 83")
    assert keyboard.leds == Leds()


def test_resend_repeats_the_last_reply() -> None:
    keyboard = Ps2CommandParser()
    keyboard.feed(bytes.fromhex("F2"))
    assert keyboard.feed(bytes.fromhex("FE")).reply == bytes.fromhex("FA AB 83")


@given(st.binary(max_size=64), st.data())
def test_command_parser_gives_the_same_replies_for_any_chunking(
    data: bytes, draw: st.DataObject
) -> None:
    cuts = sorted(draw.draw(st.sets(st.integers(0, len(data)))))
    chunked = Ps2CommandParser()
    reply = b""
    for start, end in zip([0, *cuts], [*cuts, len(data)], strict=True):
        reply += chunked.feed(data[start:end]).reply
    whole = Ps2CommandParser()
    assert whole.feed(data).reply == reply
    assert whole.leds == chunked.leds
