"""The sans-IO CH9329 link against the emulated chip on a simulated line (virtual time)."""

from __future__ import annotations

from hid.ch9329 import Frame, FrameReader
from hid.keyboard import BootKeyboard
from hid.leds import Leds
from hid.mouse import AbsolutePointer, RelativeMouse
from kvmswitchd.targets.ch9329_link import (
    INFO_INTERVAL,
    LOCK_POLL_DELAY,
    Ch9329Link,
    LedsChanged,
    LinkState,
    StateChanged,
)
from tests.ch9329.line import Line


def hx(text: str) -> bytes:
    return bytes.fromhex(text)


def online(line: Line | None = None) -> Line:
    line = line if line is not None else Line()
    line.open()
    line.run(lambda: line.link.online)
    return line


def test_opening_probes_with_get_info_and_goes_online_on_the_answer() -> None:
    line = Line()
    line.open()
    assert line.sent == [hx("57 AB 00 01 00 03")]
    assert line.replies == [hx("57 AB 00 81 08 30 01 00 00 00 00 00 00 BC")]
    assert line.link.state is LinkState.ONLINE
    assert line.link.info is not None and line.link.info.usb_connected


def test_keyboard_and_mouse_reports_go_out_as_the_reference_vectors() -> None:
    line = online()
    kb, mouse = BootKeyboard(), RelativeMouse()
    sent = len(line.sent)
    for report in (kb.key(0x04, True), kb.key(0x04, False), kb.key(0xE1, True), kb.key(0x04, True)):
        assert report is not None
        line.link.push_keyboard(report, line.now)
        line.pump()
    mouse.button(0, True)
    line.link.push_mouse(mouse.move(10, -5)[0], line.now)
    line.pump()
    assert line.sent[sent:] == [
        hx("57 AB 00 02 08 00 00 04 00 00 00 00 00 10"),
        hx("57 AB 00 02 08 00 00 00 00 00 00 00 00 0C"),
        hx("57 AB 00 02 08 02 00 00 00 00 00 00 00 0E"),
        hx("57 AB 00 02 08 02 00 04 00 00 00 00 00 12"),
        hx("57 AB 00 05 05 01 01 0A FB 00 13"),
    ]
    assert set(line.replies[1:4]) == {hx("57 AB 00 82 01 00 85")}
    assert line.computer.screen.text == "aA"
    assert (line.computer.pointer_x, line.computer.pointer_y) == (970, 535)


def test_the_absolute_centre_is_the_chips_2048_and_the_computers_centre() -> None:
    line = online(Line(mouse="absolute"))
    pointer = AbsolutePointer()
    line.link.push_mouse(pointer.move_to(16384, 16384), line.now)
    line.pump()
    assert line.sent[-1] == hx("57 AB 00 04 07 02 00 00 08 00 08 00 1F")
    assert (line.computer.pointer_x, line.computer.pointer_y) == (960, 540)
    line.link.push_mouse(pointer.move_to(32767, 0), line.now)
    line.pump()
    assert (line.computer.pointer_x, line.computer.pointer_y) == (1919, 0)


def test_one_command_is_in_flight_until_the_chip_answers() -> None:
    line = online()
    line.connected = False  # the chip hears nothing now
    kb = BootKeyboard()
    for usage in (0x04, 0x05, 0x06):
        report = kb.key(usage, True)
        assert report is not None
        line.link.push_keyboard(report, line.now)
    line.pump()
    assert len(line.link.data_to_send()) == 0
    assert line.link.busy
    assert len(line.link.queues[0]) == 3  # the head (in flight) and two waiting
    line.connected = True
    line.run(line.idle)
    assert line.computer.screen.text == "abc"


def test_a_lost_reply_is_retried_and_a_silent_chip_makes_the_port_offline() -> None:
    line = online()
    line.chip.silent = True
    report = BootKeyboard().key(0x04, True)
    assert report is not None
    line.link.push_keyboard(report, line.now)
    line.run(lambda: line.link.state is LinkState.NO_CHIP, limit=5)
    assert line.link.counters["retries"] == 2 and line.link.counters["timeouts"] == 3
    assert "not answering" in line.link.reason and "SEND_KB_GENERAL_DATA" in line.link.reason
    assert line.link.view()["online"] is False
    assert StateChanged(LinkState.NO_CHIP, line.link.reason) in line.events


