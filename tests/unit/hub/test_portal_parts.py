"""The portal's parts without a hub: its settings from the ``[portal]`` table and the environment, the
signed tokens (a hand-made HMAC-SHA256 of the payload is the expected signature), the months the public
statistics cover and the counts they hide (worked by hand)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from hub.portal.stats import _months, hidden
from hub.portal.token import DOWNLOAD, RECORD, BadToken, TokenSeal
from hub.settings import HubSettings
from protocol import sealed

NOW = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)


def test_portal_settings_come_from_their_table_and_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    config = tmp_path / "hub.toml"
    config.write_text('[web]\nport = 8800\n\n[portal]\nwindow_s = 600\nbase_url = "https://zwfw.example/portal"\n')
    monkeypatch.setenv("SHEGONG_HUB_CONFIG", str(config))
    monkeypatch.setenv("SHEGONG_HUB_PORTAL_CLIENT_FAILURES", "3")
    s = HubSettings()
    assert (s.web.port, s.portal.window_s, s.portal.base_url) == (8800, 600, "https://zwfw.example/portal")
    assert (s.portal.client_failures, s.portal.receipt_failures) == (3, 5)
    config.write_text("[portal]\nwindow_size = 600\n")
    with pytest.raises(ValueError, match="window_size"):
        HubSettings()


def _seal() -> tuple[TokenSeal, bytes]:
    secret, _ = sealed.generate_keypair()
    key = sealed.private_key(secret)
    master = hashlib.sha256(b"shegong/portal-token/v1\x00" + bytes(key)).digest()
    return TokenSeal(key), hmac.new(master, RECORD.encode(), hashlib.sha256).digest()


def test_a_token_is_its_payload_and_an_hmac_of_it_and_nothing_else_opens():
    seal, record_key = _seal()
    token = seal.make(RECORD, {"r": "JW001-20261204-0007", "s": "completed"}, NOW + timedelta(days=1))
    payload, mac = token.split(".")
    expected = hmac.new(record_key, payload.encode(), hashlib.sha256).digest()
    assert base64.urlsafe_b64decode(mac + "=" * (-len(mac) % 4)) == expected
    facts = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert facts == {"r": "JW001-20261204-0007", "s": "completed", "exp": int((NOW + timedelta(days=1)).timestamp())}
    assert seal.open(RECORD, token, NOW)["s"] == "completed"

    forged = base64.urlsafe_b64encode(json.dumps({**facts, "s": "rejected"}).encode()).rstrip(b"=").decode()
    for bad in (f"{forged}.{mac}", token + "A", token.replace(".", ""), "", "..", "a.b"):
        with pytest.raises(BadToken):
            seal.open(RECORD, bad, NOW)
    with pytest.raises(BadToken):
        seal.open(DOWNLOAD, token, NOW)  # another purpose's key
    with pytest.raises(BadToken):
        _seal()[0].open(RECORD, token, NOW)  # another hub's
    with pytest.raises(BadToken, match="expired"):
        seal.open(RECORD, token, NOW + timedelta(days=2))


def test_the_statistics_cover_whole_months_over_back_from_today():
    """The month running is not among them (its figures change with each case: two reloads would tell one
    case's outcome)."""
    assert _months(date(2026, 3, 15), 3) == [
        (date(2026, 2, 1), date(2026, 2, 28)),
        (date(2026, 1, 1), date(2026, 1, 31)),
        (date(2025, 12, 1), date(2025, 12, 31)),
    ]
    assert _months(date(2026, 1, 31), 2) == [
        (date(2025, 12, 1), date(2025, 12, 31)),
        (date(2025, 11, 1), date(2025, 11, 30)),
    ]
    assert _months(date(2024, 3, 1), 1) == [(date(2024, 2, 1), date(2024, 2, 29))]  # a leap year's February


@pytest.mark.parametrize(
    ("counts", "k", "expected"),
    [
        ({"A": 3, "B": 1}, 3, {"A", "B"}),  # 4 less 3 would tell B's 1: A goes too (hidden: 4)
        ({"A": 9, "B": 4, "C": 1}, 3, {"B", "C"}),  # C's 1, then the smallest other, B (hidden: 5)
        ({"A": 9, "B": 4, "C": 1, "D": 2}, 3, {"C", "D"}),  # 1 + 2 = 3 hidden: enough, nobody else
        ({"A": 5, "B": 5, "C": 1}, 3, {"A", "C"}),  # a tie: the first code goes
        ({"A": 5, "B": 6, "C": 0}, 3, {"C"}),  # a 0 hides nothing: nothing to work out
        ({"A": 1, "B": 1}, 3, {"A", "B"}),  # the parent under k too: all hidden already
        ({"A": 7, "B": 3}, 3, set()),
        ({}, 3, set()),
    ],
)
def test_the_statistics_hide_what_subtraction_would_give_back(counts, k, expected):
    assert hidden(counts, k) == expected


def test_an_old_flat_web_key_is_refused_by_name(tmp_path, monkeypatch):
    config = tmp_path / "hub.toml"
    config.write_text("web_port = 8800\nlogin_free_failures = 5\n")
    monkeypatch.setenv("SHEGONG_HUB_CONFIG", str(config))
    with pytest.raises(ValueError, match=r"web_port is now \[web\] port; login_free_failures is now \[web\]"):
        HubSettings()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_label_of_the_record_pdf_fits_its_column(lang: str):
    """The record's facts are a label column and the values beside it: a label wider than the column ran
    into its value ("Centre's case number", an accessibility review). Measured with the PDF's own font."""
    from fpdf import FPDF

    from hub.web.record_pdf import FACT_LABELS, FONT_FILE, LABEL_MM
    from hub.web.text import portal_words

    if not FONT_FILE.exists():
        pytest.skip(f"{FONT_FILE} missing: scripts/system-deps.sh installs fonts-wqy-microhei")
    pdf = FPDF()
    pdf.add_font("cjk", fname=str(FONT_FILE), collection_font_number=0)
    pdf.set_font("cjk", size=11)
    words = portal_words(lang)
    wide = {key: round(pdf.get_string_width(words[key]), 1) for key in FACT_LABELS}
    assert {k: w for k, w in wide.items() if w > LABEL_MM - 2 * pdf.c_margin} == {}
