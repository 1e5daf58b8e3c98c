"""Open311 GeoReport v2 over the hub: services from the catalogue in force, requests as cases.

What anyone may read (no key): the discovery document, the services and their definitions, and the
requests partners created — their status, item, department and dates, never the caller's data. With a
partner's key: POST a request for an item the catalogue marks ``online``, and read back only the requests
that partner created, with the caller's description and address and the clerk's last note.

Requests made at a kiosk are residents' own business and are not listed here (the resident portal, with
receipt number, ID number and query code, is their way to follow them).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Engine, select

from hub.cases.partnered import COMMITTEE, OverLimit, PartnerCases
from hub.cases.states import CLOSED
from hub.db.models import CaseEventRow, CaseRow, PartnerRequestRow, table
from hub.errors import HubError, NotFound, PermissionDenied
from hub.open311.messages import ERRORS, NOTICES
from hub.open311.models import (
    Attribute,
    AttributeValue,
    Discovery,
    Endpoint,
    RequestCreated,
    Service,
    ServiceDefinition,
    ServiceRequest,
)
from hub.open311.partners import Partner, Partners
from hub.people.throttle import TooManyAttempts
from kernel.db import read_only
from protocol import idnumber
from protocol.cases import PHONE_PATTERN, Applicant, CaseStatus, CaseSubmission
from protocol.catalogue import Catalogue, FieldType, FormField, Prefill, ServiceItem
from protocol.envelope import utcnow
from protocol.localtime import LOCAL_TZ, local_date
from protocol.statuses import term
from protocol.typed import RECEIPT_PATTERN, typed_id_number, typed_phone, typed_receipt

__all__ = ["BadRequest", "Filters", "Open311", "TooManyRequests", "Unauthorized"]

log = logging.getLogger(__name__)

SPEC = "http://wiki.open311.org/GeoReport_v2"
MATERIALS = "materials"
RANGE_DAYS = 90
LIST_MAX = 1000
_TEXT_MAX = {"description": 1000, "address_string": 200, "email": 120, "first_name": 32, "last_name": 32}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
"""Characters no XML 1.0 document may hold (all C0 controls but tab and line breaks): stored, they would make
every ``.xml`` answer listing the request unreadable to the partner (and a NUL fails on PostgreSQL)."""
_DATATYPES = {
    FieldType.TEXT: "string",
    FieldType.NUMBER: "number",
    FieldType.DATE: "datetime",
    FieldType.SELECT: "singlevaluelist",
    FieldType.PHONE: "string",
    FieldType.ID_NUMBER: "string",
}
_cases, _events, _requests = table(CaseRow), table(CaseEventRow), table(PartnerRequestRow)


class BadRequest(HubError):
    status_code = 400


class Unauthorized(HubError):
    status_code = 401


class TooManyRequests(HubError):
    """The partner is over its request limit, or the client sent too many wrong keys: it may try again in
    ``retry_after_s`` seconds."""

    status_code = 429

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True, slots=True)
class Filters:
    """GET requests' parameters, as the spec names them (each a comma-separated list where it allows)."""

    service_request_id: str | None = None
    service_code: str | None = None
    start_date: str | None = None
    end_date: str | None = None
    status: str | None = None


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def _w3c(value: str, param: str) -> datetime:
    """A W3C date-time parameter; one at the calendar's very ends (``0001-01-01``, ``9999-12-31T23:59-12:00``)
    too, since it cannot be moved to UTC (as the database stores it) nor have the 90 days of a range added."""
    try:
        at = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        at = at if at.tzinfo else at.replace(tzinfo=LOCAL_TZ)
        for edge in (at - timedelta(days=RANGE_DAYS), at + timedelta(days=RANGE_DAYS)):
            edge.astimezone(UTC)
    except (ValueError, OverflowError):
        raise BadRequest(ERRORS["date_param"].format(param=param)) from None
    return at


def _iso(at: datetime) -> str:
    return at.astimezone(LOCAL_TZ).isoformat(timespec="seconds")


def _end_of(day: date) -> str:
    return datetime.combine(day, time(23, 59, 59), tzinfo=LOCAL_TZ).isoformat()


def _attribute(order: int, f: FormField) -> Attribute:
    values = [AttributeValue(key=o, name=o) for o in f.options]
    description = NOTICES["id_number_description"] if f.prefill is Prefill.ID_NUMBER else f.label
    return Attribute(True, f.key, _DATATYPES[f.type], f.required, f.label_en, order, description, values)


