"""Fixtures for the device tests: simulators on real ptys, and a device service tuned to poll fast."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from edge.devices.events import DeviceEvent
from edge.devices.idreader import IdCardReader
from edge.devices.service import DeviceService
from edge.devices.sim.idreader import IdReaderSim
from edge.devices.sim.sscard import SSCardSim


def _wait_until(predicate: Callable[[], object], timeout: float = 5.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def _drain(service: DeviceService, settle: float = 0.0) -> list[DeviceEvent]:
    """Events so far, after waiting ``settle`` seconds for any more."""
    time.sleep(settle)
    events = []
    while not service.events.empty():
        events.append(service.events.get_nowait())
    return events


@pytest.fixture
def wait_until() -> Callable[..., None]:
    """``wait_until(predicate, timeout=5, what=...)``: poll until true, else fail the test."""
    return _wait_until


@pytest.fixture
def drain() -> Callable[..., list[DeviceEvent]]:
    """``drain(service, settle=0)``: the service's queued events, after ``settle`` seconds."""
    return _drain


@pytest.fixture
def id_sim(tmp_path: Path) -> Iterator[IdReaderSim]:
    with IdReaderSim(tmp_path / "shegong-reader") as sim:
        yield sim


@pytest.fixture
def fast_reader(id_sim: IdReaderSim) -> IdCardReader:
    """The real driver on the simulator's link, with timeouts short enough for tests."""
    return IdCardReader(id_sim.path, timeout=0.3, read_timeout=0.6, retry_pause=0.02)


@pytest.fixture
def start_service() -> Iterator[Callable[..., DeviceService]]:
    started: list[DeviceService] = []

    def start(*readers: object, **options: object) -> DeviceService:
        options = {"poll_interval": 0.05, "retry_first": 0.05, "retry_max": 0.2, **options}
        service = DeviceService(list(readers), **options).start()  # type: ignore[arg-type]
        started.append(service)
        return service

    yield start
    for service in started:
        service.stop()


@pytest.fixture(scope="session")
def sscard_sim(tmp_path_factory: pytest.TempPathFactory) -> SSCardSim:
    """The simulated vendor library, compiled once per session (never committed)."""
    sim = SSCardSim(tmp_path_factory.mktemp("sscard"))
    sim.build()
    return sim
