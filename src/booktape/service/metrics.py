"""``record --metrics HOST:PORT``: the health counters in the Prometheus text format.

Served by ``prometheus_client``'s HTTP server from the health helper (never
the poller), built at each scrape from the same snapshot as the health file.
Loopback unless told otherwise: a bare port binds 127.0.0.1.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

from ..errors import BadArgument


def parse_addr(text: str) -> tuple[str, int]:
    """``"9108"``, ``"127.0.0.1:9108"``, ``"0.0.0.0:9108"``, ``"[::1]:9108"`` → (host, port)."""
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = "127.0.0.1", text
    host = host.strip("[]") or "127.0.0.1"
    try:
        p = int(port)
    except ValueError:
        p = -1
    if not 0 <= p <= 65535:
        raise BadArgument(f"invalid --metrics {text!r}: give HOST:PORT or PORT, e.g. 127.0.0.1:9108")
    return host, p


def check_bindable(host: str, port: int) -> None:
    """Fail before recording if the address cannot be served (in use, not ours)."""
    if port == 0:
        return
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, port))
    except OSError as e:
        raise BadArgument(f"--metrics {host}:{port} cannot be served: {e.strerror or e}") from None
    finally:
        s.close()


class HealthCollector:
    """A ``prometheus_client`` collector over the latest health snapshot."""

    def __init__(self, current: Callable[[], dict[str, Any] | None]) -> None:
        self.current = current

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        h = self.current()
        if not h:
            return
        lab = ["collector"]
        c = [h["collector"]]

        def counter(name: str, doc: str, v: float) -> Any:
            m = CounterMetricFamily(f"booktape_{name}", doc, labels=lab)
            m.add_metric(c, v)
            return m

        def gauge(name: str, doc: str, v: float) -> Any:
            m = GaugeMetricFamily(f"booktape_{name}", doc, labels=lab)
            m.add_metric(c, v)
            return m

        yield gauge("up", "1 while the recorder runs", 1 if h["state"] in ("recording", "draining") else 0)
        yield gauge("session_open", "1 while the trading session is open",
                    1 if h["session"] == "open" else 0)
        yield counter("polls", "source calls", h["polls"])
        yield counter("states", "changed book states stored", h["states"])
        yield counter("rows_written", "level rows made durable", h["rows_written"])
        yield counter("parts_sealed", "parts sealed this session", h["parts_sealed"])
        yield counter("helper_restarts", "helper processes restarted", h["restarts"])
        yield counter("stale_events", "stale-feed episodes", h["stale_events"])
        yield counter("clock_steps", "wall-clock steps over 1 ms re-anchored", h["clock_steps"])
        yield gauge("polls_per_second", "polls/s over the last second", h["polls_per_s"])
        yield gauge("states_per_second", "states/s over the last second", h["states_per_s"])
        yield gauge("buffered_bytes", "bytes waiting for the saver", h["buffered_bytes"])
        yield gauge("spilled_bytes", "bytes spilled to the overflow journal", h["spilled_bytes"])
        yield gauge("broker_lost", "1 while the terminal reports no broker",
                    1 if h["broker_lost"] else 0)
        yield gauge("last_poll_timestamp_seconds", "wall time of the latest poll",
                    (h["last_poll_ns"] or 0) / 1e9)
        yield gauge("health_timestamp_seconds", "wall time of this snapshot", h["updated_ns"] / 1e9)
        sl = ["collector", "symbol"]
        stale = GaugeMetricFamily("booktape_symbol_stale", "1 while the book is stale", labels=sl)
        last = GaugeMetricFamily("booktape_symbol_last_change_timestamp_seconds",
                                 "wall time the book last changed", labels=sl)
        for sym, v in h["symbols"].items():
            stale.add_metric([h["collector"], sym], 1 if v["stale"] else 0)
            last.add_metric([h["collector"], sym], (v["last_change_ns"] or 0) / 1e9)
        yield stale
        yield last


def serve(host: str, port: int, current: Callable[[], dict[str, Any] | None]) -> tuple[Any, str]:
    """Start the endpoint on a daemon thread; returns (server, "host:port" actually bound)."""
    from prometheus_client import CollectorRegistry, start_http_server

    reg = CollectorRegistry(auto_describe=False)
    reg.register(HealthCollector(current))
    server, _thread = start_http_server(port, addr=host, registry=reg)
    bound = server.server_port
    shown = f"[{host}]" if ":" in host else host
    return server, f"{shown}:{bound}"
