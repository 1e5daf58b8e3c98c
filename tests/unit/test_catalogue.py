"""The seed catalogue and the catalogue models.

The hub publishes a catalogue; a terminal holds it and shows each resident the items they can apply for.
These tests load the seed shipped in ``protocol/seed``, check that every item is complete enough for a
kiosk to show and accept it (in Chinese and in English), that the models refuse inconsistent catalogues, and
that the content hashes a terminal compares are stable under formatting, change exactly when an item
changes, and stay as they were for a catalogue without the optional English.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from protocol.catalogue import (
    Catalogue,
    FieldType,
    HandledAt,
    ItemClass,
    Prefill,
    ServiceItem,
    canonical_json,
    load_seed,
)
from protocol.eligibility import parse_rule


@pytest.fixture(scope="module")
def seed() -> Catalogue:
    return load_seed()


def _raw_seed() -> dict[str, Any]:
    raw: dict[str, Any] = json.loads(load_seed().model_dump_json())
    return raw


def test_seed_loads_with_enough_items_and_departments(seed: Catalogue) -> None:
    assert seed.version == 1
    assert len(seed.items) >= 40
    assert len(seed.departments) >= 7
    used = {item.department for item in seed.items}
    assert used == {d.code for d in seed.departments}, "every department has items"


def test_every_item_is_complete(seed: Catalogue) -> None:
    for item in seed.items:
        assert item.materials and item.steps and item.legal_basis and item.form, item.code
        assert item.eligibility_reason and item.description and item.name_en, item.code
        assert all(law.startswith("《") for law in item.legal_basis), item.code
        assert item.fee_fen == 0, item.code
        assert item.statutory_days >= item.promised_days, item.code
        # The rule survives a round trip through its JSON form: it is data, and valid data.
        rule_json = json.dumps(item.model_dump(mode="json")["eligibility"])
        assert parse_rule(rule_json) == item.eligibility, item.code


_HAN = re.compile(r"[\u4e00-\u9fff]")


def test_every_item_has_complete_english(seed: Catalogue) -> None:
    """The kiosk's English toggle shows these; an empty one would fall back to Chinese."""
    for item in seed.items:
        assert item.description_en and item.eligibility_reason_en, item.code
        for step in item.steps:
            assert step.title_en and bool(step.detail_en) == bool(step.detail), (item.code, step.title)
        for m in item.materials:
            assert m.name_en and bool(m.note_en) == bool(m.note), (item.code, m.name)
        for f in item.form:
            assert f.label_en, (item.code, f.key)
            assert len(f.options_en) == len(f.options), (item.code, f.key)
            assert all(f.option_en(o) for o in f.options), (item.code, f.key)
        english = [
            item.description_en,
            item.eligibility_reason_en,
            *(text for s in item.steps for text in (s.title_en, s.detail_en)),
            *(text for m in item.materials for text in (m.name_en, m.note_en)),
            *(text for f in item.form for text in (f.label_en, *f.options_en)),
        ]
        assert [text for text in english if _HAN.search(text)] == [], item.code


_ENGLISH_KEYS = {
    "description_en",
    "eligibility_reason_en",
    "title_en",
    "detail_en",
    "note_en",
    "label_en",
    "options_en",
}


def _without_english(node: Any) -> Any:
    """The JSON as a hub that predates the optional English fields publishes it."""
    if isinstance(node, dict):
        optional = _ENGLISH_KEYS | ({"name_en"} if "code" not in node else set())  # an item's or department's stays
        return {k: _without_english(v) for k, v in node.items() if k not in optional}
    if isinstance(node, list):
        return [_without_english(v) for v in node]
    return node


def test_a_catalogue_without_english_keeps_its_bytes_and_hashes() -> None:
    """An older hub's catalogue validates, and the terminal hashes the bytes that hub hashed: no empty
    English field is added to them."""
    raw = _without_english(_raw_seed())
    old = Catalogue.model_validate_json(json.dumps(raw))
    item = old.item("MZ-001")
    assert item.description_en == item.materials[0].name_en == "" and item.form[4].options_en == []
    assert json.loads(canonical_json(old)) == raw
    assert [json.loads(canonical_json(i)) for i in old.items] == raw["items"]
    assert old.content_hash() != load_seed().content_hash(), "the seed's English is part of its hash"
    # docs/catalogue.md's definition, computed here from the published bytes rather than by the code under
    # test: SHA-256 of the departments and items as JSON with sorted keys, no spaces, UTF-8 kept.
    content = {"departments": raw["departments"], "items": raw["items"]}
    assert old.content_hash() == "sha256:" + _sha256_of_canonical(content)
    assert old.item("MZ-001").content_hash() == "sha256:" + _sha256_of_canonical(
        next(i for i in raw["items"] if i["code"] == "MZ-001")
    )


