"""The catalogue editor's form: every field of an item the kiosk shows, read back into changes.

Fields are named as the item's (``name_en``, ``fee_yuan``); a list is one row per entry, named
``<list>-<n>-<field>`` (``materials-0-name``, ``steps-1-detail_en``, ``form-2-options``), and a material or
step row left without its Chinese name or title is dropped (the page offers two empty rows to add one).
A field the form does not send keeps its value (the editor sends all of them, with a hidden ``editor``
field, so that an unticked checkbox reads as off). The form fields' keys, types and prefill are the
application form's structure and are kept; only their words are edited. The eligibility rule is not
edited here (export, edit and import the JSON).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from hub.catalogue.store import CatalogueError
from hub.text import section
from protocol.catalogue import ServiceItem

__all__ = ["BLANK_ROWS", "changes_from_form"]

BLANK_ROWS = 2
"""Empty material and step rows the editor offers for adding one."""


def _get(data: dict[str, Any], key: str, default: str = "") -> str:
    value = data.get(key, default)
    return str(value[-1] if isinstance(value, list) else value).strip()


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _int(data: dict[str, Any], key: str, default: int) -> int:
    try:
        return int(_get(data, key, str(default)))
    except ValueError:
        raise CatalogueError(section("catalogue")["not_integer"]) from None


def _fee_fen(text: str) -> int:
    try:
        yuan = Decimal(text or "0")
    except InvalidOperation:
        raise CatalogueError(section("catalogue")["bad_fee"]) from None
    fen = yuan * 100
    if yuan < 0 or fen != fen.to_integral_value():
        raise CatalogueError(section("catalogue")["bad_fee"])
    return int(fen)


def changes_from_form(item: ServiceItem, data: dict[str, Any]) -> dict[str, Any]:
    """The item's fields as the editor's form sets them (validated by the store with the whole item)."""
    sep = section("web")["list_separator"]  # keywords are shown joined by it, and read back split at it
    changes: dict[str, Any] = {
        key: _get(data, key, str(getattr(item, key)))
        for key in (
            "name",
            "name_en",
            "category",
            "description",
            "description_en",
            "eligibility_reason",
            "eligibility_reason_en",
            "item_class",
            "handled_at",
        )
    }
    changes.update(
        promised_days=_int(data, "promised_days", item.promised_days),
        statutory_days=_int(data, "statutory_days", item.statutory_days),
        visits=_int(data, "visits", item.visits),
        fee_fen=_fee_fen(_get(data, "fee_yuan", str(Decimal(item.fee_fen) / 100))),
        # a checkbox left unticked is not sent: read it only from the whole editor (its hidden ``editor``)
        done_on_spot=_get(data, "done_on_spot") == "on" if "editor" in data else item.done_on_spot,
        keywords=_lines(_get(data, "keywords", sep.join(item.keywords)).replace(sep, "\n").replace(",", "\n")),
        legal_basis=_lines(_get(data, "legal_basis", "\n".join(item.legal_basis))),
    )
    materials = []
    for n in range(len(item.materials) + BLANK_ROWS):
        p = f"materials-{n}-"
        if not _get(data, p + "name"):
            continue
        materials.append(
            {
                "name": _get(data, p + "name"),
                "name_en": _get(data, p + "name_en"),
                "form": _get(data, p + "form", "original"),
                "count": _int(data, p + "count", 1),
                "required": _get(data, p + "required") == "on",
                "e_licence": _get(data, p + "e_licence") == "on",
                "note": _get(data, p + "note"),
                "note_en": _get(data, p + "note_en"),
            }
        )
    steps = []
    for n in range(len(item.steps) + BLANK_ROWS):
        p = f"steps-{n}-"
        if not _get(data, p + "title"):
            continue
        steps.append({k: _get(data, p + k) for k in ("title", "title_en", "detail", "detail_en")})
    form = []
    for n, f in enumerate(item.form):
        p = f"form-{n}-"
        field = f.model_dump(mode="json")
        field.update(label=_get(data, p + "label", f.label), label_en=_get(data, p + "label_en", f.label_en))
        if f.options:
            field.update(
                options=_lines(_get(data, p + "options", "\n".join(f.options))),
                options_en=_lines(_get(data, p + "options_en", "\n".join(f.options_en))),
            )
        form.append(field)
    changes.update(form=form)
    if any(key.startswith("materials-") for key in data):  # a form without the rows leaves them as they are
        changes.update(materials=materials)
    if any(key.startswith("steps-") for key in data):
        changes.update(steps=steps)
    return changes