def test_offline_keeps_the_latest_state_and_sends_it_at_rest_when_the_chip_is_back() -> None:
    line = online()
    line.chip.silent = True
    kb, mouse = BootKeyboard(), RelativeMouse()
    line.link.push_keyboard(kb.key(0x04, True) or b"", line.now)
    line.run(lambda: not line.link.online, limit=5)
    # typed while offline: not replayed; only what is held at the end counts
    for usage in (0x05, 0x06):
        line.link.push_keyboard(kb.key(usage, True) or b"", line.now)
        line.link.push_keyboard(kb.key(usage, False) or b"", line.now)
    mouse.button(0, True)
    for report in mouse.move(50, 50):
        line.link.push_mouse(report, line.now)
    line.chip.silent = False
    line.run(lambda: line.link.online, limit=5)
    line.settle()
    assert line.computer.screen.text == "a"  # 'a' was taken before the chip fell silent
    assert line.computer.pressed == {0x04}  # still held: it stays held
    assert line.computer.buttons == 1
    assert (line.computer.pointer_x, line.computer.pointer_y) == (960, 540)  # no motion


def test_garbage_replies_make_the_port_offline_and_it_recovers() -> None:
    line = online()
    line.noise = lambda way, data: b"\x57\xab\x00\x82\x01\x00\x00" if way == "out" else data
    line.link.push_keyboard(BootKeyboard().key(0x04, True) or b"", line.now)
    line.run(lambda: line.link.state is LinkState.NO_CHIP, limit=5)
    assert "bad checksums" in line.link.reason and "baud" in line.link.reason
    assert line.link.counters["bad_replies"] >= 3
    line.noise = None
    line.run(lambda: line.link.online, limit=5)
    line.settle()
    assert line.computer.pressed == {0x04}


def test_get_info_is_polled_and_its_led_bits_become_the_ports_leds() -> None:
    line = online()
    kb = BootKeyboard()
    line.link.push_keyboard(kb.key(0x39, True) or b"", line.now)  # Caps Lock
    line.link.push_keyboard(kb.key(0x39, False) or b"", line.now)
    line.pump()
    assert line.chip.leds == Leds(caps=True)
    assert line.link.leds == Leds()  # not polled yet
    assert not line.link.settled
    line.run(lambda: line.link.settled, limit=LOCK_POLL_DELAY)  # polled soon after a lock key
    assert line.link.leds == Leds(caps=True)
    assert LedsChanged(Leds(caps=True)) in line.events
    assert line.replies[-1] == hx("57 AB 00 81 08 30 01 02 00 00 00 00 00 BE")
    line.chip.leds = Leds(num=True)  # the host set its LEDs by itself
    polls = line.link.counters["commands"]
    line.settle(INFO_INTERVAL)
    assert line.link.counters["commands"] == polls + 1  # one poll per interval
    assert line.link.leds == Leds(num=True)


def test_a_target_that_is_unplugged_is_offline_until_it_enumerates_again() -> None:
    line = online()
    line.chip.usb_connected = False
    line.settle(1.5)
    assert line.link.state is LinkState.NO_TARGET
    assert "not connected" in line.link.reason
    line.link.push_keyboard(BootKeyboard().key(0x04, True) or b"", line.now)
    assert not line.link.busy  # nothing is sent to a chip with no host behind it
    line.chip.usb_connected = True
    line.run(lambda: line.link.online, limit=3)
    line.settle()
    assert line.computer.pressed == {0x04}


def test_a_chip_that_cannot_deliver_e6_is_no_target() -> None:
    line = online()
    line.chip.usb_connected = False  # the chip answers E6 to reports before the next poll
    line.link.push_keyboard(BootKeyboard().key(0x04, True) or b"", line.now)
    line.run(lambda: not line.link.online, limit=1)
    assert line.link.state is LinkState.NO_TARGET
    assert "E6" in line.link.reason


def test_a_command_the_chip_rejects_e5_is_skipped_not_retried() -> None:
    link = Ch9329Link()
    link.connection_made(0.0)
    link.receive_data(link.data_to_send() and hx("57 AB 00 81 08 30 01 00 00 00 00 00 00 BC"), 0)
    kb = BootKeyboard()
    link.push_keyboard(kb.key(0x04, True) or b"", 0.0)
    link.push_keyboard(kb.key(0x05, True) or b"", 0.0)
    assert link.data_to_send() == hx("57 AB 00 02 08 00 00 04 00 00 00 00 00 10")
    link.receive_data(hx("57 AB 00 C2 01 E5 AA"), 0.01)
    assert link.data_to_send() == hx("57 AB 00 02 08 00 00 04 05 00 00 00 00 15")
    assert link.counters["rejected"] == 1 and link.counters["retries"] == 0
    assert link.online


