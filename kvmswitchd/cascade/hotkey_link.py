"""The ``hotkeys`` downstream: selects a channel by typing the switch's hotkey into
upstream port N's keyboard (``UpstreamSide.key``), at the sequence's times.

The switch has no control line, so nothing confirms the result (``confirm = "none"``):
the channel typed last is shown as active, with ``detail`` saying it is assumed. One
sequence is typed at a time (a second ``select`` waits for the first). If typing is
interrupted (cancelled, or a key cannot be sent), every key the sequence still holds is
released and a DeviceError says how far it got: the downstream may be half-way into
its hotkey mode, and the upstream must not believe it switched.
"""

from __future__ import annotations

import asyncio
import contextlib

from kvmswitchd.cascade.downstream import (
    DownstreamPort,
    DownstreamView,
    OnChange,
    OnEvent,
    UpstreamSide,
)
from kvmswitchd.cascade.hotkey_config import HotkeyCascade
from kvmswitchd.cascade.hotkey_notation import SequencePlayer, key_name, schedule
from kvmswitchd.core.ports import Channel
from kvmswitchd.errors import DeviceError, InputError, KvmError, PortError


class HotkeyDownstream:
    kind = "hotkeys"

    def __init__(self, config: HotkeyCascade, side: UpstreamSide) -> None:
        self.config = config
        self._side = side
        self._lock = asyncio.Lock()
        self._active: int | None = None
        self._detail = "not selected since start (a hotkey switch cannot be asked)"
        self._on_change: OnChange | None = None
        self._closed = False

    @property
    def hop(self) -> str:
        return f"port {self._side.unit}'s hotkey switch"

    def view(self) -> DownstreamView:
        cfg = self.config
        return DownstreamView(
            reachable=True,
            active=(self._active,) if self._active is not None else None,
            ports=tuple(
                DownstreamPort(channel, cfg.name_of(channel), online=True)
                for channel in range(1, cfg.ports + 1)
            ),
            detail=self._detail,
            extra={
                "sequence": cfg.sequence,
                "preset": cfg.preset,
                "delay": cfg.delay,
                "hold": cfg.hold,
                "confirm": cfg.confirm,
            },
        )

    async def start(self, on_change: OnChange, on_event: OnEvent) -> None:  # noqa: ARG002 - no downstream log
        self._on_change = on_change

    async def select(
        self,
        path: tuple[int, ...],
        channels: frozenset[Channel],  # noqa: ARG002 - a hotkey moves every channel
        *,
        force: bool = False,  # noqa: ARG002 - nothing to force: the switch is not asked
    ) -> None:
        if len(path) != 1:
            raise PortError(f"{self.hop} has one level: {'.'.join(map(str, path))} goes deeper")
        channel = path[0]
        if not 1 <= channel <= self.config.ports:
            raise PortError(f"{self.hop} has channels 1..{self.config.ports}, not {channel}")
        if self._closed:
            raise DeviceError(f"{self.hop} is closed")
        try:
            events = schedule(
                self.config.steps, channel, hold=self.config.hold, delay=self.config.delay
            )
        except InputError as exc:
            raise InputError(f"{self.hop}: {exc}") from None
        async with self._lock:
            await self._type(SequencePlayer(events, self._side.monotonic()), channel)
        self._active = channel
        self._detail = f"assumed: the hotkey for channel {channel} was typed (confirm = none)"
        if self._on_change is not None:
            self._on_change(self.view())

    async def _type(self, player: SequencePlayer, channel: int) -> None:
        side = self._side
        try:
            while (deadline := player.next_deadline()) is not None:
                wait = deadline - side.monotonic()
                if wait > 0:
                    await side.sleep(wait)
                while (event := player.due(side.monotonic())) is not None:
                    side.key(event.code, event.pressed)
                    player.sent()
        except (asyncio.CancelledError, KvmError, OSError) as exc:
            held = player.held()
            for code in held:
                with contextlib.suppress(KvmError, OSError):  # gone: nothing holds it now
                    side.key(code, False)
            self._active = None
            self._detail = f"unknown: the hotkey for channel {channel} was interrupted"
            if self._on_change is not None:
                self._on_change(self.view())
            if isinstance(exc, asyncio.CancelledError):
                raise  # the canceller decides; the view says the state is unknown
            released = ", ".join(key_name(code) for code in held) or "none held"
            raise DeviceError(
                f"{self.hop}: hotkey for channel {channel} interrupted after "
                f"{player.count} of {player.total} key events ({exc}); released: {released}; "
                "the switch may be left in its hotkey mode"
            ) from exc

    async def close(self) -> None:
        self._closed = True
