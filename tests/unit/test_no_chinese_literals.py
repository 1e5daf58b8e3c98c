"""Words people read live in message catalogues, not in Python: no Chinese string literal in our code.

Each side has one mechanism for its text: the hub's ``hub/messages/*.zh.json`` through :mod:`hub.text`,
the edge's ``edge/messages`` and ``edge/kiosk/messages`` through :mod:`edge.text` and the kiosk's
translator, the case statuses in the shared glossary ``protocol/seed/statuses.json``. This test parses every
module (``ast``) and fails on a string constant holding Chinese, outside a short list of modules whose
Chinese is data, not text for people: rule vocabularies, address parsing, reference tables of device status
codes, simulated identities, sample data. Documentation is not text for people either and is skipped:
docstrings (and a bare string under an attribute), ``help=`` of a command-line option and ``description=``
of a model field.

The check is proven, not trusted: on a copy of a module, a Chinese literal added must be found."""

from __future__ import annotations

import ast
import re
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ["protocol", "kernel", "edge", "hub", "harness", "provisioning", "shegong"]
CHINESE = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]")

DATA_MODULES = {
    "protocol/eligibility.py": "the eligibility rules' vocabulary (hukou kinds, household roles)",
    "protocol/residence.py": "parsing Chinese addresses (districts, streets, 弄/号/室)",
    "protocol/idnumber.py": "the ID-number rule's own refusals (protocol has no catalogue: it is the shared contract)",
    "protocol/retirement.py": "an age as the retirement rule states it (x岁y个月)",
    "edge/devices/codes.py": "the social-security card vendor library's reference table of return codes",
    "edge/devices/sam_codes.py": "the ID-card SAM's reference table of status codes (GA 467)",
    "edge/devices/idtext.py": "the card's own text block: 长期 is what a card stores for a permanent ID",
    "edge/devices/sim/": "the device simulators: simulated residents and the vendor library's error texts",
    "edge/settings.py": "the default committee name, a datum a terminal's TOML replaces",
    "harness/demo.py": "the demo's committees and their areas",
    "harness/samples.py": "sample data: residents' complaints and return-call notes",
    "harness/bench/": "benchmark data: test residents and catalogue edits",
}
"""Path (file, or folder ending in ``/``) → why its Chinese is data. Keep it short: text goes to a catalogue."""


def _documentation(tree: ast.AST) -> set[int]:
    """ids of the string constants that document: docstrings, bare strings, ``help=`` of any call (click's
    options and commands) and ``description=`` of a pydantic ``Field``."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            out.add(id(node.value))
        if isinstance(node, ast.Call):
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
            keywords = {"help", "description"} if name == "Field" else {"help"}
            out.update(id(k.value) for k in node.keywords if k.arg in keywords)
    return out


def chinese_literals(path: Path) -> list[tuple[int, str]]:
    """``(line, text)`` of each string constant in ``path`` that holds Chinese and does not document."""
    tree = ast.parse(path.read_text("utf-8"), filename=str(path))
    skip = _documentation(tree)
    found = {
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in skip
        and CHINESE.search(node.value)
    }
    return sorted(found)


def _allowed(relative: str) -> bool:
    return any(relative == p or (p.endswith("/") and relative.startswith(p)) for p in DATA_MODULES)


def offenders(root: Path) -> list[str]:
    out = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            relative = path.relative_to(root).as_posix()
            if not _allowed(relative):
                out += [f"{relative}:{line}: {text[:40]!r}" for line, text in chinese_literals(path)]
    return out


def test_no_chinese_string_literal_in_python_outside_the_data_modules():
    assert offenders(ROOT) == [], "move these texts to the side's message catalogue"


def test_every_data_module_exists_and_still_holds_chinese():
    """An entry of the allow-list that no longer needs to be there is removed, so the list stays short."""
    stale = []
    for entry in DATA_MODULES:
        paths = sorted((ROOT / entry).rglob("*.py")) if entry.endswith("/") else [ROOT / entry]
        if not any(p.is_file() and chinese_literals(p) for p in paths):
            stale.append(entry)
    assert stale == []


def test_the_check_finds_a_chinese_literal_added_to_a_copy(tmp_path):
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__", "static"))
    assert offenders(tmp_path) == []
    target = tmp_path / "hub/cases/workflow.py"
    target.write_text(target.read_text("utf-8") + '\n\ndef _refusal() -> str:\n    return "案件已结束"\n', "utf-8")
    assert [o.split(":")[0] for o in offenders(tmp_path)] == ["hub/cases/workflow.py"]


def test_documentation_is_not_text_for_people(tmp_path):
    module = tmp_path / "m.py"
    module.write_text(
        '"""模块说明"""\n'
        "import click\n"
        "from pydantic import BaseModel, Field\n"
        "class A(BaseModel):\n"
        '    """类说明"""\n'
        '    x: int = Field(description="字段说明")\n'
        '    """属性说明"""\n'
        '@click.option("--y", help="选项说明")\n'
        "def f() -> str:\n"
        '    """函数说明"""\n'
        '    return "给人看的字"\n',
        "utf-8",
    )
    assert chinese_literals(module) == [(11, "给人看的字")]
