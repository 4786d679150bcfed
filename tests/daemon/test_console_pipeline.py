"""Issue 3 acceptance: recorded console sequences through the real pipeline into emulated
targets — in-process with injected time, and as binary records into a fifo: device."""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import aiohttp
from hypothesis import given, settings
from hypothesis import strategies as st

from hid import evcodes, keymap
from kvmswitchd.assembly import build_board
from kvmswitchd.config import parse_config
from kvmswitchd.console.events import ConsoleAssembler
from kvmswitchd.console.records import encode_record
from kvmswitchd.core.eventlog import LogEntry
from kvmswitchd.switchboard import Switchboard
from kvmswitchd.targets.emulated import EmulatedTarget
from tests.daemon.conftest import Running, start

C = evcodes.CODES
EV_KEY, EV_SYN, SYN_REPORT = C["EV_KEY"], C["EV_SYN"], C["SYN_REPORT"]
Event = tuple[float, int, int, int]  # time, type, code, value


def taps(*names: str, start: float = 0.0, step: float = 0.05) -> list[Event]:
    """Press and release each key in turn, each followed by SYN_REPORT, ``step`` apart."""
    out: list[Event] = []
    t = start
    for name in names:
        for value in (1, 0):
            out += [(t, EV_KEY, C[name], value), (t, EV_SYN, SYN_REPORT, 0)]
            t += step
    return out


@contextmanager
def board_for(ports: int = 4, **console: object) -> Iterator[Switchboard]:
    doc = {"switch": {"ports": ports}, "console": console}
    config = replace(parse_config(doc), serial=())
    with tempfile.TemporaryDirectory() as tmp:
        board = build_board(config, Path(tmp), {}, monotonic=lambda: 0.0)
        yield board
        board.journal.close()


def play(board: Switchboard, events: list[Event]) -> None:
    """Feed recorded events through the assembler and router; fire hotkey timers on time."""
    assembler = ConsoleAssembler()
    detector = board.router.detector
    for t, type_, code, value in events:
        while detector is not None and (d := detector.next_deadline()) is not None and d <= t:
            board.router.handle_timer(d)
        batch = assembler.feed((0, 0, type_, code, value))
        if batch:
            board.router.console_input("kbd", batch, t)


def settle(board: Switchboard, until: float) -> None:
    detector = board.router.detector
    while detector is not None and (d := detector.next_deadline()) is not None and d <= until:
        board.router.handle_timer(d)


def text(board: Switchboard, unit: int) -> str:
    target = board.links[unit].target
    assert isinstance(target, EmulatedTarget)
    return target.computer.screen.text


def scroll_led(board: Switchboard, unit: int) -> bool:
    target = board.links[unit].target
    assert isinstance(target, EmulatedTarget)
    return target.computer.leds.scroll


def test_scrolllock_twice_then_2_switches_and_no_port_sees_the_2() -> None:
    with board_for() as board:
        play(board, taps("KEY_A", "KEY_B"))
        play(board, taps("KEY_SCROLLLOCK", "KEY_SCROLLLOCK", "KEY_2", start=1.0))
        play(board, taps("KEY_C", start=2.0))
        assert board.router.km == 2
        assert text(board, 1) == "ab"
        assert text(board, 2) == "c"
        assert all("2" not in text(board, u) for u in range(1, 5))
        assert not any(scroll_led(board, u) for u in range(1, 5))  # double tap: lock unchanged
        entries = board.journal.recent(10)
        assert [(e.kind, e.source, e.detail.get("to")) for e in entries if e.kind == "switch"] == [
            ("switch", "hotkey", "2")
        ]


def test_an_invalid_command_ends_the_mode_and_is_logged() -> None:
    with board_for() as board:
        play(board, taps("KEY_SCROLLLOCK", "KEY_SCROLLLOCK", "KEY_X", "KEY_Y"))
        assert board.router.km == 1
        assert text(board, 1) == "y"  # x swallowed, y typed normally after the mode ended
        assert any(e.kind == "hotkey_invalid" for e in board.journal.recent(10))


