"""kvmctl's progress bar: drawn in place on a terminal, nothing at all on a pipe."""

from __future__ import annotations

import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kvmswitchd.ctl.progress import BAR, Progress, human, render


class FakeTty(io.StringIO):
    """A terminal as far as kvmctl can tell (isatty), recording what was drawn."""

    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_bar_shows_the_share_done_and_the_amounts() -> None:
    line = render("upload x.iso", 3 << 20, 12 << 20, unit="bytes", elapsed=1.0, width=79)
    assert line == "upload x.iso [######------------------]  25%  3.0 MiB / 12.0 MiB"


def test_a_wait_without_figures_bounces_a_marker_and_counts_seconds() -> None:
    first = render("creating a.img", 0, None, unit="bytes", elapsed=0.0, width=79)
    later = render("creating a.img", 0, None, unit="bytes", elapsed=0.5, width=79)
    assert first == "creating a.img [<=>" + " " * (BAR - 3) + "] 0 s"
    assert later != first and "<=>" in later


@given(
    st.text(max_size=200),
    st.floats(min_value=0, max_value=1e15),
    st.none() | st.floats(min_value=1, max_value=1e15),
    st.integers(min_value=20, max_value=300),
)
def test_a_line_never_outgrows_the_terminal(
    label: str, done: float, total: float | None, width: int
) -> None:
    assert len(render(label, done, total, unit="bytes", elapsed=3.7, width=width)) <= width


def test_sizes_read_as_binary_units() -> None:
    assert [human(n, "bytes") for n in (5, 2048, 5 << 30)] == ["5 B", "2.0 KiB", "5.0 GiB"]
    assert human(4.2, "s") == "4 s"


def test_on_a_terminal_the_bar_is_redrawn_in_place_and_cleared_at_the_end() -> None:
    tty, clock = FakeTty(), Clock()
    with Progress("upload", total=100, stream=tty, clock=clock) as bar:
        bar.update(10)
        clock.now += 1
        bar.update(100)
    drawn = tty.getvalue()
    assert drawn.startswith("\rupload [##") and " 10%" in drawn and "100%" in drawn
    assert drawn.endswith("\r") and "\n" not in drawn  # the line is left empty for output


def test_updates_faster_than_a_tenth_of_a_second_are_not_all_drawn() -> None:
    tty, clock = FakeTty(), Clock()
    bar = Progress("upload", total=10_000, stream=tty, clock=clock)
    for done in range(1, 1000):
        bar.update(done)  # 8 KiB blocks arrive far faster than a terminal needs
    assert tty.getvalue().count("\r") == 1
    bar.update(10_000)  # the end is always drawn
    assert "100%" in tty.getvalue()


def test_quick_work_under_the_delay_draws_nothing() -> None:
    tty, clock = FakeTty(), Clock()
    with Progress("creating", stream=tty, clock=clock, delay=0.3) as bar:
        bar.draw(force=True)
    assert tty.getvalue() == ""


def test_a_pipe_gets_nothing() -> None:
    pipe = io.StringIO()
    with Progress("upload", total=10, stream=pipe) as bar:
        bar.update(5)
        bar.update(10)
    assert pipe.getvalue() == ""


def test_term_dumb_turns_the_bar_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "dumb")
    tty = FakeTty()
    Progress("upload", total=10, stream=tty).update(10)
    assert tty.getvalue() == ""
