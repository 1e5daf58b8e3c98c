"""Staff mode: a social worker logs in with a PIN to submit on a resident's behalf (代办) and tick materials.

For an item that needs a check, staff answer the questions the card cannot (``/item/<code>/checks``): the
answers live on the session, the item's verdict is evaluated again with them, and a case submitted for
the item carries them as ``check_<attribute>`` form entries.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery
from litestar.response import Template

from edge.kiosk.context import Kiosk, redirect
from edge.kiosk.routes.home import kiosk_of, safe_next, set_session_cookie
from edge.kiosk.routes.services import item_or_404
from edge.kiosk.session import InvalidAnswer, KioskSession
from edge.kiosk.staff import LOCKED_ALARM, StaffLocked
from edge.text import text as words
from protocol.catalogue import ServiceItem
from protocol.eligibility import ATTRIBUTES, Value, unknowns

__all__ = ["ROUTES", "staff_checks"]

log = logging.getLogger(__name__)
Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]


def _staff_off(kiosk: Kiosk, request: Request[Any, Any, Any]) -> Template:
    """No staff PIN is provisioned on this terminal: there is no staff mode to log in to."""
    page = kiosk.render(request, "message.html", title_key="staff.title", message_key="staff.off")
    page.status_code = 403
    return page


@get("/staff", sync_to_thread=False)
def staff_login(request: Request[Any, Any, Any], next: FromQuery[str] = "/services") -> Template:  # noqa: A002
    kiosk = kiosk_of(request)
    if not kiosk.staff.enabled:
        return _staff_off(kiosk, request)
    return kiosk.render(request, "staff.html", next=safe_next(next, "/services"), error=None)


@post("/staff", sync_to_thread=True)
def staff_login_post(request: Request[Any, Any, Any], data: Form) -> Response[Any] | Template:
    kiosk = kiosk_of(request)
    if not kiosk.staff.enabled:
        log.warning("kiosk staff login refused: no staff PINs provisioned")
        return _staff_off(kiosk, request)
    staff_id = str(data.get("staff_id", "")).strip()[:32]
    pin = str(data.get("pin", ""))[:32]
    target = safe_next(str(data.get("next", "/services")), "/services")
    try:
        ok = kiosk.staff.login(staff_id, pin)
    except StaffLocked as exc:
        return kiosk.render(request, "staff.html", next=target, error="staff.locked", retry=int(exc.retry_in) + 1)
    if not ok:
        log.warning("kiosk staff login refused")
        if locked := kiosk.staff.locked_for():  # this failure locked it: the console and the hub hear of it
            kiosk.runtime.alarms.raise_(LOCKED_ALARM, words("alarm.staff_locked", s=locked))
            return kiosk.render(request, "staff.html", next=target, error="staff.locked", retry=int(locked) + 1)
        return kiosk.render(request, "staff.html", next=target, error="staff.wrong_pin")
    kiosk.runtime.alarms.clear(LOCKED_ALARM)
    session = kiosk.session(request)
    response = redirect(target)
    if session is None:
        session = kiosk.sessions.anonymous()
        set_session_cookie(response, session.sid)
    kiosk.sessions.sign_in_staff(staff_id, session)
    session.help_called = False
    kiosk.runtime.help.ended()
    log.info("staff %s logged in at the kiosk for %.0f s", staff_id, kiosk.sessions.staff_signin)
    return response


@post("/staff/logout", sync_to_thread=False)
def staff_logout(request: Request[Any, Any, Any], data: Form) -> Response[Any]:
    """One tap ends the staff sign-in, in this session and for the residents after it."""
    who = kiosk_of(request).sessions.sign_out_staff()
    if who is not None:
        log.info("staff %s signed out at the kiosk", who)
    return redirect(safe_next(str(data.get("next", "/")), "/"))


# -- checking the conditions the card cannot tell ----------------------------------------------------------

_CHECK = "check_"


def _questions(kiosk: Kiosk, session: KioskSession, item: ServiceItem) -> tuple[str, ...]:
    """The attributes staff may answer for this item: the unknowns that decide its rule on the card alone."""
    card = session.card_attributes(kiosk.today())
    return unknowns(item.eligibility, card) if card is not None else ()


def _text(value: Value) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _parse(attr: str, text: str) -> Value:
    """A form value as the attribute's type; anything else is left a string for the session to refuse."""
    spec = ATTRIBUTES.get(attr)
    kind = spec.kind if spec else ""
    if kind == "bool" and text in ("true", "false"):
        return text == "true"
    if kind == "int" and text.isascii() and text.isdigit() and len(text) <= 3:
        return int(text)
    return text


