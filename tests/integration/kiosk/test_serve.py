"""``serve(runtime, stop)`` as ``shegong edge run`` calls it: devices from the settings, uvicorn until stop.

The ports point at simulators; the kiosk answers on the configured port and returns when ``stop`` is set.
Once it listens, its way in for the kiosk's own browser is in the runtime folder (0600): a client that
opens that URL is served, one that does not gets 403; started again in the same boot, the kiosk keeps
its key, so the browser already let in is still served.
``shegong edge run`` with a kiosk address other hosts reach exits 2 unless ``kiosk_allow_remote`` is set.
"""

from __future__ import annotations

import http.cookiejar
import os
import stat
import subprocess
import sys
import threading
import urllib.error
import urllib.request

import pytest

from edge.devices.sim.idreader import IdReaderSim
from edge.devices.sim.printer import PrinterSim
from edge.kiosk.server import serve
from harness.broker import free_port
from tests.support import wait_for

pytestmark = pytest.mark.timeout(60)


def _serve(runtime, stop: threading.Event) -> threading.Thread:
    thread = threading.Thread(target=serve, args=(runtime, stop), daemon=True)
    thread.start()
    return thread


def test_serve_answers_its_own_browser_on_its_port_and_stops_when_asked(tmp_path, monkeypatch):
    from edge.runtime import EdgeRuntime
    from edge.settings import EdgeSettings

    port = free_port()
    run_dir = tmp_path / "run"
    with IdReaderSim(tmp_path / "reader") as reader, PrinterSim(tmp_path / "printer") as printer:
        monkeypatch.setenv("SHEGONG_DEVICES_READER", reader.path)
        monkeypatch.setenv("SHEGONG_DEVICES_PRINTER", printer.path)
        monkeypatch.setenv("SHEGONG_DEVICES_SCANNER", "")
        monkeypatch.setenv("SHEGONG_KIOSK_PORT", str(port))
        stop = threading.Event()
        with EdgeRuntime(EdgeSettings(data_dir=tmp_path / "edge", run_dir=run_dir)) as runtime:
            thread = _serve(runtime, stop)
            url_file = run_dir / "kiosk.url"
            way_in = wait_for(lambda: url_file.exists() and url_file.read_text().strip(), what="the way in")
            assert way_in.startswith(f"http://127.0.0.1:{port}/kiosk/open?key=")
            assert stat.S_IMODE(url_file.stat().st_mode) == stat.S_IMODE((run_dir / "kiosk.html").stat().st_mode)
            assert stat.S_IMODE(url_file.stat().st_mode) == 0o600

            with pytest.raises(urllib.error.HTTPError) as refused:  # not the kiosk's browser
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5)
            assert refused.value.code == 403
            browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
            with browser.open(way_in, timeout=10) as opened:
                assert opened.status == 200
            with browser.open(f"http://127.0.0.1:{port}/", timeout=10) as welcome:
                assert "欢迎使用社区自助服务" in welcome.read().decode()
            wait_for(lambda: reader.commands, timeout=5, what="the reader driver polling the simulator")
            stop.set()
            thread.join(20)
            assert not thread.is_alive()

            url_file.unlink()
            stop = threading.Event()
            thread = _serve(runtime, stop)  # the service restarted: same boot, same way in
            assert wait_for(lambda: url_file.exists() and url_file.read_text().strip(), what="way in") == way_in
            with browser.open(f"http://127.0.0.1:{port}/", timeout=10) as welcome:
                assert "欢迎使用社区自助服务" in welcome.read().decode()
            stop.set()
            thread.join(20)


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10"])
def test_shegong_edge_run_refuses_a_kiosk_other_hosts_reach(tmp_path, host):
    env = {
        **os.environ,
        "SHEGONG_DATA_DIR": str(tmp_path / "edge"),
        "SHEGONG_KIOSK_HOST": host,
        "SHEGONG_DEVICES_READER": "",
        "SHEGONG_DEVICES_PRINTER": "",
        "SHEGONG_DEVICES_SCANNER": "",
        "SHEGONG_BROKER_PORT": str(free_port()),  # nobody there: the terminal starts offline
    }
    done = subprocess.run(
        [sys.executable, "-m", "shegong.cli", "edge", "run"], env=env, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert "allow_remote" in done.stderr and host in done.stderr
