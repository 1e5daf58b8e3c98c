"""Eligibility rules: declarative data in the catalogue, evaluated in three-valued (Kleene) logic.

A rule is JSON, never code: ``{"all": [...]}``, ``{"any": [...]}``, ``{"not": rule}`` or a comparison
``{"attr": "age", "op": ">=", "value": 65}``. Attributes come from the card (age, sex, household, card
type) or from staff (disability, income …); an attribute nobody supplied is *unknown*, and a rule that an
unknown attribute decides yields NEEDS_CHECK instead of a guess. Every verdict carries its reason in
plain Chinese and in plain English, worded by the same code from per-language phrasing (:data:`LANGS`). See
docs/catalogue.md for the language.
"""

from __future__ import annotations

import enum
import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Annotated, Any, Literal, NamedTuple

from pydantic import ConfigDict, Discriminator, Field, Tag, TypeAdapter, ValidationError, model_validator

from protocol import idnumber, retirement
from protocol.envelope import Strict

if TYPE_CHECKING:
    from protocol.catalogue import ServiceItem
    from protocol.residence import CommitteeArea

__all__ = [
    "ATTRIBUTES",
    "AllOf",
    "AnyOf",
    "AttributeSpec",
    "Attributes",
    "Compare",
    "Eligibility",
    "InvalidRule",
    "ItemStatus",
    "LANGS",
    "Lang",
    "MAX_RULE_DEPTH",
    "Not",
    "Op",
    "Phrasing",
    "Rule",
    "Value",
    "Verdict",
    "StatusTest",
    "always",
    "compile_status",
    "evaluate",
    "parse_rule",
    "rule_depth",
    "status",
    "unknowns",
]

MAX_RULE_DEPTH = 12
"""Deepest nesting a rule may have; real rules need three or four levels."""

Value = bool | int | str
Op = Literal["==", "!=", "<", "<=", ">", ">=", "in"]
Lang = Literal["zh", "en"]
LANGS: tuple[Lang, ...] = ("zh", "en")
"""The languages a verdict and an attribute's wording come in."""


class InvalidRule(ValueError):
    """A rule that cannot be evaluated: unknown attribute or operator, or a value of the wrong type."""


@dataclass(frozen=True)
class Phrasing:
    """An attribute's wording in one language (see :meth:`AttributeSpec.phrasing`)."""

    label: str
    question: str
    unit: str
    values: Mapping[str, str]
    yes: str
    no: str


@dataclass(frozen=True)
class AttributeSpec:
    """What a rule may say about one attribute, and how to say it in Chinese and in English.

    ``kind`` is ``int``, ``bool`` or ``enum`` (then ``values`` maps each allowed value to its label).
    ``yes``/``no`` phrase a boolean fact; ``question`` is what staff must check when it is unknown,
    worded so that answering 是 (Yes) means ``true``. ``from_card``: the card gives it, and staff never
    answer it; with ``staff_if_unknown`` as well, the card gives it when it can tell and staff answer it
    when it cannot (a woman's retirement age between the workers' and the cadres', where one lives).
    Each has its English beside it (``label_en`` …), written for residents: ``yes_en`` is a fact about
    "you", ``question_en`` a question to them. ``unit_en`` only hints what to type on the staff page;
    English facts say the number alone.
    """

    kind: Literal["int", "bool", "enum"]
    label: str
    question: str
    from_card: bool = False
    staff_if_unknown: bool = False
    unit: str = ""
    values: Mapping[str, str] = field(default_factory=dict)
    yes: str = ""
    no: str = ""
    label_en: str = field(default="", kw_only=True)
    question_en: str = field(default="", kw_only=True)
    unit_en: str = field(default="", kw_only=True)
    values_en: Mapping[str, str] = field(default_factory=dict, kw_only=True)
    yes_en: str = field(default="", kw_only=True)
    no_en: str = field(default="", kw_only=True)

    @property
    def staff_answer(self) -> bool:
        """Whether staff may answer it (then only while the card leaves it unknown)."""
        return not self.from_card or self.staff_if_unknown

    def phrasing(self, lang: Lang) -> Phrasing:
        """This attribute's wording in ``lang``."""
        if lang == "en":
            return Phrasing(self.label_en, self.question_en, self.unit_en, self.values_en, self.yes_en, self.no_en)
        return Phrasing(self.label, self.question, self.unit, self.values, self.yes, self.no)


