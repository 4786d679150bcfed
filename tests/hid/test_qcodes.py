"""HID reports → QEMU input-send-event events (hid.qcodes): the key table against our
key table, the diff of key reports, and the pointer's buttons, motion and wheels."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from hid import keymap
from hid.keyboard import BootKeyboard, NkroKeyboard
from hid.mouse import AbsolutePointer, RelativeMouse
from hid.qcodes import QCODES, KeyboardEvents, PointerEvents, button_event, key_event, motion_event

F13_TO_F24 = set(range(0x68, 0x74))
# QKeyCode values of QEMU 7.2 (qapi/ui.json), written out here: a name QEMU does not
# know makes it refuse the whole input-send-event.
_QEMU_72 = (  # QEMU's list as it reads in ui.json
    "unmapped shift shift_r alt alt_r ctrl ctrl_r menu esc 1 2 3 4 5 6 7 8 9 0 minus "
    "equal backspace tab q w e r t y u i o p bracket_left bracket_right ret a s d f g h "
    "j k l semicolon apostrophe grave_accent backslash z x c v b n m comma dot slash "
    "asterisk spc caps_lock f1 f2 f3 f4 f5 f6 f7 f8 f9 f10 num_lock scroll_lock "
    "kp_divide kp_multiply kp_subtract kp_add kp_enter kp_decimal sysrq kp_0 kp_1 kp_2 "
    "kp_3 kp_4 kp_5 kp_6 kp_7 kp_8 kp_9 less f11 f12 print home pgup pgdn end left up "
    "down right insert delete stop again props undo front copy open paste find cut lf "
    "help meta_l meta_r compose pause ro hiragana henkan yen muhenkan katakanahiragana "
    "kp_comma kp_equals power sleep wake audionext audioprev audiostop audioplay "
    "audiomute volumeup volumedown mediaselect mail calculator computer ac_home ac_back "
    "ac_forward ac_refresh ac_bookmarks"
)
QEMU_72_QCODES = frozenset(_QEMU_72.split(" "))


def test_every_key_of_our_table_has_a_qcode_qemu_knows_except_f13_to_f24() -> None:
    usages = {key.usage for key in keymap.KEYS}
    assert usages - set(QCODES) == F13_TO_F24
    assert set(QCODES.values()) <= QEMU_72_QCODES


def test_a_boot_report_diff_releases_then_presses() -> None:
    keys = KeyboardEvents()
    kb = BootKeyboard()
    assert keys.report(kb.press(0xE1) or b"") == [key_event("shift", True)]
    assert keys.report(kb.press(0x04) or b"") == [key_event("a", True)]
    kb.release(0xE1)
    assert keys.report(kb.release(0x04) or b"") == [  # in usage order
        key_event("a", False),
        key_event("shift", False),
    ]


def test_error_rollover_keeps_the_keys_held_and_nothing_is_lost_after_it() -> None:
    keys = KeyboardEvents()
    kb = BootKeyboard()
    for usage in range(0x04, 0x0A):  # six keys
        keys.report(kb.press(usage) or b"")
    assert keys.report(kb.press(0x0A) or b"") == []  # seventh: ErrorRollOver
    assert keys.report(kb.release(0x04) or b"") == [
        key_event("a", False),
        key_event("g", True),
    ]


def test_f13_is_counted_as_unsent_not_sent() -> None:
    keys = KeyboardEvents()
    kb = NkroKeyboard()
    assert keys.report(kb.press(0x68) or b"") == []
    assert keys.unsent == 1


# 0x32 (Non-US #) shares backslash's qcode; our keyboards never send it
SENT = sorted(set(QCODES) - {0x32})


@given(st.lists(st.tuples(st.sampled_from(SENT), st.booleans()), max_size=60))
def test_replaying_the_events_holds_exactly_the_reports_keys(
    changes: list[tuple[int, bool]],
) -> None:
    kb = NkroKeyboard()
    keys = KeyboardEvents()
    down: set[str] = set()
    for usage, pressed in changes:
        report = kb.press(usage) if pressed else kb.release(usage)
        for event in keys.report(report or kb.report()):
            name, is_down = event["data"]["key"]["data"], event["data"]["down"]
            assert is_down is (name not in down)  # only real edges, never a repeat
            (down.add if is_down else down.discard)(name)
    assert down == {QCODES[u] for u in kb.pressed}


def test_relative_reports_become_buttons_motion_and_wheel_presses() -> None:
    pointer = PointerEvents(absolute=False)
    mouse = RelativeMouse()
    assert pointer.report(mouse.button(0, True)) == [button_event("left", True)]
    (report,) = mouse.move(-5, 7, 2, 1)
    assert pointer.report(report) == [
        motion_event("rel", "x", -5),
        motion_event("rel", "y", 7),
        *[button_event("wheel-up", True), button_event("wheel-up", False)] * 2,
        button_event("wheel-right", True),
        button_event("wheel-right", False),
    ]


def test_absolute_reports_send_a_position_only_when_it_moves() -> None:
    pointer = PointerEvents(absolute=True)
    tablet = AbsolutePointer()
    assert pointer.report(tablet.move_to(100, 32767)) == [
        motion_event("abs", "x", 100),
        motion_event("abs", "y", 32767),
    ]
    assert pointer.report(tablet.button(1, True)) == [button_event("right", True)]


@given(st.binary(max_size=40))
def test_any_bytes_give_events_or_nothing_never_an_exception(data: bytes) -> None:
    KeyboardEvents().report(data)
    PointerEvents(absolute=False).report(data)
    PointerEvents(absolute=True).report(data)
