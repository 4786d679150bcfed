"""The tesmart dialect core: byte-exact frames per reference §2.1, as the units answer."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kvmswitchd.core.commands import Command, GetStatus, Origin, Outcome, SwitchTo
from kvmswitchd.serial.channel import EventKind
from kvmswitchd.serial.tesmart import ASCII_GAP, TesmartDialect
from kvmswitchd.serial.tesmart_unit import TesmartUnit, UnitSettings
from tests.serial.fakes import CHANNELS, Driver, FakeSwitch
from tests.serial.tesmart_client import InputCountProbe, ReportReader, query, switch


def tesmart_driver(
    switch: FakeSwitch | None = None,
    *,
    unit: TesmartUnit | None = None,
    notify: bool = True,
    auto: bool = True,
) -> Driver:
    return Driver(
        lambda: TesmartDialect(channel="tesmart", unit=unit, notify=notify), switch, auto=auto
    )


def changed(d: Driver) -> bytes:
    """The input changed from another channel: what the core sends its peer."""
    return d.run(d.core.focus_changed(d.now))  # type: ignore[attr-defined]  # a TesmartDialect


def hx(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


def test_query_replies_with_the_active_port_zero_based() -> None:
    d = tesmart_driver()
    assert d.feed(hx("AABB031000EE")) == hx("AABB031100EE")
    d.switch.focus["km"] = "4"
    assert d.feed(hx("AABB031000EE")) == hx("AABB031103EE")


def test_switch_is_one_based_and_replies_with_the_new_port() -> None:
    d = tesmart_driver()
    assert d.feed(hx("AABB030102EE")) == hx("AABB031101EE")
    assert d.switch.executed() == [SwitchTo("2")]
    assert d.switch.focus["km"] == "2"


def test_a_switch_to_a_port_the_unit_lacks_gets_no_reply_and_changes_nothing() -> None:
    d = tesmart_driver(FakeSwitch(ports=4))
    assert d.feed(hx("AABB030105EE")) == b""
    assert d.feed(hx("AABB030110EE AABB031000EE")) == hx("AABB031100EE")  # only the query's
    assert d.switch.focus["km"] == "1"


def test_a_switch_to_port_zero_gets_no_reply_and_never_reaches_the_switch() -> None:
    d = tesmart_driver()
    assert d.feed(hx("AABB030100EE")) == b""
    assert d.switch.calls == []


class RefusingSwitch(FakeSwitch):
    """A line whose rights do not cover the port: the guarded path says forbidden."""

    def run(self, command: Command, origin: Origin) -> Outcome:
        if isinstance(command, SwitchTo):
            self.calls.append((command, origin))
            return Outcome(ok=False, error="forbidden", message="may not switch to port 3")
        return super().run(command, origin)


def test_a_refused_switch_to_an_existing_port_is_answered_with_the_port_still_active() -> None:
    d = tesmart_driver(RefusingSwitch())
    assert d.feed(hx("AABB030103EE")) == hx("AABB031100EE")
    assert d.switch.focus["km"] == "1"


@pytest.mark.parametrize("ports", [4, 8, 16])
def test_a_client_probing_from_the_highest_port_down_finds_the_true_input_count(
    ports: int,
) -> None:
    d = tesmart_driver(FakeSwitch(ports=ports))
    probe = InputCountProbe()
    data = probe.start()
    while data:
        data = probe.receive_data(d.feed(data))
    assert probe.count == ports
    reader = ReportReader()
    for port in range(1, ports + 1):  # every port switches and reads back
        assert [r.port for r in reader.receive_data(d.feed(switch(port) + query()))] == [
            port,
            port,
        ]


@pytest.mark.parametrize(
    ("frame", "field", "value"),
    [
        ("AABB030200EE", "buzzer", False),
        ("AABB030201EE", "buzzer", True),
        ("AABB03030AEE", "led_timeout", 10),
        ("AABB03031EEE", "led_timeout", 30),
        ("AABB038101EE", "auto_detect", True),
    ],
)
def test_settings_are_stored_for_the_unit_and_not_answered(
    frame: str, field: str, value: object
) -> None:
    unit = TesmartUnit(UnitSettings(buzzer=False, led_timeout=30))
    d = tesmart_driver(unit=unit)
    assert d.feed(hx(frame)) == b""
    assert getattr(unit.settings, field) == value
    assert d.switch.calls == []


def test_a_setting_value_the_units_do_not_have_is_ignored_and_reported() -> None:
    unit = TesmartUnit()
    d = tesmart_driver(unit=unit)
    assert d.feed(hx("AABB030305EE AABB030207EE")) == b""
    assert unit.settings == UnitSettings()
    assert [n.kind for n in d.notices] == [EventKind.PROTOCOL, EventKind.PROTOCOL]


def test_garbage_is_skipped_to_the_next_frame_and_reported() -> None:
    d = tesmart_driver()
    noisy = hx("00 AA AA BB 03 AA BB 03 01 03 EE")
    assert d.feed(noisy) == hx("AABB031102EE")
    assert d.switch.focus["km"] == "3"
    assert [n.kind for n in d.notices] == [EventKind.PROTOCOL]


def test_a_frame_with_a_bad_trailer_is_not_executed() -> None:
    d = tesmart_driver()
    assert d.feed(hx("AABB030103FF")) == b""
    assert d.switch.executed() == []


def test_unknown_commands_are_ignored() -> None:
    d = tesmart_driver()
    assert d.feed(hx("AABB035501EE")) == b""
    assert d.feed(hx("AABB031000EE")) == hx("AABB031100EE")


# -- LAN settings (ASCII) ---------------------------------------------------------------


def test_lan_queries_answer_the_factory_values_with_or_without_the_semicolon() -> None:
    d = tesmart_driver()
    assert d.feed(b"IP?;") == b"IP:192.168.001.010;"
    assert d.feed(b"IP?") == b"IP:192.168.001.010;"
    assert d.feed(b"PT?") == b"PT:05000;"
    assert d.feed(b"GW?;MA?") == b"GW:192.168.001.001;MA:255.255.255.000;"
    assert d.feed(b";ip?\r\n") == b"IP:192.168.001.010;"  # a stray ';' is an empty command
    assert d.notices == []


def test_lan_sets_reply_ok_and_read_back() -> None:
    d = tesmart_driver()
    assert d.feed(b"IP: 10.0.0.5;") == b"OK"
    assert d.feed(b"IP?;") == b"IP:010.000.000.005;"
    assert d.feed(b"PT:5001;PT?;") == b"OKPT:05001;"
    assert d.feed(b"GW:192.168.001.254;GW?") == b"OKGW:192.168.001.254;"


@pytest.mark.parametrize("bad", [b"IP:300.1.1.1;", b"IP:1.2.3;", b"PT:0;", b"PT:65536;"])
def test_a_lan_set_with_a_bad_value_is_not_answered_and_changes_nothing(bad: bytes) -> None:
    unit = TesmartUnit()
    d = tesmart_driver(unit=unit)
    assert d.feed(bad) == b""
    assert unit.settings == UnitSettings()


def test_a_lan_set_without_its_semicolon_ends_at_a_newline_or_the_next_command() -> None:
    d = tesmart_driver()
    assert d.feed(b"IP:10.0.0.7\n") == b"OK"
    assert d.feed(b"MA:255.255.0.0IP?") == b"OKIP:010.000.000.007;"
    assert d.feed(b"PT:6000" + hx("AABB031000EE")) == b"OK" + hx("AABB031100EE")


def test_a_lan_set_without_its_semicolon_ends_after_a_pause() -> None:
    d = tesmart_driver()
    assert d.feed(b"PT:6001") == b""
    deadline = d.core.next_deadline()
    assert deadline == d.now + ASCII_GAP
    assert d.tick(deadline - 0.01) == b""
    assert d.tick(deadline) == b"OK"
    assert d.feed(b"PT?") == b"PT:06001;"


def test_lan_settings_are_the_units_so_another_connection_reads_them_back() -> None:
    changes: list[UnitSettings] = []
    unit = TesmartUnit()
    unit.on_change = lambda: changes.append(unit.settings)
    first, second = tesmart_driver(unit=unit), tesmart_driver(unit=unit)
    assert first.feed(b"IP:10.9.8.7;") == b"OK"
    assert second.feed(b"IP?") == b"IP:010.009.008.007;"
    assert first.feed(b"IP:10.9.8.7;") == b"OK"  # unchanged: nothing to save
    assert [s.ip for s in changes] == [(10, 9, 8, 7)]


# -- unsolicited input-change frames ----------------------------------------------------


def test_a_change_from_elsewhere_is_reported_to_a_client_that_only_listens() -> None:
    d = tesmart_driver()
    d.switch.focus["km"] = "3"
    assert changed(d) == hx("AABB031102EE")
    assert changed(d) == b""  # it knows already
    d.switch.focus["km"] = "1"
    assert changed(d) == hx("AABB031100EE")


def test_the_client_whose_switch_was_answered_gets_no_second_frame() -> None:
    d = tesmart_driver()
    assert d.feed(hx("AABB030104EE")) == hx("AABB031103EE")
    assert changed(d) == b""


def test_a_change_while_a_request_is_out_is_reported_once_after_the_reply() -> None:
    d = tesmart_driver(auto=False)
    assert d.feed(hx("AABB031000EE")) == b""
    d.switch.focus["km"] = "2"  # another channel switched before the query ran
    assert changed(d) == b""  # held
    assert d.finish() == hx("AABB031101EE")  # the reply already names port 2
    assert [getattr(r, "command", None) for r in d.pending] == [GetStatus()]
    assert d.finish() == b""  # so the probe after it adds nothing
    d.switch.focus["km"] = "3"
    changed(d)
    assert d.finish() == hx("AABB031102EE")


def test_notify_off_sends_no_unsolicited_frames() -> None:
    d = tesmart_driver(notify=False)
    d.switch.focus["km"] = "3"
    assert changed(d) == b""
    assert d.switch.calls == []


STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("switch"), st.integers(0, 6)),
        st.tuples(st.just("query"), st.just(0)),
        st.tuples(st.just("elsewhere"), st.integers(1, 4)),
        st.tuples(st.just("answer"), st.just(0)),
    ),
    max_size=30,
)


@given(STEPS)
def test_a_listening_client_never_keeps_a_stale_input_once_everything_is_answered(
    steps: list[tuple[str, int]],
) -> None:
    """Any interleaving of the client's own switches and queries, switches made
    elsewhere, and the bus answering late: once all is answered, the last frame the client
    got names the active port, and every change made elsewhere was followed by a frame."""
    d = tesmart_driver(FakeSwitch(ports=4), auto=False)
    reader = ReportReader()
    seen: list[int] = []
    changed_elsewhere = False
    for step, n in steps:
        match step:
            case "switch":
                out = d.feed(switch(n))
            case "query":
                out = d.feed(query())
            case "elsewhere":
                d.switch.focus.update(dict.fromkeys(CHANNELS, str(n)))
                changed_elsewhere = True
                out = changed(d)
            case _:
                out = d.finish() if d.pending else b""
        seen += [r.port for r in reader.receive_data(out)]
    while d.pending:
        seen += [r.port for r in reader.receive_data(d.finish())]
    if changed_elsewhere:
        assert seen, "a change made elsewhere was never reported"
    if seen:
        assert seen[-1] == int(d.switch.focus["km"])
