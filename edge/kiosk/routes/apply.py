"""Apply for an immediate item: form prefilled from the card, confirm, submit, receipt, reprint, rating."""

from __future__ import annotations

import logging
import re
from datetime import date
from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotFoundException
from litestar.params import Body, FromPath
from litestar.response import Template

from edge.kiosk.context import Kiosk, redirect
from edge.kiosk.i18n import Translator
from edge.kiosk.ime import FieldKind
from edge.kiosk.receipts import CaseReceipt, case_receipt, mask_name, progress_payload, qr_svg_data_uri
from edge.kiosk.routes.home import kiosk_of
from edge.kiosk.routes.services import can_apply, item_or_404
from edge.kiosk.routes.staff import staff_checks
from edge.kiosk.session import Draft, KioskSession
from edge.store.cases import NewCase
from protocol.cases import PHONE_PATTERN
from protocol.catalogue import FieldType, FormField, Prefill, ServiceItem
from protocol.envelope import utcnow
from protocol.idnumber import InvalidIdNumber, mask, validate
from protocol.localtime import local_date
from protocol.typed import typed_date, typed_id_number, typed_phone

__all__ = ["ROUTES"]

log = logging.getLogger(__name__)

_PHONE = re.compile(r"^(1\d{10}|0\d{2,3}\d{7,8}|\d{8})$")  # as typed_phone leaves it: digits, area code's 0 kept
_MOBILE = re.compile(PHONE_PATTERN)
_NUMBER = re.compile(r"^\d{1,9}(\.\d{1,2})?$")
MAX_TEXT = 100
_SMS = "notify_phone"  # the SMS opt-in's key among a form's errors (no catalogue field is named so)
Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
#: Filled from the card on the server; never a form input (the ID number never enters the page).
_FROM_CARD = {Prefill.NAME, Prefill.ID_NUMBER, Prefill.SEX, Prefill.BIRTH_DATE}


def _card_value(session: KioskSession, f: FormField) -> str:
    h = session.holder
    assert h is not None
    return {
        Prefill.NAME: h.name,
        Prefill.ID_NUMBER: h.id_number,
        Prefill.SEX: h.sex,
        Prefill.BIRTH_DATE: h.birth_date.isoformat(),
        Prefill.ADDRESS: h.address or "",
    }.get(f.prefill, "")


def _shown(t: Translator, session: KioskSession, f: FormField) -> str:
    """How a card-filled value appears on screen: the ID number masked, sex in words."""
    value = _card_value(session, f)
    if f.prefill is Prefill.ID_NUMBER:
        return mask(value)
    if f.prefill is Prefill.SEX:
        return t(f"sex.{value}")
    return value


def _check(t: Translator, f: FormField, value: str, today: date) -> str | None:
    """The error to show beside the field, or None."""
    if not value:
        return t("form.required") if f.required else None
    if len(value) > MAX_TEXT:
        return t("form.too_long", n=MAX_TEXT)
    if f.type is FieldType.PHONE and not _PHONE.match(value):
        return t("form.bad_phone")
    if f.type is FieldType.NUMBER and not _NUMBER.match(value):
        return t("form.bad_number")
    if f.type is FieldType.DATE:
        try:
            date.fromisoformat(value)
        except ValueError:
            return t("form.bad_date")
    if f.type is FieldType.SELECT and value not in f.options:
        return t("form.bad_option")
    if f.type is FieldType.ID_NUMBER:
        try:
            validate(value, today=today)
        except InvalidIdNumber:
            return t("form.bad_id_number")
    return None


def _applicable(kiosk: Kiosk, request: Request[Any, Any, Any], code: str) -> tuple[KioskSession, ServiceItem]:
    session = kiosk.holder_session(request)
    item = item_or_404(kiosk, code)
    if not can_apply(kiosk, session, item):
        raise NotFoundException()
    return session, item


def _kind(f: FormField) -> FieldKind:
    """Which words the keyboard offers first for ``f``: a person's name (配偶姓名, 子女姓名), an address in
    Shanghai (本市居住地址: its districts, streets and roads first), or any text (就业单位; also 就医地 and
    下乡地点, which lie elsewhere: 黄埔 is as likely there as 黄浦)."""
    if f.prefill is Prefill.NAME or f.key.endswith("name") or f.key == "contact":
        return FieldKind.NAME
    if f.prefill is Prefill.ADDRESS or f.key == "address":
        return FieldKind.PLACE
    return FieldKind.TEXT


