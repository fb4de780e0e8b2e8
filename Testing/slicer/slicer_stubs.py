"""Stand-ins for the Slicer application's Python modules that the ``slicer-core`` wheel lacks
(Qt, ScriptedLoadableModule, parameterNodeWrapper, DICOMLib), so that ``AngioSeg.py`` and the
DICOM plugin import under pytest. They hold no behaviour the tests check: what is tested is the
module's own code running on real MRML classes; anything that would touch a view (``slicer.app``)
is absent and fails loudly.
"""

from __future__ import annotations

import importlib
import sys
import types
from types import SimpleNamespace


class _Timer:
    def setInterval(self, interval_ms) -> None:
        self.interval_ms = interval_ms

    def connect(self, signal, slot) -> None:
        self.slot = slot

    def start(self) -> None: ...

    def stop(self) -> None: ...


class _ScriptedLoadableModuleLogic:
    def __init__(self, parent=None) -> None:
        self.parent = parent

    def getParameterNode(self):
        raise NotImplementedError("no parameter nodes without the Slicer application")


class _Base:
    def __init__(self, parent=None) -> None:
        self.parent = parent


class _DICOMPlugin:
    def __init__(self) -> None:
        self.loadType = ""


class _DICOMLoadable:
    def __init__(self) -> None:
        self.files, self.name, self.tooltip = [], "", ""
        self.selected, self.confidence, self.referencedInstanceUIDs = False, 0.5, []


def _annotation(*args, **kwargs):
    return (args, kwargs)


def stubModules(slicer) -> dict[str, types.ModuleType]:
    """name → stand-in module, for ``monkeypatch.setitem(sys.modules, ...)``."""
    qt = types.ModuleType("qt")
    qt.QTimer = _Timer
    qt.QEventLoop = SimpleNamespace(AllEvents=0)
    scripted = types.ModuleType("slicer.ScriptedLoadableModule")
    scripted.ScriptedLoadableModule = _Base
    scripted.ScriptedLoadableModuleWidget = _Base
    scripted.ScriptedLoadableModuleTest = _Base
    scripted.ScriptedLoadableModuleLogic = _ScriptedLoadableModuleLogic
    wrapper = types.ModuleType("slicer.parameterNodeWrapper")
    wrapper.Choice = wrapper.Default = wrapper.WithinRange = _annotation
    wrapper.parameterNodeWrapper = lambda cls: cls
    markups = types.ModuleType("vtkSlicerMarkupsModuleMRMLPython")
    markups.vtkMRMLMarkupsLineNode = slicer.vtkMRMLMarkupsLineNode
    markups.vtkMRMLMarkupsFiducialNode = slicer.vtkMRMLMarkupsFiducialNode
    sequences = types.ModuleType("vtkSlicerSequencesModuleMRMLPython")
    sequences.vtkMRMLSequenceNode = slicer.vtkMRMLSequenceNode
    dicomlib = types.ModuleType("DICOMLib")
    dicomlib.DICOMPlugin = _DICOMPlugin
    dicomlib.DICOMLoadable = _DICOMLoadable
    return {"qt": qt, "slicer.ScriptedLoadableModule": scripted,
            "slicer.parameterNodeWrapper": wrapper, "vtkSlicerMarkupsModuleMRMLPython": markups,
            "vtkSlicerSequencesModuleMRMLPython": sequences, "DICOMLib": dicomlib}


FRESH_MODULES = ("AngioSeg", "AngioSegSlicerLib.dicom_plugin")


def importWithStubs(monkeypatch, name: str, scene=None):
    """Import ``name`` (fresh) with the stand-ins; ``slicer.mrmlScene`` = ``scene``."""
    import slicer

    for moduleName, module in stubModules(slicer).items():
        monkeypatch.setitem(sys.modules, moduleName, module)
    monkeypatch.setattr(slicer, "mrmlScene", scene, raising=False)
    monkeypatch.setattr(slicer, "modules", SimpleNamespace(), raising=False)
    for moduleName in FRESH_MODULES:
        sys.modules.pop(moduleName, None)
    return importlib.import_module(name)


def forgetStubbedImports() -> None:
    """Drop the modules imported with the stand-ins (call at teardown)."""
    for moduleName in FRESH_MODULES:
        sys.modules.pop(moduleName, None)
