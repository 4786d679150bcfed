"""``GET /metrics``: Prometheus exposition (prometheus-client), loopback-only or authenticated.

Figures are read from the daemon at scrape time by a custom collector, so the hot path
pays nothing for them (no counter increments per routed event).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from kvmswitchd.core.permissions import Principal
from kvmswitchd.errors import PermissionDenied
from web import ws
from web.api import SERVICE
from web.auth import USER
from web.service import KvmService

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
routes = web.RouteTableDef()
REGISTRY = web.AppKey("metrics_registry", CollectorRegistry)


class KvmCollector(Collector):
    def __init__(
        self,
        service: KvmService,
        ws_clients: Callable[[], int],
        viewer: Principal | None = None,
    ) -> None:
        self._service = service
        self._ws_clients = ws_clients
        self._viewer = viewer  # labels name only the ports this reader may view

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        figures = self._service.metrics(self._viewer)
        switches = CounterMetricFamily(
            "kvmswitchd_switches", "Focus switches carried out, by source", labels=["source"]
        )
        for source, count in sorted(figures["switches"].items()):
            switches.add_metric([source], count)
        yield switches
        yield CounterMetricFamily(
            "kvmswitchd_events_routed",
            "Console input events routed",
            value=figures["events_routed"],
        )
        yield CounterMetricFamily(
            "kvmswitchd_errors", "Errors logged by the daemon", value=figures["errors"]
        )
        focus = GaugeMetricFamily(
            "kvmswitchd_focus", "Port number each channel is focused on", labels=["channel"]
        )
        for channel, port in sorted(figures["focus"].items()):
            unit = port.split(".")[0]
            if unit.isdigit():  # a port hidden from this reader has no figure
                focus.add_metric([channel], float(unit))
        yield focus
        yield GaugeMetricFamily(
            "kvmswitchd_websocket_clients",
            "Connected websocket clients",
            value=self._ws_clients(),
        )
        yield GaugeMetricFamily(
            "kvmswitchd_serial_sessions",
            "Open serial/TCP control sessions",
            value=figures["serial_sessions"],
        )
        yield GaugeMetricFamily("kvmswitchd_ports", "Ports of this unit", value=figures["ports"])
        yield from _syslog(figures.get("syslog"))


def _syslog(view: Mapping[str, Any] | None) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
    """The syslog forwarder's figures ([syslog] configured), else none."""
    if view is None:
        return
    for key, text in (
        ("sent", "Event-log records handed to the syslog collector"),
        ("dropped", "Event-log records dropped: the syslog queue was full"),
        ("reconnects", "Connections to the syslog collector after the first"),
        ("failures", "Failed connects to, or lost connections with, the syslog collector"),
    ):
        yield CounterMetricFamily(f"kvmswitchd_syslog_{key}", text, value=view[key])
    yield GaugeMetricFamily(
        "kvmswitchd_syslog_queued", "Records waiting for the collector", value=view["queued"]
    )
    yield GaugeMetricFamily(
        "kvmswitchd_syslog_connected",
        "1 while connected to the syslog collector",
        value=1 if view["connected"] else 0,
    )


def setup(app: web.Application, service: KvmService) -> None:
    registry = CollectorRegistry(auto_describe=True)
    registry.register(KvmCollector(service, lambda: ws.client_count(app)))
    app[REGISTRY] = registry
    app.add_routes(routes)


def _loopback(remote: str | None) -> bool:
    try:
        return remote is not None and ipaddress.ip_address(remote).is_loopback
    except ValueError:
        return False


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    if not _loopback(request.remote) and request.get(USER) is None:
        raise PermissionDenied("metrics are served to loopback clients or signed-in users only")
    viewer = request.get(USER)
    registry = request.app[REGISTRY]
    if viewer is not None and request.app[SERVICE].visible(viewer) is not None:
        # a reader restricted to some ports: figures collected for them alone
        registry = CollectorRegistry(auto_describe=True)
        registry.register(
            KvmCollector(request.app[SERVICE], lambda: ws.client_count(request.app), viewer)
        )
    body = generate_latest(registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})