def _form_page(
    kiosk: Kiosk,
    request: Request[Any, Any, Any],
    session: KioskSession,
    item: ServiceItem,
    values: dict[str, str],
    errors: dict[str, str],
    materials: list[str],
    sms: tuple[str, bool] = ("", False),
    changed: bool = False,
) -> Template:
    t = kiosk.t(request)
    fields = []
    for f in item.form:
        from_card = f.prefill in _FROM_CARD
        fields.append(
            {
                "f": f,
                "label": t.pick(f.label, f.label_en),
                "choices": [(o, t.pick(o, f.option_en(o))) for o in f.options],  # (value sent, words shown)
                "from_card": from_card,
                "shown": _shown(t, session, f) if from_card else "",
                "value": values.get(f.key, "" if from_card else _card_value(session, f)),
                "error": errors.get(f.key),
                "kind": _kind(f).value,
            }
        )
    return kiosk.render(
        request,
        "apply.html",
        session=session,
        item=item,
        name=t.pick(item.name, item.name_en),
        fields=fields,
        errors=errors,
        changed=changed,
        materials=[(m.name, t.pick(m.name, m.name_en), m.name in materials) for m in item.materials],
        sms=not item.done_on_spot,  # finished on the spot: there is nothing left to tell
        sms_phone=sms[0],
        sms_consent=sms[1],
        sms_error=errors.get(_SMS),
    )


def _sms(t: Translator, phone: str, consent: bool) -> tuple[str | None, str | None]:
    """(the number to notify or None, the error to show or None): both a mobile number and consent, or
    neither."""
    if not phone and not consent:
        return None, None
    if not phone:
        return None, t("form.need_mobile")
    if not _MOBILE.match(phone):
        return None, t("form.bad_mobile")
    if not consent:
        return None, t("form.need_consent")
    return phone, None


@get("/item/{code:str}/apply", sync_to_thread=False)
def apply_form(request: Request[Any, Any, Any], code: FromPath[str]) -> Template:
    kiosk = kiosk_of(request)
    session, item = _applicable(kiosk, request, code)
    draft = session.drafts.get(code)
    typed = {k[len("field_") :]: v for k, v in session.typed.get(code, {}).items()}  # kept as typed (keep_typed)
    return _form_page(
        kiosk,
        request,
        session,
        item,
        {**(draft.form if draft else {}), **typed},
        {},
        draft.materials if draft else [],
        (draft.notify_phone or "", bool(draft.notify_phone)) if draft else ("", False),
        changed=draft is not None and draft.stale(item),
    )


@post("/item/{code:str}/typed", status_code=204)
async def keep_typed(request: Request[Any, Any, Any], code: FromPath[str]) -> None:
    """What the resident has typed on ``code``'s form so far (kiosk.js sends it at each change): the form
    shows it again after calling staff, a card notice, a language switch or 返回 and back. Unchecked: it only
    fills the form again, never a confirm page; the holder's own session only."""
    session = kiosk_of(request).holder_session(request)
    form = await request.form()
    kept = {str(k): str(v)[:100] for k, v in form.multi_items() if str(k).startswith("field_")}
    session.typed[code[:16]] = dict(list(kept.items())[:40])


@post("/item/{code:str}/apply")
async def apply_post(request: Request[Any, Any, Any], code: FromPath[str]) -> Response[Any] | Template:
    kiosk = kiosk_of(request)
    session, item = _applicable(kiosk, request, code)
    t = kiosk.t(request)
    data = await request.form()
    values: dict[str, str] = {}
    errors: dict[str, str] = {}
    for f in item.form:
        if f.prefill in _FROM_CARD:
            values[f.key] = _card_value(session, f)
            continue
        value = str(data.get(f"field_{f.key}", "")).strip()
        if f.type is FieldType.DATE:  # typed on the keypad: 20260105 is 2026-01-05
            value = typed_date(value)
        if f.type is FieldType.PHONE:  # stored as digits however grouped: (021) 6234 5678 is 02162345678
            value = typed_phone(value)
        elif f.type is FieldType.ID_NUMBER:  # 3101 0419… with spaces or dashes, a small x: as on a card
            value = typed_id_number(value)
        values[f.key] = value
        if problem := _check(t, f, value, kiosk.today()):
            errors[f.key] = problem
    names = {m.name for m in item.materials}
    ticked = [str(v) for v in data.getall("materials", [])] if session.staff_id else []
    materials = [m for m in ticked if m in names]
    phone, consent = typed_phone(str(data.get("notify_phone", ""))), data.get("notify_consent") == "yes"
    notify, problem = _sms(t, phone, consent) if not item.done_on_spot else (None, None)
    if problem:
        errors[_SMS] = problem
    if errors:
        shown = {k: v for k, v in values.items() if k not in {f.key for f in item.form if f.prefill in _FROM_CARD}}
        return _form_page(kiosk, request, session, item, shown, errors, materials, (phone[:20], consent))
    session.drafts[code] = Draft(code, values, materials, notify, item.content_hash())
    return redirect(f"/item/{code}/confirm")