def test_on_12_ports_1_2_enter_selects_12_and_1_then_a_pause_selects_1() -> None:
    with board_for(ports=12) as board:
        play(board, taps("KEY_SCROLLLOCK", "KEY_SCROLLLOCK", "KEY_1", "KEY_2", "KEY_ENTER"))
        assert board.router.km == 12
        play(board, taps("KEY_SCROLLLOCK", "KEY_SCROLLLOCK", "KEY_1", start=5.0))
        assert board.router.km == 12  # still waiting: 1 could become 1x
        settle(board, 5.0 + 0.3 + 1.0)
        assert board.router.km == 1
        assert all(text(board, u) == "" for u in range(1, 13))


def test_taps_outside_the_window_do_not_enter_command_mode() -> None:
    with board_for() as board:
        play(board, taps("KEY_SCROLLLOCK"))
        play(board, taps("KEY_SCROLLLOCK", "KEY_3", start=1.0))  # 0.95 s after the first tap
        assert board.router.km == 1
        assert text(board, 1) == "3"


def test_command_window_expiry_passes_the_digit_through() -> None:
    with board_for() as board:
        play(board, taps("KEY_SCROLLLOCK", "KEY_SCROLLLOCK"))
        play(board, taps("KEY_3", start=3.0))  # the 2 s command window has passed
        assert board.router.km == 1
        assert text(board, 1) == "3"


def test_ctrl_profile_and_disabled_hotkeys() -> None:
    with board_for(hotkeys="ctrl") as board:
        play(board, taps("KEY_LEFTCTRL", "KEY_LEFTCTRL", "KEY_4"))
        assert board.router.km == 4
    with board_for(hotkeys="off") as board:
        play(board, taps("KEY_SCROLLLOCK", "KEY_SCROLLLOCK", "KEY_4"))
        assert board.router.km == 1
        assert text(board, 1) == "4"


def test_next_prev_and_auto_scan_hotkeys() -> None:
    with board_for() as board:
        play(board, taps("KEY_SCROLLLOCK", "KEY_SCROLLLOCK", "KEY_DOWN"))
        assert board.router.km == 2
        play(board, taps("KEY_SCROLLLOCK", "KEY_SCROLLLOCK", "KEY_PAGEUP", start=3.0))
        assert board.router.km == 1


KEYS = ["KEY_A", "KEY_S", "KEY_LEFTSHIFT", "KEY_SCROLLLOCK", "KEY_1", "KEY_2", "KEY_3", "KEY_ENTER"]
step = st.one_of(
    st.tuples(st.just("key"), st.sampled_from(KEYS), st.booleans(), st.floats(0.0, 1.5)),
    st.tuples(
        st.just("button"),
        st.sampled_from(["BTN_LEFT", "BTN_RIGHT"]),
        st.booleans(),
        st.floats(0.0, 1.5),
    ),
    st.tuples(st.just("unplug"), st.just(""), st.booleans(), st.floats(0.0, 1.5)),
    st.tuples(
        st.just("switch"), st.sampled_from(["1", "2", "3"]), st.booleans(), st.floats(0.0, 1.5)
    ),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(step, max_size=50))
def test_random_streams_with_hotkeys_and_unplug_leave_nothing_pressed_off_focus(
    steps: list[tuple[str, str, bool, float]],
) -> None:
    from kvmswitchd.core.commands import Origin, Source

    with board_for(ports=3) as board:
        assembler = ConsoleAssembler()
        now = 0.0
        for kind, name, flag, gap in steps:
            now += gap
            settle(board, now)
            if kind == "unplug":
                board.router.console_input("kbd", assembler.device_lost(), now)
            elif kind == "switch":
                board.switch(name, None, False, Origin(Source.HTTP))
            else:
                code = C[name]
                if flag == (code in assembler.pressed):
                    continue
                for ev in ((EV_KEY, code, int(flag)), (EV_SYN, SYN_REPORT, 0)):
                    fed = assembler.feed((0, 0, *ev))
                    if fed:
                        board.router.console_input("kbd", fed, now)
            km = board.router.km
            for unit in (1, 2, 3):
                target = board.links[unit].target
                assert isinstance(target, EmulatedTarget)
                if unit != km:
                    assert target.computer.pressed == set()
                    assert target.computer.buttons == 0
        # once every physical key is up, nothing is held anywhere
        board.router.console_input("kbd", assembler.device_lost(), now)
        for unit in (1, 2, 3):
            target = board.links[unit].target
            assert isinstance(target, EmulatedTarget)
            assert target.computer.pressed == set()


