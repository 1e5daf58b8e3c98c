"""Eligibility rules: declarative data in the catalogue, evaluated in three-valued (Kleene) logic.

A rule is JSON, never code: ``{"all": [...]}``, ``{"any": [...]}``, ``{"not": rule}`` or a comparison
``{"attr": "age", "op": ">=", "value": 65}``. Attributes come from the card (age, sex, household, card
type) or from staff (disability, income …); an attribute nobody supplied is *unknown*, and a rule that an
unknown attribute decides yields NEEDS_CHECK instead of a guess. Every verdict carries its reason in
plain Chinese. See docs/catalogue.md for the language.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import ConfigDict, Discriminator, Field, Tag, TypeAdapter, ValidationError, model_validator

from protocol import idnumber
from protocol.envelope import Strict

if TYPE_CHECKING:
    from protocol.catalogue import Catalogue, Department, ServiceItem

__all__ = [
    "ATTRIBUTES",
    "AllOf",
    "AnyOf",
    "AttributeSpec",
    "Attributes",
    "Compare",
    "DepartmentGroup",
    "Eligibility",
    "InvalidRule",
    "ItemVerdict",
    "MAX_RULE_DEPTH",
    "Not",
    "Op",
    "Rule",
    "StatusGroup",
    "Value",
    "Verdict",
    "always",
    "evaluate",
    "evaluate_catalogue",
    "parse_rule",
    "rule_depth",
    "unknowns",
]

MAX_RULE_DEPTH = 12
"""Deepest nesting a rule may have; real rules need three or four levels."""

Value = bool | int | str
Op = Literal["==", "!=", "<", "<=", ">", ">=", "in"]


class InvalidRule(ValueError):
    """A rule that cannot be evaluated: unknown attribute or operator, or a value of the wrong type."""


@dataclass(frozen=True)
class AttributeSpec:
    """What a rule may say about one attribute, and how to say it in Chinese.

    ``kind`` is ``int``, ``bool`` or ``enum`` (then ``values`` maps each allowed value to its label).
    ``yes``/``no`` phrase a boolean fact; ``question`` is what staff must check when it is unknown,
    worded so that answering 是 means ``true``.
    """

    kind: Literal["int", "bool", "enum"]
    label: str
    question: str
    from_card: bool = False
    unit: str = ""
    values: Mapping[str, str] = field(default_factory=dict)
    yes: str = ""
    no: str = ""


def _flag(yes: str, no: str, question: str) -> AttributeSpec:
    return AttributeSpec("bool", yes, question, yes=yes, no=no)


# The rule vocabulary. The card gives the first five; staff supply the rest (unknown until they do).
# Several (disability, income, family) are sensitive under PIPL Art. 28: staff confirm them, the card never
# carries them, and the kiosk keeps staff's answers in its session's memory only (gone when it ends).
ATTRIBUTES: Mapping[str, AttributeSpec] = {
    "age": AttributeSpec("int", "年龄", "年龄", from_card=True, unit="周岁"),
    "age_next_month": AttributeSpec("int", "一个月后的年龄", "年龄", from_card=True, unit="周岁"),
    "sex": AttributeSpec("enum", "性别", "性别", from_card=True, values={"M": "男", "F": "女"}),
    "household": AttributeSpec(
        "enum", "户籍", "户籍所在地", from_card=True, values={"shanghai": "本市户籍", "other": "外省市户籍"}
    ),
    "card_type": AttributeSpec(
        "enum",
        "所用卡证",
        "所用卡证",
        from_card=True,
        values={"id_card": "居民身份证", "sscard": "社会保障卡", "qr": "电子证照码", "manual": "人工录入"},
    ),
    "disabled": _flag("持有残疾人证", "未持有残疾人证", "是否持有残疾人证"),
    "disability_grade": AttributeSpec("int", "残疾等级", "残疾等级（一至四级）", unit="级"),
    "unemployed": _flag("目前无业", "目前有工作", "目前是否无业"),
    "retired": _flag("已办理退休", "未办理退休", "是否已办理退休"),
    "low_income": _flag(
        "家庭为低保或低收入困难家庭", "家庭不属于低保或低收入困难家庭", "家庭是否为低保或低收入困难家庭"
    ),
    "income_below_standard": _flag(
        "家庭收入和财产符合本市低保标准",
        "家庭收入或财产超过本市低保标准",
        "家庭月人均收入和财产是否符合本市低保标准",
    ),
    "no_supporter": _flag(
        "无法定赡养、抚养、扶养义务人或其无履行能力",
        "有能履行义务的法定赡养、抚养、扶养人",
        "是否无法定赡养、抚养、扶养义务人（或其无履行能力）",
    ),
    "has_residence_permit": _flag("持有本市居住证", "未持有本市居住证", "是否持有本市居住证"),
    "residence_registered_6m": _flag("在本市居住登记满半年", "在本市居住登记未满半年", "在本市居住登记是否满半年"),
    "has_medical_insurance": _flag("已参加本市基本医疗保险", "未参加本市基本医疗保险", "是否参加本市基本医疗保险"),
    "has_employee_insurance": _flag(
        "已参加本市职工基本医疗保险", "未参加本市职工基本医疗保险", "是否参加本市职工基本医疗保险"
    ),
    "gave_birth": _flag("已生育（含流产、引产）", "未生育", "是否已生育（含流产、引产）"),
    "married": _flag("已登记结婚", "未登记结婚", "是否已登记结婚"),
    "only_child_parent": _flag(
        "持有《独生子女父母光荣证》", "未持有《独生子女父母光荣证》", "是否持有《独生子女父母光荣证》"
    ),
    "special_family": _flag(
        "属于计划生育特殊家庭", "不属于计划生育特殊家庭", "是否属于计划生育特殊家庭（独生子女伤残或死亡）"
    ),
    "housing_difficulty": _flag(
        "家庭人均住房面积低于本市保障标准",
        "家庭人均住房面积不低于本市保障标准",
        "家庭人均住房面积是否低于本市保障标准",
    ),
    "care_level": AttributeSpec("int", "照护等级", "老年照护统一需求评估等级", unit="级"),
    "veteran": _flag("为退役军人", "不是退役军人", "是否为退役军人"),
    "military_family": _flag("为烈属或军属", "不是烈属或军属", "是否为烈属或军属"),
    "union_member": _flag("为工会会员", "不是工会会员", "是否为工会会员"),
}

_ORDERED: frozenset[str] = frozenset({"<", "<=", ">", ">="})
_NEGATE: Mapping[str, str] = {"==": "!=", "!=": "==", "<": ">=", ">=": "<", ">": "<=", "<=": ">"}
_OP_WORDS: Mapping[str, str] = {
    "==": "为",
    "!=": "不为",
    ">=": "不低于",
    ">": "高于",
    "<": "低于",
    "<=": "不高于",
}
_TEXT = {
    "eligible": "符合条件",
    "not_eligible": "不符合条件",
    "needs_check": "需工作人员核实",
    "condition": "申请条件",
    "or": "或",
    "any_value": "不限",
}


def _domain(spec: AttributeSpec) -> list[Value]:
    return [True, False] if spec.kind == "bool" else list(spec.values)


def _check_value(attr: str, spec: AttributeSpec, value: Value) -> None:
    if spec.kind == "int":
        if not isinstance(value, int) or isinstance(value, bool):
            raise InvalidRule(f"attribute {attr!r} takes an integer, not {value!r}")
    elif spec.kind == "bool":
        if not isinstance(value, bool):
            raise InvalidRule(f"attribute {attr!r} takes true or false, not {value!r}")
    elif value not in spec.values:
        raise InvalidRule(f"attribute {attr!r} takes one of {', '.join(spec.values)}, not {value!r}")


def check_clause(attr: str, op: str, value: Value | list[Value]) -> None:
    """Raise :class:`InvalidRule` unless ``attr op value`` can be evaluated."""
    spec = ATTRIBUTES.get(attr)
    if spec is None:
        raise InvalidRule(f"unknown attribute {attr!r}; known: {', '.join(ATTRIBUTES)}")
    if op not in _NEGATE and op != "in":
        raise InvalidRule(f"unknown operator {op!r}; known: ==, !=, <, <=, >, >=, in")
    if op in _ORDERED and spec.kind != "int":
        raise InvalidRule(f"operator {op!r} needs a number; {attr!r} is {spec.kind}")
    if op == "in":
        if not isinstance(value, list) or not value:
            raise InvalidRule(f"operator 'in' needs a non-empty list of values for {attr!r}")
        for v in value:
            _check_value(attr, spec, v)
    elif isinstance(value, list):
        raise InvalidRule(f"operator {op!r} needs a single value for {attr!r}, not a list")
    else:
        _check_value(attr, spec, value)


class Compare(Strict):
    """``attr op value``: one comparison with one attribute."""

    attr: str
    op: Op
    value: Value | list[Value]

    @model_validator(mode="after")
    def _valid(self) -> Compare:
        check_clause(self.attr, self.op, self.value)
        return self

    def holds(self, actual: Value) -> bool:
        v = self.value
        match self.op:
            case "==":
                return actual == v
            case "!=":
                return actual != v
            case "in":
                return isinstance(v, list) and actual in v
        # Ordered ops only validate for int attributes, and Attributes checks its values' types.
        if not isinstance(actual, int) or not isinstance(v, int):
            return False
        match self.op:
            case "<":
                return actual < v
            case "<=":
                return actual <= v
            case ">":
                return actual > v
            case _:
                return actual >= v

    def describe(self, holds: bool) -> str:
        """The fact in Chinese: this clause as stated when it holds, its negation when it does not."""
        spec = ATTRIBUTES[self.attr]
        if spec.kind == "int" and self.op != "in":
            op = self.op if holds else _NEGATE[self.op]
            return f"{spec.label}{_OP_WORDS[op]}{self.value}{spec.unit}"
        domain = _domain(spec)
        if isinstance(self.value, list):
            accepted = [v for v in domain if v in self.value] if spec.kind != "int" else list(self.value)
        else:
            accepted = [v for v in domain if self.holds(v)]
        if spec.kind == "int":  # "in" over numbers
            joined = _TEXT["or"].join(str(v) for v in accepted)
            return f"{spec.label}{_OP_WORDS['==' if holds else '!=']}{joined}{spec.unit}"
        chosen = accepted if holds else [v for v in domain if v not in accepted]
        return _describe_set(spec, chosen)


def _describe_set(spec: AttributeSpec, chosen: list[Value]) -> str:
    if spec.kind == "bool":
        if chosen == [True]:
            return spec.yes
        if chosen == [False]:
            return spec.no
        return f"{spec.label}{_TEXT['any_value']}"
    labels = [spec.values[str(v)] for v in chosen]
    if not labels or len(labels) == len(spec.values):
        return f"{spec.label}{_TEXT['any_value']}"
    return f"{spec.label}{_OP_WORDS['==']}{_TEXT['or'].join(labels)}"


def _rule_kind(v: Any) -> str | None:
    if isinstance(v, dict):
        for key in ("all", "any", "not"):
            if key in v:
                return f"{{{key}}}"
        return "{attr}" if "attr" in v else None
    tags: dict[type, str] = {AllOf: "{all}", AnyOf: "{any}", Not: "{not}", Compare: "{attr}"}
    return tags.get(type(v))


class AllOf(Strict):
    """True when every part is; an empty ``all`` is always true (no restriction)."""

    all: list[Rule]


class AnyOf(Strict):
    """True when some part is; an empty ``any`` is always false."""

    any: list[Rule]


class Not(Strict):
    """``{"not": rule}``."""

    model_config = ConfigDict(
        extra="forbid", strict=True, frozen=True, validate_by_name=True, validate_by_alias=True, serialize_by_alias=True
    )

    not_: Rule = Field(alias="not")


Rule = Annotated[
    Annotated[AllOf, Tag("{all}")]
    | Annotated[AnyOf, Tag("{any}")]
    | Annotated[Not, Tag("{not}")]
    | Annotated[Compare, Tag("{attr}")],
    Discriminator(
        _rule_kind,
        custom_error_type="invalid_rule",
        custom_error_message='a rule is {"all": [...]}, {"any": [...]}, {"not": rule} or {"attr", "op", "value"}',
    ),
]
AllOf.model_rebuild()
AnyOf.model_rebuild()
Not.model_rebuild()
_RULE: TypeAdapter[Rule] = TypeAdapter(Rule)


def rule_depth(rule: Rule) -> int:
    """Nesting depth: 1 for a comparison or an empty all/any."""
    if isinstance(rule, Compare):
        return 1
    if isinstance(rule, Not):
        return 1 + rule_depth(rule.not_)
    parts = rule.all if isinstance(rule, AllOf) else rule.any
    return 1 + max((rule_depth(p) for p in parts), default=0)


def check_depth(rule: Rule) -> Rule:
    """Return ``rule``, or raise :class:`InvalidRule` when it nests deeper than :data:`MAX_RULE_DEPTH`."""
    if rule_depth(rule) > MAX_RULE_DEPTH:
        raise InvalidRule(f"rule nests deeper than {MAX_RULE_DEPTH} levels")
    return rule


def always() -> AllOf:
    """The rule of an item anyone may apply for."""
    return AllOf(all=[])


def parse_rule(data: Mapping[str, Any] | str | bytes) -> Rule:
    """Validate a rule from JSON text or a decoded JSON object; raise :class:`InvalidRule` saying why."""
    try:
        rule = _RULE.validate_json(data) if isinstance(data, str | bytes) else _RULE.validate_python(data)
    except ValidationError as exc:
        raise InvalidRule(_first_error(exc)) from None
    return check_depth(rule)


def _first_error(exc: ValidationError) -> str:
    """The first error with its JSON path (``all[0].value``), without pydantic's tag names."""
    first = exc.errors()[0]
    path = ""
    for part in first["loc"]:
        if isinstance(part, int):
            path += f"[{part}]"
        elif not part.startswith("{"):  # union tags are "{all}", "{attr}" …
            path += f".{part}" if path else part
    message = first["msg"].removeprefix("Value error, ")
    return f"{path}: {message}" if path else message


