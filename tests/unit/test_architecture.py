"""docs/architecture.md draws the real house: its diagram is read and compared with the package-level import
graph grimp builds from the source.

Every solid arrow (``A --> B``) must be an import from package A to package B, and every import between two
of our top-level packages must be drawn. Every dotted arrow (``shegong -.-> edge``) is a side the command
root loads lazily: it must be named in ``shegong.cli.COMMANDS`` and must not be an import. The package
graph has no cycle."""

from __future__ import annotations

import re
from itertools import permutations
from pathlib import Path

import grimp
import pytest

from shegong.cli import COMMANDS

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ["protocol", "kernel", "edge", "hub", "harness", "provisioning", "shegong"]
ARROW = re.compile(r"^\s*(\w+)\s*(-->|-\.->)\s*(\w+)\s*$")


def _diagram() -> tuple[set[tuple[str, str]], set[tuple[str, str]], set[str]]:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```mermaid\n(.*?)```", text, re.S)
    assert len(blocks) == 1, "docs/architecture.md should hold one mermaid diagram"
    solid, dotted, nodes = set(), set(), set()
    for line in blocks[0].splitlines()[1:]:  # after "flowchart TD"
        if m := ARROW.match(line):
            (solid if m[2] == "-->" else dotted).add((m[1], m[3]))
            nodes |= {m[1], m[3]}
        elif line.strip():
            nodes.add(line.strip())
    return solid, dotted, nodes


@pytest.fixture(scope="module")
def imports() -> set[tuple[str, str]]:
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)  # a stale cache would vouch for an old tree
    return {
        (a, b)
        for a, b in permutations(PACKAGES, 2)
        if graph.direct_import_exists(importer=a, imported=b, as_packages=True)
    }


def test_the_diagram_shows_every_package():
    _, _, nodes = _diagram()
    assert nodes == set(PACKAGES)


def test_every_solid_arrow_is_a_real_import(imports):
    solid, _, _ = _diagram()
    assert solid - imports == set(), "the diagram draws imports the code does not have"


def test_every_import_between_packages_is_drawn(imports):
    solid, _, _ = _diagram()
    assert imports - solid == set(), "the code has package imports the diagram does not draw"


def test_every_dotted_arrow_is_a_lazy_command_and_not_an_import(imports):
    _, dotted, _ = _diagram()
    loaded_lazily = {("shegong", target.split(":")[0].split(".")[0]) for target, _ in COMMANDS.values()}
    assert dotted == loaded_lazily - {("shegong", "shegong")}
    assert dotted & imports == set(), "a side the root should load lazily is imported"


def test_the_package_graph_has_no_cycle(imports):
    successors = {p: {b for a, b in imports if a == p} for p in PACKAGES}
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for nxt in successors[node]:
            assert state.get(nxt) != "open", f"import cycle: {' -> '.join([*path, node, nxt])}"
            if nxt not in state:
                visit(nxt, [*path, node])
        state[node] = "done"

    for package in PACKAGES:
        if package not in state:
            visit(package, [])
