"""The hot path: console input → hotkey detector → the km-focused port's encoder.

One ``Router`` receives every console batch (evdev, fifo, HTTP-injected) and routes it.
Hotkey actions are handed to the daemon synchronously, so a switch inside a batch takes
effect for the rest of that batch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from kvmswitchd.console.events import AbsMotion, ButtonChange, ConsoleInput, KeyChange, Motion
from kvmswitchd.core.guard import Actor
from kvmswitchd.core.holds import CONSOLE, Holder
from kvmswitchd.core.hotkeys import HotkeyAction, HotkeyDetector, HotkeyResult
from kvmswitchd.port import Port

# (action, now, actor): the actor is who typed the hotkey (None: the physical console)
ActionHandler = Callable[[HotkeyAction, float, Actor | None], None]
# The ports an actor's input may reach (None: every port); see core.guard.may_type.
Typing = Callable[[Actor | None], frozenset[int] | None]


def _everywhere(_actor: Actor | None) -> frozenset[int] | None:
    return None


class Router:
    def __init__(
        self,
        ports: Mapping[int, Port],
        km: int,
        detector: HotkeyDetector | None,
        on_action: ActionHandler,
        on_key_activity: Callable[[], None] | None = None,
        rearm: Callable[[float | None], None] | None = None,
        typing: Typing = _everywhere,
    ) -> None:
        self._ports = ports
        # Input is authorized per routed event against the port it actually reaches
        # (focus can move inside a batch): ``typing(actor)`` is looked up once per batch.
        self.typing = typing
        self._detector_actor: Actor | None = None  # who fed the detector last (timers)
        self._port = ports[km]
        self.detector = detector
        self._on_action = on_action
        self._on_key_activity = on_key_activity
        self._rearm = rearm
        self._armed: float | None = None  # the deadline last handed to ``rearm``
        self.events_routed = 0

    @property
    def km(self) -> int:
        return self._port.unit

    def set_km(self, unit: int) -> None:
        self._port = self._ports[unit]

    def console_input(
        self,
        device: str,  # noqa: ARG002  # ConsoleSink signature
        batch: Sequence[ConsoleInput],
        now: float,
        actor: Actor | None = None,
    ) -> None:
        """Route one batch of console input (the ``ConsoleSink`` of the console sources).

        ``actor`` is who typed it: None for the physical console, a user for a web
        console (``POST /console/events``); its hotkeys act with its rights, and each
        event reaches the focused port only where the actor may type.

        Every console event passes here, so the loop is flat: no call per event beyond the
        detector and the port, and the timer is re-armed only when its deadline moves.
        """
        self.events_routed += len(batch)
        detector = self.detector
        activity = self._on_key_activity
        allowed = self.typing(actor)
        for item in batch:
            if allowed is not None and self._port.unit not in allowed:
                if type(item) is not KeyChange or detector is None:
                    continue  # not this actor's port: nothing reaches it
                # keys still feed the detector: a hotkey may switch to a port it may type on
                result = detector.feed(item.code, item.pressed, now)
                self._detector_actor = actor
                self._actions(result, now, actor)
                continue
            if type(item) is KeyChange:
                pressed = item.pressed
                if pressed and activity is not None:
                    activity()
                if detector is None:
                    self._port.key(item.code, pressed)
                    continue
                result = detector.feed(item.code, pressed, now)
                self._detector_actor = actor
                for code, down in result.forward:
                    self._port.key(code, down)
                if result.actions:
                    self._actions(result, now, actor)
            else:
                self._deliver_pointer(self._port, item)
        if detector is not None:
            deadline = detector.next_deadline()
            if deadline != self._armed:
                self._rearm_at(deadline)

    def handle_timer(self, now: float) -> None:
        if self.detector is None:
            return
        self._apply(self.detector.handle_timer(now), now)
        self._rearm_at(self.detector.next_deadline(), force=True)

    def _rearm_at(self, deadline: float | None, *, force: bool = False) -> None:
        if (force or deadline != self._armed) and self._rearm is not None:
            self._armed = deadline
            self._rearm(deadline)

    def _apply(self, result: HotkeyResult, now: float) -> None:
        actor = self._detector_actor
        allowed = self.typing(actor)
        if allowed is None or self._port.unit in allowed:
            for code, pressed in result.forward:
                self._port.key(code, pressed)
        self._actions(result, now, actor)

    def _actions(self, result: HotkeyResult, now: float, actor: Actor | None) -> None:
        for action in result.actions:
            self._on_action(action, now, actor)  # may call set_km: self._port changes

    def deliver(
        self,
        unit: int,
        batch: Sequence[ConsoleInput],
        actor: Actor | None = None,
        holder: Holder = CONSOLE,
    ) -> bool:
        """Send input straight to one port, with no hotkey detection (``POST /input``, the
        websocket), the keys and buttons held by ``holder``; False (nothing sent) when
        ``actor`` may not type into that port."""
        allowed = self.typing(actor)
        if allowed is not None and unit not in allowed:
            return False
        port = self._ports[unit]
        for item in batch:
            if type(item) is KeyChange:
                port.key(item.code, item.pressed, holder)
            else:
                self._deliver_pointer(port, item, holder)
        return True

    @staticmethod
    def _deliver_pointer(port: Port, item: ConsoleInput, holder: Holder = CONSOLE) -> None:
        if type(item) is Motion:
            port.move(item.dx, item.dy, item.wheel, item.hwheel)
        elif type(item) is ButtonChange:
            port.button(item.code, item.pressed, holder)
        elif type(item) is AbsMotion:
            port.move_to(*item.scaled())