def test_a_retryable_error_status_e4_is_sent_again() -> None:
    link = Ch9329Link()
    link.connection_made(0.0)
    link.receive_data(link.data_to_send() and hx("57 AB 00 81 08 30 01 00 00 00 00 00 00 BC"), 0)
    link.push_keyboard(BootKeyboard().key(0x04, True) or b"", 0.0)
    frame = link.data_to_send()
    link.receive_data(hx("57 AB 00 C2 01 E4 A9"), 0.01)
    assert link.data_to_send() == frame
    assert link.counters["retries"] == 1


def test_a_malformed_report_is_skipped_and_the_link_goes_on() -> None:
    line = online()
    line.link.push_keyboard(bytes(7), line.now)
    line.link.push_keyboard(BootKeyboard().key(0x04, True) or b"", line.now)
    line.settle()
    assert line.computer.pressed == {0x04}
    assert line.link.counters["rejected"] == 1 and line.link.online


def test_media_usages_go_out_as_media_frames_and_the_general_report_without_them() -> None:
    line = online()
    kb = BootKeyboard()
    line.link.push_keyboard(kb.key(0x80, True) or b"", line.now)  # Volume Up
    line.pump()
    assert line.sent[-1] == hx("57 AB 00 03 04 02 01 00 00 0C")
    assert line.chip.media == 0x01
    line.link.push_keyboard(kb.key(0x04, True) or b"", line.now)  # 'a' while Volume Up held
    line.link.push_keyboard(kb.key(0x80, False) or b"", line.now)
    line.settle()
    assert line.sent[-2:] == [
        hx("57 AB 00 02 08 00 00 04 00 00 00 00 00 10"),
        hx("57 AB 00 03 04 02 00 00 00 0B"),
    ]
    assert line.chip.media == 0
    assert line.computer.pressed == {0x04}


def test_reports_keep_their_order_across_keyboard_and_mouse() -> None:
    line = online()
    line.connected = False
    kb, mouse = BootKeyboard(), RelativeMouse()
    line.link.push_keyboard(kb.key(0xE1, True) or b"", line.now)  # shift, then click
    line.link.push_mouse(mouse.button(0, True), line.now)
    line.link.push_keyboard(kb.key(0xE1, False) or b"", line.now)
    line.link.push_mouse(mouse.button(0, False), line.now)
    line.pump()
    line.connected = True
    line.settle()  # the first frame times out and is sent again; the rest follow
    frames = FrameReader().feed(b"".join(line.sent[1:]))
    cmds = [f.cmd for f in frames if isinstance(f, Frame)]
    assert cmds == [0x02, 0x02, 0x05, 0x02, 0x05]
    assert line.computer.clicks[0] == 1 and line.computer.pressed == set()


def test_a_port_without_a_mouse_sends_no_mouse_frames() -> None:
    line = online(Line(Ch9329Link(kinds=("keyboard",))))
    line.link.push_mouse(RelativeMouse().move(5, 5)[0], line.now)
    line.pump()
    assert line.link.ignored == 1 and not line.link.busy


def test_a_closed_line_is_offline_with_its_reason_and_sends_nothing() -> None:
    line = online()
    line.link.connection_lost("device unplugged")
    assert line.link.state is LinkState.CLOSED and line.link.reason == "device unplugged"
    line.link.push_keyboard(bytes(8), line.now)
    assert line.link.data_to_send() == b"" and line.link.next_deadline() is None


def test_a_queue_that_stalls_while_a_report_is_in_flight_still_sends_release_all() -> None:
    line = online()
    line.link.queues[0].budget = 1000  # a backlog past this stalls the keyboard queue
    line.connected = False  # the chip takes nothing for now
    kb = BootKeyboard()
    line.link.push_keyboard(kb.key(0x04, True) or b"", line.now)  # in flight
    line.pump()
    for _ in range(10):
        line.link.push_keyboard(kb.key(0x05, True) or b"", line.now)
        line.link.push_keyboard(kb.key(0x05, False) or b"", line.now)
    assert line.link.queues[0].stalled
    line.connected = True
    line.settle()
    assert line.computer.pressed == set()  # the rest report came after the 'a' down
    assert line.computer.last_keyboard == bytes(8)
