"""A TESmart client written from the public protocol only (reference §2.1), sans-IO.

It knows what a TESmart owner's software knows: 6-byte frames ``AA BB 03 <cmd> <val>
EE``, 1-based switches, 0-based ``11`` reports, silence for a port the unit lacks, and
unsolicited reports whenever the input changes. ``requests`` produce bytes to send;
``receive_data`` turns what came back into reports. The probe is a small state machine
(``InputCountProbe``) so tests can drive it over the Driver, a pty or TCP alike.

Finding the input count without timeouts: each probe step sends ``switch N`` followed by
a query. A unit that has port N answers twice (the switch, then the query), both naming
N; one that lacks it answers only the query, naming the port still active (which is
never N, since N does not exist). So the first report decides, with no waiting on
silence.
"""

from __future__ import annotations

from dataclasses import dataclass

HEADER = b"\xaa\xbb\x03"
TRAILER = 0xEE
REPORT = 0x11
MAX_INPUTS = 16  # the largest TESmart KVM


def switch(port: int) -> bytes:
    """Switch to input ``port`` (1-based)."""
    return HEADER + bytes((0x01, port, TRAILER))


def query() -> bytes:
    return HEADER + bytes((0x10, 0x00, TRAILER))


def buzzer(on: bool) -> bytes:
    return HEADER + bytes((0x02, int(on), TRAILER))


def lan_query(key: str, *, semicolon: bool = True) -> bytes:
    return f"{key}?{';' if semicolon else ''}".encode()


def lan_set(key: str, value: str) -> bytes:
    return f"{key}:{value};".encode()


def lan_value(reply: bytes, key: str) -> str:
    """``IP:192.168.001.010;`` → ``192.168.1.10``; ``PT:05000;`` → ``5000``."""
    text = reply.decode("ascii")
    assert text.startswith(f"{key}:") and text.endswith(";"), text
    value = text[len(key) + 1 : -1]
    return ".".join(str(int(p)) for p in value.split("."))


@dataclass(frozen=True, slots=True)
class InputReport:
    """``AA BB 03 11 <port> EE``: the active input, here 1-based."""

    port: int


class ReportReader:
    """Frames from a byte stream: complete ``11`` reports, anything else skipped."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def receive_data(self, data: bytes) -> list[InputReport]:
        self._buffer += data
        reports: list[InputReport] = []
        while True:
            start = self._buffer.find(HEADER)
            if start < 0:
                del self._buffer[: max(0, len(self._buffer) - len(HEADER) + 1)]
                return reports
            if len(self._buffer) - start < 6:
                del self._buffer[:start]
                return reports
            command, value, trailer = self._buffer[start + 3 : start + 6]
            del self._buffer[: start + 6]
            if command == REPORT and trailer == TRAILER:
                reports.append(InputReport(value + 1))


class InputCountProbe:
    """From the highest port down: the first port the unit answers for is the count."""

    def __init__(self, highest: int = MAX_INPUTS) -> None:
        self.trying = highest
        self.count: int | None = None
        self._reader = ReportReader()
        self._second_pending = False

    def start(self) -> bytes:
        return switch(self.trying) + query()

    def receive_data(self, data: bytes) -> bytes:
        """Feed replies; returns what to send next (b"" while waiting, or when done)."""
        out = b""
        for report in self._reader.receive_data(data):
            if self._second_pending:  # the query's answer after an answered switch
                self._second_pending = False
                self.count = self.trying
                continue
            if report.port == self.trying:
                self._second_pending = True  # the query's report follows
            else:
                self.trying -= 1
                out += switch(self.trying) + query() if self.trying > 0 else b""
        return out
