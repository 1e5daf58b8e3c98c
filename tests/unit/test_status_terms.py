"""One official term per case status everywhere (issue 11, item 11): the glossary covers every status,
and no text a person reads uses a term outside it for a status — 不予办理 was the kiosk's own word."""

from __future__ import annotations

from pathlib import Path

from protocol.cases import CaseStatus
from protocol.statuses import glossary, term

ROOT = Path(__file__).resolve().parents[2]
OFF_GLOSSARY = ("不予办理", "需补正材料")
"""Words once used for a status that the glossary names otherwise (不予受理 / 不予批准, 待补正)."""


def _texts() -> list[Path]:
    out = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    for folder in ("edge/kiosk/templates", "edge/kiosk/messages", "hub/web/templates", "hub/messages"):
        out += sorted(p for p in (ROOT / folder).rglob("*") if p.suffix in {".html", ".json"})
    return out + [ROOT / "hub/cases/messages.py", ROOT / "hub/reports/export.py"]


def test_the_glossary_names_every_status_once_in_each_language():
    assert [s for s in glossary()] == list(CaseStatus)
    assert term("refused") == "不予受理" and term("rejected") == "不予批准"
    assert term("refused", "en") != term("rejected", "en")


def test_no_text_a_person_reads_uses_a_word_off_the_glossary_for_a_status():
    found = [(p.relative_to(ROOT), w) for p in _texts() for w in OFF_GLOSSARY if w in p.read_text("utf-8")]
    assert found == []
