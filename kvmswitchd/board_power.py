"""The power side of the switchboard: a ``Power`` command through the one guarded path,
then awaited on the port's target (a QMP reply), and logged with what came of it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kvmswitchd.core.commands import Command, Origin, Outcome, Power, StatusView
from kvmswitchd.core.guard import Actor, Plan
from kvmswitchd.core.permissions import Principal
from kvmswitchd.errors import KvmError
from kvmswitchd.journal import Journal
from kvmswitchd.port import Port
from kvmswitchd.targets.target import PowerControl


class BoardPower:
    """Power actions (the switchboard sets these attributes and methods)."""

    links: Mapping[int, Port]
    journal: Journal

    def _decide(self, command: Command, origin: Origin) -> tuple[Plan, Actor] | Outcome:
        raise NotImplementedError  # pragma: no cover  # Switchboard's

    def _state_changed(self, *, save: bool = True) -> None:
        raise NotImplementedError  # pragma: no cover  # Switchboard's

    def status_view(self, viewer: Principal | None = None) -> StatusView:
        raise NotImplementedError  # pragma: no cover  # BoardReads'

    async def power(self, command: Power, origin: Origin) -> Outcome:
        """A power action through the guarded path; the target's answer is awaited (a QMP
        reply), and the action is logged with what came of it."""
        decided = self._decide(command, origin)
        if isinstance(decided, Outcome):
            return decided
        plan, actor = decided
        assert plan.port is not None  # decide() resolved them
        assert plan.power is not None
        unit = plan.port.unit
        target = self.links[unit].target
        assert isinstance(target, PowerControl)  # decide() checked World.powered
        detail: dict[str, Any] = {"action": plan.power.value}
        if origin.detail:
            detail["via"] = origin.detail
        try:
            done = await target.power(plan.power)
        except KvmError as exc:
            detail["error"] = str(exc)
            self.journal.record("power", origin.source.value, (str(unit),), origin.user, detail)
            return Outcome(False, message=f"port {unit}: {exc}", error=exc.code)
        detail["result"] = done
        self.journal.record("power", origin.source.value, (str(unit),), origin.user, detail)
        self._state_changed(save=False)
        return Outcome(True, message=f"port {unit}: {done}", status=self.status_view(actor))
