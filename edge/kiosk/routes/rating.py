"""满意度评价: a resident rates a case once, on its receipt right after submitting, or later from 我的办件
once the centre has decided it (the walk-through: a resident whose case was finished weeks later had no
way to rate it). One rating per case (edge.store.ratings); a case is rated by its holder only.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotFoundException
from litestar.params import Body, FromPath
from litestar.response import Template

from edge.kiosk.context import Kiosk, redirect
from edge.kiosk.routes.apply import receipt_of
from edge.kiosk.routes.home import kiosk_of
from edge.kiosk.session import KioskSession
from protocol.cases import CaseStatus
from protocol.ratings import RatingLevel

__all__ = ["DECIDED", "ROUTES"]

Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
DECIDED = frozenset({CaseStatus.COMPLETED, CaseStatus.REFUSED, CaseStatus.REJECTED})
"""States in which 我的办件 offers to rate a case: the centre has decided it (a withdrawn one is not rated)."""
_LEVELS = [(int(level), level.name.lower()) for level in RatingLevel]


def _page(
    kiosk: Kiosk, request: Request[Any, Any, Any], session: KioskSession, receipt_no: str, action: str, back: str
) -> Template:
    return kiosk.render(
        request, "rate.html", session=session, receipt_no=receipt_no, action=action, back=back, levels=_LEVELS
    )


def _rate(kiosk: Kiosk, case_id: str, data: dict[str, str]) -> bool:
    """Store the rating the form carries; False when it carries no level."""
    try:
        level = RatingLevel(int(data.get("level", "")))
    except ValueError:
        return False
    kiosk.runtime.ratings.rate(level, reason=str(data.get("reason", ""))[:500], case_id=case_id)
    return True


@get("/receipt/{case_id:str}/rate", sync_to_thread=False)
def receipt_rate_page(request: Request[Any, Any, Any], case_id: FromPath[str]) -> Template | Response[Any]:
    kiosk = kiosk_of(request)
    session, entry = receipt_of(kiosk, request, case_id)
    receipt = f"/receipt/{case_id}"
    if entry["rated"]:
        return redirect(receipt)
    return _page(kiosk, request, session, entry["receipt"].receipt_no, f"{receipt}/rate", receipt)


@post("/receipt/{case_id:str}/rate", sync_to_thread=True)
def receipt_rate(request: Request[Any, Any, Any], case_id: FromPath[str], data: Form) -> Response[Any]:
    kiosk = kiosk_of(request)
    _, entry = receipt_of(kiosk, request, case_id)
    if not _rate(kiosk, case_id, data):
        return redirect(f"/receipt/{case_id}/rate")
    entry["rated"] = True
    return redirect(f"/receipt/{case_id}")


def _holders_decided_case(kiosk: Kiosk, request: Request[Any, Any, Any], case_id: str) -> tuple[KioskSession, Any]:
    """The card holder's case ``case_id`` (by holder key, or submitted in this session), decided and not
    rated yet; NotFound for anyone else's, an unknown one, or one that cannot be rated (now)."""
    session = kiosk.holder_session(request)
    assert session.holder is not None
    store = kiosk.runtime.cases
    case = store.get(case_id)
    mine = case is not None and (case_id in session.receipts or store.is_holders(case, session.holder.id_number))
    if not mine or case["status"] not in DECIDED or kiosk.runtime.ratings.rated_among([case_id]):
        raise NotFoundException()
    return session, case


# Not in a thread: Litestar (2.x) registers a path's first handler again when a second arrives, and a sync
# handler wrapped for a thread is then wrapped twice (its page a coroutine, a 500); the receipt's GET neither.
@get("/cases/{case_id:str}/rate", sync_to_thread=False)
def case_rate_page(request: Request[Any, Any, Any], case_id: FromPath[str]) -> Template:
    kiosk = kiosk_of(request)
    session, case = _holders_decided_case(kiosk, request, case_id)
    return _page(kiosk, request, session, str(case["receipt_no"]), f"/cases/{case_id}/rate", "/cases")


@post("/cases/{case_id:str}/rate", sync_to_thread=True)
def case_rate(request: Request[Any, Any, Any], case_id: FromPath[str], data: Form) -> Response[Any]:
    kiosk = kiosk_of(request)
    _holders_decided_case(kiosk, request, case_id)
    if not _rate(kiosk, case_id, data):
        return redirect(f"/cases/{case_id}/rate")
    return redirect(f"/cases?rated={case_id}#case-{case_id}")


ROUTES = [receipt_rate_page, receipt_rate, case_rate_page, case_rate]
