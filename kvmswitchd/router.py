"""The hot path: console input → hotkey detector → the km-focused port's encoder.

One ``Router`` receives every console batch (evdev, fifo, HTTP-injected) and routes it.
Hotkey actions are handed to the daemon synchronously, so a switch inside a batch takes
effect for the rest of that batch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from kvmswitchd.console.events import AbsMotion, ButtonChange, ConsoleInput, KeyChange, Motion
from kvmswitchd.core.holds import CONSOLE, Holder
from kvmswitchd.core.hotkeys import HotkeyAction, HotkeyDetector, HotkeyResult
from kvmswitchd.port import Port

ActionHandler = Callable[[HotkeyAction, float], None]


class Router:
    def __init__(
        self,
        ports: Mapping[int, Port],
        km: int,
        detector: HotkeyDetector | None,
        on_action: ActionHandler,
        on_key_activity: Callable[[], None] | None = None,
        rearm: Callable[[float | None], None] | None = None,
    ) -> None:
        self._ports = ports
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

    def console_input(self, device: str, batch: Sequence[ConsoleInput], now: float) -> None:  # noqa: ARG002  # ConsoleSink signature
        """Route one batch of console input (the ``ConsoleSink`` of the console sources).

        Every console event passes here, so the loop is flat: no call per event beyond the
        detector and the port, and the timer is re-armed only when its deadline moves.
        """
        self.events_routed += len(batch)
        detector = self.detector
        activity = self._on_key_activity
        for item in batch:
            if type(item) is KeyChange:
                pressed = item.pressed
                if pressed and activity is not None:
                    activity()
                if detector is None:
                    self._port.key(item.code, pressed)
                    continue
                result = detector.feed(item.code, pressed, now)
                for code, down in result.forward:
                    self._port.key(code, down)
                if result.actions:
                    for action in result.actions:
                        self._on_action(action, now)  # may call set_km: self._port changes
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
        for code, pressed in result.forward:
            self._port.key(code, pressed)
        for action in result.actions:
            self._on_action(action, now)  # may call set_km

    def deliver(self, unit: int, batch: Sequence[ConsoleInput], holder: Holder = CONSOLE) -> None:
        """Send input straight to one port, with no hotkey detection (``POST /input``, the
        websocket), the keys and buttons held by ``holder``."""
        port = self._ports[unit]
        for item in batch:
            if type(item) is KeyChange:
                port.key(item.code, item.pressed, holder)
            else:
                self._deliver_pointer(port, item, holder)

    @staticmethod
    def _deliver_pointer(port: Port, item: ConsoleInput, holder: Holder = CONSOLE) -> None:
        if type(item) is Motion:
            port.move(item.dx, item.dy, item.wheel, item.hwheel)
        elif type(item) is ButtonChange:
            port.button(item.code, item.pressed, holder)
        elif type(item) is AbsMotion:
            port.move_to(*item.scaled())
