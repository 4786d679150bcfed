"""The RFC 5424 formatter: every entry, whatever a user or peer put in it, is one message a
strict RFC 5424 parser accepts, within the size limit, carrying the audit fields."""

from __future__ import annotations

import datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from kvmswitchd.core.eventlog import LogEntry
from kvmswitchd.syslog.format import (
    MAX_SD_VALUE,
    MIN_MESSAGE_BYTES,
    SD_DETAIL_ID,
    SD_ID,
    Facility,
    Formatter,
    octet_counted,
    timestamp,
    visible,
)
from tests.syslog.rfc5424 import Malformed, octet_frames, parse

FORMATTER = Formatter(Facility.LOCAL3, "kvm-rack-3", "kvmswitchd", "4242")
SWITCH = LogEntry(
    1_764_790_000.25,
    "switch",
    "http",
    ("2", "1"),
    "alice",
    {"to": "2", "channels": ["km", "video"], "from": {"km": "1"}, "force": True},
    seq=17,
)

texts = st.text(max_size=300)
scalars = st.one_of(texts, st.integers(), st.booleans(), st.floats(allow_nan=True))
details = st.dictionaries(texts, st.one_of(scalars, st.lists(texts, max_size=5)), max_size=20)
entries = st.builds(
    LogEntry,
    time=st.floats(min_value=-1e12, max_value=1e12, allow_nan=False),
    kind=texts,
    source=texts,
    ports=st.lists(texts, max_size=40).map(tuple),
    user=st.none() | texts,
    detail=details,
    seq=st.integers(min_value=0, max_value=1 << 63),
)


def test_a_switch_carries_source_user_ports_and_details_as_structured_data() -> None:
    message = parse(FORMATTER.message(SWITCH))
    assert message.prival == Facility.LOCAL3 * 8 + 5  # notice
    assert message.version == 1
    assert message.timestamp == "2025-12-03T19:26:40.250000Z"
    assert (message.hostname, message.app_name, message.procid) == (
        "kvm-rack-3",
        "kvmswitchd",
        "4242",
    )
    assert message.msgid == "switch"
    assert message.sd[SD_ID] == [
        ("kind", "switch"),
        ("source", "http"),
        ("user", "alice"),
        ("ports", "2,1"),
        ("seq", "17"),
    ]
    assert message.sd[SD_DETAIL_ID] == [("to", "2"), ("channels", "km,video"), ("force", "true")]
    assert message.msg == "switch to 2 [km,video] from http by alice"


def test_the_msg_is_utf8_with_a_bom() -> None:
    raw = FORMATTER.message(SWITCH)
    assert b"] \xef\xbb\xbfswitch to 2" in raw


def test_quote_backslash_and_bracket_in_a_value_are_escaped() -> None:
    entry = LogEntry(0.0, "login_failed", "serial", (), 'a"b\\c]d', {})
    raw = FORMATTER.message(entry)
    assert b'user="a\\"b\\\\c\\]d"' in raw
    assert parse(raw).param(SD_ID, "user") == 'a"b\\c]d'


def test_a_newline_in_a_user_name_cannot_forge_a_second_record() -> None:
    forged = "x\n<13>1 2026-01-01T00:00:00Z evil kvmswitchd - login"
    raw = FORMATTER.message(LogEntry(0.0, "login_failed", "http", (), forged, {}))
    assert b"\n" not in raw and b"\r" not in raw
    assert parse(raw).param(SD_ID, "user") == visible(forged)[:MAX_SD_VALUE]


def test_a_header_field_with_spaces_or_non_ascii_is_made_printusascii() -> None:
    formatter = Formatter(hostname="my host é", app_name="", procid="1")
    message = parse(formatter.message(LogEntry(0.0, "ünïcode kind", "http")))
    assert message.hostname == "my_host__"
    assert message.app_name == "-"
    assert message.msgid == "_n_code_kind"


def test_an_entry_without_user_or_ports_leaves_those_params_out() -> None:
    message = parse(FORMATTER.message(LogEntry(0.0, "startup", "system", detail={"ports": 4})))
    assert [name for name, _ in message.sd[SD_ID]] == ["kind", "source", "seq"]


def test_a_huge_detail_is_cut_to_the_size_limit_details_first() -> None:
    detail = {f"key{i}": "v" * 200 for i in range(12)}
    entry = LogEntry(0.0, "call", "serial", ("1",), "bob", detail)
    raw = FORMATTER.message(entry)
    assert len(raw) <= MIN_MESSAGE_BYTES
    message = parse(raw)
    assert message.param(SD_ID, "user") == "bob"  # the audit fields always stay


def test_a_year_before_1000_still_has_four_digits() -> None:
    assert parse(FORMATTER.message(LogEntry(-31_000_000_000.0, "x", "y"))).timestamp.startswith(
        "0987-"
    )


@given(st.floats(min_value=-62_135_596_800, max_value=253_402_300_799, allow_nan=False))
def test_the_timestamp_is_the_calendar_time_datetime_gives(unix: float) -> None:
    micros = round(unix * 1_000_000)
    moment = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC) + datetime.timedelta(
        microseconds=micros
    )
    assert timestamp(unix) == f"{moment.year:04d}-{moment:%m-%dT%H:%M:%S.%f}Z"


def test_an_impossible_time_is_the_nil_timestamp() -> None:
    for unix in (1e300, -1e300, float("nan"), float("inf"), 253_402_300_800.0):
        assert parse(FORMATTER.message(LogEntry(unix, "x", "y"))).timestamp == "-"


def test_octet_counting_prefixes_the_byte_length() -> None:
    assert octet_counted("é".encode()) == b"2 \xc3\xa9"
    assert octet_frames(octet_counted(b"abc") + octet_counted(b"de")) == [b"abc", b"de"]


def test_the_strict_parser_refuses_what_rfc_5424_forbids() -> None:
    good = FORMATTER.message(SWITCH)
    for bad in (
        good.replace(b"<157>", b"<192>"),
        good.replace(b"<157>", b"<015>"),
        good.replace(b'user="alice"', b'user="al]ice"'),
        good.replace(b'user="alice"', b'user="al\\ice"'),
        good.replace(b" kvm-rack-3 ", b"  "),
        good.replace(b"[kvm@32473", b"[kvm 32473"),
    ):
        try:
            parse(bad)
        except Malformed:
            continue
        raise AssertionError(f"accepted {bad!r}")


def shown(value: str) -> str:
    """What a value reads as after the formatter: UTF-8-safe, controls spelt, capped."""
    return visible(value.encode("utf-8", "replace").decode("utf-8"))[:MAX_SD_VALUE]


@settings(max_examples=150, deadline=None)
@given(entries, st.integers(min_value=MIN_MESSAGE_BYTES, max_value=4096))
def test_any_entry_is_one_valid_message_within_the_limit(entry: LogEntry, limit: int) -> None:
    formatter = Formatter(hostname="h" * 255, app_name="a" * 48, procid="p" * 128, max_bytes=limit)
    raw = formatter.message(entry)
    assert len(raw) <= limit
    assert not any(byte < 0x20 or byte == 0x7F for byte in raw)  # no control octet at all
    message = parse(raw)
    assert message.param(SD_ID, "source") == shown(entry.source)
    assert message.param(SD_ID, "ports") == (shown(",".join(entry.ports)) if entry.ports else None)
    assert message.param(SD_ID, "user") == (None if entry.user is None else shown(entry.user))
    assert message.param(SD_ID, "seq") == str(entry.seq)
    assert octet_frames(octet_counted(raw)) == [raw]
