"""Serve the kiosk: ``serve(runtime, stop)`` for ``shegong edge run``; ``create_app`` for tests.

uvicorn runs on a thread of its own (so it installs no signal handlers) and stops when ``stop`` is set;
the device service (readers, printer, scanner named by the kiosk config) runs beside it. Once it
listens, the way in for the kiosk's own browser is written to the runtime folder (:mod:`edge.kiosk.gate`).
The kiosk listens on loopback: another address is refused unless ``[kiosk] allow_remote`` is set.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import uvicorn

from edge.devices.service import DeviceService
from edge.errors import EdgeError
from edge.kiosk.app import create_app
from edge.kiosk.gate import KioskGate, is_loopback
from edge.settings import DeviceSettings, KioskSettings

__all__ = ["KioskServer", "RemoteKiosk", "check_host", "create_app", "open_devices", "serve"]

log = logging.getLogger(__name__)


class RemoteKiosk(EdgeError):
    """The kiosk would listen where other hosts reach it, and ``[kiosk] allow_remote`` is off."""


def check_host(config: KioskSettings) -> None:
    """Refuse a kiosk address other hosts reach unless ``allow_remote`` says so (then warn)."""
    if is_loopback(config.host):
        return
    if not config.allow_remote:
        raise RemoteKiosk(
            f"[kiosk] host {config.host!r} is not a loopback address: other hosts could reach the kiosk. Use "
            "127.0.0.1 (the touch screen's own browser), or set allow_remote = true under [kiosk] if a browser on "
            "another host must show it"
        )
    log.warning("[kiosk] allow_remote: the kiosk listens on %s, where other hosts can reach it", config.host)


def open_devices(config: DeviceSettings, **options: Any) -> DeviceService:
    """The device service for the ports in ``config`` (an empty port: that device is not there)."""
    readers: list[Any] = []
    if config.reader:
        from edge.devices.idreader import IdCardReader

        readers.append(IdCardReader(config.reader))
    if config.sscard_lib:
        from edge.devices.sscard import SSCardReader

        readers.append(SSCardReader(config.sscard_lib))
    printer = scanner = None
    if config.printer:
        from edge.devices.printer import ReceiptPrinter

        printer = ReceiptPrinter(config.printer)
    if config.scanner:
        from edge.devices.scanner import QrScanner

        scanner = QrScanner(config.scanner)
    return DeviceService(readers, printer=printer, scanner=scanner, **options)


class KioskServer:
    """uvicorn on a background thread; ``start()`` returns once it is listening."""

    def __init__(self, app: Any, host: str, port: int) -> None:
        self.config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            access_log=False,  # paths carry no personal data, but there is no need to keep them either
            timeout_graceful_shutdown=2,
            lifespan="on",
        )
        self.server = uvicorn.Server(self.config)
        self._thread = threading.Thread(target=self.server.run, name="kiosk-http", daemon=True)

    @property
    def port(self) -> int:
        """The port listened on (the one chosen when the config said 0)."""
        for server in getattr(self.server, "servers", []):
            for sock in server.sockets:
                return int(sock.getsockname()[1])
        return self.config.port

    @property
    def url(self) -> str:
        return f"http://{self.config.host}:{self.port}"

    @property
    def local_url(self) -> str:
        """Where a browser on this machine reaches the kiosk (loopback when it listens on every address)."""
        host = self.config.host
        if host in ("0.0.0.0", "", "::"):
            host = "127.0.0.1"
        elif ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    def start(self, timeout: float = 10.0) -> KioskServer:
        self._thread.start()
        waited = threading.Event()
        while not self.server.started and self._thread.is_alive() and not waited.wait(0.02):
            timeout -= 0.02
            if timeout <= 0:
                raise TimeoutError("kiosk server did not start")
        if not self.server.started:
            raise RuntimeError(f"kiosk server could not listen on {self.url}")
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=10)


def serve(
    runtime: Any,
    stop: threading.Event,
    host: str | None = None,
    port: int | None = None,
    on_listening: Callable[[KioskServer], None] | None = None,
) -> None:
    """Run the kiosk (web app and devices) for ``runtime`` until ``stop`` is set; ``on_listening`` is called
    once it listens (``shegong edge run`` tells systemd it is ready then)."""
    config = runtime.settings.kiosk.model_copy(
        update={"host": host or runtime.settings.kiosk.host, "port": port or runtime.settings.kiosk.port}
    )
    check_host(config)
    way_in = runtime.settings.runtime_dir
    gate = KioskGate.for_this_boot(way_in)  # the same all boot long: a restarted service keeps its browser
    devices = open_devices(runtime.settings.devices)
    app = create_app(runtime, devices, config=config, gate=gate)
    devices.start()
    runtime.agent.health = lambda: devices.health().as_dict()  # reader and printer state in heartbeats
    runtime.devices = devices  # a technician's device tests go through this service while it holds the ports
    server = KioskServer(app, config.host, config.port)
    try:
        server.start()
        gate.write(way_in, server.local_url)
        log.info("kiosk on %s", server.url)
        if on_listening is not None:
            on_listening(server)
        stop.wait()
    finally:
        server.stop()
        runtime.devices = None
        devices.stop()
