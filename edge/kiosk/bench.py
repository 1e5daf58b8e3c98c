"""How long the kiosk takes to answer, beside Litestar's bare hello route in the same run.

``run(items=300)`` builds a catalogue of ``items`` service items (the seed's, replicated under new codes)
and an edge terminal on a throw-away data directory, with its sync agent connected to a Mosquitto of its
own when one is installed (the terminal's process as deployed: kiosk + sync agent). The kiosk app and a
bare Litestar app with one ``GET /`` returning "hello" are each served by uvicorn on loopback exactly as
``shegong edge run`` serves the kiosk (:class:`edge.kiosk.server.KioskServer`). One keep-alive HTTP
connection per app drives them, as the kiosk's browser does; each figure is the time from sending a
request until its whole response has arrived.

- tap: a card tap (the device thread's work: session and claim token) + ``GET /claim/<token>``, which
  sets the cookie and answers with the holder's services: the sum, per tap.
- item: ``GET /item/<code>`` for a holder's session, codes spread over the catalogue.
- hello: ``GET /`` on the bare app, interleaved with the others.

The result's ``p95_ms`` is the larger of the tap and item p95s; ``ratio`` is it over hello's p95: the tap's
one request is set against one of hello's. ``app_*`` figures are the apps' own time per request (an ASGI
wrapper: from the app being called to its last body chunk sent), for telling framework from page work.
``rss_mb`` is the process's resident set size afterwards (psutil).
"""

from __future__ import annotations

import contextlib
import gc
import http.client
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from litestar import Litestar, get
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

from edge.devices.sim.identities import all_identities
from protocol.catalogue import Catalogue, load_seed

__all__ = ["format_result", "run", "scaled_catalogue"]


class _Timed:
    """ASGI wrapper recording each HTTP request's time in the app, in seconds."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.times: list[float] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        await self.app(scope, receive, send)
        self.times.append(time.perf_counter() - started)


class _Browser:
    """One keep-alive connection with a cookie jar just big enough for the kiosk's cookies."""

    def __init__(self, url: str) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=10)
        self.cookies: dict[str, str] = {}

    def get(self, path: str) -> tuple[int, http.client.HTTPResponse, bytes]:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())} if self.cookies else {}
        self.conn.request("GET", path, headers=headers)
        response = self.conn.getresponse()
        body = response.read()
        for header in response.headers.get_all("set-cookie") or []:
            name, _, rest = header.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]
        return response.status, response, body

    def close(self) -> None:
        self.conn.close()


def scaled_catalogue(items: int) -> Catalogue:
    """The seed catalogue grown (or cut) to ``items`` items: copies of seed items under new codes."""
    seed = load_seed()
    out = list(seed.items[:items])
    n = 0
    while len(out) < items:
        src = seed.items[n % len(seed.items)]
        number = 100 + n // len(seed.items) * 50 + n % len(seed.items)
        out.append(src.model_copy(update={"code": f"{src.department}-{number:03d}", "name": f"{src.name}（{n}）"}))
        n += 1
    return Catalogue(version=seed.version, departments=seed.departments, items=out)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def _stats(values: list[float]) -> dict[str, float]:
    return {"p50_ms": round(statistics.median(values) * 1000, 3), "p95_ms": round(_pct(values, 0.95), 3)}


@contextlib.contextmanager
def _serving(app: Any) -> Iterator[str]:
    from edge.kiosk.server import KioskServer
    from shegong.broker import free_port

    server = KioskServer(app, "127.0.0.1", free_port()).start()
    try:
        yield server.url
    finally:
        server.stop()


@contextlib.contextmanager
def _broker(folder: Path) -> Iterator[int | None]:
    """A Mosquitto of the benchmark's own for the sync agent, or None where none is installed."""
    from shegong.broker import BrokerNotAvailable, Mosquitto

    try:
        broker = Mosquitto(folder, persistence=False).start()
    except BrokerNotAvailable:
        yield None
        return
    try:
        yield broker.port
    finally:
        broker.stop()


