"""bus.FocusFeed on the switchboard: one call per focus move, whichever channel made it;
none for a switch that moved nothing or was refused; a failing listener costs nothing."""

from __future__ import annotations

from kvmswitchd.core.commands import Origin, Source, Step, SwitchTo
from kvmswitchd.core.hotkeys import SelectPort
from tests.daemon.conftest import Running


async def test_every_move_from_any_channel_is_told_once_and_nothing_else(
    running: Running,
) -> None:
    board = running.board
    calls: list[str] = []

    def broken() -> None:
        raise RuntimeError("a listener with a bug")

    board.on_focus_change(broken)
    unsubscribe = board.on_focus_change(lambda: calls.append(board.core.focus_view()["km"]))
    await running.post("/switch", {"port": "2"})
    await running.post("/switch", {"port": "2"})  # already there: nothing moved
    await running.post("/switch", {"port": "99"}, status=404)
    await running.post("/buttons/3")
    board.run(Step(1), Origin(Source.SERIAL, detail="line"))
    board.hotkey_action(SelectPort("1"))
    assert calls == ["2", "3", "4", "1"]
    unsubscribe()
    board.run(SwitchTo("2"), Origin(Source.SERIAL, detail="line"))
    assert calls == ["2", "3", "4", "1"]
    assert board.core.focus_view()["km"] == "2"  # the broken listener stopped nothing