def _flag(yes: str, no: str, question: str, *, en: tuple[str, str, str], from_card: bool = False) -> AttributeSpec:
    """A true/false attribute; ``en`` is its English (yes, no, question). ``from_card``: the card gives it
    when it can tell, and staff answer it when it cannot."""
    yes_en, no_en, question_en = en
    return AttributeSpec(
        "bool",
        yes,
        question,
        from_card=from_card,
        staff_if_unknown=from_card,
        yes=yes,
        no=no,
        label_en=yes_en,
        question_en=question_en,
        yes_en=yes_en,
        no_en=no_en,
    )


# The rule vocabulary. The card gives the first seven (the last two only when it can tell: staff answer
# them otherwise); staff supply the rest (unknown until they do).
# Several (disability, income, family) are sensitive under PIPL Art. 28: staff confirm them, the card never
# carries them, and the kiosk keeps staff's answers in its session's memory only (gone when it ends).
ATTRIBUTES: Mapping[str, AttributeSpec] = {
    "age": AttributeSpec(
        "int",
        "年龄",
        "年龄",
        from_card=True,
        unit="周岁",
        label_en="your age",
        question_en="How old are you?",
        unit_en="years",
    ),
    "age_next_month": AttributeSpec(
        "int",
        "一个月后的年龄",
        "年龄",
        from_card=True,
        unit="周岁",
        label_en="your age in one month",
        question_en="How old are you?",
        unit_en="years",
    ),
    "sex": AttributeSpec(
        "enum",
        "性别",
        "性别",
        from_card=True,
        values={"M": "男", "F": "女"},
        label_en="your sex",
        question_en="What is your sex?",
        values_en={"M": "male", "F": "female"},
    ),
    "household": AttributeSpec(
        "enum",
        "户籍",
        "户籍所在地",
        from_card=True,
        values={"shanghai": "本市户籍", "other": "外省市户籍"},
        label_en="your household registration",
        question_en="Where is your household registered?",
        values_en={"shanghai": "in Shanghai", "other": "outside Shanghai"},
    ),
    "card_type": AttributeSpec(
        "enum",
        "所用卡证",
        "所用卡证",
        from_card=True,
        values={"id_card": "居民身份证", "sscard": "社会保障卡", "qr": "电子证照码", "manual": "人工录入"},
        label_en="the card you used",
        question_en="Which card did you use?",
        values_en={
            "id_card": "a resident ID card",
            "sscard": "a social security card",
            "qr": "an e-licence QR code",
            "manual": "details typed in by staff",
        },
    ),
    # From the birth date and sex (protocol.retirement): unknown only for a woman past the workers' age but
    # not the cadres', which depends on her post.
    "retirement_age_reached": _flag(
        "已达到法定退休年龄",
        "未达到法定退休年龄",
        "是否已达到法定退休年龄（女性按原50周岁退休的职工或原55周岁退休的干部岗位计算）",
        en=(
            "you have reached the statutory retirement age",
            "you are below the statutory retirement age",
            "Have you reached the statutory retirement age (for a woman, by her post: originally 50 for workers,"
            " 55 for cadres)?",
        ),
        from_card=True,
    ),
    # True only when the card's address lies in the committee's area (protocol.residence); never false from
    # the card: a household address elsewhere says nothing about where one lives.
    "lives_here": _flag(
        "居住在本社区",
        "不居住在本社区",
        "是否居住在本社区（可凭居住登记或居住证证明）",
        en=(
            "you live in this community",
            "you do not live in this community",
            "Do you live in this community (a residence registration or residence permit shows it)?",
        ),
        from_card=True,
    ),
    "disabled": _flag(
        "持有残疾人证",
        "未持有残疾人证",
        "是否持有残疾人证",
        en=(
            "you hold a disability certificate",
            "you do not hold a disability certificate",
            "Do you hold a disability certificate?",
        ),
    ),
    "disability_grade": AttributeSpec(
        "int",
        "残疾等级",
        "残疾等级（一至四级）",
        unit="级",
        label_en="your disability grade",
        question_en="What is your disability grade (1 to 4)?",
        unit_en="grade",
    ),
    "unemployed": _flag(
        "目前无业",
        "目前有工作",
        "目前是否无业",
        en=("you are out of work", "you have a job", "Are you out of work at present?"),
    ),
    "retired": _flag(
        "已办理退休",
        "未办理退休",
        "是否已办理退休",
        en=("you have formally retired", "you have not formally retired", "Have you formally retired?"),
    ),
    "low_income": _flag(
        "家庭为低保或低收入困难家庭",
        "家庭不属于低保或低收入困难家庭",
        "家庭是否为低保或低收入困难家庭",
        en=(
            "your family gets minimum living support or is a low-income family",
            "your family neither gets minimum living support nor is a low-income family",
            "Does your family get minimum living support, or is it a low-income family?",
        ),
    ),
    "income_below_standard": _flag(
        "家庭收入和财产符合本市低保标准",
        "家庭收入或财产超过本市低保标准",
        "家庭月人均收入和财产是否符合本市低保标准",
        en=(
            "your family's income and assets are within Shanghai's minimum living standard",
            "your family's income or assets are above Shanghai's minimum living standard",
            "Are your family's monthly income per person and assets within Shanghai's minimum living standard?",
        ),
    ),
    "no_supporter": _flag(
        "无法定赡养、抚养、扶养义务人或其无履行能力",
        "有能履行义务的法定赡养、抚养、扶养人",
        "是否无法定赡养、抚养、扶养义务人（或其无履行能力）",
        en=(
            "nobody is bound by law to support you, or they cannot",
            "someone bound by law to support you is able to",
            "Is there nobody bound by law to support you (or are they unable to)?",
        ),
    ),
    "has_residence_permit": _flag(
        "持有本市居住证",
        "未持有本市居住证",
        "是否持有本市居住证",
        en=(
            "you hold a Shanghai residence permit",
            "you do not hold a Shanghai residence permit",
            "Do you hold a Shanghai residence permit?",
        ),
    ),
    "residence_registered_6m": _flag(
        "在本市居住登记满半年",
        "在本市居住登记未满半年",
        "在本市居住登记是否满半年",
        en=(
            "you have been registered as living in Shanghai for six months or more",
            "you have been registered as living in Shanghai for less than six months",
            "Have you been registered as living in Shanghai for six months or more?",
        ),
    ),
    "has_employee_pension": _flag(
        "已参加本市职工基本养老保险",
        "未参加本市职工基本养老保险",
        "是否参加本市职工基本养老保险（含已领取职工养老金）",
        en=(
            "you are in Shanghai's employee basic pension insurance",
            "you are not in Shanghai's employee basic pension insurance",
            "Are you in Shanghai's employee basic pension insurance (or drawing an employee pension)?",
        ),
    ),
    "has_medical_insurance": _flag(
        "已参加本市基本医疗保险",
        "未参加本市基本医疗保险",
        "是否参加本市基本医疗保险",
        en=(
            "you are in Shanghai's basic medical insurance",
            "you are not in Shanghai's basic medical insurance",
            "Are you in Shanghai's basic medical insurance?",
        ),
    ),
    "has_employee_insurance": _flag(
        "已参加本市职工基本医疗保险",
        "未参加本市职工基本医疗保险",
        "是否参加本市职工基本医疗保险",
        en=(
            "you are in Shanghai's employee basic medical insurance",
            "you are not in Shanghai's employee basic medical insurance",
            "Are you in Shanghai's employee basic medical insurance?",
        ),
    ),
    "gave_birth": _flag(
        "已生育（含流产、引产）",
        "未生育",
        "是否已生育（含流产、引产）",
        en=(
            "you have given birth (counting miscarriage and induced labour)",
            "you have not given birth",
            "Have you given birth (counting miscarriage and induced labour)?",
        ),
    ),
    "married": _flag(
        "已登记结婚",
        "未登记结婚",
        "是否已登记结婚",
        en=("your marriage is registered", "you have no registered marriage", "Is your marriage registered?"),
    ),
    "only_child_parent": _flag(
        "持有《独生子女父母光荣证》",
        "未持有《独生子女父母光荣证》",
        "是否持有《独生子女父母光荣证》",
        en=(
            "you hold a Certificate of Honour for Parents of an Only Child",
            "you do not hold a Certificate of Honour for Parents of an Only Child",
            "Do you hold a Certificate of Honour for Parents of an Only Child?",
        ),
    ),
    "special_family": _flag(
        "属于计划生育特殊家庭",
        "不属于计划生育特殊家庭",
        "是否属于计划生育特殊家庭（独生子女伤残或死亡）",
        en=(
            "your family is a family-planning special family",
            "your family is not a family-planning special family",
            "Is your family a family-planning special family (your only child disabled or deceased)?",
        ),
    ),
    "housing_difficulty": _flag(
        "家庭人均住房面积低于本市保障标准",
        "家庭人均住房面积不低于本市保障标准",
        "家庭人均住房面积是否低于本市保障标准",
        en=(
            "your family's housing space per person is below Shanghai's standard",
            "your family's housing space per person is not below Shanghai's standard",
            "Is your family's housing space per person below Shanghai's standard?",
        ),
    ),
    "care_level": AttributeSpec(
        "int",
        "照护等级",
        "老年照护统一需求评估等级",
        unit="级",
        label_en="your care level",
        question_en="What is your care level in the elderly care needs assessment?",
        unit_en="level",
    ),
    "veteran": _flag(
        "为退役军人",
        "不是退役军人",
        "是否为退役军人",
        en=("you are a military veteran", "you are not a military veteran", "Are you a military veteran?"),
    ),
    "military_family": _flag(
        "为烈属或军属",
        "不是烈属或军属",
        "是否为烈属或军属",
        en=(
            "you are family of a fallen or serving soldier",
            "you are not family of a fallen or serving soldier",
            "Are you family of a fallen or serving soldier?",
        ),
    ),
    "union_member": _flag(
        "为工会会员",
        "不是工会会员",
        "是否为工会会员",
        en=("you are a trade union member", "you are not a trade union member", "Are you a trade union member?"),
    ),
}

