"""The event log forwarded to a real rsyslogd: every switch and login arrives with its
structured data over TCP, TLS and UDP; a collector that is down or hung never delays
switching, and the records sent meanwhile arrive when it is back."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from kvmswitchd.core.commands import Origin, Source
from kvmswitchd.core.eventlog import LogEntry
from kvmswitchd.syslog.format import SD_DETAIL_ID, SD_ID
from tests.daemon.conftest import start
from tests.syslog.rsyslog import Rsyslog, require_gtls
from web import openapi

PASSWORD = "a long password"
HOSTS = itertools.count(1)


@pytest.fixture(scope="module")
def rsyslog(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rsyslog]:
    collector = Rsyslog(tmp_path_factory.mktemp("rsyslog"))
    collector.start()
    yield collector
    collector.stop()


def syslog_table(target: str, **extra: Any) -> dict[str, Any]:
    """A [syslog] table with a host name of its own (the tests share one rsyslogd)."""
    return {"target": target, "hostname": f"kvm-test-{next(HOSTS)}", "retry_max": 0.1, **extra}


def ours(records: list[dict[str, Any]], host: str) -> dict[int, dict[str, Any]]:
    """The records one daemon sent, by their journal seq."""
    return {int(r["sd"][SD_ID]["seq"]): r for r in records if r["host"] == host and r["sd"]}


def check(record: dict[str, Any], entry: LogEntry) -> None:
    """``record`` (as rsyslog parsed it) carries ``entry``'s audit fields."""
    assert record["version"] == "1"  # parsed as RFC 5424, not as a legacy message
    assert record["msgid"] == entry.kind
    audit = record["sd"][SD_ID]
    assert audit["kind"] == entry.kind and audit["source"] == entry.source
    assert audit.get("user") == entry.user
    assert audit.get("ports", "") == ",".join(entry.ports)


async def test_every_switch_and_login_reaches_rsyslog_with_its_structured_data(
    rsyslog: Rsyslog, tmp_path: Path
) -> None:
    table = syslog_table(f"tcp://127.0.0.1:{rsyslog.tcp}", facility="authpriv", app_name="kvmd")
    daemon, board = await start(tmp_path / "state", {"http": {"auth": True}, "syslog": table})
    try:
        assert daemon.accounts is not None and daemon.setup_token is not None
        await daemon.accounts.setup(daemon.setup_token, "root", PASSWORD, Origin(Source.HTTP))
        api = daemon.http_url + "/api/v1"
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            async with http.post(api + "/auth/login", json={"name": "root", "password": "no"}) as r:
                assert r.status == 401
            async with http.post(api + "/auth/login", json={"name": "root", "password": PASSWORD}):
                pass
            for port in ("2", "3"):
                async with http.post(api + "/switch", json={"port": port}) as r:
                    assert r.status == 200, await r.text()
        board.switch("4", ["video"], False, Origin(Source.SERIAL, "tcp:7000", user="root"))
        wanted = [
            e for e in board.journal.recent(1000) if e.kind in {"switch", "login", "login_failed"}
        ]
        assert [e.kind for e in wanted] == ["login_failed", "login", "switch", "switch", "switch"]
        host = table["hostname"]
        records = await rsyslog.wait_for(
            lambda rs: {e.seq for e in wanted} <= ours(rs, host).keys(), "the switches and logins"
        )
        mine = ours(records, host)
        for entry in wanted:
            check(mine[entry.seq], entry)
            assert mine[entry.seq]["facility"] == "authpriv" and mine[entry.seq]["app"] == "kvmd"
        last = mine[wanted[-1].seq]
        assert (
            last["sd"][SD_DETAIL_ID]["to"] == "4" and last["sd"][SD_DETAIL_ID]["via"] == "tcp:7000"
        )
        assert last["severity"] == "notice"
        assert mine[wanted[0].seq]["severity"] == "warning"  # the failed login
        assert last["msg"].lstrip("\ufeff") == "switch to 4 [video] from serial (tcp:7000) by root"
    finally:
        await daemon.stop()