# --- attributes --------------------------------------------------------------------------------------


def _age(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def _one_month_later(today: date) -> date:
    year, month = (today.year + 1, 1) if today.month == 12 else (today.year, today.month + 1)
    for day in (today.day, 30, 29, 28):
        try:
            return date(year, month, day)
        except ValueError:
            continue
    raise AssertionError("unreachable")  # pragma: no cover


@dataclass(frozen=True)
class Attributes:
    """Known facts about one person; an attribute absent from ``values`` is unknown."""

    values: Mapping[str, Value] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for attr, value in self.values.items():
            spec = ATTRIBUTES.get(attr)
            if spec is None:
                raise InvalidRule(f"unknown attribute {attr!r}; known: {', '.join(ATTRIBUTES)}")
            _check_value(attr, spec, value)
        object.__setattr__(self, "values", dict(self.values))

    @classmethod
    def from_card(
        cls,
        *,
        today: date,
        id_number: str | None = None,
        birth_date: date | None = None,
        sex: str | None = None,
        card_type: str = "id_card",
    ) -> Attributes:
        """Facts a card gives: age (as of ``today``), sex, household and the card type.

        The ID number is validated (:class:`~protocol.idnumber.InvalidIdNumber` when it is not one); birth
        date and sex come from it unless given. Without a number or birth date, age is unknown; an ``"U"``
        sex is unknown.
        """
        values: dict[str, Value] = {"card_type": card_type}
        if id_number is not None:
            id_number = idnumber.validate(id_number, today)
            birth_date = birth_date or idnumber.birth_date(id_number)
            sex = sex or idnumber.sex(id_number)
            values["household"] = "shanghai" if idnumber.is_shanghai(id_number) else "other"
        if birth_date is not None:
            values["age"] = _age(birth_date, today)
            values["age_next_month"] = _age(birth_date, _one_month_later(today))
        if sex in ("M", "F"):
            values["sex"] = sex
        return cls(values)

    def with_facts(self, **facts: Value | None) -> Attributes:
        """A copy with facts staff confirmed; ``None`` makes an attribute unknown again."""
        merged = dict(self.values)
        for attr, value in facts.items():
            if value is None:
                merged.pop(attr, None)
            else:
                merged[attr] = value
        return Attributes(merged)

    def get(self, attr: str) -> Value | None:
        return self.values.get(attr)


# --- evaluation --------------------------------------------------------------------------------------


class Eligibility(enum.StrEnum):
    """A verdict's value, in the order the kiosk lists them."""

    ELIGIBLE = "eligible"  # 可办理
    NEEDS_CHECK = "needs_check"  # 可能符合，需工作人员核实
    NOT_ELIGIBLE = "not_eligible"  # 不符合条件


_NOT = {
    Eligibility.ELIGIBLE: Eligibility.NOT_ELIGIBLE,
    Eligibility.NOT_ELIGIBLE: Eligibility.ELIGIBLE,
    Eligibility.NEEDS_CHECK: Eligibility.NEEDS_CHECK,
}

# A fact: a comparison and whether it holds (None: its attribute is unknown).
_Fact = tuple[Compare, bool | None]


def _eval(rule: Rule, attrs: Attributes) -> tuple[Eligibility, list[_Fact]]:
    """Kleene evaluation; the facts returned are the ones that decided the value."""
    if isinstance(rule, Compare):
        actual = attrs.get(rule.attr)
        if actual is None:
            return Eligibility.NEEDS_CHECK, [(rule, None)]
        holds = rule.holds(actual)
        return (Eligibility.ELIGIBLE if holds else Eligibility.NOT_ELIGIBLE), [(rule, holds)]
    if isinstance(rule, Not):
        value, facts = _eval(rule.not_, attrs)
        return _NOT[value], facts
    parts = [_eval(r, attrs) for r in (rule.all if isinstance(rule, AllOf) else rule.any)]
    # all: false wins, then unknown; any: true wins, then unknown.
    win, lose = (
        (Eligibility.NOT_ELIGIBLE, Eligibility.ELIGIBLE)
        if isinstance(rule, AllOf)
        else (Eligibility.ELIGIBLE, Eligibility.NOT_ELIGIBLE)
    )
    for value in (win, Eligibility.NEEDS_CHECK):
        deciding = [facts for v, facts in parts if v is value]
        if deciding:
            if value is Eligibility.ELIGIBLE:  # one satisfied alternative explains an "any"
                deciding = deciding[:1]
            return value, [f for facts in deciding for f in facts]
    return lose, [f for _, facts in parts for f in facts]


@dataclass(frozen=True)
class Verdict:
    """One rule's outcome for one person.

    ``reason`` is one plain-Chinese sentence for the resident. ``details`` lists the deciding facts
    (``年龄低于65周岁``) or, for NEEDS_CHECK, what staff must check; ``to_check`` names those attributes.
    """

    status: Eligibility
    reason: str
    details: tuple[str, ...] = ()
    to_check: tuple[str, ...] = ()


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def evaluate(rule: Rule, attrs: Attributes, reason: str = "") -> Verdict:
    """Evaluate ``rule`` for ``attrs``; ``reason`` is the item's own wording of its condition."""
    status, facts = _eval(rule, attrs)
    condition = f"（{_TEXT['condition']}：{reason}）" if reason else ""
    if status is Eligibility.NEEDS_CHECK:
        to_check = _unknown(facts)
        details = tuple(ATTRIBUTES[a].question for a in to_check)
        return Verdict(status, f"{_TEXT['needs_check']}：{'、'.join(details)}{condition}", details, to_check)
    details = _unique(c.describe(holds) for c, holds in facts if holds is not None)
    if status is Eligibility.ELIGIBLE:
        return Verdict(status, f"{_TEXT['eligible']}：{reason}" if reason else _TEXT["eligible"], details)
    return Verdict(status, f"{_TEXT['not_eligible']}：{'；'.join(details)}{condition}", details)


def unknowns(rule: Rule, attrs: Attributes) -> tuple[str, ...]:
    """The unknown attributes that decide ``rule`` for ``attrs``, in the rule's order.

    Empty unless the rule is NEEDS_CHECK for ``attrs``; once all of them are known the rule is ELIGIBLE or
    NOT_ELIGIBLE. An unknown attribute that cannot change the outcome (beside a false part of an ``all``,
    say) is left out. The same as ``evaluate(rule, attrs).to_check``, without the wording.
    """
    status, facts = _eval(rule, attrs)
    return _unknown(facts) if status is Eligibility.NEEDS_CHECK else ()


def _unknown(facts: Iterable[_Fact]) -> tuple[str, ...]:
    return _unique(c.attr for c, holds in facts if holds is None)


@dataclass(frozen=True)
class ItemVerdict:
    item: ServiceItem
    verdict: Verdict


@dataclass(frozen=True)
class DepartmentGroup:
    department: Department
    items: tuple[ItemVerdict, ...]


@dataclass(frozen=True)
class StatusGroup:
    status: Eligibility
    departments: tuple[DepartmentGroup, ...]

    @property
    def count(self) -> int:
        return sum(len(d.items) for d in self.departments)


def evaluate_catalogue(catalogue: Catalogue, attrs: Attributes) -> tuple[StatusGroup, ...]:
    """Every item's verdict, as three groups (eligible, needs check, not eligible), always in that order.

    Inside a group, departments and items keep the catalogue's order; empty departments are left out.
    """
    verdicts = [ItemVerdict(item, item.evaluate(attrs)) for item in catalogue.items]
    groups = []
    for status in Eligibility:
        departments = []
        for dept in catalogue.departments:
            items = tuple(v for v in verdicts if v.verdict.status is status and v.item.department == dept.code)
            if items:
                departments.append(DepartmentGroup(dept, items))
        groups.append(StatusGroup(status, tuple(departments)))
    return tuple(groups)
