"""An in-process syslog collector for the sender's tests: a TCP server that splits the
octet-counted stream, or a UDP endpoint; received messages land in an asyncio.Queue."""

from __future__ import annotations

import asyncio
import socket

from tests.syslog.rfc5424 import octet_frames


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class TcpCollector:
    def __init__(self, port: int) -> None:
        self.port = port
        self.received: asyncio.Queue[bytes] = asyncio.Queue()
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._client, "127.0.0.1", self.port, reuse_address=True
        )

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        buffer = b""
        while chunk := await reader.read(65536):
            buffer += chunk
            # whole frames only: keep a partial one for the next read
            while b" " in buffer:
                length, _, rest = buffer.partition(b" ")
                if len(rest) < int(length):
                    break
                for frame in octet_frames(buffer[: len(length) + 1 + int(length)]):
                    self.received.put_nowait(frame)
                buffer = rest[int(length) :]
        writer.close()

    async def stop(self) -> None:
        """Stop listening and close every connection (as a collector that goes away)."""
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        self._writers = []
        await self._server.wait_closed()

    async def next(self) -> bytes:
        return await asyncio.wait_for(self.received.get(), 10)


class UdpCollector(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.received: asyncio.Queue[bytes] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.DatagramTransport)
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        self.received.put_nowait(data)

    async def next(self) -> bytes:
        return await asyncio.wait_for(self.received.get(), 10)
