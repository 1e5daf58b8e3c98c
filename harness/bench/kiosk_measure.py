"""How long the kiosk takes to answer a card, beside Litestar's bare hello route in the same run.

``run(items=300, residents=3000)`` builds a catalogue of ``items`` service items (the seed's, replicated
under new codes), ``residents`` distinct card holders (:func:`edge.devices.sim.identities.population`:
every tap a different person, so no page comes from a cache another holder filled), and an edge terminal
on a throw-away data directory with its sync agent connected to a Mosquitto of its own when one is
installed (the terminal's process as deployed: kiosk + sync agent). The ID-card reader is the GA 467
simulator on a pty, read by the real driver and device service with the settings a terminal ships with.
The kiosk app and a bare Litestar app with one ``GET /`` returning "hello" are each served by uvicorn on
loopback exactly as ``shegong edge run`` serves the kiosk. The kiosk's browser is played by one
keep-alive connection for pages and one for the page's event stream (``/events``), as the page has.

- tap: from the card put on the reader until the holder's services page has arrived: the reader's
  polling and its 1,295-byte answer over the serial line, the driver, the session and claim token, the
  event to the page, and ``GET /claim/<token>``.
- page: the ``GET /claim/<token>`` part of the tap alone.
- item: ``GET /item/<code>`` for a holder's session, codes spread over the catalogue, straight after the page.
- hello: ``GET /`` on the bare app straight after the item page, as the item page comes after the page.
- hello_idle: ``GET /`` on the bare app after the process idled for the reader's polling interval, as the
  page comes after the tap's wait. Idle, even the bare route takes about twice as long (the machine's
  caches and clocks, the threads' wake-up), and the page always comes after such a wait: each page is held
  against the framework's floor in its own conditions.

``p95_ms`` is the larger of the page and item p95s; ``ratio`` is the larger of the page's p95 over
hello_idle's and the item's over hello's (the kiosk's own work against the framework's floor);
``tap_p95_ms`` is what the resident waits, device included.
``app_*`` figures are the apps' own time per request (an ASGI wrapper). ``rss_mb`` is the process's
resident set size afterwards (psutil).
"""

from __future__ import annotations

import contextlib
import gc
import http.client
import json
import queue
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from litestar import Litestar, get
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

from edge.devices.sim.identities import population
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