@pytest.mark.parametrize("transport", ["udp", "tls"])
async def test_udp_and_tls_deliver_too(rsyslog: Rsyslog, tmp_path: Path, transport: str) -> None:
    if transport == "tls":
        require_gtls()
        target = f"tls://127.0.0.1:{rsyslog.tls}"
        extra = {"tls_ca": str(rsyslog.cert), "tls_name": "collector.test"}
    else:
        target = f"udp://127.0.0.1:{rsyslog.udp}"
        extra = {}
    table = syslog_table(target, **extra)
    daemon, board = await start(tmp_path / "state", {"syslog": table})
    try:
        outcome = board.switch("2", None, False, Origin(Source.HTTP, "test"))
        assert outcome.ok
        entry = board.journal.recent(1)[0]
        records = await rsyslog.wait_for(
            lambda rs: entry.seq in ours(rs, table["hostname"]), f"the switch over {transport}"
        )
        check(ours(records, table["hostname"])[entry.seq], entry)
        assert f"event log forwarded to syslog at {target}" in daemon.banner()
    finally:
        await daemon.stop()


async def test_a_collector_down_or_hung_never_delays_switching_and_records_resume(
    rsyslog: Rsyslog, tmp_path: Path
) -> None:
    table = syslog_table(f"tcp://127.0.0.1:{rsyslog.tcp}")
    host = table["hostname"]
    daemon, board = await start(tmp_path / "state", {"syslog": table})
    try:
        forwarder = daemon.syslog
        assert forwarder is not None
        api = daemon.http_url + "/api/v1"
        async with aiohttp.ClientSession() as http:

            async def switch_all(ports: str) -> list[int]:
                """Switch through ``ports`` over HTTP; every request must complete."""
                for port in ports:
                    async with http.post(api + "/switch", json={"port": port}) as r:
                        assert r.status == 200, await r.text()
                return [e.seq for e in board.journal.recent(len(ports))]

            first = await switch_all("2")
            await rsyslog.wait_for(lambda rs: set(first) <= ours(rs, host).keys(), "a switch")

            rsyslog.stop()  # the collector is gone
            try:
                await forwarder.disconnected.wait()
                while_down = await switch_all("34123")  # completes with nobody listening
                async with http.get(api + "/state") as r:
                    state = (await r.json())["syslog"]
                assert not state["connected"] and state["queued"] >= 1
                documented = openapi.SCHEMAS["State"]["properties"]["syslog"]["properties"]
                assert set(state) == set(documented)
                async with http.get(daemon.http_url + "/metrics") as r:
                    assert "kvmswitchd_syslog_connected 0.0" in await r.text()
            finally:
                rsyslog.start()
            await rsyslog.wait_for(
                lambda rs: set(while_down) <= ours(rs, host).keys(), "the switches made meanwhile"
            )
            assert forwarder.view()["reconnects"] >= 1

            await forwarder.connected.wait()
            rsyslog.pause()  # the collector hangs: accepts nothing more, answers nothing
            try:
                while_hung = await switch_all("4321")  # completes while it hangs
            finally:
                rsyslog.resume()
            records = await rsyslog.wait_for(
                lambda rs: set(while_hung) <= ours(rs, host).keys(), "the switches made while hung"
            )
        entries = {e.seq: e for e in board.journal.recent(1000)}
        for seq in first + while_down + while_hung:
            check(ours(records, host)[seq], entries[seq])
    finally:
        await daemon.stop()


async def test_a_collector_whose_certificate_does_not_match_gets_nothing(
    rsyslog: Rsyslog, tmp_path: Path
) -> None:
    require_gtls()
    table = syslog_table(
        f"tls://127.0.0.1:{rsyslog.tls}", tls_ca=str(rsyslog.cert), tls_name="impostor.test"
    )
    daemon, board = await start(tmp_path / "state", {"syslog": table})
    try:
        forwarder = daemon.syslog
        assert forwarder is not None
        assert board.switch("3", None, False, Origin(Source.HTTP, "test")).ok
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 15
        while forwarder.view()["failures"] < 2:  # refused, retried, refused again
            assert loop.time() < deadline, forwarder.view()
            await asyncio.sleep(0.02)  # waiting on the handshakes of another process
        assert "certificate" in (forwarder.view()["last_error"] or "")
        assert forwarder.view()["sent"] == 0 and not forwarder.connected.is_set()
        assert ours(rsyslog.records(), table["hostname"]) == {}
    finally:
        await daemon.stop()
