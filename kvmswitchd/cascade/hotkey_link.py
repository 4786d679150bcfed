"""The ``hotkeys`` downstream: selects a channel by typing the switch's hotkey into
upstream port N's keyboard (``UpstreamSide.key``), at the sequence's times.

Without a control line nothing confirms the result (``confirm = "none"``): the channel
typed last is shown as active, with ``detail`` saying it is assumed. A switch that can
still be asked over a serial line (``confirm = "serial"``) is read back ``settle``
seconds after the last key, and shows what it reports. One
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
from kvmswitchd.cascade.serial_link import SerialDownstream
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
        # confirm = "serial": the switch is asked over its serial line after each hotkey
        self._readback = (
            SerialDownstream(config.readback, side) if config.readback is not None else None
        )

    @property
    def hop(self) -> str:
        return f"port {self._side.unit}'s hotkey switch"

    def view(self) -> DownstreamView:
        cfg = self.config
        reachable, active, detail = True, self._active, self._detail
        if self._readback is not None:  # what the switch says, not what was typed
            asked = self._readback.view()
            reachable, detail = asked.reachable, f"serial read-back: {asked.detail}"
            active = asked.active[0] if asked.active else None
        return DownstreamView(
            reachable=reachable,
            active=(active,) if active is not None else None,
            ports=tuple(
                DownstreamPort(channel, cfg.name_of(channel), online=reachable)
                for channel in range(1, cfg.ports + 1)
            ),
            detail=detail,
            extra={
                "sequence": cfg.sequence,
                "preset": cfg.preset,
                "delay": cfg.delay,
                "hold": cfg.hold,
                "confirm": cfg.confirm,
            },
        )

    async def start(self, on_change: OnChange, on_event: OnEvent) -> None:
        self._on_change = on_change
        if self._readback is not None:
            await self._readback.start(lambda _view: on_change(self.view()), on_event)

    async def select(
        self,
        path: tuple[int, ...],
        channels: frozenset[Channel],  # a hotkey moves every channel; checked on read-back
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
        readback = self._readback
        if readback is not None and not readback.view().reachable:
            raise DeviceError(
                f"{self.hop}: nothing typed, it cannot be confirmed: {readback.hop} "
                f"is {readback.view().detail}"
            )
        async with self._lock:
            await self._type(SequencePlayer(events, self._side.monotonic()), channel)
            if readback is not None:
                await self._side.sleep(self.config.settle)
                await readback.confirm(path, channels)  # DeviceError naming the line
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
        if self._readback is not None:
            await self._readback.close()
