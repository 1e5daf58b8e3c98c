"""No staff PIN ships with the kiosk (issue 10 §4): until an administrator provisions entries, the
welcome page offers no staff login, ``/staff`` says staff mode is not set up, and a login — with the
old built-in ``demo`` / ``246810`` or anything else — is refused, so nobody can submit on a resident's
behalf. With an entry provisioned, the same kiosk offers and accepts the login."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from edge.devices.sim.identities import identity
from edge.kiosk.app import create_app
from edge.kiosk.i18n import translator
from edge.runtime import EdgeRuntime
from edge.settings import EdgeSettings, KioskSettings
from tests.support import STAFF_ID, STAFF_PIN, staff_pins

SHIPPED = object()


@pytest.fixture
def kiosk(tmp_path: Path) -> Iterator[Any]:
    runtimes: list[EdgeRuntime] = []

    def make(pins: str | None | object) -> TestClient[Any]:
        """``SHIPPED``: the kiosk settings as the release ships them, nothing provisioned."""
        folder = tmp_path / str(len(runtimes))
        shipped = pins is SHIPPED
        kiosk = {} if shipped else {"kiosk": KioskSettings(staff_pins=pins)}  # type: ignore[arg-type]
        runtime = EdgeRuntime(EdgeSettings(data_dir=folder, **kiosk))
        if shipped:
            assert runtime.settings.kiosk.staff_pins is None, "a staff PIN ships with the kiosk"
        runtimes.append(runtime)
        app = create_app(runtime, None, config=runtime.settings.kiosk)
        client = TestClient(app)
        assert client.get(app.state.kiosk.gate.open_path).status_code == 200  # the kiosk's own browser
        return client

    yield make
    for runtime in runtimes:
        runtime.close()


def _csrf(client: TestClient[Any]) -> dict[str, str]:
    return {"x-csrftoken": client.cookies.get("csrftoken", "")}


def test_without_provisioned_pins_there_is_no_staff_mode(kiosk):
    off = translator("zh")("staff.off")
    with kiosk(SHIPPED) as client:  # the settings as shipped (invariants review: it passed None by hand)
        welcome = client.get("/")
        assert welcome.status_code == 200 and 'id="staff-login"' not in welcome.text
        page = client.get("/staff")
        assert page.status_code == 403 and off in page.text and 'id="pin"' not in page.text
        token = client.app.state.kiosk.events.card_tapped(identity("li-na").card_facts())
        assert client.get(f"/claim/{token}").status_code == 200
        for staff_id, pin in (("demo", "246810"), (STAFF_ID, STAFF_PIN), ("", "")):
            login = client.post("/staff", data={"staff_id": staff_id, "pin": pin}, headers=_csrf(client))
            assert login.status_code == 403 and off in login.text
        services = client.get("/services")
        assert services.status_code == 200 and 'class="staffbar"' not in services.text
        session = client.app.state.kiosk.sessions.get(client.cookies.get("kiosk_sid"))
        assert session is not None and session.staff_id is None


def test_with_a_provisioned_pin_the_login_is_offered_and_works(kiosk):
    with kiosk(staff_pins()) as client:
        assert 'id="staff-login"' in client.get("/").text
        assert 'id="pin"' in client.get("/staff").text
        login = client.post("/staff", data={"staff_id": STAFF_ID, "pin": STAFF_PIN}, headers=_csrf(client))
        assert login.status_code == 200 and 'class="staffbar"' in login.text
