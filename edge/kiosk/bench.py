"""How long the kiosk takes to answer, beside Litestar's bare hello route in the same run.

``run(items=300)`` builds a catalogue of ``items`` service items (the seed's, replicated under new codes),
a kiosk app on a throw-away data directory, and a bare Litestar app with one ``GET /`` returning "hello".
Both are driven in-process through ``litestar.testing.TestClient``; each request's **server time** is
taken by an ASGI wrapper, from the moment the app is called until it has sent its last body chunk
(the test client's own overhead is outside both figures).

- tap: a card tap (the session and claim token are made) + ``GET /claim/<token>`` (cookie, redirect)
  + ``GET /services`` (the holder's services evaluated and rendered): the sum, per tap.
- item: ``GET /item/<code>`` for a holder's session, codes spread over the catalogue.
- hello: ``GET /`` on the bare app.

The result's ``p95_ms`` is the larger of the tap and item p95s; ``ratio`` is it over hello's p95.
``rss_mb`` is this process's resident set size afterwards (psutil).
"""

from __future__ import annotations

import gc
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from litestar import Litestar, get
from litestar.testing import TestClient

from edge.devices.facts import CardFacts
from edge.devices.sim.identities import all_identities
from protocol.catalogue import Catalogue, load_seed

__all__ = ["format_result", "run", "scaled_catalogue"]

Scope = dict[str, Any]
ASGI = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]


class _Timed:
    """ASGI wrapper recording each HTTP request's server time in seconds."""

    def __init__(self, app: ASGI) -> None:
        self.app = app
        self.times: list[float] = []

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        await self.app(scope, receive, send)
        self.times.append(time.perf_counter() - started)


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


def _facts(person: Any) -> CardFacts:
    return CardFacts(
        card_type="id_card",
        id_number=person.id_number,
        name=person.name,
        sex="M" if person.sex == "1" else "F",
        birth_date=person.birth_date,
        address=person.address,
    )


def run(items: int = 300, rounds: int = 300, warmup: int = 30) -> dict[str, Any]:
    """Measure; returns the figures (see the module docstring). Takes a few seconds."""
    import psutil

    from edge.kiosk.app import create_app
    from edge.kiosk.config import KioskConfig
    from edge.runtime import EdgeRuntime
    from edge.settings import EdgeSettings

    catalogue = scaled_catalogue(items)
    people = [_facts(p) for p in all_identities()]
    codes = [i.code for i in catalogue.items]
    with tempfile.TemporaryDirectory() as tmp:
        runtime = EdgeRuntime(EdgeSettings(data_dir=Path(tmp), min_free_disk_mb=0))
        try:
            app = create_app(
                runtime, None, config=KioskConfig(idle_timeout_s=3600, warn_before_s=20), catalogue=catalogue
            )
            kiosk = app.state.kiosk
            timed = _Timed(app)

            @get("/", sync_to_thread=False)
            def hello() -> str:
                return "hello"

            bare = _Timed(Litestar([hello]))
            tap: list[float] = []
            item: list[float] = []
            with TestClient(timed) as client, TestClient(bare) as hello_client:  # type: ignore[arg-type]
                gc.collect()
                for n in range(warmup + rounds):
                    hello_client.get("/")
                    before = len(timed.times)
                    started = time.perf_counter()
                    token = kiosk.events.card_tapped(people[n % len(people)])
                    tapped = time.perf_counter() - started
                    page = client.get(f"/claim/{token}")  # follows the redirect to /services
                    assert page.status_code == 200 and "holder" in page.text
                    tap_time = tapped + sum(timed.times[before:])
                    before = len(timed.times)
                    detail = client.get(f"/item/{codes[(n * 7) % len(codes)]}")
                    assert detail.status_code == 200
                    if n >= warmup:
                        tap.append(tap_time)
                        item.append(timed.times[before])
                        client.cookies.clear()
                    client.post  # noqa: B018 - the session ends with the next tap, as at the kiosk
            hello_times = bare.times[warmup:]
        finally:
            runtime.close()
    result = {
        "items": items,
        "rounds": rounds,
        "method": "in-process litestar.testing.TestClient; server time measured by an ASGI wrapper",
        "tap": _stats(tap),
        "item": _stats(item),
        "hello": _stats(hello_times),
        "rss_mb": round(psutil.Process().memory_info().rss / 2**20, 1),
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