async def test_the_same_sequence_as_binary_records_into_a_fifo_console(tmp_path: Path) -> None:
    fifo = tmp_path / "console"
    daemon, board = await start(
        tmp_path / "state", {"switch": {"ports": 12}, "console": {"devices": [f"fifo:{fifo}"]}}
    )
    try:
        switched: asyncio.Queue[LogEntry] = asyncio.Queue()
        board.journal.subscribe(lambda e: switched.put_nowait(e) if e.kind == "switch" else None)
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        try:

            def write(events: list[Event]) -> None:
                os.write(fd, b"".join(encode_record(ty, co, va) for _, ty, co, va in events))

            write(taps("KEY_H", "KEY_I"))
            write(taps("KEY_SCROLLLOCK", "KEY_SCROLLLOCK", "KEY_1", "KEY_2", "KEY_ENTER"))
            entry = await asyncio.wait_for(switched.get(), 10)
            assert entry.detail["to"] == "12" and entry.source == "hotkey"
            write(taps("KEY_O", "KEY_K"))
            write(taps("KEY_SCROLLLOCK", "KEY_SCROLLLOCK", "KEY_3"))
            entry = await asyncio.wait_for(switched.get(), 10)
            assert entry.detail["to"] == "3"
        finally:
            os.close(fd)
        assert text(board, 1) == "hi"
        assert text(board, 12) == "ok"
        assert not any(scroll_led(board, u) for u in range(1, 13))
    finally:
        await daemon.stop()


async def test_console_events_over_http_pass_through_hotkey_detection(running: Running) -> None:
    def ev(name: str, value: int) -> dict[str, object]:
        return {"type": "EV_KEY", "code": name, "value": value}

    seq = []
    for name in ("KEY_SCROLLLOCK", "KEY_SCROLLLOCK", "KEY_4"):
        seq += [
            ev(name, 1),
            {"type": "EV_SYN", "code": "SYN_REPORT", "value": 0},
            ev(name, 0),
            {"type": "EV_SYN", "code": "SYN_REPORT", "value": 0},
        ]
    await running.post("/console/events", {"events": seq})
    assert (await running.get("/state"))["focus"]["km"] == "4"
    log = await running.get("/log?source=hotkey")
    assert log["entries"][-1]["detail"]["to"] == "4"


async def test_front_panel_buttons_and_scan_over_http(running: Running) -> None:
    await running.post("/buttons/3")
    assert (await running.get("/state"))["focus"]["km"] == "3"
    await running.post("/buttons/next")
    assert (await running.get("/state"))["focus"]["km"] == "4"
    log = await running.get("/log?source=button")
    assert [e["detail"]["to"] for e in log["entries"]] == ["3", "4"]
    async with running.http.post(running.url + "/api/v1/buttons/9") as r:
        assert r.status == 404
    state = (await running.post("/scan", {"on": True, "dwell": 1}))["state"]
    assert state["scan"] == {"on": True, "dwell": 1.0}
    # any console key stops the scan
    await running.post(
        "/console/events",
        {
            "events": [
                {"type": "EV_KEY", "code": "KEY_A", "value": 1},
                {"type": "EV_KEY", "code": "KEY_A", "value": 0},
            ]
        },
    )
    assert (await running.get("/state"))["scan"]["on"] is False
    _ = keymap, aiohttp


async def test_auto_scan_cycles_only_the_video_focus_until_a_console_key(running: Running) -> None:
    moves: asyncio.Queue[LogEntry] = asyncio.Queue()
    running.board.journal.subscribe(
        lambda e: moves.put_nowait(e) if e.source == "scan" and e.kind == "switch" else None
    )
    await running.post("/scan", {"on": True, "dwell": 0.5})
    first = await asyncio.wait_for(moves.get(), 10)
    second = await asyncio.wait_for(moves.get(), 10)
    assert (first.detail["to"], second.detail["to"]) == ("2", "3")
    assert first.detail["channels"] == ["video"]
    state = await running.get("/state")
    assert state["focus"]["km"] == "1"
    await running.post(
        "/console/events", {"events": [{"type": "EV_KEY", "code": "KEY_SPACE", "value": 1}]}
    )
    assert (await running.get("/state"))["scan"]["on"] is False