def _sha256_of_canonical(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_every_form_can_be_prefilled_from_the_card(seed: Catalogue) -> None:
    for item in seed.items:
        keys = {f.key: f for f in item.form}
        assert keys["name"].prefill is Prefill.NAME, item.code
        assert keys["id_number"].prefill is Prefill.ID_NUMBER, item.code
        for f in item.form:
            assert (f.type is FieldType.SELECT) == bool(f.options), (item.code, f.key)


def test_immediate_items_take_no_days_and_are_handled_at_the_committee(seed: Catalogue) -> None:
    immediate = [item for item in seed.items if item.item_class is ItemClass.IMMEDIATE]
    for item in immediate:
        assert item.promised_days == 0, item.code
        assert item.handled_at is HandledAt.COMMITTEE, item.code
        assert item.accepted_at_kiosk, item.code
    assert 0.25 <= len(immediate) / len(seed.items) <= 0.40, "about a third are immediate"


def test_other_items_promise_realistic_working_days(seed: Catalogue) -> None:
    for item in seed.items:
        if item.item_class is not ItemClass.IMMEDIATE:
            assert 1 <= item.promised_days <= 30, item.code
            assert not item.accepted_at_kiosk, item.code


def test_every_class_of_item_is_represented(seed: Catalogue) -> None:
    assert {item.item_class for item in seed.items} == set(ItemClass)


def test_lookup_by_code(seed: Catalogue) -> None:
    assert seed.item("MZ-001").name == "老年综合津贴申领"
    assert seed.get("XX-999") is None
    with pytest.raises(KeyError):
        seed.item("XX-999")
    assert seed.department("MZ").name == "民政"
    assert all(item.department == "RS" for item in seed.items_of("RS"))


def test_content_hash_is_stable_across_loads_and_formatting(seed: Catalogue) -> None:
    again = Catalogue.model_validate_json(json.dumps(_raw_seed(), indent=4, ensure_ascii=True))
    assert again.content_hash() == seed.content_hash() == load_seed().content_hash()
    assert seed.content_hash().startswith("sha256:") and len(seed.content_hash()) == 7 + 64
    assert canonical_json(again) == canonical_json(seed)


def test_content_hash_ignores_the_version(seed: Catalogue) -> None:
    assert seed.model_copy(update={"version": 2}).content_hash() == seed.content_hash()


def test_changing_one_item_changes_its_hash_and_the_catalogue_hash_only(seed: Catalogue) -> None:
    raw = _raw_seed()
    raw["items"][3]["promised_days"] = 1 if raw["items"][3]["promised_days"] == 0 else 0
    raw["items"][3]["item_class"] = "promised" if raw["items"][3]["promised_days"] else "immediate"
    raw["items"][3].pop("done_on_spot", None)  # a promised item is never done on the spot
    changed = Catalogue.model_validate_json(json.dumps(raw))
    code = changed.items[3].code
    assert changed.content_hash() != seed.content_hash()
    assert changed.item(code).content_hash() != seed.item(code).content_hash()
    fetch, drop = changed.manifest().diff(seed.manifest().items)
    assert (fetch, drop) == ([code], [])


def test_manifest_tells_a_terminal_what_to_fetch_and_drop(seed: Catalogue) -> None:
    manifest = seed.manifest()
    assert manifest.version == seed.version and manifest.content_hash == seed.content_hash()
    assert manifest.diff(manifest.items) == ([], [])
    fetch, drop = manifest.diff({"MZ-001": "sha256:old", "ZZ-001": "sha256:gone"})
    assert "MZ-001" in fetch and len(fetch) == len(seed.items)
    assert drop == ["ZZ-001"]


def test_catalogue_round_trips_through_json(seed: Catalogue) -> None:
    assert Catalogue.model_validate_json(seed.model_dump_json()) == seed
    assert '"not":' in seed.model_dump_json(), "the not-rule keeps its JSON name"


def test_catalogue_exports_a_json_schema() -> None:
    schema = Catalogue.model_json_schema()
    assert "ServiceItem" in schema["$defs"] and "Compare" in schema["$defs"]


def _nested(depth: int) -> dict[str, Any]:
    rule: dict[str, Any] = {"attr": "age", "op": ">=", "value": 65}
    for _ in range(depth):
        rule = {"not": rule}
    return rule


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda raw: raw["items"].append(raw["items"][0]), "repeats"),
        (lambda raw: raw["items"][0].update(department="RS"), "must start with its department"),
        (lambda raw: raw["departments"].pop(0), "unknown department"),
        (lambda raw: raw["items"][0].update(promised_days=0), "immediate"),
        (lambda raw: raw["items"][0].update(statutory_days=1), "statutory_days"),
        (lambda raw: raw["items"][0].update(materials=[]), "at least 1"),
        (lambda raw: raw["items"][0]["form"].append({"key": "x", "label": "x", "type": "select"}), "options"),
        (lambda raw: raw["items"][0]["form"].append(raw["items"][0]["form"][0]), "form keys repeat"),
        (lambda raw: raw["items"][0].update(eligibility={"attr": "income", "op": "<", "value": 1}), "income"),
        (lambda raw: raw["items"][0].update(eligibility="age >= 65"), "a rule is"),
        (lambda raw: raw["items"][0].update(color="red"), "Extra inputs"),
        (lambda raw: raw["items"][0].update(eligibility=_nested(20)), "deeper"),
        (lambda raw: raw["items"][0]["form"][4].update(options_en=["Myself"]), "one English option per option"),
        (lambda raw: raw["items"][0]["form"][2].update(options_en=["Mobile"]), "one English option per option"),
        (lambda raw: raw["items"][0].update(description_en="x" * 1001), "at most 1000"),
        (lambda raw: raw["items"][0]["steps"][0].update(title_en="x" * 129), "at most 128"),
    ],
)
def test_inconsistent_catalogue_is_refused(mutate: Callable[[dict[str, Any]], None], message: str) -> None:
    raw = _raw_seed()
    mutate(raw)
    with pytest.raises(ValidationError, match=message):
        Catalogue.model_validate_json(json.dumps(raw))


def test_item_model_is_frozen(seed: Catalogue) -> None:
    with pytest.raises(ValidationError):
        seed.items[0].name = "x"  # type: ignore[misc]
    assert isinstance(seed.items[0], ServiceItem)


def test_catalogue_modules_import_no_io_library() -> None:
    code = (
        "import sys, protocol.catalogue, protocol.eligibility, protocol.workdays\n"
        "bad = [m for m in ('paho', 'sqlmodel', 'sqlalchemy', 'serial', 'litestar', 'edge', 'hub', 'shegong')"
        " if m in sys.modules]\n"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
