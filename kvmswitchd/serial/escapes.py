"""Terminal and telnet escape sequences the text dialect skips (never a command), sans-IO.

Arrow keys and other ``ESC [ ... final`` / ``ESC O x`` sequences, and on TCP the telnet
commands a client sends unasked (``IAC WILL/WONT/DO/DONT option``, ``IAC SB ... IAC SE``).
"""

from __future__ import annotations

import enum

# Bytes skipped inside one telnet subnegotiation (terminal type, window size: a few
# bytes). Stops a lone IAC SB from swallowing the rest of a connection.
MAX_TELNET_SB = 64
IAC, SB, SE, WILL, DONT = 0xFF, 0xFA, 0xF0, 0xFB, 0xFE  # telnet (never in UTF-8 text)
SPACE = 0x20


class Escape(enum.Enum):
    """Where we are inside an escape sequence."""

    NONE = "none"
    ESC = "esc"
    CSI = "csi"  # ESC [ params final
    SS3 = "ss3"  # ESC O final
    IAC = "iac"  # telnet: IAC command
    IAC_OPTION = "iac_option"  # IAC WILL/WONT/DO/DONT option
    IAC_SB = "iac_sb"  # IAC SB ... IAC SE
    IAC_SB_IAC = "iac_sb_iac"


TELNET = (Escape.IAC, Escape.IAC_OPTION, Escape.IAC_SB, Escape.IAC_SB_IAC)


def telnet_next(state: Escape, byte: int) -> Escape:
    """The escape state after ``byte`` inside a telnet command (all of which we skip)."""
    if state is Escape.IAC:
        if WILL <= byte <= DONT:
            return Escape.IAC_OPTION
        return Escape.IAC_SB if byte == SB else Escape.NONE
    if state is Escape.IAC_SB:
        return Escape.IAC_SB_IAC if byte == IAC else Escape.IAC_SB
    if state is Escape.IAC_SB_IAC:
        return Escape.NONE if byte == SE else Escape.IAC_SB
    return Escape.NONE  # the option byte


class EscapeSkipper:
    """The escape state of one input stream."""

    def __init__(self) -> None:
        self.state = Escape.NONE
        self._sb_length = 0

    @property
    def active(self) -> bool:
        return self.state is not Escape.NONE

    def begin(self, state: Escape) -> None:
        """An ESC (or, with telnet, an IAC) was read."""
        self.state = state

    def skip(self, byte: int) -> bool:
        """Consume ``byte`` if it belongs to the sequence; False: it ended the sequence
        without belonging to it, and is read as input."""
        state = self.state
        if state in TELNET:
            self.state = telnet_next(state, byte)
            self._sb_length = self._sb_length + 1 if state is not Escape.IAC else 0
            if self._sb_length > MAX_TELNET_SB:
                self.state = Escape.NONE
            return True
        if state is Escape.ESC:
            if byte < SPACE:
                self.state = Escape.NONE
                return False
            self.state = {ord("["): Escape.CSI, ord("O"): Escape.SS3}.get(byte, Escape.NONE)
            return True
        if state is Escape.CSI and 0x20 <= byte <= 0x3F:
            return True  # parameter and intermediate bytes
        self.state = Escape.NONE
        return 0x40 <= byte <= 0x7E if state is Escape.CSI else 0x20 <= byte <= 0x7E
