"""``kvmctl log --follow``: live event-log entries over the websocket."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp

from kvmswitchd.ctl.client import Client, CtlError


def matches(entry: Mapping[str, Any], filters: Mapping[str, str | None]) -> bool:
    kinds = filters.get("kind")
    sources = filters.get("source")
    port = filters.get("port")
    return (
        (not kinds or entry.get("kind") in kinds.split(","))
        and (not sources or entry.get("source") in sources.split(","))
        and (not port or port in entry.get("ports", []))
    )


async def follow(
    client: Client,
    filters: Mapping[str, str | None],
    emit: Callable[[dict[str, Any]], None],
    *,
    limit: int | None = None,
    ready: Callable[[], None] | None = None,
) -> None:
    """Print log entries as they happen until interrupted (or ``limit`` entries).
    ``ready`` is called once the server's first message (the full state) arrived."""
    url = client.base.replace("http", "ws", 1) + "/api/v1/ws"
    headers = {"Authorization": f"Bearer {client.token}"} if client.token else {}
    seen = 0
    try:
        async with aiohttp.ClientSession() as http, http.ws_connect(url, headers=headers) as ws:
            async for message in ws:
                if message.type is not aiohttp.WSMsgType.TEXT:
                    break
                data = json.loads(message.data)
                if ready is not None and data.get("type") == "state":
                    ready()
                    ready = None
                if data.get("type") == "error":
                    raise CtlError(f"{data.get('error')}: {data.get('message')}")
                if data.get("type") != "log" or not matches(data["entry"], filters):
                    continue
                emit(data["entry"])
                seen += 1
                if limit is not None and seen >= limit:
                    return
    except aiohttp.WSServerHandshakeError as exc:
        raise CtlError(f"{exc.status}: cannot follow the log ({exc.message})") from None
    except aiohttp.ClientError as exc:
        raise CtlError(f"cannot reach {client.base}: {exc}") from None


def run_follow(
    client: Client, filters: Mapping[str, str | None], emit: Callable[[dict[str, Any]], None]
) -> None:
    try:
        asyncio.run(follow(client, filters, emit))
    except KeyboardInterrupt:
        return