class Open311:
    """The Open311 domain service: the web side's handlers call it and render what it returns."""

    def __init__(
        self,
        engine: Engine,
        catalogue: Callable[[], Catalogue],
        partners: Partners,
        cases: PartnerCases,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.engine = engine
        self.catalogue = catalogue
        self.partners = partners
        self.cases = cases
        self.clock = clock

    # ------------------------------------------------------------------ keys
    def partner(self, api_key: str | None, required: bool, client: str = "unknown") -> Partner | None:
        """The partner holding ``api_key``; none given: None (or :class:`Unauthorized` when ``required``);
        a wrong or revoked key: :class:`PermissionDenied` (never a silent public answer); from a ``client``
        (the address asking) whose keys keep failing, :class:`TooManyRequests` before any key is checked."""
        if not api_key:
            if required:
                raise Unauthorized(ERRORS["no_key"])
            return None
        try:
            partner = self.partners.authenticate(api_key, client)
        except TooManyAttempts as exc:
            seconds = exc.retry_after_s
            raise TooManyRequests(ERRORS["key_backoff"].format(seconds=seconds), seconds) from None
        if partner is None:
            raise PermissionDenied(ERRORS["bad_key"])
        return partner

    # ------------------------------------------------------------------ services
    def discovery(self, base_url: str) -> Discovery:
        endpoint = Endpoint(SPEC, base_url, self._changeset(), "production", ["text/xml", "application/json"])
        return Discovery(self._changeset(), NOTICES["contact"], NOTICES["contact"], [endpoint])

    def _changeset(self) -> str:
        return f"catalogue-{self.catalogue().content_hash()[7:19]}"

    def services(self) -> list[Service]:
        catalogue = self.catalogue()
        return [
            Service(
                service_code=item.code,
                service_name=item.name,
                description=item.description,
                metadata=True,
                type="realtime",
                # "online": a partner may POST requests for it; the rest are listed for what a caller is told
                keywords=",".join([*item.keywords, *(["online"] if item.online else [])]),
                group=catalogue.department(item.department).name,
            )
            for item in catalogue.items
        ]

    def _item(self, code: str) -> ServiceItem:
        item = self.catalogue().get(code)
        if item is None:
            raise NotFound(ERRORS["no_service"].format(code=code[:64]))
        return item

    def definition(self, code: str) -> ServiceDefinition:
        """The item's form as attributes (the caller's name comes as first/last name, not an attribute),
        and its materials as one list the caller ticks."""
        item = self._item(code)
        fields = [f for f in item.form if f.prefill is not Prefill.NAME]
        attributes = [_attribute(i, f) for i, f in enumerate(fields, 1)]
        materials = [AttributeValue(key=str(i), name=m.name) for i, m in enumerate(item.materials, 1)]
        attributes.append(
            Attribute(
                True, MATERIALS, "multivaluelist", False, "", len(attributes) + 1, NOTICES["materials_attr"], materials
            )
        )
        return ServiceDefinition(item.code, attributes)

    # ------------------------------------------------------------------ requests
    def create(self, partner: Partner, params: Mapping[str, str | Sequence[str]], portal: str) -> RequestCreated:
        """A caller's request, submitted by ``partner``: validated, then stored as a case. Its notice tells the
        operator the case's query code and where the caller follows it (``portal``: the resident portal's
        address), as a kiosk's receipt tells a resident."""

        def one(name: str) -> str:
            value = params.get(name, "")
            text = value if isinstance(value, str) else (value[0] if value else "")
            if len(text) > _TEXT_MAX.get(name, 200):
                raise BadRequest(ERRORS["too_long"].format(field=name))
            if _CONTROL.search(text):
                raise BadRequest(ERRORS["control"].format(field=name))
            return text.strip()

        code = one("service_code")
        if not code:
            raise BadRequest(ERRORS["service_missing"])
        item = self._item(code)
        if not item.online:
            raise PermissionDenied(ERRORS["not_online"].format(code=item.code))
        name = (one("last_name") + one("first_name")).strip()
        if not name:
            raise BadRequest(ERRORS["name"])
        phone = typed_phone(one("phone"))  # as the operator typed it: +86 139-1234-5678 is 13912345678
        if phone and not re.match(PHONE_PATTERN, phone):
            raise BadRequest(ERRORS["phone"])
        form: dict[str, str] = {}
        id_number = ""
        today = local_date(self.clock())  # a birth date is checked against Shanghai's day, not UTC's
        for f in item.form:
            if f.prefill is Prefill.NAME:
                form[f.key] = name
                continue
            value = one(f"attribute[{f.key}]")
            if f.type is FieldType.PHONE:
                value = typed_phone(value) or phone
            elif f.type is FieldType.ID_NUMBER or f.prefill is Prefill.ID_NUMBER:  # as said and typed
                value = typed_id_number(value)
            if not value:
                if f.required:
                    raise BadRequest(ERRORS["required"].format(code=f.key))
                continue
            if f.prefill is Prefill.ID_NUMBER:  # the caller's own
                id_number = value
            self._check(f, value, today)
            form[f.key] = value
        try:
            idnumber.validate(id_number, today=today)
        except idnumber.InvalidIdNumber as exc:
            log.info(
                "Open311 partner %s: a request refused, the caller's ID number is not a possible one (%s)",
                partner.name,
                exc,
            )
            raise BadRequest(ERRORS["id_number"]) from None
        materials = self._materials(
            item, params.get(f"attribute[{MATERIALS}]") or params.get(f"attribute[{MATERIALS}][]")
        )
        for key in ("description", "address_string", "email"):
            if one(key):
                form[f"open311_{key}"] = one(key)
        if phone:
            form["open311_phone"] = phone
        applicant = Applicant(id_number=id_number, name=name[:64], card_type="manual")
        try:
            case = self.cases.create(partner.partner_id, partner.name, item.code, applicant, form, materials)
        except OverLimit as exc:
            self._refused(partner, exc)
            limit, seconds = exc.limit, exc.retry_after_s
            message = ERRORS["over_limit"].format(window_s=limit.window_s, limit=limit.requests, seconds=seconds)
            raise TooManyRequests(message, seconds) from None
        with read_only(self.engine).connect() as conn:
            due = conn.execute(select(_cases.c.due_date).where(_cases.c.case_id == case.case_id)).scalar()
        department = self.catalogue().department(case.department).name if case.department else ""
        notice = (
            NOTICES["created"].format(department=department, due=due.isoformat())
            if due
            else NOTICES["created_no_due"].format(department=department)
        )
        notice += NOTICES["query"].format(receipt=case.service_request_id, code=case.query_code, portal=portal)
        return RequestCreated(case.service_request_id, notice, one("account_id") or None)

    def _refused(self, partner: Partner, exc: OverLimit) -> None:
        """Count the refusal on the partner; log the first of each window (a flood is one line, not one each)."""
        now = self.clock()
        before = self.partners.refused(partner.partner_id, now)
        if before is None or now - before > timedelta(seconds=exc.limit.window_s):
            log.warning(
                "Open311 partner %s is over its limit of %d requests in %d s: its POSTs are refused (429)",
                partner.name,
                exc.limit.requests,
                exc.limit.window_s,
            )

    @staticmethod
    def _check(f: FormField, value: str, today: date) -> None:
        if f.type is FieldType.SELECT and value not in f.options:
            raise BadRequest(ERRORS["choice"].format(code=f.key))
        if f.type is FieldType.NUMBER:
            try:
                float(value)
            except ValueError:
                raise BadRequest(ERRORS["number"].format(code=f.key)) from None
        if f.type is FieldType.DATE:
            try:
                date.fromisoformat(value[:10])
            except ValueError:
                raise BadRequest(ERRORS["date"].format(code=f.key)) from None
        if f.type is FieldType.PHONE and not re.match(PHONE_PATTERN, value):
            raise BadRequest(ERRORS["phone"])
        if f.type is FieldType.ID_NUMBER:
            try:
                idnumber.validate(value, today=today)
            except idnumber.InvalidIdNumber:
                raise BadRequest(ERRORS["id_number_attr"].format(code=f.key)) from None
        if len(value) > 200:
            raise BadRequest(ERRORS["too_long"].format(field=f.key))

    @staticmethod
    def _materials(item: ServiceItem, given: str | Sequence[str] | None) -> list[str]:
        keys = _split(given) if isinstance(given, str) else [k for v in (given or []) for k in _split(v)]
        names = {str(i): m.name for i, m in enumerate(item.materials, 1)}
        bad = [k for k in keys if k not in names]
        if bad:
            raise BadRequest(ERRORS["choice"].format(code=MATERIALS))
        return [names[k] for k in dict.fromkeys(keys)]

    def requests(self, filters: Filters, partner: Partner | None, portal: str = "") -> list[ServiceRequest]:
        """Requests by the spec's filters (the ids, when given, override the rest; otherwise the last 90
        days, or the range asked, at most 90 days), newest first; only ``partner``'s own when keyed, each
        with its query code and the portal's address in its notice, to read to a caller again."""
        q = select(_cases, _requests.c.partner_id).join(_requests, _requests.c.case_id == _cases.c.case_id)
        if partner is not None:
            q = q.where(_requests.c.partner_id == partner.partner_id)
        ids = _split(filters.service_request_id)[:LIST_MAX]
        if ids:  # as typed: full-width, lower case (the receipt numbers they are)
            q = q.where(_requests.c.service_request_id.in_(sorted({t for i in ids for t in typed_receipt(i)})))
        else:
            end = _w3c(filters.end_date, "end_date") if filters.end_date else None
            start = _w3c(filters.start_date, "start_date") if filters.start_date else None
            if start is not None and end is not None and end - start > timedelta(days=RANGE_DAYS):
                raise BadRequest(ERRORS["range"])
            if start is None:
                start = (end or self.clock()) - timedelta(days=RANGE_DAYS)
            if end is None:
                end = start + timedelta(days=RANGE_DAYS) if filters.start_date else self.clock()
            q = q.where(_requests.c.created_at >= start, _requests.c.created_at <= end)
            codes = _split(filters.service_code)
            if codes:
                q = q.where(_cases.c.item_code.in_(codes))
            wanted = set(_split(filters.status))
            if wanted - {"open", "closed"}:
                raise BadRequest(ERRORS["status"])
            closed = [s.value for s in CLOSED]
            if wanted == {"open"}:
                q = q.where(_cases.c.status.not_in(closed))
            elif wanted == {"closed"}:
                q = q.where(_cases.c.status.in_(closed))
        q = q.order_by(_requests.c.created_at.desc()).limit(LIST_MAX)
        with read_only(self.engine).connect() as conn:
            rows = [dict(r) for r in conn.execute(q).mappings()]
            notes = self._last_notes(conn, [r["case_id"] for r in rows]) if partner is not None else {}
        return [self._view(r, partner, notes.get(r["case_id"], ""), portal) for r in rows]

    def request(self, service_request_id: str, partner: Partner | None, portal: str = "") -> ServiceRequest:
        found = self.requests(Filters(service_request_id=service_request_id.replace(",", "")), partner, portal)
        if not found:
            shown = service_request_id[:40]
            # A committee's or the counter's receipt the resident read out to the hotline: said so, with where the
            # resident can look (told by the number's form alone: it says nothing of whether such a case exists).
            number = typed_receipt(service_request_id)[0]
            if re.match(RECEIPT_PATTERN, number) and not number.startswith(f"{COMMITTEE}-"):
                where = ERRORS["portal_here"].format(url=f"{portal}/progress") if portal else ERRORS["portal_unnamed"]
                raise NotFound(ERRORS["committee_receipt"].format(id=shown, portal=where))
            raise NotFound(ERRORS["no_request"].format(id=shown))
        return found[0]

    @staticmethod
    def _last_notes(conn: Any, case_ids: list[str]) -> dict[str, str]:
        if not case_ids:
            return {}
        q = (
            select(_events.c.case_id, _events.c.note)
            .where(_events.c.case_id.in_(case_ids))
            .order_by(_events.c.case_id, _events.c.version)
        )
        return {cid: note for cid, note in conn.execute(q).all()}  # the last version's note wins

    def _view(self, row: Mapping[str, Any], partner: Partner | None, note: str, portal: str) -> ServiceRequest:
        catalogue = self.catalogue()
        item = catalogue.get(row["item_code"])
        try:
            agency = catalogue.department(row["department"]).name
        except KeyError:
            agency = row["department"]
        status = CaseStatus(row["status"])
        own = partner is not None and row["partner_id"] == partner.partner_id
        form: dict[str, str] = {}
        if own:
            form = CaseSubmission.model_validate_json(row["payload"]).form
        label = term(status.value)
        return ServiceRequest(
            service_request_id=row["receipt_no"],
            status="closed" if status in CLOSED else "open",
            status_notes=NOTICES["status_note"].format(label=label, note=note) if own and note else label,
            service_name=item.name if item else row["item_code"],
            service_code=row["item_code"],
            description=form.get("open311_description", ""),
            agency_responsible=agency,
            service_notice=NOTICES["query"].format(receipt=row["receipt_no"], code=row["query_code"], portal=portal)
            if own
            else "",
            requested_datetime=_iso(row["received_at"]),
            updated_datetime=_iso(row["updated_at"]),
            expected_datetime=_end_of(row["due_date"]) if row["due_date"] else None,
            address=form.get("open311_address_string", ""),
            address_id="",
            zipcode="",
            lat=None,
            long=None,
            media_url="",
        )
