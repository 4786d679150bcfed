"""Who may use the USB/IP listener, and the journal of who did: the allow-list (v4, v6,
networks), an outsider closed before a byte is read (it does not learn the busids), and
every import, detach and refusal journaled with the peer, refusals through the noise
budget. A non-loopback peer is a client socket bound to 127.0.0.2."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import struct
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import usbip
import usbip.host
from hypothesis import given
from hypothesis import strategies as st

from kvmswitchd.allowlist import admits
from kvmswitchd.core.noise import NoisePolicy
from kvmswitchd.journal import Journal
from kvmswitchd.targets.usbip_export import LOOPBACK, UsbipServer
from tests.targets.test_usbip_export import Attachment, call, started

TIMEOUT = 5.0
DEVLIST = struct.pack(">HHI", 0x0111, 0x8005, 0)
OUTSIDER = "127.0.0.2"


class Entries:
    """A fake journal ``record``: the entries, in order."""

    def __init__(self) -> None:
        self.entries: list[tuple[str, str, tuple[str, ...], str | None, dict[str, Any]]] = []

    def __call__(
        self, kind: str, source: str, ports: tuple[str, ...], user: str | None, detail: Any
    ) -> None:
        self.entries.append((kind, source, ports, user, dict(detail)))

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e[4] for e in self.entries if e[0] == kind]


@pytest.fixture
async def journaled() -> AsyncIterator[tuple[UsbipServer, Entries]]:
    entries = Entries()
    srv = UsbipServer("127.0.0.1", 0, allow=("127.0.0.1/32",), record=entries)
    yield srv, entries
    await srv.stop()


async def devlist_from(server: UsbipServer, local: str | None) -> bytes:
    """Ask for the device list from ``local``; everything the server answered."""
    host, port = server.address
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(host, port, local_addr=(local, 0) if local else None), TIMEOUT
    )
    try:
        writer.write(DEVLIST)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), TIMEOUT)
    except ConnectionResetError:
        return b""  # the server aborted the connection: nothing was sent
    finally:
        writer.close()


# -- the allow-list ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("allow", "address", "admitted"),
    [
        (LOOPBACK, "127.0.0.1", True),
        (LOOPBACK, "127.255.0.9", True),
        (LOOPBACK, "::1", True),
        (LOOPBACK, "192.0.2.10", False),
        (LOOPBACK, "::2", False),
        (("192.0.2.10",), "192.0.2.10", True),
        (("192.0.2.10",), "192.0.2.11", False),
        (("10.0.0.0/24",), "10.0.0.255", True),
        (("10.0.0.0/24",), "10.0.1.0", False),
        (("2001:db8::/32",), "2001:db8:ffff::1", True),
        (("2001:db8::/32",), "2001:db9::1", False),
        (("192.0.2.0/24",), "::ffff:192.0.2.7", True),  # v4 peer on a dual-stack socket
        (("fe80::/10",), "fe80::1%eth0", True),  # a scoped link-local peer
        (LOOPBACK, "not-an-address", False),
        (LOOPBACK, "", False),
    ],
)
def test_the_allow_list_admits_listed_addresses_and_networks_only(
    allow: tuple[str, ...], address: str, admitted: bool
) -> None:
    assert admits(allow, address) is admitted


@given(st.ip_addresses(v=4), st.integers(8, 32), st.ip_addresses(v=4))
def test_a_peer_is_admitted_exactly_when_it_lies_in_a_listed_network(
    base: ipaddress.IPv4Address, prefix: int, peer: ipaddress.IPv4Address
) -> None:
    network = ipaddress.ip_network(f"{base}/{prefix}", strict=False)
    assert admits((str(network),), str(peer)) is (peer in network)
    assert admits((str(network),), f"::ffff:{peer}") is (peer in network)


async def test_a_peer_outside_the_list_is_closed_before_learning_the_busids(
    journaled: tuple[UsbipServer, Entries],
) -> None:
    server, entries = journaled
    await started(server, 2)
    assert await devlist_from(server, OUTSIDER) == b""
    (refused,) = entries.of("usbip_refused")
    assert refused["peer"] == OUTSIDER
    assert refused["reason"] == "not allowed"
    assert b"1-2" in await devlist_from(server, "127.0.0.1")  # a listed peer is served


async def test_an_ipv6_listener_admits_by_its_own_list(tmp_path: Path) -> None:
    entries = Entries()
    v4_only = UsbipServer("::1", 0, allow=("127.0.0.0/8",), record=entries)
    v6 = UsbipServer("::1", 0, allow=("::1",), record=entries)
    try:
        await started(v4_only, 1)
        await started(v6, 1)
        assert await devlist_from(v4_only, None) == b""
        assert b"1-1" in await devlist_from(v6, None)
        assert [e["peer"] for e in entries.of("usbip_refused")] == ["::1"]
    finally:
        await v4_only.stop()
        await v6.stop()


# -- the journal ---------------------------------------------------------------------


async def test_imports_detaches_and_refused_imports_are_journaled_with_the_peer(
    journaled: tuple[UsbipServer, Entries],
) -> None:
    server, entries = journaled
    target = await started(server, 2)
    heard = Attachment(target)
    host, port = server.address
    handle = await call(lambda: usbip.attach(host, "1-2", port=port))
    try:
        await asyncio.wait_for(heard.imported.wait(), TIMEOUT)
        with pytest.raises(usbip.NotFound, match="status 1"):
            await call(lambda: usbip.attach(host, "1-2", port=port))
        with pytest.raises(usbip.NotFound, match="status 1"):
            await call(lambda: usbip.attach(host, "9-9", port=port))
    finally:
        handle.close()
    await asyncio.wait_for(heard.detached.wait(), TIMEOUT)
    kinds = [(e[0], e[1], e[2]) for e in entries.entries]
    assert kinds == [
        ("usbip_import", "usbip", ("2",)),
        ("usbip_refused", "usbip", ("2",)),
        ("usbip_refused", "usbip", ()),
        ("usbip_detach", "usbip", ("2",)),
    ]
    details = [e[4] for e in entries.entries]
    assert all(d["peer"] == "127.0.0.1" and d["peer_port"].isdigit() for d in details)
    assert [d.get("busid") for d in details] == ["1-2", "1-2", "9-9", "1-2"]
    assert [d.get("reason") for d in details] == [None, "port busy", "unknown busid", None]


async def test_a_flood_of_refusals_is_rate_limited_then_summarised(tmp_path: Path) -> None:
    now = [1000.0]
    journal = Journal(tmp_path, clock=lambda: now[0])
    journal.open()
    server = UsbipServer("127.0.0.1", 0, allow=("127.0.0.1/32",), record=journal.record)
    try:
        await started(server, 1)
        for _ in range(40):  # each from a new source port: still one peer
            assert await devlist_from(server, OUTSIDER) == b""
        refused = [e for e in journal.recent(1000) if e.kind == "usbip_refused"]
        burst = int(NoisePolicy().per_peer_burst)
        assert len(refused) == burst
        assert {e.detail["peer"] for e in refused} == {OUTSIDER}
        now[0] += 3600
        journal.handle_timer()
        (summary,) = [e for e in journal.recent(1000) if e.kind == "noise_summary"]
        assert summary.detail["peer"] == OUTSIDER
        assert summary.detail["count"] == 40 - burst
    finally:
        await server.stop()
        journal.close()


async def test_an_imported_connection_probes_a_silent_peer_so_its_port_is_freed(
    journaled: tuple[UsbipServer, Entries],
) -> None:
    server, _ = journaled
    target = await started(server, 2)
    heard = Attachment(target)
    host, port = server.address
    handle = await call(lambda: usbip.attach(host, "1-2", port=port))
    try:
        await asyncio.wait_for(heard.imported.wait(), TIMEOUT)
        (writer,) = server._clients.values()  # the accepted socket, as the server tuned it
        sock = writer.get_extra_info("socket")
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        if hasattr(socket, "TCP_KEEPIDLE"):  # Linux
            idle = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE)
            interval = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL)
            count = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT)
            assert idle + interval * count <= 30  # a vanished target frees its port soon
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 30_000
    finally:
        handle.close()


async def import_from(server: UsbipServer, local: str, busid: str) -> int:
    """OP_REQ_IMPORT of ``busid`` from ``local``: the reply's status."""
    host, port = server.address
    reader, writer = await asyncio.open_connection(host, port, local_addr=(local, 0))
    try:
        writer.write(struct.pack(">HHI", 0x0111, 0x8003, 0) + busid.encode().ljust(32, b"\0"))
        reply = await asyncio.wait_for(reader.readexactly(8), TIMEOUT)
        return int(struct.unpack(">HHI", reply)[2])
    finally:
        writer.close()


async def test_a_port_allow_list_hides_the_port_from_other_peers_and_refuses_them() -> None:
    entries = Entries()
    server = UsbipServer("127.0.0.1", 0, allow=LOOPBACK, record=entries)
    try:
        narrowed = server.add_port(1, allow=(OUTSIDER,))
        await narrowed.start()
        await started(server, 2)
        seen_by_others = await devlist_from(server, "127.0.0.1")
        assert b"1-2" in seen_by_others and b"1-1" not in seen_by_others
        seen_by_its_peer = await devlist_from(server, OUTSIDER)
        assert b"1-1" in seen_by_its_peer and b"1-2" in seen_by_its_peer
        assert await import_from(server, "127.0.0.1", "1-1") == 1  # as for an unknown busid
        (refused,) = entries.of("usbip_refused")
        assert (refused["peer"], refused["busid"], refused["reason"]) == (
            "127.0.0.1",
            "1-1",
            "not allowed",
        )
        assert await import_from(server, OUTSIDER, "1-1") == 0
        assert entries.of("usbip_import")[0]["peer"] == OUTSIDER
    finally:
        await server.stop()
