"""AngioSegSlicerLib.dicom_plugin: what it offers to the DICOM module (a SEG of an XA cine, above
Slicer's SEG plugin), what it leaves, and that AngioSeg registers it where the DICOM module
looks (``slicer.modules.dicomPlugins``), from its new place in the package."""

from __future__ import annotations

import pytest

slicer = pytest.importorskip("slicer")

from AngioSegSlicerLib import mrml as M  # noqa: E402
from AngioSegSlicerLib import seg_import as S  # noqa: E402
from slicer_helpers import XA_UID  # noqa: E402
from slicer_stubs import forgetStubbedImports, importWithStubs  # noqa: E402


@pytest.fixture
def plugin_module(monkeypatch):
    module = importWithStubs(monkeypatch, "AngioSegSlicerLib.dicom_plugin")
    yield module
    forgetStubbedImports()


def test_seg_references_to_cine_frames_are_recognised():
    from pydicom.dataset import Dataset

    instance = Dataset()
    instance.ReferencedSOPClassUID = M.XA_SOP_CLASS_UID
    instance.ReferencedSOPInstanceUID = XA_UID
    ct = Dataset()
    ct.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ct.ReferencedSOPInstanceUID = "1.2.3"
    series = Dataset()
    series.ReferencedInstanceSequence = [instance, ct]
    seg = Dataset()
    seg.ReferencedSeriesSequence = [series]
    assert S.referencedCineInstances(seg) == [(M.XA_SOP_CLASS_UID, XA_UID)]
    assert S.referencedCineInstances(Dataset()) == []


def test_a_seg_of_an_xa_run_is_offered_as_a_labelmap_sequence(plugin_module, phantom, tmp_path):
    from AngioSegLib.io.seg import write_seg
    from AngioSegLib.io.xa import read_xa
    from AngioSegLib.io.xa_write import write_xa

    xa = write_xa(phantom.cine, tmp_path / "run.dcm")
    source = read_xa(xa)
    seg = write_seg(source, phantom.masks, tmp_path / "seg.dcm")
    (notes := tmp_path / "notes.txt").write_text("not DICOM")
    plugin = plugin_module.AngioSegDICOMPluginClass()
    loadables = plugin.examine([[str(seg), str(xa), str(notes)]])
    assert len(loadables) == 1  # the XA run and the text file are left to other plugins
    (loadable,) = loadables
    assert loadable.files == [str(seg)] and loadable.confidence > 0.95  # above Slicer's SEG
    assert loadable.referencedInstanceUIDs == [source.references[0].sop_instance_uid]
    assert "XA cine" in loadable.tooltip
    assert not plugin.isAnatomy(str(seg))


def test_the_module_registers_the_plugin_from_the_package(monkeypatch, scene):
    module = importWithStubs(monkeypatch, "AngioSeg", scene)
    try:
        module.registerDicomPlugin()
        registered = slicer.modules.dicomPlugins["AngioSegDICOMPlugin"]
        import AngioSegSlicerLib.dicom_plugin as plugin

        assert registered is plugin.AngioSegDICOMPluginClass
        assert registered.__module__ == "AngioSegSlicerLib.dicom_plugin"
    finally:
        forgetStubbedImports()