def staff_checks(kiosk: Kiosk, session: KioskSession, item: ServiceItem) -> dict[str, str]:
    """What staff confirmed about this item's conditions, as case form entries (``check_retired: false``)."""
    if session.staff_id is None:
        return {}
    answers = session.staff_answers
    return {f"{_CHECK}{attr}": _text(answers[attr]) for attr in _questions(kiosk, session, item) if attr in answers}


def _refused(kiosk: Kiosk, request: Request[Any, Any, Any], status: int, key: str, detail: str = "") -> Template:
    page = kiosk.render(request, "message.html", title_key="checks.refused", message_key=key, detail=detail)
    page.status_code = status
    return page


@get("/item/{code:str}/checks", sync_to_thread=False)
def checks(request: Request[Any, Any, Any], code: FromPath[str]) -> Template | Response[Any]:
    kiosk = kiosk_of(request)
    session = kiosk.holder_session(request)
    item = item_or_404(kiosk, code)
    if session.staff_id is None:
        return redirect(f"/staff?next=/item/{item.code}/checks")
    t = kiosk.t(request)
    rows = []
    for attr in _questions(kiosk, session, item):
        spec = ATTRIBUTES[attr]
        answered = session.staff_answers.get(attr)
        if spec.kind == "bool":
            options = [("true", t("checks.yes")), ("false", t("checks.no"))]
        else:  # empty for a number
            options = [(value, t.pick(label, spec.values_en.get(value, ""))) for value, label in spec.values.items()]
        rows.append(
            {
                "attr": attr,
                "question": t.pick(spec.question, spec.question_en),
                "unit": t.pick(spec.unit, spec.unit_en),
                "options": options,
                "value": "" if answered is None else _text(answered),
            }
        )
    return kiosk.render(
        request,
        "checks.html",
        session=session,
        item=item,
        name=t.pick(item.name, item.name_en),
        rows=rows,
    )


@post("/item/{code:str}/checks", sync_to_thread=False)
def checks_post(request: Request[Any, Any, Any], code: FromPath[str], data: Form) -> Template | Response[Any]:
    kiosk = kiosk_of(request)
    session = kiosk.holder_session(request)
    item = item_or_404(kiosk, code)
    if session.staff_id is None:
        return _refused(kiosk, request, 403, "checks.staff_only")
    answers = {
        key.removeprefix(_CHECK): _parse(key.removeprefix(_CHECK), str(text).strip())
        for key, text in data.items()
        if key.startswith(_CHECK) and str(text).strip()  # a question left open stays unknown
    }
    try:
        session.answer(answers, asked=_questions(kiosk, session, item))
    except InvalidAnswer as exc:
        log.warning("kiosk refused staff answers for %s: %s", item.code, exc)
        return _refused(kiosk, request, 400, "checks.invalid", str(exc))
    # Names only: the answers themselves are sensitive (disability, income …) and stay out of logs.
    log.info("staff %s confirmed %s for %s", session.staff_id, ", ".join(answers) or "nothing", item.code)
    return redirect(f"/item/{item.code}")


ROUTES = [staff_login, staff_login_post, staff_logout, checks, checks_post]
