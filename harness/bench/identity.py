"""Loss and duplicates counted by identity: which cases were sent, which the hub stored, and whether each
stored row is the case that was sent. Totals cannot see a case stored twice under two ids, nor one lost
while another was stored twice."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from sqlalchemy import text
from sqlalchemy.engine import Engine

__all__ = ["compare", "fingerprint", "hub_cases"]


def fingerprint(receipt_no: str, query_code: str, item_code: str, id_number: str) -> str:
    """What identifies an accepted case's content on both sides."""
    return hashlib.sha256(f"{receipt_no}|{query_code}|{item_code}|{id_number}".encode()).hexdigest()


def hub_cases(engine: Engine) -> list[tuple[str, str]]:
    """(case id, fingerprint) of every case row at the hub."""
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT case_id, receipt_no, query_code, item_code, id_number FROM cases")).all()
    return [(r[0], fingerprint(r[1], r[2], r[3], r[4])) for r in rows]


def compare(sent: dict[str, str], at_hub: Iterable[tuple[str, str]]) -> dict[str, int]:
    """``lost``: sent and not stored; ``duplicated``: stored more than once (by id, or one case's content
    under two ids) or stored and never sent; ``mismatched``: stored with content other than was sent."""
    hub: dict[str, str] = {}
    duplicated = 0
    for case_id, fp in at_hub:
        duplicated += case_id in hub
        hub[case_id] = fp
    duplicated += len(hub) - len(set(hub.values()))
    duplicated += len(hub.keys() - sent.keys())
    return {
        "lost": len(sent.keys() - hub.keys()),
        "duplicated": duplicated,
        "mismatched": sum(1 for k, fp in sent.items() if k in hub and hub[k] != fp),
    }
