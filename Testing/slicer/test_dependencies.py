"""AngioSegSlicerLib.dependencies: what the installer installs and what it leaves to Slicer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("slicer")

from AngioSegSlicerLib import dependencies as D


def test_dependency_install_leaves_slicers_own_packages_alone():
    requirements = __import__("importlib.metadata").metadata.requires("angioseg")
    names = {D.requirementName(r) for r in D.installableRequirements(requirements)}
    assert "monai" in names and "highdicom" in names
    assert not names & {"numpy", "simpleitk", "pydicom", "torch", "vtk", "pytest"}
    assert D.requirementName('scikit-image>=0.22; python_version > "3"') == "scikit-image"
    assert all(pin.split("==")[0] in D.KEPT_PACKAGES for pin in D.slicerPins())
    assert "numpy==" + np.__version__ in D.slicerPins()


def test_a_source_checkout_installs_angioseg_from_its_root():
    root = Path(__file__).resolve().parents[2]
    assert (root / "pyproject.toml").exists()
    assert D.angiosegRequirement() == str(root)
