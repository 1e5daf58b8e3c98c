"""The catalogue of community-affairs service items (事项) the hub publishes to terminals.

One :class:`ServiceItem` per item: what it is, who decides it, who may apply (a declarative rule, see
:mod:`protocol.eligibility`), what to bring, the steps, the legal basis, the promised time in working days
and the application form. The hub announces the catalogue's version and :meth:`Catalogue.content_hash`;
a terminal compares :meth:`Catalogue.manifest` with the per-item hashes it holds and fetches only what
changed. Field meanings are in docs/catalogue.md.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Mapping
from functools import cached_property
from importlib import resources
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field, model_validator

from protocol.eligibility import Attributes, Eligibility, Rule, Verdict, check_depth, evaluate, status
from protocol.envelope import Int64, Strict

__all__ = [
    "Catalogue",
    "CatalogueManifest",
    "Department",
    "FieldType",
    "FormField",
    "HandledAt",
    "ItemClass",
    "Material",
    "MaterialForm",
    "Prefill",
    "ServiceItem",
    "Step",
    "canonical_json",
    "content_hash",
    "load_seed",
]

ITEM_CODE = r"^[A-Z]{2,4}-\d{3}$"
DEPARTMENT_CODE = r"^[A-Z]{2,4}$"


def _blank(value: object) -> bool:
    return not value


def _none(value: object) -> bool:
    return value is None


def _english(max_length: int, of: str) -> Any:
    """An optional English text beside the Chinese field ``of``, for the English toggle.

    Empty (the kiosk then shows the Chinese), it is left out of the JSON: a catalogue without English, as
    an older hub publishes it, keeps the bytes and hashes it had before these fields existed.
    """
    return Field(
        default="", max_length=max_length, exclude_if=_blank, description=f"{of} in English; empty shows the Chinese"
    )


def canonical_json(model: BaseModel) -> bytes:
    """The model as JSON with sorted keys, no spaces and UTF-8 text: the same bytes on every machine."""
    data = model.model_dump(mode="json", by_alias=True)
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def content_hash(model: BaseModel) -> str:
    """``sha256:`` and the hex digest of :func:`canonical_json`."""
    return "sha256:" + hashlib.sha256(canonical_json(model)).hexdigest()


class ItemClass(enum.StrEnum):
    IMMEDIATE = "immediate"  # 即办件: done on the spot
    PROMISED = "promised"  # 承诺件: decided by the promised date
    JOINT = "joint"  # 联办件: several departments
    ESCALATED = "escalated"  # 上报件: needs a higher authority's approval


class HandledAt(enum.StrEnum):
    COMMITTEE = "committee"  # 居委会
    CENTRE = "centre"  # 社区事务受理服务中心


class MaterialForm(enum.StrEnum):
    ORIGINAL = "original"  # 原件
    COPY = "copy"  # 复印件


class FieldType(enum.StrEnum):
    TEXT = "text"
    NUMBER = "number"
    DATE = "date"
    SELECT = "select"
    PHONE = "phone"
    ID_NUMBER = "id_number"  # another person's 公民身份号码 (a spouse's): checked like a card's, shown masked


class Prefill(enum.StrEnum):
    """Which card fact fills a form field before the resident sees it."""

    NONE = "none"
    NAME = "name"
    ID_NUMBER = "id_number"
    SEX = "sex"
    BIRTH_DATE = "birth_date"
    ADDRESS = "address"


class Department(Strict):
    code: str = Field(pattern=DEPARTMENT_CODE, description="short code, also the items' code prefix")
    name: str = Field(min_length=1, max_length=64, description="Chinese name, as on the centre's counter")
    name_en: str = Field(min_length=1, max_length=80)


class Material(Strict):
    name: str = Field(min_length=1, max_length=128)
    name_en: str = _english(256, "name")
    form: MaterialForm = MaterialForm.ORIGINAL
    count: int = Field(default=1, ge=1, le=20)
    required: bool = True
    e_licence: bool = Field(default=False, description="免提交: the centre reads it from the electronic licence")
    note: str = Field(default="", max_length=200)
    note_en: str = _english(400, "note")


class Step(Strict):
    title: str = Field(min_length=1, max_length=64)
    title_en: str = _english(128, "title")
    detail: str = Field(default="", max_length=300)
    detail_en: str = _english(600, "detail")


class FormField(Strict):
    key: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$", description="key in CaseSubmission.form")
    label: str = Field(min_length=1, max_length=64)
    label_en: str = _english(128, "label")
    type: FieldType = FieldType.TEXT
    required: bool = True
    options: list[str] = Field(default_factory=list, description="choices of a select field, in order")
    options_en: list[Annotated[str, Field(min_length=1, max_length=128)]] = Field(
        default_factory=list,
        exclude_if=_blank,
        description="English words for the options, one each, in order; the stored value stays the option",
    )
    prefill: Prefill = Prefill.NONE

    @model_validator(mode="after")
    def _options_match_type(self) -> FormField:
        if self.type is FieldType.SELECT:
            if not self.options or len(set(self.options)) != len(self.options):
                raise ValueError(f"select field {self.key!r} needs distinct options")
        elif self.options:
            raise ValueError(f"field {self.key!r} of type {self.type.value} takes no options")
        if self.options_en and len(self.options_en) != len(self.options):
            raise ValueError(f"field {self.key!r}: options_en needs one English option per option")
        return self

    def option_en(self, value: str) -> str:
        """The English words for a stored option, or "" when there are none."""
        if value in self.options and self.options_en:
            return self.options_en[self.options.index(value)]
        return ""


class ServiceItem(Strict):
    """One service item (事项) as a service guide (办事指南) states it."""

    code: str = Field(pattern=ITEM_CODE, description="local item code: department code and a number")
    national_code: str | None = Field(default=None, max_length=64, description="GB/T 39554.1 code, when known")
    name: str = Field(min_length=1, max_length=64)
    name_en: str = Field(min_length=1, max_length=80, description="short English name for the English toggle")
    department: str = Field(pattern=DEPARTMENT_CODE, description="code of the deciding department")
    category: str = Field(min_length=1, max_length=32)
    item_class: ItemClass
    description: str = Field(min_length=1, max_length=500)
    description_en: str = _english(1000, "description")
    eligibility: Annotated[Rule, AfterValidator(check_depth)]
    eligibility_reason: str = Field(min_length=1, max_length=120, description="who may apply, in plain Chinese")
    eligibility_reason_en: str = _english(240, "eligibility_reason")
    keywords: list[Annotated[str, Field(min_length=1, max_length=32)]] = Field(
        default_factory=list,
        max_length=8,
        exclude_if=_blank,
        description="other names residents search by (老年津贴, 社保卡), as Open311's keywords",
    )
    likely: Annotated[Rule, AfterValidator(check_depth)] | None = Field(
        default=None,
        exclude_if=_none,
        description="who most likely comes for it, in the rule language (age bands): listed first for them",
    )
    likely_rank: int = Field(
        default=0, ge=0, le=99, exclude_if=_blank, description="order among a holder's likely items, 1 first"
    )
    materials: list[Material] = Field(min_length=1)
    steps: list[Step] = Field(min_length=1, description="in order")
    legal_basis: list[str] = Field(min_length=1)
    promised_days: int = Field(ge=0, le=365, description="承诺办结时限 in working days; 0 for an immediate item")
    statutory_days: int = Field(ge=0, le=365, description="法定办结时限 in working days")
    fee_fen: Int64 = Field(default=0, ge=0, description="fee in fen (1/100 yuan); 0 is free")
    handled_at: HandledAt
    done_on_spot: bool = Field(
        default=False,
        exclude_if=_blank,
        description="an item the kiosk accepts that is finished there (当场办结): it reaches the hub completed. "
        "False for an immediate item that still needs a back-office step that day",
    )
    visits: int = Field(ge=0, le=5, description="到现场次数: visits the applicant needs")
    online: bool = Field(
        default=False,
        exclude_if=_blank,
        description="网上可办: a partner system (the 12345 hotline, over Open311) may submit it for a caller",
    )
    form: list[FormField] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> ServiceItem:
        if not self.code.startswith(self.department + "-"):
            raise ValueError(f"item {self.code}: code must start with its department {self.department}-")
        if (self.item_class is ItemClass.IMMEDIATE) != (self.promised_days == 0):
            raise ValueError(f"item {self.code}: promised_days is 0 exactly for an immediate item")
        if self.statutory_days < self.promised_days:
            raise ValueError(f"item {self.code}: statutory_days below promised_days")
        keys = [f.key for f in self.form]
        if len(set(keys)) != len(keys):
            raise ValueError(f"item {self.code}: form keys repeat")
        if self.done_on_spot and not self.accepted_at_kiosk:
            raise ValueError(f"item {self.code}: only an immediate item handled at the committee is done on the spot")
        if (self.likely is None) != (self.likely_rank == 0):
            raise ValueError(f"item {self.code}: likely and likely_rank (1 or more) go together")
        return self

    @property
    def accepted_at_kiosk(self) -> bool:
        """An immediate item handled at the committee: the kiosk accepts it on the spot."""
        return self.item_class is ItemClass.IMMEDIATE and self.handled_at is HandledAt.COMMITTEE

    def evaluate(self, attrs: Attributes) -> Verdict:
        return evaluate(self.eligibility, attrs, self.eligibility_reason, self.eligibility_reason_en)

    def status(self, attrs: Attributes) -> Eligibility:
        """``evaluate(attrs).status``, without wording the verdict (:func:`protocol.eligibility.status`)."""
        return status(self.eligibility, attrs)

    def likely_for(self, attrs: Attributes) -> bool:
        """Whether ``attrs`` describe someone who most likely comes for this item (``likely`` holds)."""
        return self.likely is not None and status(self.likely, attrs) is Eligibility.ELIGIBLE

    def content_hash(self) -> str:
        return content_hash(self)


class CatalogueManifest(Strict):
    """What the hub announces: the version, the whole hash and one hash per item."""

    version: Int64 = Field(ge=1)
    content_hash: str
    departments_hash: str
    items: dict[str, str] = Field(description="item code -> item content hash")

    def diff(self, have: Mapping[str, str]) -> tuple[list[str], list[str]]:
        """Given the item hashes a terminal holds: (codes to fetch, codes to drop)."""
        fetch = [code for code, h in self.items.items() if have.get(code) != h]
        drop = [code for code in have if code not in self.items]
        return fetch, drop


class _Departments(Strict):
    departments: list[Department]


class Catalogue(Strict):
    """The whole catalogue, in display order; ``version`` grows by one per publication."""

    version: Int64 = Field(ge=1)
    departments: list[Department] = Field(min_length=1)
    items: list[ServiceItem]

    @model_validator(mode="after")
    def _references(self) -> Catalogue:
        codes = [d.code for d in self.departments]
        if len(set(codes)) != len(codes):
            raise ValueError("department codes repeat")
        seen: set[str] = set()
        for item in self.items:
            if item.code in seen:
                raise ValueError(f"item code {item.code} repeats")
            seen.add(item.code)
            if item.department not in codes:
                raise ValueError(f"item {item.code}: unknown department {item.department}")
        return self

    def content_hash(self) -> str:
        """Hash of departments and items, not of ``version``: equal content, equal hash."""
        return content_hash(_Content(departments=self.departments, items=self.items))

    def manifest(self) -> CatalogueManifest:
        return CatalogueManifest(
            version=self.version,
            content_hash=self.content_hash(),
            departments_hash=content_hash(_Departments(departments=self.departments)),
            items={item.code: item.content_hash() for item in self.items},
        )

    @cached_property
    def _by_code(self) -> dict[str, ServiceItem]:
        return {item.code: item for item in self.items}

    @cached_property
    def _departments_by_code(self) -> dict[str, Department]:
        return {d.code: d for d in self.departments}

    def item(self, code: str) -> ServiceItem:
        """The item with this code; :class:`KeyError` when there is none."""
        return self._by_code[code]

    def get(self, code: str) -> ServiceItem | None:
        return self._by_code.get(code)

    def department(self, code: str) -> Department:
        return self._departments_by_code[code]

    def items_of(self, department: str) -> list[ServiceItem]:
        return [item for item in self.items if item.department == department]


class _Content(Strict):
    departments: list[Department]
    items: list[ServiceItem]


def load_seed() -> Catalogue:
    """The catalogue shipped with the package (``protocol/seed/catalogue.json``)."""
    data = resources.files("protocol.seed").joinpath("catalogue.json").read_bytes()
    return Catalogue.model_validate_json(data)
