"""Static checks of the Slicer module: it compiles and is ruff-clean, the .ui, the parameter node
and the widget code agree, CMake lists every file, and the helpers are a package (no flat
helper modules beside AngioSeg.py, where Slicer would take them for modules)."""

from __future__ import annotations

import ast
import py_compile
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import MODULE_DIR, PACKAGE_DIR


def module_files() -> list[Path]:
    """The module's Python files: AngioSeg.py and the package beside it."""
    return sorted(MODULE_DIR.glob("*.py")) + sorted(PACKAGE_DIR.glob("*.py"))


def test_module_files_compile_and_are_ruff_clean(tmp_path):
    for path in module_files():
        py_compile.compile(str(path), cfile=str(tmp_path / (path.stem + ".pyc")), doraise=True)
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    if not Path(ruff).exists():
        pytest.skip("ruff is not installed")
    root = MODULE_DIR.parents[1]
    checked = subprocess.run([ruff, "check", str(MODULE_DIR), str(Path(__file__).parent)],
                             cwd=root, capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def parameter_names() -> set[str]:
    tree = ast.parse((MODULE_DIR / "AngioSeg.py").read_text())
    (node,) = [n for n in tree.body if isinstance(n, ast.ClassDef)
               and n.name == "AngioSegParameterNode"]
    return {n.target.id for n in node.body if isinstance(n, ast.AnnAssign)}


def test_ui_parameter_node_and_widget_code_agree():
    ui = ET.parse(MODULE_DIR / "Resources" / "UI" / "AngioSeg.ui")
    names = {w.get("name") for w in ui.iter("widget")}
    bound = {p.find("string").text for p in ui.iter("property")
             if p.get("name") == "SlicerParameterName"}
    assert bound <= parameter_names(), bound - parameter_names()
    source = (MODULE_DIR / "AngioSeg.py").read_text()
    used = set(re.findall(r"self\.ui\.(\w+)", source))
    assert used <= names, used - names
    combos = {w.get("name") for w in ui.iter("widget") if w.get("class") == "qMRMLNodeComboBox"}
    receivers = {c.find("receiver").text for c in ui.iter("connection")}
    assert combos <= receivers, "every node selector must get the scene"


def test_cmake_lists_every_script_and_resource():
    cmake = (MODULE_DIR / "CMakeLists.txt").read_text().replace("${MODULE_NAME}", "AngioSeg")
    listed = set(re.findall(r"^\s+([\w/]+\.(?:py|png|ui))\s*$", cmake, re.MULTILINE))
    on_disk = {str(p.relative_to(MODULE_DIR)) for p in module_files()} | {
        str(p.relative_to(MODULE_DIR)) for p in (MODULE_DIR / "Resources").rglob("*") if p.is_file()
    }
    assert listed == on_disk
    root = (MODULE_DIR.parents[1] / "CMakeLists.txt").read_text()
    assert "add_subdirectory(AngioSegExtension/AngioSeg)" in root
    for key in ("EXTENSION_HOMEPAGE", "EXTENSION_CATEGORY", "EXTENSION_CONTRIBUTORS",
                "EXTENSION_DESCRIPTION", "EXTENSION_ICONURL", "EXTENSION_SCREENSHOTURLS",
                "EXTENSION_DEPENDS"):
        assert f"set({key} " in root


def test_the_helpers_are_a_package_beside_the_module():
    assert sorted(p.name for p in MODULE_DIR.glob("*.py")) == ["AngioSeg.py"]
    assert (PACKAGE_DIR / "__init__.py").is_file()
    for path in PACKAGE_DIR.glob("*.py"):
        text = path.read_text()
        for old in ("AngioSegMRML", "AngioSegProcess", "AngioSegQCANodes", "AngioSegDependencies"):
            assert f"import {old}" not in text, f"{path.name} imports the old module {old}"


def test_the_advanced_section_binds_every_stage_option():
    ui = ET.parse(MODULE_DIR / "Resources" / "UI" / "AngioSeg.ui")
    (advanced,) = [w for w in ui.iter("widget") if w.get("name") == "advancedCollapsibleButton"]
    bound = {p.find("string").text for p in advanced.iter("property")
             if p.get("name") == "SlicerParameterName"}
    assert bound == {"device", "precision", "scale", "fieldOfView", "clearCatheters", "temporalK",
                     "motionCompensation", "temporalWeights", "flowPreset", "threshold"}


def test_a_union_of_node_types_is_a_typing_union_with_none():
    """The parameter node wrapper binds a selector of several node types only to a
    ``typing.Union`` (not ``A | B``), and stores "none selected" only when None is in it."""
    tree = ast.parse((MODULE_DIR / "AngioSeg.py").read_text())
    (node,) = [n for n in tree.body if isinstance(n, ast.ClassDef)
               and n.name == "AngioSegParameterNode"]
    unions = {item.target.id: item.annotation for item in node.body
              if isinstance(item, ast.AnnAssign) and isinstance(item.annotation, ast.Subscript)
              and getattr(item.annotation.value, "id", "") == "Union"}
    assert "qcaSegment" in unions
    for name, annotation in unions.items():
        members = [ast.unparse(e) for e in annotation.slice.elts]
        assert members[-1] == "None", f"{name}: {members}"
    binops = [item.target.id for item in node.body if isinstance(item, ast.AnnAssign)
              and isinstance(item.annotation, ast.BinOp)]
    assert binops == [], f"use typing.Union for {binops}"