def run(items: int = 300, rounds: int = 1000, warmup: int = 50) -> dict[str, Any]:
    """Measure; returns the figures (see the module docstring). Takes a few seconds."""
    import psutil

    from edge.kiosk.app import create_app
    from edge.kiosk.config import KioskConfig
    from edge.runtime import EdgeRuntime
    from edge.settings import EdgeSettings

    catalogue = scaled_catalogue(items)
    people = [p.card_facts() for p in all_identities()]
    codes = [i.code for i in catalogue.items]

    @get("/", sync_to_thread=False)
    def hello() -> str:
        return "hello"

    tap: list[float] = []
    item: list[float] = []
    hello_times: list[float] = []
    with tempfile.TemporaryDirectory() as tmp, _broker(Path(tmp) / "broker") as broker_port:
        settings = EdgeSettings(data_dir=Path(tmp) / "edge", min_free_disk_mb=0, broker_port=broker_port or 1)
        runtime = EdgeRuntime(settings)
        try:
            if broker_port is not None:
                runtime.start_sync()
            app = create_app(
                runtime, None, config=KioskConfig(idle_timeout_s=3600, warn_before_s=20), catalogue=catalogue
            )
            kiosk = app.state.kiosk
            timed, bare = _Timed(app), _Timed(Litestar([hello], logging_config=None))
            with _serving(timed) as kiosk_url, _serving(bare) as hello_url:
                browser, plain = _Browser(kiosk_url), _Browser(hello_url)
                assert browser.get(kiosk.gate.open_path)[0] == 200  # the kiosk serves its own browser only
                gc.collect()
                for n in range(warmup + rounds):
                    started = time.perf_counter()
                    plain.get("/")
                    hello_time = time.perf_counter() - started

                    browser.cookies.pop("kiosk_sid", None)  # the tap ends the last session anyway
                    started = time.perf_counter()
                    token = kiosk.events.card_tapped(people[n % len(people)])
                    status, _, page = browser.get(f"/claim/{token}")
                    tap_time = time.perf_counter() - started
                    assert status == 200 and b"holder" in page, status

                    started = time.perf_counter()
                    status, _, _ = browser.get(f"/item/{codes[(n * 7) % len(codes)]}")
                    item_time = time.perf_counter() - started
                    assert status == 200, status
                    if n >= warmup:
                        hello_times.append(hello_time)
                        tap.append(tap_time)
                        item.append(item_time)
                browser.close()
                plain.close()
            rss_mb = psutil.Process().memory_info().rss / 2**20
            synced = runtime.agent.state.value if broker_port is not None else "no broker installed"
        finally:
            runtime.close()
    # the apps' own times: the tap's page and the item page per round (after the warm-up), hello
    app_times = timed.times[2 * warmup :]
    result: dict[str, Any] = {
        "items": items,
        "rounds": rounds,
        "method": "uvicorn on loopback, one keep-alive connection per app; time from request sent to response read",
        "sync_agent": synced,
        "tap": _stats(tap),
        "item": _stats(item),
        "hello": _stats(hello_times),
        "app_tap": _stats(app_times[0::2]),
        "app_item": _stats(app_times[1::2]),
        "app_hello": _stats(bare.times[warmup:]),
        "rss_mb": round(rss_mb, 1),
    }
    p95 = max(result["tap"]["p95_ms"], result["item"]["p95_ms"])
    result["p95_ms"] = p95
    result["hello_p95_ms"] = result["hello"]["p95_ms"]
    result["ratio"] = round(p95 / result["hello"]["p95_ms"], 2)
    return result


def format_result(result: dict[str, Any]) -> str:
    """``kiosk p95_ms=… hello_p95_ms=… ratio=… rss_mb=…``: the line ``shegong bench kiosk`` prints."""
    return (
        f"kiosk p95_ms={result['p95_ms']:.2f} hello_p95_ms={result['hello_p95_ms']:.2f} "
        f"ratio={result['ratio']:.2f} rss_mb={result['rss_mb']:.0f}"
    )


if __name__ == "__main__":  # python -m edge.kiosk.bench
    import json

    figures = run()
    print(json.dumps(figures, ensure_ascii=False, indent=2))
    print(format_result(figures))
