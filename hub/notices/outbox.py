"""The SMS outbox: a notice is written in the same transaction as the case change it tells of, and sent
after, by the leading hub process, through the gateway — at least once, with retries.

:meth:`Notices.enqueue` is the workflow's hook (:class:`hub.cases.workflow.Workflow`): a case whose
resident gave a mobile number and consent at the kiosk (``notify_phone`` inside the sealed case) gets one
notice per change they care about (:data:`hub.notices.messages.NOTICE_KINDS`). :class:`NoticeSender` sends
what is due, at most ``per_minute`` in any minute over all residents; a failed notice waits
``backoff_s``, doubled after each further failure up to ``backoff_max_s``, and is given up (logged, kept)
after ``max_attempts``. Logs show a phone number masked and never the text.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select, update

from hub.db.models import NoticeRow, table
from hub.notices.gateway import GatewayError, SmsGateway, mask_phone
from hub.notices.messages import NOTICE_KINDS, notice_text
from hub.settings import SmsSettings
from protocol.cases import CaseStatus
from protocol.catalogue import ServiceItem
from protocol.envelope import utcnow

__all__ = ["NoticeSender", "Notices"]

log = logging.getLogger(__name__)
_notices = table(NoticeRow)
_PER_TICK = 50  # a slow gateway holds one round of the leader's periodic work for at most this many calls


class Notices:
    """Writes notices (the workflow's hook), with the item names of the catalogue in force."""

    def __init__(self, item: Callable[[str], ServiceItem | None]) -> None:
        """``item``: an item, withdrawn from the catalogue in force or not, for its name in the notice
        (:meth:`hub.catalogue.in_force.CatalogueInForce.item`)."""
        self.item = item

    def enqueue(
        self,
        conn: Connection,
        case: Mapping[str, Any],
        status: CaseStatus,
        version: int,
        note: str,
        materials: Sequence[str],
        now: datetime,
    ) -> bool:
        """Queue the notice of ``case`` moving to ``status`` (at ``version``) in the caller's transaction;
        False when there is none to send (no consent, or a change nobody is told of)."""
        if status not in NOTICE_KINDS:
            return False
        try:
            phone = json.loads(case["payload"]).get("notify_phone")
        except (ValueError, TypeError, AttributeError):
            phone = None
        if not phone:
            return False
        item = self.item(case["item_code"])
        # the number on the resident's receipt, where the hub gave the case one of its own (h0031)
        receipt = case.get("printed_receipt_no") or case["receipt_no"]
        text = notice_text(status, item.name if item else case["item_code"], receipt, note, materials)
        conn.execute(
            insert(_notices).values(
                case_id=case["case_id"],
                version=version,
                kind=status.value,
                phone=phone,
                text=text,
                created_at=now,
                attempts=0,
                next_at=now,
                last_error="",
            )
        )
        return True


class NoticeSender:
    """Sends due notices through ``gateway``; :meth:`tick` is one round (the leader's periodic work)."""

    def __init__(
        self, engine: Engine, gateway: SmsGateway, settings: SmsSettings, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.engine = engine
        self.gateway = gateway
        self.settings = settings
        self.clock = clock

    def tick(self) -> int:
        """Send what is due within the rate limit; the number sent."""
        now = self.clock()
        with self.engine.connect() as conn:
            recent = conn.execute(
                select(func.count()).where(_notices.c.sent_at > now - timedelta(minutes=1))
            ).scalar_one()
            room = min(self.settings.per_minute - recent, _PER_TICK)
            if room <= 0:
                return 0
            due = (
                conn.execute(
                    select(_notices.c.id, _notices.c.phone, _notices.c.text, _notices.c.attempts)
                    .where(_notices.c.sent_at.is_(None), _notices.c.failed_at.is_(None), _notices.c.next_at <= now)
                    .order_by(_notices.c.next_at, _notices.c.id)
                    .limit(room)
                )
                .mappings()
                .all()
            )
        sent = 0
        for n in due:
            attempts = n["attempts"] + 1
            try:
                self.gateway.send(n["phone"], n["text"], f"sms-{n['id']}")
            except GatewayError as exc:
                self._failed(n["id"], n["phone"], attempts, str(exc))
                continue
            with self.engine.begin() as conn:
                conn.execute(
                    update(_notices).where(_notices.c.id == n["id"]).values(sent_at=self.clock(), attempts=attempts)
                )
            sent += 1
        return sent

    def _failed(self, notice_id: int, phone: str, attempts: int, error: str) -> None:
        now = self.clock()
        values: dict[str, Any] = {"attempts": attempts, "last_error": error[:300]}
        if attempts >= self.settings.max_attempts:
            values["failed_at"] = now
            log.warning(
                "SMS notice %d to %s given up after %d tries: %s", notice_id, mask_phone(phone), attempts, error
            )
        else:
            wait = min(self.settings.backoff_s * 2 ** (attempts - 1), self.settings.backoff_max_s)
            values["next_at"] = now + timedelta(seconds=wait)
            log.info(
                "SMS notice %d to %s failed (%s); try %d in %.0f s",
                notice_id,
                mask_phone(phone),
                error,
                attempts + 1,
                wait,
            )
        with self.engine.begin() as conn:
            conn.execute(update(_notices).where(_notices.c.id == notice_id).values(**values))
