"""Install AngioSeg's Python dependencies into Slicer's Python without replacing Slicer's own.

PyTorch comes from the PyTorch extension (PyTorchUtils, which picks the CUDA build) when it is
installed, else from pip. AngioSeg itself is installed with ``--no-deps``; then its requirements
are installed except the packages Slicer ships (numpy, SimpleITK, pydicom, VTK) and torch, with
the shipped versions pinned by a constraints file so no other package can upgrade them.
No dialogs here: the widget asks first.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import logging
import re
import tempfile
from pathlib import Path

import slicer

KEPT_PACKAGES = ("numpy", "simpleitk", "pydicom", "vtk", "torch")
"""Never installed or upgraded by AngioSeg: Slicer's own packages, and torch (PyTorchUtils)."""

REQUIRED_MODULES = {"torch": "torch", "monai": "monai", "AngioSegLib": "angioseg"}


def missingDependencies() -> list[str]:
    """The packages AngioSeg needs that Slicer's Python cannot import yet."""
    return [pkg for module, pkg in REQUIRED_MODULES.items()
            if importlib.util.find_spec(module) is None]


def installQuestion(missing: list[str]) -> str:
    """What the widget asks before installing the ``missing`` packages."""
    return (
        "AngioSeg needs these Python packages: " + ", ".join(missing) + ".\n"
        "Install them now? This downloads several hundred MB and can take minutes; "
        "Slicer's own numpy, SimpleITK and pydicom are kept as they are."
    )


def angiosegRequirement() -> str:
    """The source checkout when the module runs from one, else the package name on PyPI."""
    root = Path(__file__).resolve().parents[3]  # AngioSegExtension/AngioSeg/AngioSegSlicerLib/
    return str(root) if (root / "pyproject.toml").exists() else "angioseg"


def requirementName(requirement: str) -> str:
    """'scikit-image>=0.22; python_version>"3"' → 'scikit-image' (lower case)."""
    return re.split(r"[<>=!~;\[\s(]", requirement.strip(), maxsplit=1)[0].lower()


def installableRequirements(requirements: list[str]) -> list[str]:
    """AngioSeg's requirements without extras and without the packages it must not touch."""
    return [r for r in requirements
            if "extra ==" not in r and requirementName(r) not in KEPT_PACKAGES]


def slicerPins() -> list[str]:
    """``name==version`` of each kept package that pip knows about in Slicer's Python."""
    pins = []
    for name in KEPT_PACKAGES:
        try:
            pins.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    return pins


def installTorch(log=logging.info) -> None:
    try:
        import PyTorchUtils
    except ImportError:
        log("Installing PyTorch with pip (install the PyTorch extension for a GPU build)…")
        slicer.util.pip_install("torch>=2.1")
        return
    log("Installing PyTorch with the PyTorch extension…")
    if PyTorchUtils.PyTorchUtilsLogic().installTorch(
        askConfirmation=False, torchVersionRequirement=">=2.1"
    ) is None:
        raise RuntimeError("the PyTorch extension could not install PyTorch")


def installDependencies(log=logging.info) -> None:
    """Install torch if missing, then AngioSeg and its remaining requirements."""
    if importlib.util.find_spec("torch") is None:
        installTorch(log)
    log(f"Installing AngioSeg from {angiosegRequirement()}…")
    slicer.util.pip_install([angiosegRequirement(), "--no-deps"])
    importlib.invalidate_caches()
    requirements = installableRequirements(importlib.metadata.requires("angioseg") or [])
    pins = slicerPins()
    with tempfile.TemporaryDirectory() as folder:
        constraints = Path(folder) / "slicer-constraints.txt"
        constraints.write_text("\n".join(pins) + "\n")
        log(f"Installing {len(requirements)} packages, keeping {', '.join(pins) or 'none'}…")
        slicer.util.pip_install([*requirements, "-c", str(constraints)])
