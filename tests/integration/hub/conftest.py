"""A real hub for the back office tests: HubRuntime on SQLite or PostgreSQL, connected to a real
Mosquitto, routing and due dates by the catalogue in force (the seed, published as version 1); its web
app; one user per role.

Back-office tests hash passwords with cheap argon2 parameters: the production ones cost half a second
each on purpose, which a suite creating users in every test cannot pay.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import uvicorn
from argon2 import PasswordHasher
from litestar.testing import TestClient

from harness.broker import free_port
from hub.people import passwords
from hub.people.roles import Principal
from hub.runtime import HubRuntime
from hub.settings import HubSettings, WebSettings
from hub.web.app import create_app
from hub.web.services import Services
from tests.unit.hub.helpers import PASSWORDS, add_users

SECRET = "test-secret-" + "0" * 40


@pytest.fixture(autouse=True)
def _cheap_password_hashes() -> Iterator[None]:
    passwords.use_hasher(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    yield
    passwords.use_hasher(PasswordHasher())


@pytest.fixture
def hub_settings(hub_db_url: str, broker: Any) -> HubSettings:
    """The hub's settings; a test module overrides this fixture to set a section (``[portal]``, ``[open311]``)."""
    return HubSettings(
        database_url=hub_db_url, broker_port=broker.port, keepalive_s=5, open_processes=0
    )  # see hub_factory


@pytest.fixture
def hub(hub_settings: HubSettings) -> Iterator[HubRuntime]:
    rt = HubRuntime(hub_settings)
    rt.start()
    assert rt.worker.connected.wait(10), "hub did not connect to the broker"
    yield rt
    rt.close()


@pytest.fixture
def services(hub: HubRuntime) -> Services:
    """The back office's services over the hub, the ones its web app is given."""
    return Services.from_runtime(hub)


@pytest.fixture
def app(hub: HubRuntime, services: Services) -> Any:
    return create_app(hub, WebSettings(secret=SECRET, cookie_secure=True), services)


@pytest.fixture
def people(services: Services) -> dict[str, Principal]:
    return add_users(services.users)


@pytest.fixture
def client(app: Any) -> Iterator[TestClient[Any]]:
    with TestClient(app, base_url="https://hub.test") as c:
        yield c


@pytest.fixture
def api(client: TestClient[Any], people: dict[str, Principal]) -> Callable[[str], dict[str, str]]:
    """``api("clerk_mz")``: the Authorization header of a fresh token for that user."""

    def headers(username: str) -> dict[str, str]:
        r = client.post("/api/auth/login", json={"username": username, "password": PASSWORDS[username]})
        assert r.status_code == 201, r.text
        return {"Authorization": f"Bearer {r.json()['token']}"}

    return headers


@pytest.fixture
def web(app: Any) -> Iterator[str]:
    """The hub's web app served by uvicorn on a free port; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="hub-web", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the hub's web server did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(5)


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="zh-CN")
    p = context.new_page()
    p.set_default_timeout(8000)
    yield p
    context.close()
