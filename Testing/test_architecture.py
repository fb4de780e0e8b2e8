"""The layout stays what ``docs/architecture.md`` says: every module is on the map, no module on the
map is gone, no module grows past 500 lines, and the pipeline stages never import the tools beside
them (phantom, evaluation, training), not even inside a function."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAP = ROOT / "docs" / "architecture.md"
PACKAGES = ("AngioSegLib", "AngioSegExtension")
PIPELINE_STAGES = ("io", "model", "segment", "temporal", "anatomy", "qca", "outputs")
SIDE_TOOLS = ("AngioSegLib.phantom", "AngioSegLib.evaluation", "AngioSegLib.training")


def modules() -> list[Path]:
    return sorted(p.relative_to(ROOT) for package in PACKAGES
                  for p in (ROOT / package).rglob("*.py") if p.name != "__init__.py")


def test_every_module_is_on_the_map_and_every_mapped_module_exists():
    text = MAP.read_text()
    listed = set(re.findall(r"`((?:AngioSegLib|AngioSegExtension)/[\w/]+\.py)`", text))
    present = {str(p) for p in modules()}
    assert present - listed == set(), "add these modules to docs/architecture.md"
    assert listed - present == set(), "docs/architecture.md names modules that are gone"


def test_no_module_over_500_lines():
    long = {str(p): n for p in modules() if (n := len((ROOT / p).read_text().splitlines())) > 500}
    assert long == {}


def test_pipeline_stages_do_not_import_phantom_evaluation_or_training():
    offenders = []
    for stage in PIPELINE_STAGES:
        for path in (ROOT / "AngioSegLib" / stage).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                         else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
                offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names
                              if n.startswith(SIDE_TOOLS)]
    assert offenders == []