class _EventStream:
    """The page's ``/events`` stream on its own connection; each ``data:`` line lands in ``messages``."""

    def __init__(self, url: str, cookies: dict[str, str]) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=30)
        self.conn.request("GET", "/events", headers={"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())})
        self.response = self.conn.getresponse()
        if self.response.status != 200:
            raise RuntimeError(f"/events answered {self.response.status}")
        self.messages: queue.Queue[dict[str, str]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        raw_lines = self.response.fp  # chunk-size lines pass by; each event's data line comes whole
        with contextlib.suppress(OSError, ValueError, AttributeError):
            while raw := raw_lines.readline():
                line = raw.decode().strip()
                if line.startswith("data:") and line != "data:":
                    self.messages.put(json.loads(line.removeprefix("data:")))

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.sock.shutdown(2) if self.conn.sock else None
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
    from harness.broker import free_port

    server = KioskServer(app, "127.0.0.1", free_port()).start()
    try:
        yield server.url
    finally:
        server.stop()


@contextlib.contextmanager
def _broker(folder: Path) -> Iterator[int | None]:
    """A Mosquitto of the benchmark's own for the sync agent, or None where none is installed."""
    from harness.broker import BrokerNotAvailable, Mosquitto

    try:
        broker = Mosquitto(folder, persistence=False).start()
    except BrokerNotAvailable:
        yield None
        return
    try:
        yield broker.port
    finally:
        broker.stop()


def run(items: int = 300, rounds: int = 1000, warmup: int = 50, residents: int = 3000) -> dict[str, Any]:
    """Measure; returns the figures (see the module docstring). Takes a minute or so (the reader polls)."""
    import psutil

    from edge.devices.sim.idreader import IdReaderSim
    from edge.kiosk.app import create_app
    from edge.kiosk.server import open_devices
    from edge.runtime import EdgeRuntime
    from edge.settings import DeviceSettings, EdgeSettings, KioskSettings

    catalogue = scaled_catalogue(items)
    people = population(residents)
    codes = [i.code for i in catalogue.items]

    @get("/", sync_to_thread=False)
    def hello() -> str:
        return "hello"

    tap: list[float] = []
    page: list[float] = []
    item: list[float] = []
    hello_times: list[float] = []
    hello_idle_times: list[float] = []
    with tempfile.TemporaryDirectory() as tmp, _broker(Path(tmp) / "broker") as broker_port:
        reader = IdReaderSim(Path(tmp) / "reader").start()
        settings = EdgeSettings(
            data_dir=Path(tmp) / "edge",
            min_free_disk_mb=0,
            broker_port=broker_port or 1,
            devices=DeviceSettings(reader=str(reader.path), printer="", scanner=""),
            kiosk=KioskSettings(idle_timeout_s=3600, warn_before_s=20, staff_pins=""),
        )
        runtime = EdgeRuntime(settings)
        devices = open_devices(settings.devices)  # the shipped polling and timeouts
        try:
            if broker_port is not None:
                runtime.start_sync()
            app = create_app(runtime, devices, catalogue=catalogue)
            devices.start()
            kiosk = app.state.kiosk
            timed, bare = _Timed(app), _Timed(Litestar([hello], logging_config=None))
            with _serving(timed) as kiosk_url, _serving(bare) as hello_url:
                browser, plain = _Browser(kiosk_url), _Browser(hello_url)
                assert browser.get(kiosk.gate.open_path)[0] == 200  # the kiosk serves its own browser only
                events = _EventStream(kiosk_url, browser.cookies)
                gc.collect()
                for n in range(warmup + rounds):
                    time.sleep(devices.poll_interval)  # idle as before a tap's page (hello_idle)
                    started_hello = time.perf_counter()
                    plain.get("/")
                    hello_idle_time = time.perf_counter() - started_hello

                    browser.cookies.pop("kiosk_sid", None)  # the tap ends the last session anyway
                    started = time.perf_counter()
                    reader.place(people[n % len(people)])
                    while not (go := events.messages.get(timeout=10)["go"]).startswith("/claim/"):
                        pass
                    claimed = time.perf_counter()
                    status, _, body = browser.get(go)
                    done = time.perf_counter()
                    assert status == 200 and b"holder" in body, status

                    started_item = time.perf_counter()
                    status, _, _ = browser.get(f"/item/{codes[(n * 7) % len(codes)]}")
                    item_time = time.perf_counter() - started_item
                    assert status == 200, status

                    started_hello = time.perf_counter()
                    plain.get("/")
                    hello_time = time.perf_counter() - started_hello
                    if n >= warmup:
                        hello_times.append(hello_time)
                        hello_idle_times.append(hello_idle_time)
                        tap.append(done - started)
                        page.append(done - claimed)
                        item.append(item_time)
                events.close()
                browser.close()
                plain.close()
            rss_mb = psutil.Process().memory_info().rss / 2**20
            synced = runtime.agent.state.value if broker_port is not None else "no broker installed"
        finally:
            devices.stop()
            reader.stop()
            runtime.close()
    # the apps' own times: the tap's page and the item page per round (after the warm-up), hello
    app_times = timed.times[1:][2 * warmup :]  # the first request was the gate's
    result: dict[str, Any] = {
        "items": items,
        "rounds": rounds,
        "residents": residents,
        "method": "card on the GA 467 simulator over a pty, the shipped device service, uvicorn on loopback, "
        "one keep-alive connection per app and one for the page's events",
        "sync_agent": synced,
        "tap": _stats(tap),
        "page": _stats(page),
        "item": _stats(item),
        "hello": _stats(hello_times),
        "hello_idle": _stats(hello_idle_times),
        "app_page": _stats(app_times[0::2]),
        "app_item": _stats(app_times[1::2]),
        "app_hello": _stats(bare.times[2 * warmup + 1 :: 2]),
        "app_hello_idle": _stats(bare.times[2 * warmup :: 2]),
        "rss_mb": round(rss_mb, 1),
    }
    p95 = max(result["page"]["p95_ms"], result["item"]["p95_ms"])
    result["p95_ms"] = p95
    result["tap_p95_ms"] = result["tap"]["p95_ms"]
    result["hello_p95_ms"] = result["hello"]["p95_ms"]
    result["hello_idle_p95_ms"] = result["hello_idle"]["p95_ms"]
    result["ratio"] = round(
        max(
            result["page"]["p95_ms"] / result["hello_idle"]["p95_ms"],
            result["item"]["p95_ms"] / result["hello"]["p95_ms"],
        ),
        2,
    )
    return result


def format_result(result: dict[str, Any]) -> str:
    """``kiosk residents=… tap_p95_ms=… p95_ms=… hello_p95_ms=… hello_idle_p95_ms=… ratio=… rss_mb=…``: the
    line ``shegong bench kiosk`` prints."""
    return (
        f"kiosk residents={result['residents']} tap_p95_ms={result['tap_p95_ms']:.1f} p95_ms={result['p95_ms']:.2f} "
        f"hello_p95_ms={result['hello_p95_ms']:.2f} hello_idle_p95_ms={result['hello_idle_p95_ms']:.2f} "
        f"ratio={result['ratio']:.2f} rss_mb={result['rss_mb']:.0f}"
    )


if __name__ == "__main__":  # python -m harness.bench.kiosk_measure
    import json

    figures = run()
    print(json.dumps(figures, ensure_ascii=False, indent=2))
    print(format_result(figures))
