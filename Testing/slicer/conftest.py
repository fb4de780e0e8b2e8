"""Fixtures of the Slicer module's tests: the module folder on ``sys.path`` (as Slicer puts it),
a scene with the Sequences logic, small phantoms and an untrained CE-Net bundle.

The tests run on the ``slicer-core`` wheel (real MRML classes, no Qt application); each file
mirrors one module of ``AngioSegExtension/AngioSeg/AngioSegSlicerLib`` (``test_logic.py``: the
Logic of ``AngioSeg.py``, with Qt stand-ins).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

MODULE_DIR = Path(__file__).resolve().parents[2] / "AngioSegExtension" / "AngioSeg"
PACKAGE_DIR = MODULE_DIR / "AngioSegSlicerLib"
if str(MODULE_DIR) not in sys.path:
    sys.path.insert(0, str(MODULE_DIR))


@pytest.fixture
def scene():
    """A scene with the Sequences logic, so browsers create and update proxy nodes as in Slicer."""
    slicer = pytest.importorskip("slicer")
    scene = slicer.vtkMRMLScene()
    logic = slicer.vtkSlicerSequencesLogic()
    logic.SetMRMLScene(scene)
    yield scene
    logic.SetMRMLScene(None)


@pytest.fixture(scope="module")
def phantom():
    from AngioSegLib.phantom.generator import PhantomOptions, make_phantom

    return make_phantom(PhantomOptions(seed=0, n_frames=4, size=96))


@pytest.fixture(scope="module")
def qca_result(phantom):
    from slicer_helpers import phantom_result

    return phantom_result(phantom)


@pytest.fixture(scope="module")
def small_cine():
    from AngioSegLib.phantom.generator import PhantomOptions, make_phantom

    return make_phantom(PhantomOptions(seed=1, n_frames=3, size=64)).cine


@pytest.fixture(scope="module")
def untrained_bundle(tmp_path_factory) -> Path:
    """A real CE-Net bundle with seeded random weights: real inference, no training needed."""
    torch = pytest.importorskip("torch")
    from AngioSegLib.model.bundle import make_metadata, save_bundle
    from AngioSegLib.model.cenet import build_network

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("bundle")
    for sub in ("models", "configs"):
        (folder / sub).mkdir()
    return save_bundle(build_network("cenet-light"), folder, make_metadata("cenet-light"),
                       force=True)
