"""The resident's case record as a PDF (fpdf2): the item, the materials received, each step with its date,
the promised and the actual completion, and a QR code with a signed token the portal's verifying page
checks (:mod:`hub.portal.token`), so a printed record can be told from a forged one.

The Chinese font is embedded (subset) from a Debian font package: WenQuanYi Micro Hei
(``fonts-wqy-microhei``, a TrueType collection fpdf2 reads directly; scripts/system-deps.sh installs it).
The QR code is drawn as vector squares from segno's matrix: no image library. Every word comes from the
portal's message catalogue (:func:`hub.web.text.portal_words`), in the page's language.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import segno
from fpdf import FPDF
from fpdf.fonts import FontFace

from hub.errors import HubError
from hub.portal.lookup import CaseRecordView
from hub.web.text import portal_words
from protocol.localtime import LOCAL_TZ

__all__ = ["FACT_LABELS", "FONT_FILE", "LABEL_MM", "FontMissing", "record_pdf"]

FONT_FILE = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
_FONT = "cjk"
_HEADINGS = FontFace(emphasis=None, fill_color=(235, 239, 244))  # the font has no bold face


class FontMissing(HubError):
    """The Chinese font is not installed (scripts/system-deps.sh installs fonts-wqy-microhei)."""

    status_code = 503


LABEL_MM = 34.0
"""The facts' label column: every label (:data:`FACT_LABELS`, in both languages, at 11 pt) fits it — one
that did not ran into its value (an accessibility review: "Centre's case number")."""
FACT_LABELS = (
    "receipt_no",
    "centre_receipt_no",
    "item",
    "department",
    "accepted_where",
    "applicant",
    "accepted_at",
    "status",
    "promised",
    "due",
    "decided_at",
)


def _local(at: datetime | None) -> str:
    return "" if at is None else at.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")


def _due(view: CaseRecordView, w: dict[str, str]) -> str:
    """The due date, and for an open case due in a year with no announced holidays, that one may move it."""
    if view.due_date is None:
        return ""
    note = "\n" + w["due_tentative"].format(year=view.due_date.year) if view.due_tentative else ""
    return view.due_date.isoformat() + note


def _qr(pdf: FPDF, payload: str, x: float, y: float, size: float) -> None:
    qr = segno.make(payload, error="m")
    rows = [list(r) for r in qr.matrix]
    cell = size / (len(rows) + 8)  # a quiet zone of four modules around it
    pdf.set_fill_color(0, 0, 0)
    for r, row in enumerate(rows):
        for c, dark in enumerate(row):
            if dark:
                pdf.rect(x + (c + 4) * cell, y + (r + 4) * cell, cell, cell, style="F")


def record_pdf(
    view: CaseRecordView, verify_url: str, printed_at: datetime, lang: str = "zh", font: Path = FONT_FILE
) -> bytes:
    """The record of ``view`` as PDF bytes, its QR code opening ``verify_url``."""
    if not font.exists():
        raise FontMissing(f"the Chinese font {font} is missing: run scripts/system-deps.sh")
    w = portal_words(lang)
    en = lang == "en"
    pdf = FPDF(format="A4")
    pdf.set_title(f"{w['record_title']} {view.receipt_no}")
    pdf.set_lang("en" if en else "zh-CN")  # what a screen reader reads it in
    pdf.set_creator("Shegong hub")
    pdf.add_font(_FONT, fname=str(font), collection_font_number=0)
    pdf.set_auto_page_break(auto=True, margin=18)
    pdf.add_page()
    width = pdf.w - pdf.l_margin - pdf.r_margin

    pdf.set_font(_FONT, size=12)
    pdf.cell(width, 7, w["centre"], align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(_FONT, size=18)
    pdf.cell(width, 11, w["record_title"], align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)

    qr_size = 42.0
    top = pdf.get_y()
    _qr(pdf, verify_url, pdf.w - pdf.r_margin - qr_size, top, qr_size)
    pdf.link(pdf.w - pdf.r_margin - qr_size, top, qr_size, qr_size, verify_url)  # on screen, a click verifies
    label = LABEL_MM
    facts = [
        (w["receipt_no"], view.receipt_no),
        *([(w["centre_receipt_no"], view.centre_receipt_no)] if view.centre_receipt_no else []),
        (w["item"], view.item_name_en if en else view.item_name),
        (w["department"], view.department_en if en else view.department),
        (w["accepted_where"], w["partner_channel"].format(partner=view.partner) if view.partner else view.committee),
        (w["applicant"], f"{view.masked_name}  {view.masked_id}"),
        (w["accepted_at"], _local(view.accepted_at)),
        (w["status"], view.status_en if en else view.status_zh),
        (
            w["promised"],
            (
                w["promised_days"].format(n=view.promised_days)
                if view.promised_days
                else w["promised_today"]
                if view.done_on_spot
                else w["promised_same_day"]
            )
            if view.promised_days is not None
            else "",
        ),
        (w["due"], _due(view, w)),
        (w["decided_at"], _local(view.decided_at) if view.decided_at else w["not_decided"]),
    ]
    pdf.set_font(_FONT, size=11)
    for name, value in facts:
        pdf.set_x(pdf.l_margin)
        pdf.cell(label, 7, name)
        pdf.multi_cell(width - label - qr_size - 2, 7, value, new_x="LMARGIN", new_y="NEXT")
    pdf.set_y(max(pdf.get_y(), top + qr_size) + 1)
    pdf.set_font(_FONT, size=8)
    pdf.set_x(pdf.w - pdf.r_margin - qr_size - 20)
    pdf.multi_cell(qr_size + 20, 4, w["record_scan"], align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)

    pdf.set_font(_FONT, size=13)
    pdf.cell(width, 8, w["materials_declared" if view.partner else "materials_received"], new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(_FONT, size=11)
    for zh, english in view.materials or [(w["none"], w["none"])]:
        pdf.multi_cell(width, 6.5, "· " + (english if en else zh), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)

    pdf.set_font(_FONT, size=13)
    pdf.cell(width, 8, w["history"], new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(_FONT, size=10.5)
    with pdf.table(
        col_widths=(32, 28, width - 60), text_align="LEFT", line_height=6.5, headings_style=_HEADINGS
    ) as table:
        table.row([w["at"], w["step"], w["note"]])
        for step in view.steps:
            table.row([_local(step.at), step.term_en if en else step.term_zh, step.note])
    pdf.ln(4)
    pdf.set_font(_FONT, size=9)
    pdf.cell(width, 6, f"{w['record_printed']}: {_local(printed_at)}", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