@get("/item/{code:str}/confirm", sync_to_thread=False)
def confirm(request: Request[Any, Any, Any], code: FromPath[str]) -> Template | Response[Any]:
    kiosk = kiosk_of(request)
    session, item = _applicable(kiosk, request, code)
    draft = session.drafts.get(code)
    if draft is None or draft.stale(item):  # answers to a form no longer in force: back to the form
        return redirect(f"/item/{code}/apply")
    t = kiosk.t(request)
    rows = []
    for f in item.form:
        value = draft.form.get(f.key, "")
        if f.prefill is Prefill.ID_NUMBER or f.type is FieldType.ID_NUMBER:
            value = mask(value)
        elif f.prefill is Prefill.SEX:
            value = t(f"sex.{value}")
        elif f.type is FieldType.SELECT:
            value = t.pick(value, f.option_en(value))
        rows.append((t.pick(f.label, f.label_en), value))
    english = {m.name: m.name_en for m in item.materials}
    return kiosk.render(
        request,
        "confirm.html",
        session=session,
        item=item,
        name=t.pick(item.name, item.name_en),
        rows=rows,
        materials=[t.pick(m, english.get(m, "")) for m in draft.materials],
        due=(due := kiosk.directory.due_date(item, kiosk.today())),
        tentative=kiosk.directory.tentative(due),
        sms=draft.notify_phone,
    )


@post("/item/{code:str}/submit", sync_to_thread=True)
def submit(request: Request[Any, Any, Any], code: FromPath[str]) -> Response[Any]:
    kiosk = kiosk_of(request)
    session, item = _applicable(kiosk, request, code)
    draft = session.drafts.pop(code, None)
    session.typed.pop(code, None)
    applicant = session.applicant
    if draft is None or applicant is None:  # a second press, or the back button after submitting
        return redirect(f"/item/{code}")
    if draft.stale(item):  # a catalogue came into force since the form was checked: check it again
        session.drafts[code] = draft
        return redirect(f"/item/{code}/apply")
    directory, now = kiosk.directory, utcnow()
    due = directory.due_date(item, local_date(now))  # the receipt's date from its acceptance, kept for 我的办件
    try:
        case = kiosk.runtime.cases.submit(
            NewCase(
                item_code=item.code,
                applicant=applicant,
                form={**staff_checks(kiosk, session, item), **draft.form},  # + conditions staff confirmed
                materials=draft.materials,
                agent=session.staff_id,
                notify_phone=draft.notify_phone,
                done_on_spot=item.done_on_spot,  # 我的办件 says 已办结 as the receipt does, offline too
                item_hash=draft.item_hash or None,  # the item the form was checked on (not stale): the receipt's
                due_date=due,
            ),
            now=now,
        )
    except Exception:
        session.drafts[code] = draft  # nothing was stored: the resident may try again or call staff
        raise
    accepted = case.created_at.astimezone(kiosk.now().tzinfo)
    receipt = CaseReceipt(
        case_id=str(case.case_id),
        receipt_no=case.receipt_no,
        query_code=case.query_code,
        item_code=item.code,
        item_name=item.name,
        item_name_en=item.name_en,
        masked_name=mask_name(applicant.name),
        masked_id=mask(applicant.id_number),
        accepted_at=accepted,
        due=due,
        tentative=directory.tentative(due),
        promised_days=item.promised_days,
        done_on_spot=item.done_on_spot,
        agent=case.agent,
        progress=progress_payload(kiosk.config.progress_url, case.receipt_no, case.query_code, kiosk.lang(request)),
    )
    printed = kiosk.print(case_receipt(kiosk.t(request), receipt, kiosk.committee_name))
    session.receipts[receipt.case_id] = {"receipt": receipt, "printed": printed, "rated": False}
    return redirect(f"/receipt/{receipt.case_id}")


def receipt_of(kiosk: Kiosk, request: Request[Any, Any, Any], case_id: str) -> tuple[KioskSession, dict[str, Any]]:
    session = kiosk.holder_session(request)
    entry = session.receipts.get(case_id)
    if entry is None:
        raise NotFoundException()
    return session, entry


@get("/receipt/{case_id:str}", sync_to_thread=False)
def receipt_page(request: Request[Any, Any, Any], case_id: FromPath[str]) -> Template:
    kiosk = kiosk_of(request)
    session, entry = receipt_of(kiosk, request, case_id)
    r: CaseReceipt = entry["receipt"]
    item = item_or_404(kiosk, r.item_code)
    t = kiosk.t(request)
    return kiosk.render(
        request,
        "receipt.html",
        session=session,
        r=r,
        name=t.pick(item.name, item.name_en),
        printed=entry["printed"],
        rated=entry["rated"],
        qr=qr_svg_data_uri(r.progress),
    )


@post("/receipt/{case_id:str}/print", sync_to_thread=True)
def reprint(request: Request[Any, Any, Any], case_id: FromPath[str]) -> Response[Any]:
    kiosk = kiosk_of(request)
    _, entry = receipt_of(kiosk, request, case_id)
    entry["printed"] = kiosk.print(case_receipt(kiosk.t(request), entry["receipt"], kiosk.committee_name))
    return redirect(f"/receipt/{case_id}")


ROUTES = [apply_form, keep_typed, apply_post, confirm, submit, receipt_page, reprint]
