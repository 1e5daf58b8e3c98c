"""``serve(runtime, stop)`` as ``shegong edge run`` calls it: devices from the settings, uvicorn until stop.

The ports point at simulators; the kiosk answers on the configured port and returns when ``stop`` is set.
"""

from __future__ import annotations

import threading
import urllib.request

import pytest

from edge.devices.sim.idreader import IdReaderSim
from edge.devices.sim.printer import PrinterSim
from edge.kiosk.server import serve
from shegong.broker import free_port
from tests.support import wait_for

pytestmark = pytest.mark.timeout(30)


def test_serve_answers_on_its_port_and_stops_when_asked(tmp_path, monkeypatch):
    from edge.runtime import EdgeRuntime
    from edge.settings import EdgeSettings

    port = free_port()
    with IdReaderSim(tmp_path / "reader") as reader, PrinterSim(tmp_path / "printer") as printer:
        monkeypatch.setenv("SHEGONG_READER_PORT", reader.path)
        monkeypatch.setenv("SHEGONG_PRINTER_PORT", printer.path)
        monkeypatch.setenv("SHEGONG_SCANNER_PORT", "")
        monkeypatch.setenv("SHEGONG_KIOSK_PORT", str(port))
        stop = threading.Event()
        with EdgeRuntime(EdgeSettings(data_dir=tmp_path / "edge")) as runtime:
            thread = threading.Thread(target=serve, args=(runtime, stop), daemon=True)
            thread.start()

            def welcome() -> bytes | None:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1) as r:
                        return r.read()
                except OSError:
                    return None

            page = wait_for(welcome, timeout=10, what="kiosk answering")
            assert "欢迎使用社区自助服务" in page.decode()
            wait_for(lambda: reader.commands, timeout=5, what="the reader driver polling the simulator")
            stop.set()
            thread.join(10)
            assert not thread.is_alive()
