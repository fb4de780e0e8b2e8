"""The Logic of AngioSeg.py on real MRML classes, with stand-ins for Qt and the scripted-module
bases (slicer_stubs): results without touching the views, the bounded results, the background
job given the run's path, the options from the parameter node."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

slicer = pytest.importorskip("slicer")

from AngioSegSlicerLib import labelmaps as L  # noqa: E402
from AngioSegSlicerLib import mrml as M  # noqa: E402
from slicer_helpers import matrix_of, phantom_result  # noqa: E402
from slicer_stubs import forgetStubbedImports, importWithStubs  # noqa: E402


@pytest.fixture
def angioseg(monkeypatch, scene):
    module = importWithStubs(monkeypatch, "AngioSeg", scene)
    yield module
    forgetStubbedImports()


@pytest.fixture
def logic(angioseg, monkeypatch):
    logic = angioseg.AngioSegLogic()
    shown = []
    monkeypatch.setattr(angioseg.AngioSegLogic, "show", staticmethod(shown.append))
    monkeypatch.setattr(angioseg.AngioSegLogic, "sourceDicomFile", staticmethod(lambda n: None))
    logic.shown = shown
    return logic


def test_import_result_shows_it_unless_asked_not_to(logic, scene, phantom):
    sequence = M.addVolumeSequence(scene, phantom.cine)
    result = phantom_result(phantom)
    quiet = logic.importResult(sequence, result, showResult=False)
    assert logic.shown == []
    assert quiet.labelSequence.GetNumberOfDataNodes() == phantom.cine.n_frames
    assert quiet.stenosisTable is not None and quiet.framesTable is not None
    shown = logic.importResult(sequence, result)
    assert logic.shown == [shown]


def test_without_show_result_no_view_is_touched(angioseg, scene, phantom):
    """The real show() needs slicer.app, absent here: showResult=False must never reach it."""
    assert not hasattr(slicer, "app")
    logic = angioseg.AngioSegLogic()
    sequence = M.addVolumeSequence(scene, phantom.cine)
    outputs = logic.importResult(sequence, phantom_result(phantom), createSegmentation=True,
                                 showResult=False)
    assert outputs.segmentation is not None
    with pytest.raises(AttributeError, match="app"):
        logic.show(outputs)


def test_process_without_show_result(logic, scene, small_cine, untrained_bundle):
    from AngioSegSlicerLib.options import PanelValues, pipelineOptions

    sequence = M.addVolumeSequence(scene, small_cine)
    options = pipelineOptions(PanelValues(model=str(untrained_bundle), device="cpu",
                                          temporalK=1))
    outputs = logic.process(sequence, options, showResult=False)
    assert logic.shown == []
    assert L.masksFromLabelSequence(outputs.labelSequence).shape == small_cine.shape
    assert logic.results.get(outputs.labelSequence.GetID()).probabilities is None


def test_the_logic_keeps_only_the_latest_result_per_cine(logic, scene, phantom):
    first = M.addVolumeSequence(scene, phantom.cine, "first")
    second = M.addVolumeSequence(scene, phantom.cine, "second")
    result = phantom_result(phantom)
    old = logic.importResult(first, result, showResult=False).labelSequence
    new = logic.importResult(first, result, showResult=False).labelSequence
    other = logic.importResult(second, result, showResult=False).labelSequence
    assert logic.results.get(old.GetID()) is None
    assert logic.results.get(new.GetID()) is not None
    assert logic.results.get(other.GetID()) is not None
    assert len(logic.results) == 2
    report, why = logic.exportSr(old, "unused.dcm")
    assert report is None and "only each cine's latest run is kept" in why


def test_the_background_job_gets_the_runs_path(logic, monkeypatch, scene, small_cine, tmp_path):
    from AngioSegSlicerLib import process

    from AngioSegLib.io.xa_write import write_xa
    from AngioSegLib.pipeline import PipelineOptions

    path = write_xa(small_cine, tmp_path / "run.dcm")
    sequence = M.addVolumeSequence(scene, small_cine)
    monkeypatch.setattr(type(logic), "sourceDicomFile", staticmethod(lambda node: str(path)))
    cine = logic.readCine(sequence)
    assert not isinstance(cine.frames, np.ndarray)  # not decoded in the GUI thread
    monkeypatch.setattr(process.shutil, "which", lambda name: None)
    job = logic.startJob(cine, PipelineOptions())
    try:
        with open(job.folder / process.INPUT_FILE, "rb") as file:
            payload = file.read()
        assert str(path.resolve()).encode() in payload and len(payload) < 4096
        assert not (job.folder / process.FRAMES_FILE).exists()
    finally:
        job.cancel()


def test_prepare_maps_the_parameter_node(logic, scene, small_cine):
    from AngioSegSlicerLib.options import PanelValues

    sequence = M.addVolumeSequence(scene, small_cine)
    line = scene.AddNewNodeByClass("vtkMRMLMarkupsLineNode", "catheter")
    frame = sequence.GetNthDataNode(0)
    for row, col in ((10.0, 12.0), (10.0, 20.0)):
        line.AddControlPointWorld(list((matrix_of(frame) @ [col, row, 0.0, 1.0])[:3]))
    params = _Params(PanelValues(catheterFrench=6.0, temporalK=1), catheterLine=line)
    cine, options = logic.prepare(sequence, params)
    assert cine.shape == small_cine.shape and options.temporal.k == 1
    assert options.catheter.french == 6.0 and options.catheter.frame == 0
    np.testing.assert_allclose(options.catheter.points, ((10.0, 12.0), (10.0, 20.0)), atol=1e-6)
    with pytest.raises(ValueError, match="two points across the catheter"):
        logic.prepare(sequence, _Params(PanelValues(catheterFrench=6.0), catheterLine=None))


def _placePoints(markups, frameNode, points_rc) -> None:
    """Control points at the (row, col) pixels of ``frameNode``, in order."""
    for row, col in points_rc:
        markups.AddControlPointWorld(list((matrix_of(frameNode) @ [col, row, 0.0, 1.0])[:3]))


def test_prepare_takes_the_frame_shown_and_the_segment_for_qca(logic, scene, small_cine):
    from AngioSegSlicerLib.options import PanelValues

    sequence = M.addVolumeSequence(scene, small_cine)
    M.sequenceBrowser(scene, sequence).SetSelectedItemNumber(2)
    line = scene.AddNewNodeByClass("vtkMRMLMarkupsLineNode", "segment")
    _placePoints(line, sequence.GetNthDataNode(2), ((50.0, 8.0), (12.0, 40.0)))
    _, automatic = logic.prepare(sequence, _Params(PanelValues(), qcaSegment=None))
    assert automatic.qca.analysis_frame is None and automatic.qca.segment_points is None
    _, options = logic.prepare(sequence, _Params(PanelValues(densitometricMld=False),
                                                 qcaShownFrame=True, qcaSegment=line))
    assert options.qca.analysis_frame == 2 and options.qca.mld_method.value == "edge"
    np.testing.assert_allclose(options.qca.segment_points, ((50.0, 8.0), (12.0, 40.0)),
                               atol=1e-6)
    line.RemoveNthControlPoint(1)
    with pytest.raises(ValueError, match="QCA segment 'segment' needs two points.*found 1"):
        logic.prepare(sequence, _Params(PanelValues(), qcaSegment=line))


def test_process_measures_the_users_frame_and_segment(logic, scene, phantom, untrained_bundle):
    """End to end on a 4-frame 96² phantom: the frame shown is QCA's frame, the segment the one
    traced between the user's points, and the summary table says the user chose them."""
    from AngioSegSlicerLib.options import PanelValues
    from slicer_helpers import column

    frame = 1
    sequence = M.addVolumeSequence(scene, phantom.cine)
    M.sequenceBrowser(scene, sequence).SetSelectedItemNumber(frame)
    vessel = max(phantom.centerlines[frame], key=lambda c: len(c.points_rc)).points_rc
    start, end = vessel[len(vessel) // 5], vessel[3 * len(vessel) // 5]
    line = scene.AddNewNodeByClass("vtkMRMLMarkupsLineNode", "segment")
    _placePoints(line, sequence.GetNthDataNode(frame), (start, end))
    params = _Params(PanelValues(model=str(untrained_bundle), device="cpu", temporalK=1),
                     qcaShownFrame=True, qcaSegment=line)
    _, options = logic.prepare(sequence, params)
    outputs = logic.process(sequence, options, showResult=False)
    assert logic.shown == []
    analysis = logic.results.get(outputs.labelSequence.GetID()).analysis
    assert analysis.analysis_frame == frame and analysis.analysis_rule == "chosen by the user"
    (segment,) = analysis.segments
    assert segment.user_defined
    items = dict(zip(column(outputs.summaryTable, "Item"), column(outputs.summaryTable, "Value"),
                     strict=True))
    assert items["Analysis frame"] == f"{frame}, chosen by the user"
    assert items["QCA segment"].startswith("chosen by the user: from (row ")


class _Params:
    """A parameter node stand-in: the PanelValues fields plus the node and frame choices."""

    def __init__(self, values, catheterLine=None, qcaShownFrame=False, qcaSegment=None) -> None:
        for field in dataclasses.fields(values):
            setattr(self, field.name, getattr(values, field.name))
        self.catheterLine = catheterLine
        self.qcaShownFrame = qcaShownFrame
        self.qcaSegment = qcaSegment
