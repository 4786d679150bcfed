"""The asyncio sender against in-process collectors: frames arrive whole, a collector that
is down costs the producer nothing, and what was queued arrives when it is back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kvmswitchd.core.eventlog import LogEntry
from kvmswitchd.syslog.format import SD_ID, Formatter
from kvmswitchd.syslog.sender import SyslogForwarder
from kvmswitchd.syslog.settings import SyslogConfig, Transport
from tests.syslog.collector import TcpCollector, UdpCollector, free_port
from tests.syslog.rfc5424 import parse


def entry(seq: int, kind: str = "switch") -> LogEntry:
    return LogEntry(1_764_790_000.0 + seq, kind, "http", ("2",), "alice", {"to": "2"}, seq=seq)


class Journaled:
    """A fake Journal.record: what the forwarder journals."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def __call__(self, *args: Any) -> None:
        self.calls.append(args)


def forwarder(port: int, transport: Transport = Transport.TCP, **kw: Any) -> SyslogForwarder:
    config = SyslogConfig(transport, "127.0.0.1", port, retry_max=0.05, **kw)
    return SyslogForwarder(config, Formatter(hostname="test"))


@pytest.fixture
async def collector() -> AsyncIterator[TcpCollector]:
    collector = TcpCollector(free_port())
    await collector.start()
    yield collector
    await collector.stop()


async def test_tcp_frames_arrive_octet_counted_and_in_order(collector: TcpCollector) -> None:
    sender = forwarder(collector.port)
    sender.start()
    for seq in range(1, 51):
        sender.offer(entry(seq))
    seqs = [parse(await collector.next()).param(SD_ID, "seq") for _ in range(50)]
    assert seqs == [str(s) for s in range(1, 51)]
    assert sender.view()["sent"] == 50 and sender.view()["connected"]
    await sender.close()


async def test_udp_sends_one_message_per_datagram() -> None:
    loop = asyncio.get_running_loop()
    transport, udp = await loop.create_datagram_endpoint(UdpCollector, local_addr=("127.0.0.1", 0))
    port = transport.get_extra_info("sockname")[1]
    sender = forwarder(port, Transport.UDP)
    sender.start()
    sender.offer(entry(1, "login"))
    message = parse(await udp.next())
    assert (message.msgid, message.param(SD_ID, "user")) == ("login", "alice")
    await sender.close()
    transport.close()


async def test_a_collector_that_is_down_costs_offer_nothing_and_gets_the_records_later() -> None:
    collector = TcpCollector(free_port())  # nobody listens there yet
    sender = forwarder(collector.port)
    sender.start()
    for seq in range(1, 6):
        sender.offer(entry(seq))  # returns at once: the sender only queues
    assert sender.view()["queued"] == 5 and not sender.view()["connected"]
    await collector.start()
    await asyncio.wait_for(sender.connected.wait(), 10)
    seqs = [parse(await collector.next()).param(SD_ID, "seq") for _ in range(5)]
    assert seqs == ["1", "2", "3", "4", "5"]
    assert sender.view()["failures"] >= 1
    await sender.close()
    await collector.stop()


async def test_a_collector_that_goes_away_is_noticed_and_reconnected(
    collector: TcpCollector,
) -> None:
    sender = forwarder(collector.port)
    sender.start()
    sender.offer(entry(1))
    await collector.next()
    await collector.stop()
    await asyncio.wait_for(sender.disconnected.wait(), 10)
    sender.offer(entry(2))  # queued while nobody listens
    await collector.start()
    assert parse(await collector.next()).param(SD_ID, "seq") == "2"
    assert sender.view()["reconnects"] == 1
    await sender.close()


async def test_records_dropped_while_away_are_counted_and_journaled_on_return() -> None:
    collector = TcpCollector(free_port())
    journaled = Journaled()
    config = SyslogConfig(Transport.TCP, "127.0.0.1", collector.port, queue=3, retry_max=0.05)
    sender = SyslogForwarder(config, Formatter(), record=journaled)
    sender.start()
    for seq in range(1, 11):
        sender.offer(entry(seq))
    assert sender.view()["dropped"] == 7 and sender.view()["queued"] == 3
    await collector.start()
    seqs = [parse(await collector.next()).param(SD_ID, "seq") for _ in range(3)]
    assert seqs == ["8", "9", "10"]  # the newest survive
    assert [call[0] for call in journaled.calls] == ["syslog_dropped"]
    assert journaled.calls[0][4]["count"] == 7
    await sender.close()
    await collector.stop()


async def test_close_flushes_what_is_queued_to_a_live_collector(collector: TcpCollector) -> None:
    sender = forwarder(collector.port)
    sender.start()
    await asyncio.wait_for(sender.connected.wait(), 10)
    for seq in range(1, 21):
        sender.offer(entry(seq))
    await sender.close()
    assert sender.view()["queued"] == 0
    seqs = [parse(await collector.next()).param(SD_ID, "seq") for _ in range(20)]
    assert seqs == [str(s) for s in range(1, 21)]


class CountingFormatter(Formatter):
    """A formatter that counts its calls and cannot format the record with seq ``broken``."""

    calls: list[int]
    broken: int

    def message(self, entry: LogEntry) -> bytes:
        self.calls.append(entry.seq)
        if entry.seq == self.broken:
            raise ValueError("a formatting bug")
        return super().message(entry)


def counting(broken: int) -> CountingFormatter:
    formatter = CountingFormatter(hostname="test")
    object.__setattr__(formatter, "calls", [])
    object.__setattr__(formatter, "broken", broken)
    return formatter


async def test_offer_only_queues_formatting_is_off_the_journaling_path_and_a_bad_record_costs_only_itself(
    collector: TcpCollector,
) -> None:
    config = SyslogConfig(Transport.TCP, "127.0.0.1", collector.port, retry_max=0.05)
    formatter = counting(broken=2)
    sender = SyslogForwarder(config, formatter)
    for seq in (1, 2, 3):
        sender.offer(entry(seq))
    assert formatter.calls == []  # the switch that journaled these paid nothing for syslog
    sender.start()
    seqs = [parse(await collector.next()).param(SD_ID, "seq") for _ in range(2)]
    assert seqs == ["1", "3"]
    assert sender.view()["queued"] == 0 and sender.view()["sent"] == 2
    await sender.close()
