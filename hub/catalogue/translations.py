"""Which English catalogue text is older than its Chinese source (issue 11, item 15).

Each English field of an item (``name_en``, ``materials.0.note_en``, ``form.2.options_en`` …) is paired with
its Chinese source (:func:`pairs`). When an editor saves an item, :func:`note_save` records, per English
field, the SHA-256 of the Chinese text it was written for: the new Chinese when the English changed too
(or the editor confirmed the English), else — the first time the item is saved — the Chinese it had
before the save. A Chinese text edited afterwards without its English no longer matches: :func:`stale`
names those English fields, for the editor to flag and the publication to warn about. An English field
left empty is not stale: the kiosk shows the Chinese.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from sqlalchemy import Connection, Engine, bindparam, delete, insert
from sqlmodel import col, select

from hub.db.models import TranslationRow
from kernel.db import read_only
from protocol.catalogue import Catalogue, ServiceItem
from protocol.envelope import utcnow

__all__ = ["Pair", "note_save", "note_saves", "pairs", "stale", "stale_in"]

Pair = tuple[str, str, str]
"""``(english field path, Chinese source, English text)``."""
T = TranslationRow


def pairs(item: ServiceItem) -> list[Pair]:
    """Every English field of ``item`` with its Chinese source, by the English field's path."""
    out: list[Pair] = [
        ("name_en", item.name, item.name_en),
        ("description_en", item.description, item.description_en),
        ("eligibility_reason_en", item.eligibility_reason, item.eligibility_reason_en),
    ]
    for i, m in enumerate(item.materials):
        out.append((f"materials.{i}.name_en", m.name, m.name_en))
        out.append((f"materials.{i}.note_en", m.note, m.note_en))
    for i, s in enumerate(item.steps):
        out.append((f"steps.{i}.title_en", s.title, s.title_en))
        out.append((f"steps.{i}.detail_en", s.detail, s.detail_en))
    for i, f in enumerate(item.form):
        out.append((f"form.{i}.label_en", f.label, f.label_en))
        out.append((f"form.{i}.options_en", "\n".join(f.options), "\n".join(f.options_en)))
    return [p for p in out if p[1]]  # an empty Chinese text has nothing to translate


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def note_save(conn: Connection, before: ServiceItem, after: ServiceItem, confirmed: bool = False) -> None:
    """Record, in the caller's transaction, which Chinese each English field of ``after`` translates
    (``confirmed``: the editor says every English text is current)."""
    note_saves(conn, [(before, after)], confirmed)


def note_saves(conn: Connection, saved: Sequence[tuple[ServiceItem, ServiceItem]], confirmed: bool = False) -> None:
    """:func:`note_save` for many items at once (an import of a whole catalogue), in a few statements."""
    codes = sorted({after.code for _, after in saved})
    known: set[tuple[str, str]] = set()
    for i in range(0, len(codes), 500):
        found = conn.execute(select(T.code, T.field).where(col(T.code).in_(codes[i : i + 500])))
        known.update((str(code), str(field)) for code, field in found)
    now = utcnow()
    rows: list[dict[str, object]] = []
    for before, after in saved:
        had = {path: (zh, en) for path, zh, en in pairs(before)}
        for path, zh, en in pairs(after):
            if confirmed or (path in had and had[path][1] != en) or (path not in had and en):
                source = zh  # written (or confirmed) for the Chinese saved now
            elif (after.code, path) not in known and path in had:
                source = had[path][0]  # first save: it was current with the Chinese before
            else:
                continue
            rows.append({"code": after.code, "field": path, "source_hash": _hash(source), "updated_at": now})
    if rows:
        conn.execute(
            delete(T).where(col(T.code) == bindparam("b_code"), col(T.field) == bindparam("b_field")),
            [{"b_code": r["code"], "b_field": r["field"]} for r in rows],
        )
        conn.execute(insert(T), rows)


def _stale(item: ServiceItem, recorded: dict[str, str]) -> list[str]:
    return [path for path, zh, en in pairs(item) if en and path in recorded and recorded[path] != _hash(zh)]


def stale(engine: Engine, item: ServiceItem) -> list[str]:
    """The English fields of ``item`` older than their Chinese source."""
    with read_only(engine).connect() as conn:
        rows = conn.execute(select(T.field, T.source_hash).where(T.code == item.code)).all()
    return _stale(item, {f: h for f, h in rows})


def stale_in(engine: Engine, items: Catalogue | Iterable[ServiceItem]) -> dict[str, list[str]]:
    """Item code → its stale English fields, for the items that have any."""
    listed = items.items if isinstance(items, Catalogue) else list(items)
    with read_only(engine).connect() as conn:
        rows = conn.execute(select(T.code, T.field, T.source_hash)).all()
    recorded: dict[str, dict[str, str]] = {}
    for code, f, h in rows:
        recorded.setdefault(code, {})[f] = h
    out = {item.code: _stale(item, recorded.get(item.code, {})) for item in listed}
    return {code: fields for code, fields in out.items() if fields}
