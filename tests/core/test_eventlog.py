from __future__ import annotations

import pytest

from kvmswitchd.core.eventlog import MAX_QUERY_LIMIT, LogEntry, LogQuery
from kvmswitchd.errors import InputError

ENTRIES = [
    LogEntry(10.0, "switch", "http", ("1", "3"), None, {"to": "3"}, 1),
    LogEntry(20.0, "switch", "serial", ("3", "1"), "ann", {"to": "1"}, 2),
    LogEntry(30.0, "rename", "http", ("2",), None, {}, 3),
]


def test_filters_combine() -> None:
    q = LogQuery.from_params({"kind": "switch", "source": "serial,hotkey"})
    assert [e.seq for e in q.select(ENTRIES)] == [2]
    assert [e.seq for e in LogQuery.from_params({"port": "3"}).select(ENTRIES)] == [1, 2]
    assert [e.seq for e in LogQuery.from_params({"since": "15"}).select(ENTRIES)] == [2, 3]
    assert [e.seq for e in LogQuery.from_params({"limit": "1"}).select(ENTRIES)] == [3]


def test_limit_is_clamped() -> None:
    assert LogQuery.from_params({"limit": "999999"}).limit == MAX_QUERY_LIMIT


@pytest.mark.parametrize(
    "params", [{"limit": "x"}, {"limit": "0"}, {"since": "yesterday"}, {"colour": "red"}]
)
def test_bad_filters_are_input_errors(params: dict[str, str]) -> None:
    with pytest.raises(InputError):
        LogQuery.from_params(params)


def test_entries_round_trip_through_json() -> None:
    for entry in ENTRIES:
        assert LogEntry.from_json(entry.to_json()) == entry
