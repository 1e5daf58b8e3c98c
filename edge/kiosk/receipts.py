"""What the kiosk prints (ESC/POS receipts and checklists) and the receipt's QR code on screen.

Every word comes from the message catalogue, and the item's own texts are in the page's language
(:meth:`Translator.pick`); the ID number and the name are masked on paper as on screen.
The QR code carries the progress address with the receipt number and query code, never the ID number.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from urllib.parse import parse_qs, urlencode, urlsplit

import segno

from edge.devices.escpos import Align, Receipt
from edge.kiosk.i18n import Translator
from protocol.catalogue import MaterialForm, ServiceItem
from protocol.typed import RECEIPT_PATTERN

__all__ = [
    "CaseReceipt",
    "case_receipt",
    "checklist",
    "mask_name",
    "material_text",
    "parse_progress_code",
    "progress_payload",
    "qr_svg_data_uri",
]

import re

_RECEIPT = re.compile(RECEIPT_PATTERN)
_QUERY = re.compile(r"^[0-9A-Z]{6}$")


def mask_name(name: str) -> str:
    """``张*``, ``欧阳**``: the first character stays."""
    return name[:1] + "*" * (len(name) - 1) if name else ""


@dataclass(frozen=True)
class CaseReceipt:
    """The facts on a case receipt (all safe to show: names and numbers masked)."""

    case_id: str
    receipt_no: str
    query_code: str
    item_code: str
    item_name: str
    masked_name: str
    masked_id: str
    accepted_at: datetime
    due: date
    promised_days: int
    agent: str | None
    progress: str
    item_name_en: str = ""
    tentative: bool = False  # ``due`` lies in a year without a holiday arrangement yet (Directory.tentative);
    # said on paper for a promised item only, as the pages say it
    done_on_spot: bool = False  # finished here (当场办结); else an immediate item still has a back-office step


def progress_payload(base: str, receipt_no: str, query_code: str, lang: str = "zh") -> str:
    """The address a receipt's QR code opens: the portal's progress page with the receipt number and query code
    filled in, in the language the receipt was printed in."""
    return f"{base}?{urlencode({'r': receipt_no, 'c': query_code, **({'lang': 'en'} if lang == 'en' else {})})}"


def parse_progress_code(text: str) -> tuple[str, str] | None:
    """``(receipt_no, query_code)`` from a scanned receipt QR, or None when it is not one of ours."""
    try:
        query = parse_qs(urlsplit(text.strip()).query)
    except ValueError:
        return None
    receipt, code = query.get("r", [""])[0], query.get("c", [""])[0].upper()
    if _RECEIPT.match(receipt) and _QUERY.match(code):
        return receipt, code
    return None


def qr_svg_data_uri(payload: str) -> str:
    return segno.make(payload, error="m").svg_data_uri(scale=6, border=2)


def material_text(t: Translator, item: ServiceItem, n: int) -> str:
    m = item.materials[n]
    form = t("material.original") if m.form is MaterialForm.ORIGINAL else t("material.copy")
    text = t("material.line", name=t.pick(m.name, m.name_en), form=form, count=m.count)
    if not m.required:
        text += t("material.optional")
    if m.e_licence:
        text += t("material.e_licence")
    return text


def case_receipt(t: Translator, r: CaseReceipt, committee: str) -> Receipt:
    if r.promised_days == 0:
        due = t("receipt.due_today") if r.done_on_spot else t("receipt.due_same_day", date=r.due.isoformat())
    else:
        due = t("receipt.due", date=r.due.isoformat(), days=r.promised_days)
    out = (
        Receipt()
        .line(committee, bold=True, size=2, align=Align.CENTER)
        .line(t("receipt.title"), bold=True, align=Align.CENTER)
        .line(t("receipt.item", name=t.pick(r.item_name, r.item_name_en)))
        .line(t("receipt.applicant", name=r.masked_name))
        .line(t("receipt.id", id=r.masked_id))
        .line(t("receipt.number", no=r.receipt_no), bold=True)
        .line(t("receipt.query_code", code=r.query_code), bold=True)
        .line(t("receipt.accepted_at", at=r.accepted_at.strftime("%Y-%m-%d %H:%M")))
        .line(due)
    )
    if r.tentative and r.promised_days:
        out.line(t("receipt.due_tentative", year=r.due.year))
    if r.agent:
        out.line(t("receipt.agent", staff=r.agent))
    return (
        out.qr(r.progress)
        .line(t("receipt.scan"), align=Align.CENTER)
        .line(t("receipt.hotline"), align=Align.CENTER)
        .cut()
    )


def checklist(t: Translator, item: ServiceItem, committee: str, place: str, visit: date | None = None) -> Receipt:
    out = (
        Receipt()
        .line(committee, bold=True, size=2, align=Align.CENTER)
        .line(t("checklist.title"), bold=True, align=Align.CENTER)
        .line(t("checklist.item", name=t.pick(item.name, item.name_en)))
        .line(t("checklist.place", place=place))
    )
    if visit is not None:
        out.line(t("checklist.visit", date=visit.isoformat()), bold=True).line(t("checklist.hours"))
    out.line(t("checklist.materials"), bold=True)
    for n in range(len(item.materials)):
        out.line("□ " + material_text(t, item, n))
    if item.promised_days == 0:
        days = t("item.promised_today") if item.done_on_spot else t("item.promised_same_day")
    else:
        days = t("item.promised_days", days=item.promised_days)
    return out.line(t("checklist.promised", days=days)).line(t("receipt.hotline"), align=Align.CENTER).cut()
