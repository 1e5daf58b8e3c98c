"""The console and a broker on TLS whose certificate expires in ten days: the network tab's TLS step passes
with the terminal's own CA file, and the overview shows the certificate amber, with the days left."""

from __future__ import annotations

import pytest
from rich.text import Text
from textual.widgets import Static

from edge.console.app import ConsoleApp
from edge.console.panes.overview import Overview
from edge.console.store import ConsoleStore
from harness.broker import Mosquitto
from hub.broker import auth as brokerauth
from tests.integration.console.conftest import HOST, queue_cases, terminal_settings
from tests.integration.console.test_console_actions import press

pytestmark = pytest.mark.anyio


@pytest.fixture
def tls_broker(tmp_path):
    files = brokerauth.BrokerFiles(tmp_path / "broker-files")
    brokerauth.make_tls(files, ["localhost", "127.0.0.1"], days=10)
    b = Mosquitto(tmp_path / "broker", tls=files.tls()).start()
    yield b, files.ca_cert
    b.kill()


async def test_tls_step_passes_and_the_certificate_near_its_end_is_amber(tmp_path, tls_broker):
    broker, ca = tls_broker
    s = terminal_settings(tmp_path / "edge", broker_port=broker.port, broker_tls_ca=ca)
    queue_cases(s, 1)
    store = ConsoleStore(s)
    app = ConsoleApp(s, store, host=lambda: HOST, refresh_every_s=0)  # today's clock: the certificate is new
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await app.workers.wait_for_complete()
            await pilot.pause()
            row = [str(c) if isinstance(c, Text) else c for c in app.query_one(Overview).get_row("tls")]
            await pilot.press("6")
            await press(app, pilot, "do-diagnose")
            net = str(app.query_one("#net-result", Static).render())
    finally:
        store.close()
    assert row[1] == "注意" and row[3] in {"证书 9 天后到期", "证书 10 天后到期"}, row
    assert "TLS 握手: 通过" in net and "TLSv1" in net
