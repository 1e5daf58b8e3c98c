"""A receipt's progress at the kiosk is shown to its holder only (issue 10 §4): the receipt number and
the six-character query code are not enough without the card of the session or the ID number typed.
Wrong parts all get the same answer; failed lookups are limited per receipt (5 in 30 minutes) and per
asker, the card holder or else the client (10 in 10 minutes), after which even a right attempt is
refused — and again nothing says which part was wrong. Without the hub's lookup key nothing can be
checked, so nothing is shown or counted.
The kiosk is the app of a running terminal (Litestar's test client), the limits run on a hand clock."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from edge.devices.sim.identities import identity
from edge.kiosk.app import create_app
from edge.kiosk.i18n import translator
from edge.kiosk.throttle import Throttle
from edge.runtime import EdgeRuntime
from edge.settings import EdgeSettings, KioskSettings
from edge.store.cases import NewCase
from protocol.cases import Applicant

ZH = translator("zh")
NOT_FOUND, TOO_MANY = ZH("progress.not_found"), ZH("progress.too_many", minutes=0).split("0")[0]


@pytest.fixture
def kiosk(tmp_path: Path) -> Iterator[tuple[TestClient[Any], Any, list[float]]]:
    runtime = EdgeRuntime(EdgeSettings(data_dir=tmp_path / "edge", committee_code="JW001"))
    runtime.cases.set_lookup_key(bytes(range(32)))  # as the hub gives it on connect
    app = create_app(runtime, None, config=KioskSettings(idle_timeout_s=600, warn_before_s=20))
    now = [0.0]
    kiosk = app.state.kiosk
    kiosk.progress_by_client = Throttle(10, 600.0, clock=lambda: now[0])
    kiosk.progress_by_receipt = Throttle(5, 1800.0, clock=lambda: now[0])
    with TestClient(app) as client:
        assert client.get(kiosk.gate.open_path).status_code == 200  # the kiosk's own browser
        yield client, runtime, now
    runtime.close()


def _submit(runtime: Any, who: str) -> Any:
    person = identity(who)
    return runtime.cases.submit(
        NewCase(item_code="RS-004", applicant=Applicant(id_number=person.id_number, name=person.name))
    )


def _look_up(client: TestClient[Any], receipt_no: str, code: str, id_number: str = "") -> Any:
    data = {"receipt_no": receipt_no, "query_code": code, "id_number": id_number}
    return client.post("/progress", data=data, headers={"x-csrftoken": client.cookies.get("csrftoken", "")})


def _notice(response: Any) -> str:
    found = re.search(r'id="progress-missing">.*?</span> (.*?)</p>', response.text, re.S)
    return found.group(1) if found else ""


def test_the_number_and_code_alone_show_nothing_the_holders_id_or_card_shows_the_progress(kiosk):
    client, runtime, _ = kiosk
    case = _submit(runtime, "zhang-wei")
    zhang, li = identity("zhang-wei"), identity("li-na")

    asked = _look_up(client, case.receipt_no, case.query_code)
    assert asked.status_code == 400 and 'id="id_number"' in asked.text and 'id="progress"' not in asked.text
    assert f'value="{case.receipt_no}"' in asked.text  # the form again, to add the ID number

    shown = _look_up(client, case.receipt_no, case.query_code, zhang.id_number)
    assert shown.status_code == 200 and 'id="progress"' in shown.text and "社会保障卡挂失" in shown.text
    assert zhang.name not in shown.text and zhang.id_number not in shown.text

    wrong = [
        _look_up(client, case.receipt_no, case.query_code, li.id_number),  # someone else's ID number
        _look_up(client, case.receipt_no, "ZZZZZZ", zhang.id_number),  # the wrong code
        _look_up(client, "JW001-20990101-0001", case.query_code, zhang.id_number),  # no such receipt
    ]
    assert {r.status_code for r in wrong} == {404}
    assert {_notice(r) for r in wrong} == {NOT_FOUND}, "every wrong part gets the same answer"

    token = client.app.state.kiosk.events.card_tapped(zhang.card_facts())
    assert client.get(f"/claim/{token}").status_code == 200
    assert 'id="with-card"' in client.get("/scan").text and 'id="id_number"' not in client.get("/scan").text
    by_card = _look_up(client, case.receipt_no, case.query_code, li.id_number)  # the card decides, not the field
    assert by_card.status_code == 200 and 'id="progress"' in by_card.text
    token = client.app.state.kiosk.events.card_tapped(li.card_facts())
    assert client.get(f"/claim/{token}").status_code == 200
    assert _look_up(client, case.receipt_no, case.query_code).status_code == 404


def test_failed_lookups_are_limited_per_receipt_and_per_client_without_telling_which_part_failed(kiosk):
    client, runtime, now = kiosk
    cases = [_submit(runtime, "zhang-wei") for _ in range(4)]
    zhang, li = identity("zhang-wei"), identity("li-na")
    first = cases[0]
    for _ in range(4):  # four failures on one receipt with another person's ID number: they hold 张伟 up not
        assert _look_up(client, first.receipt_no, first.query_code, li.id_number).status_code == 404
    assert _look_up(client, first.receipt_no, first.query_code, zhang.id_number).status_code == 200
    now[0] = 601.0  # this client's failures have aged out; the receipt's are counted apart
    for _ in range(5):  # five failures on one receipt with his ID number: guessing his query code
        assert _look_up(client, first.receipt_no, "ZZZZZZ", zhang.id_number).status_code == 404
    refused = _look_up(client, first.receipt_no, first.query_code, zhang.id_number)  # now right: still refused
    assert refused.status_code == 429 and TOO_MANY in _notice(refused) and 'id="progress"' not in refused.text
    assert _notice(_look_up(client, first.receipt_no, "ZZZZZZ", zhang.id_number)) == _notice(refused)
    other = cases[1]
    assert _look_up(client, other.receipt_no, other.query_code, zhang.id_number).status_code == 200

    for case in cases[1:]:  # five more failures from this client, on other receipts: ten in all
        for _ in range(2 if case is not cases[-1] else 1):
            assert _look_up(client, case.receipt_no, "ZZZZZZ", zhang.id_number).status_code == 404
    assert _look_up(client, other.receipt_no, other.query_code, zhang.id_number).status_code == 429

    now[0] = 1202.0  # the client's window has passed; the first receipt's has not
    assert _look_up(client, other.receipt_no, other.query_code, zhang.id_number).status_code == 200
    assert _look_up(client, first.receipt_no, first.query_code, zhang.id_number).status_code == 429
    now[0] = 2402.0
    assert _look_up(client, first.receipt_no, first.query_code, zhang.id_number).status_code == 200


def test_a_card_holder_is_not_held_up_by_someone_elses_guesses_and_their_own_hold_only_them(kiosk):
    """Every typed look-up at a kiosk comes from its own browser: counted per client alone, ten wrong guesses by
    one person stopped look-ups there for everyone for ten minutes. With a card in the session the holder is
    the one counted."""
    client, runtime, _ = kiosk
    zhang, li = identity("zhang-wei"), identity("li-na")
    zhang_cases = [_submit(runtime, "zhang-wei") for _ in range(6)]
    li_case = _submit(runtime, "li-na")
    for case in zhang_cases[:5]:  # someone without a card guesses ten times, on five receipts (two each)
        for _ in range(2):
            assert _look_up(client, case.receipt_no, "ZZZZZZ", zhang.id_number).status_code == 404
    typed = _look_up(client, zhang_cases[5].receipt_no, zhang_cases[5].query_code, zhang.id_number)
    assert typed.status_code == 429, "typed look-ups at this kiosk wait, as before"

    token = client.app.state.kiosk.events.card_tapped(li.card_facts())
    assert client.get(f"/claim/{token}").status_code == 200
    assert _look_up(client, li_case.receipt_no, li_case.query_code).status_code == 200, "the card holder is not"
    for n in range(1, 11):  # the card holder's own ten failures (on receipts that are not theirs) hold them alone
        assert _look_up(client, f"JW001-20990101-{n:04d}", "ZZZZZZ").status_code == 404
    assert _look_up(client, li_case.receipt_no, li_case.query_code).status_code == 429

    token = client.app.state.kiosk.events.card_tapped(zhang.card_facts())
    assert client.get(f"/claim/{token}").status_code == 200
    assert _look_up(client, zhang_cases[5].receipt_no, zhang_cases[5].query_code).status_code == 200


def test_without_the_lookup_key_nothing_is_shown_and_nothing_is_counted(tmp_path):
    runtime = EdgeRuntime(EdgeSettings(data_dir=tmp_path / "edge"))  # restarted during an outage
    try:
        case = _submit(runtime, "zhang-wei")
        app = create_app(runtime, None, config=KioskSettings(idle_timeout_s=600, warn_before_s=20))
        with TestClient(app) as client:
            assert client.get(app.state.kiosk.gate.open_path).status_code == 200
            for _ in range(12):
                answer = _look_up(client, case.receipt_no, case.query_code, identity("zhang-wei").id_number)
                assert answer.status_code == 503 and _notice(answer) == ZH("progress.unavailable")
    finally:
        runtime.close()


# Hand-worked (GB 11643 weights over 31010119900307751: 244; 244 mod 11 = 2; "10X98765432"[2] = "X"), and
# checked again in tests/unit/test_typed_id_number.py by a second MOD 11-2.
TYPED_HOLDER = "31010119900307751X"


def _full_width(text: str) -> str:
    """``text`` as a phone's Chinese input gives it: ASCII letters, digits and dash at U+FF01 + (c - 0x21)."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def test_a_receipt_code_and_id_number_typed_as_people_type_them_find_the_case(kiosk, caplog):
    """Lower case, full-width, spaces around the dashes, the ID number grouped with a lower-case x: the same
    case as the printed receipt; wrong look-ups typed different ways count against one receipt."""
    client, runtime, _ = kiosk
    case = runtime.cases.submit(NewCase(item_code="RS-004", applicant=Applicant(id_number=TYPED_HOLDER, name="测试")))
    committee, day, seq = case.receipt_no.split("-")
    typed = [
        (case.receipt_no.lower(), case.query_code.lower(), "31010119900307751x"),
        (_full_width(case.receipt_no), _full_width(case.query_code), _full_width("31010119900307751X")),
        (f" {committee} - {day} - {seq} ", f"{case.query_code[:3]} {case.query_code[3:]}", "310101 19900307 751x"),
        (f"{committee}\u3000-{day}-{seq}\n", case.query_code, "310101-19900307-751X"),
    ]
    for receipt_typed, code_typed, id_typed in typed:
        shown = _look_up(client, receipt_typed, code_typed, id_typed)
        assert shown.status_code == 200 and 'id="progress"' in shown.text, (receipt_typed, code_typed, id_typed)
        assert TYPED_HOLDER not in shown.text and "19900307" not in shown.text

    caplog.set_level("INFO", logger="edge.kiosk")
    wrong_id = _look_up(client, case.receipt_no, case.query_code, "310101 19900307 7515")  # another check character
    assert wrong_id.status_code == 400 and 'id="id-error"' in wrong_id.text and ZH("scan.need_id") in wrong_id.text
    assert "19900307" not in wrong_id.text, "the ID number typed is not sent back"
    records = [r.getMessage() for r in caplog.records if r.name.startswith("edge.kiosk")]
    assert any("not a possible one" in m for m in records), records
    assert not any("19900307" in m for m in records), "no ID number in the log"

    for receipt_typed, _, id_typed in [*typed, typed[0]]:  # five failures on one receipt, typed four ways
        assert _look_up(client, receipt_typed, "ZZZZZZ", id_typed).status_code == 404
    assert _look_up(client, case.receipt_no, case.query_code, TYPED_HOLDER).status_code == 429