_ORDERED: frozenset[str] = frozenset({"<", "<=", ">", ">="})
_NEGATE: Mapping[str, str] = {"==": "!=", "!=": "==", "<": ">=", ">=": "<", ">": "<=", "<=": ">"}


@dataclass(frozen=True)
class _Words:
    """How one language puts facts and verdicts into sentences (``str.format`` templates)."""

    ops: Mapping[str, str]
    compare: str  # {label} {op} {value} {unit}
    any_value: str  # {label}
    or_: str
    eligible: str
    eligible_because: str  # {reason}
    not_eligible: str  # {facts} {condition}
    needs_check: str  # {questions} {condition}
    condition: str  # {reason}
    fact_sep: str
    question_sep: str


_WORDS: Mapping[Lang, _Words] = {
    "zh": _Words(
        ops={"==": "为", "!=": "不为", ">=": "不低于", ">": "高于", "<": "低于", "<=": "不高于"},
        compare="{label}{op}{value}{unit}",
        any_value="{label}不限",
        or_="或",
        eligible="符合条件",
        eligible_because="符合条件：{reason}",
        not_eligible="不符合条件：{facts}{condition}",
        needs_check="需工作人员核实：{questions}{condition}",
        condition="（申请条件：{reason}）",
        fact_sep="；",
        question_sep="、",
    ),
    # English says a number alone ("your age is under 65"): "65 grade" would not read.
    "en": _Words(
        ops={"==": "is", "!=": "is not", ">=": "is at least", ">": "is over", "<": "is under", "<=": "is at most"},
        compare="{label} {op} {value}",
        any_value="{label}: any",
        or_=" or ",
        eligible="Eligible",
        eligible_because="Eligible (who may apply: {reason})",
        not_eligible="Not eligible: {facts}{condition}",
        needs_check="Staff need to check: {questions}{condition}",
        condition=" (who may apply: {reason})",
        fact_sep="; ",
        question_sep=" ",
    ),
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


def _in(actual: Value, value: Value | list[Value]) -> bool:
    return isinstance(value, list) and actual in value


def _ordered(op: Callable[[int, int], bool]) -> Callable[[Value, Value | list[Value]], bool]:
    # Ordered ops only validate for int attributes, and Attributes checks its values' types.
    def holds(actual: Value, value: Value | list[Value]) -> bool:
        return isinstance(actual, int) and isinstance(value, int) and op(actual, value)

    return holds


_ORDERED_OPS: Mapping[str, Callable[[int, int], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
#: What each operator means: ``_HOLDS[op](actual, value)``, the one place a comparison is made.
_HOLDS: Mapping[str, Callable[[Value, Value | list[Value]], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "in": _in,
    **{name: _ordered(op) for name, op in _ORDERED_OPS.items()},
}


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
        return _HOLDS[self.op](actual, self.value)

    def describe(self, holds: bool, lang: Lang = "zh") -> str:
        """The fact in ``lang``: this clause as stated when it holds, its negation when it does not."""
        spec = ATTRIBUTES[self.attr]
        words, say = _WORDS[lang], spec.phrasing(lang)
        if spec.kind == "int" and self.op != "in":
            op = self.op if holds else _NEGATE[self.op]
            return words.compare.format(label=say.label, op=words.ops[op], value=self.value, unit=say.unit)
        domain = _domain(spec)
        if isinstance(self.value, list):
            accepted = [v for v in domain if v in self.value] if spec.kind != "int" else list(self.value)
        else:
            accepted = [v for v in domain if self.holds(v)]
        if spec.kind == "int":  # "in" over numbers
            joined = words.or_.join(str(v) for v in accepted)
            return words.compare.format(
                label=say.label, op=words.ops["==" if holds else "!="], value=joined, unit=say.unit
            )
        chosen = accepted if holds else [v for v in domain if v not in accepted]
        return _describe_set(spec, say, words, chosen)


def _describe_set(spec: AttributeSpec, say: Phrasing, words: _Words, chosen: list[Value]) -> str:
    if spec.kind == "bool":
        if chosen == [True]:
            return say.yes
        if chosen == [False]:
            return say.no
        return words.any_value.format(label=say.label)
    labels = [say.values[str(v)] for v in chosen]
    if not labels or len(labels) == len(spec.values):
        return words.any_value.format(label=say.label)
    return words.compare.format(label=say.label, op=words.ops["=="], value=words.or_.join(labels), unit="")


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
        address: str | None = None,
        area: CommitteeArea | None = None,
    ) -> Attributes:
        """Facts a card gives: age (as of ``today``), sex, household, the card type, whether the statutory
        retirement age is reached, and whether the holder lives in the committee's ``area``.

        The ID number is validated (:class:`~protocol.idnumber.InvalidIdNumber` when it is not one); birth
        date and sex come from it unless given. Without a number or birth date, age is unknown; an ``"U"``
        sex is unknown. Retirement age is unknown where it depends on a woman's post
        (:func:`protocol.retirement.reached`). ``lives_here`` is true when ``address`` lies in ``area``
        (:meth:`~protocol.residence.CommitteeArea.covers`) and unknown otherwise, never false.
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
            if birth_date is not None:
                reached = retirement.reached(birth_date, sex, today)
                if reached is not None:
                    values["retirement_age_reached"] = reached
        if area is not None and area.covers(address):
            values["lives_here"] = True
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


StatusTest = Callable[[Mapping[str, Value]], Eligibility]
"""A rule made ready to evaluate many times (:func:`compile_status`): attribute values -> its status."""


def status(rule: Rule, attrs: Attributes) -> Eligibility:
    """``evaluate(rule, attrs).status`` without the wording: what a list of many items needs (a kiosk's
    services page shows 300 items' statuses and none of their sentences). To evaluate one rule for many
    people, :func:`compile_status` it once."""
    return compile_status(rule)(attrs.values)


def compile_status(rule: Rule) -> StatusTest:
    """``rule`` as a function of attribute values giving what :func:`status` gives, with the walk over the
    rule's tree done once, here: a catalogue's rules are compiled once per catalogue, not per person."""
    if isinstance(rule, Compare):
        return _compile_compare(rule)
    if isinstance(rule, Not):
        inner = compile_status(rule.not_)
        return lambda values: _NOT[inner(values)]
    parts = tuple(compile_status(part) for part in (rule.all if isinstance(rule, AllOf) else rule.any))
    # all: false wins, then unknown, else true; any: true wins, then unknown, else false (as in _eval).
    win, lose = (
        (Eligibility.NOT_ELIGIBLE, Eligibility.ELIGIBLE)
        if isinstance(rule, AllOf)
        else (Eligibility.ELIGIBLE, Eligibility.NOT_ELIGIBLE)
    )

    def combine(values: Mapping[str, Value]) -> Eligibility:
        out = lose
        for part in parts:
            value = part(values)
            if value is win:
                return win
            if value is Eligibility.NEEDS_CHECK:
                out = value
        return out

    return combine


def _compile_compare(rule: Compare) -> StatusTest:
    attr, value = rule.attr, rule.value
    yes, no, unknown = Eligibility.ELIGIBLE, Eligibility.NOT_ELIGIBLE, Eligibility.NEEDS_CHECK
    op = _ORDERED_OPS.get(rule.op)
    if op is not None and isinstance(value, int):  # _HOLDS's ordered test, its value's check done here once
        number = value

        def ordered(values: Mapping[str, Value]) -> Eligibility:
            actual = values.get(attr)
            if actual is None:
                return unknown
            return yes if isinstance(actual, int) and op(actual, number) else no

        return ordered
    test = _HOLDS[rule.op]

    def compare(values: Mapping[str, Value]) -> Eligibility:
        actual = values.get(attr)
        if actual is None:
            return unknown
        return yes if test(actual, value) else no

    return compare


@dataclass(frozen=True)
class Verdict:
    """One rule's outcome for one person, in both languages.

    ``reason`` is one plain-Chinese sentence for the resident. ``details`` lists the deciding facts
    (``年龄低于65周岁``) or, for NEEDS_CHECK, what staff must check; ``to_check`` names those attributes.
    ``reason_en`` and ``details_en`` say the same in English (``your age is under 65``).
    """

    status: Eligibility
    reason: str
    details: tuple[str, ...] = ()
    to_check: tuple[str, ...] = ()
    reason_en: str = ""
    details_en: tuple[str, ...] = ()


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def evaluate(rule: Rule, attrs: Attributes, reason: str = "", reason_en: str = "") -> Verdict:
    """Evaluate ``rule`` for ``attrs``; ``reason`` is the item's own wording of its condition.

    ``reason_en`` is that condition in English; without it the English sentence quotes the Chinese, as the
    kiosk shows an item's Chinese where the catalogue has no English.
    """
    status, facts = _eval(rule, attrs)
    to_check = _unknown(facts) if status is Eligibility.NEEDS_CHECK else ()
    text, details = _say(status, facts, to_check, reason, "zh")
    text_en, details_en = _say(status, facts, to_check, reason_en or reason, "en")
    return Verdict(status, text, details, to_check, text_en, details_en)


def _say(
    status: Eligibility, facts: list[_Fact], to_check: tuple[str, ...], reason: str, lang: Lang
) -> tuple[str, tuple[str, ...]]:
    """A verdict's sentence and details in ``lang``."""
    words = _WORDS[lang]
    condition = words.condition.format(reason=reason) if reason else ""
    if status is Eligibility.NEEDS_CHECK:
        details = tuple(ATTRIBUTES[a].phrasing(lang).question for a in to_check)
        questions = words.question_sep.join(details)
        return words.needs_check.format(questions=questions, condition=condition), details
    details = _unique(c.describe(holds, lang) for c, holds in facts if holds is not None)
    if status is Eligibility.ELIGIBLE:
        return (words.eligible_because.format(reason=reason) if reason else words.eligible), details
    return words.not_eligible.format(facts=words.fact_sep.join(details), condition=condition), details


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


class ItemStatus(NamedTuple):
    """An item and its :func:`status` for someone: a verdict without its sentences. A named tuple: lists
    of hundreds are made per card tap, at a fifth of a frozen dataclass's cost each."""

    item: ServiceItem
    status: Eligibility