def test_a_receipt_grouped_with_spaces_or_typed_without_dashes_finds_the_case(kiosk):
    """The dashes typed as spaces or left out (the date grouped, full-width from a phone): the same case; wrong
    look-ups typed those ways count against the one receipt."""
    client, runtime, _ = kiosk
    case = runtime.cases.submit(NewCase(item_code="RS-004", applicant=Applicant(id_number=TYPED_HOLDER, name="测试")))
    committee, day, seq = case.receipt_no.split("-")
    assert committee == "JW001" and len(day) == 8 and len(seq) == 4  # the shape the readings below rely on
    typed = [
        f"{committee} {day} {seq}",
        f"{committee}{day}{seq}".lower(),
        _full_width(f"{committee} {day[:4]} {day[4:]} {seq}"),
    ]
    for receipt_typed in typed:
        shown = _look_up(client, receipt_typed, case.query_code, TYPED_HOLDER)
        assert shown.status_code == 200 and 'id="progress"' in shown.text, receipt_typed

    for receipt_typed in [*typed, typed[0], typed[1]]:  # five failures on one receipt, typed three ways
        assert _look_up(client, receipt_typed, "ZZZZZZ", TYPED_HOLDER).status_code == 404
    assert _look_up(client, case.receipt_no, case.query_code, TYPED_HOLDER).status_code == 429


def test_looking_again_after_a_failed_lookup_brings_back_what_was_typed(kiosk):
    """An accessibility review: 重新查询 opened an empty form, and the receipt number and query code — about
    fifty taps — were typed again. The link now carries a token for them (never them), used once."""
    client, runtime, _ = kiosk
    case = _submit(runtime, "zhang-wei")
    failed = _look_up(client, case.receipt_no, "ZZZZZZ", identity("zhang-wei").id_number)
    assert failed.status_code == 404 and _notice(failed) == NOT_FOUND
    link = re.search(r'id="look-again" href="([^"]+)"', failed.text)
    assert link and case.receipt_no not in link.group(1) and "ZZZZZZ" not in link.group(1)
    again = client.get(link.group(1))
    assert f'value="{case.receipt_no}"' in again.text and 'value="ZZZZZZ"' in again.text
    assert f'value="{case.receipt_no}"' not in client.get(link.group(1)).text, "used once"
