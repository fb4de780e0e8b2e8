"""The Slicer module's MRML side on real MRML classes (``slicer-core`` wheel), without the Qt app.

Sequence ↔ CineRun, Result → labelmap sequence synchronized in the input's browser (index values,
proxies, per-frame geometry), Segment Editor bridge, QCA tables and charts, SEG import layout,
scene save/reload, the background job (progress, cancel, errors), and static checks of the module
(compiles, ruff-clean, .ui ↔ parameter node ↔ widget names, CMake lists every file).
"""

from __future__ import annotations

import ast
import dataclasses
import py_compile
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

slicer = pytest.importorskip("slicer")
vtk = pytest.importorskip("vtk")

MODULE_DIR = Path(__file__).resolve().parents[2] / "AngioSegExtension" / "AngioSeg"
sys.path.insert(0, str(MODULE_DIR))

import AngioSegMRML as M  # noqa: E402
import AngioSegQCANodes as Q  # noqa: E402
from AngioSegProcess import BackgroundJob, JobError, parseLine  # noqa: E402

from AngioSegLib.cine import Calibration, CalibrationSource, CineRun, FrameReference  # noqa: E402
from AngioSegLib.errors import InputError  # noqa: E402
from AngioSegLib.pipeline import PipelineOptions, Result  # noqa: E402

XA_UID = "1.2.826.0.1.3680043.8.498.1"


@pytest.fixture
def scene():
    """A scene with the Sequences logic, so browsers create and update proxy nodes as in Slicer."""
    scene = slicer.vtkMRMLScene()
    logic = slicer.vtkSlicerSequencesLogic()
    logic.SetMRMLScene(scene)
    yield scene
    logic.SetMRMLScene(None)


@pytest.fixture(scope="module")
def phantom():
    from AngioSegLib.phantom.generator import PhantomOptions, make_phantom

    return make_phantom(PhantomOptions(seed=0, n_frames=4, size=96))


def referenced(cine: CineRun) -> CineRun:
    """The cine as if read from one multi-frame XA instance."""
    refs = tuple(FrameReference(M.XA_SOP_CLASS_UID, XA_UID, i + 1) for i in range(cine.n_frames))
    return dataclasses.replace(cine, references=refs, name="XA run")


def phantom_result(phantom, analyze: bool = True) -> Result:
    """The pipeline's Result contract with the ground truth as prediction (no network)."""
    cine = referenced(phantom.cine)
    masks = phantom.masks.astype(np.uint8)
    probabilities = masks.astype(np.float32)
    analysis = None
    if analyze:
        from AngioSegLib.qca.measures import analyze_run

        analysis = analyze_run(cine, probabilities, masks)
    return Result(cine=cine, options=PipelineOptions(), probabilities=probabilities, masks=masks,
                  analysis=analysis, model_name="ground truth", device="none")


@pytest.fixture(scope="module")
def qca_result(phantom) -> Result:
    return phantom_result(phantom)


def array_of(node) -> np.ndarray:
    return M.arrayFromImageData(node.GetImageData())


def matrix_of(node) -> np.ndarray:
    matrix = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(matrix)
    return np.array([[matrix.GetElement(r, c) for c in range(4)] for r in range(4)])


# --- input sequence <-> CineRun ---------------------------------------------------------------


def test_cine_round_trips_through_an_xa_style_sequence(scene, phantom):
    cine = referenced(phantom.cine)
    sequence = M.addVolumeSequence(scene, cine)
    assert (sequence.GetIndexName(), sequence.GetIndexUnit()) == ("time", "s")
    first = sequence.GetNthDataNode(0)
    scale = cine.calibration.mm_per_pixel
    np.testing.assert_allclose(matrix_of(first)[:3, :3], np.diag([-scale, -scale, 1.0]))
    back = M.cineFromSequence(sequence)
    np.testing.assert_array_equal(back.frames, cine.frames)
    assert back.frames.dtype == cine.frames.dtype
    np.testing.assert_allclose(back.frame_times_s, cine.frame_times_s, atol=5e-4)
    assert back.calibration.mm_per_pixel == pytest.approx(scale)
    assert back.calibration.source is CalibrationSource.PIXEL_SPACING
    assert [r.frame_number for r in back.references] == list(range(1, cine.n_frames + 1))
    assert {r.sop_instance_uid for r in back.references} == {XA_UID}
    assert M.sourceInstanceUid(sequence) == XA_UID


def test_uncalibrated_untimed_cine_uses_frame_index_and_warns(scene):
    frames = np.arange(3 * 8 * 10, dtype=np.int16).reshape(3, 8, 10)
    sequence = M.addVolumeSequence(scene, CineRun(frames, name="plain"))
    assert sequence.GetIndexName() == "frame"
    assert [sequence.GetNthIndexValue(i) for i in range(3)] == ["0", "1", "2"]
    back = M.cineFromSequence(sequence)
    assert back.frame_times_s is None
    assert not back.calibration.is_calibrated
    assert any("lengths are in pixels" in w for w in back.warnings)
    assert back.references == ()


def test_source_cine_from_dicom_must_match_the_sequence(scene, phantom):
    sequence = M.addVolumeSequence(scene, phantom.cine)
    assert M.cineFromSequence(sequence, phantom.cine) is phantom.cine
    other = CineRun(np.zeros((2, 96, 96), np.uint16))
    with pytest.raises(InputError, match="reload the series from the DICOM module"):
        M.cineFromSequence(sequence, other)


def test_inputs_that_are_not_an_image_cine_are_refused(scene, phantom):
    sequence = M.addVolumeSequence(scene, phantom.cine)
    labels = M.addLabelSequence(scene, phantom.masks, sequence)
    assert M.isImageSequence(sequence) and not M.isImageSequence(labels)
    with pytest.raises(InputError, match="choose an XA cine"):
        M.cineFromSequence(None)
    volume = slicer.vtkMRMLScalarVolumeNode()
    image = vtk.vtkImageData()
    image.SetDimensions(4, 4, 3)
    image.AllocateScalars(vtk.VTK_UNSIGNED_SHORT, 1)
    volume.SetAndObserveImageData(image)
    stack = scene.AddNewNodeByClass("vtkMRMLSequenceNode", "3D")
    stack.SetDataNodeAtValue(volume, "0")
    with pytest.raises(InputError, match="single-slice frames"):
        M.cineFromSequence(stack)
    with pytest.raises(InputError, match=r"the masks have shape \(2, 96, 96\)"):
        M.addLabelSequence(scene, phantom.masks[:2], sequence)


def test_catheter_points_map_from_ras_to_row_col(scene, phantom):
    sequence = M.addVolumeSequence(scene, phantom.cine)
    frame = sequence.GetNthDataNode(0)
    ijk_to_ras = matrix_of(frame)
    ras = ijk_to_ras @ np.array([12.0, 30.0, 0.0, 1.0])  # column 12, row 30
    assert M.rowColFromRas(frame, ras[:3]) == pytest.approx((30.0, 12.0))


# --- Result -> labelmap sequence --------------------------------------------------------------


def test_label_sequence_plays_with_the_cine(scene, phantom):
    cine = referenced(phantom.cine)
    sequence = M.addVolumeSequence(scene, cine)
    labels = M.addLabelSequence(scene, phantom.masks, sequence)
    count = sequence.GetNumberOfDataNodes()
    assert labels.GetNumberOfDataNodes() == count
    assert (labels.GetIndexName(), labels.GetIndexUnit()) == ("time", "s")
    assert [labels.GetNthIndexValue(i) for i in range(count)] == [
        sequence.GetNthIndexValue(i) for i in range(count)
    ]
    browser = M.sequenceBrowser(scene, sequence)
    assert browser is M.sequenceBrowser(scene, labels)
    assert browser.GetMasterSequenceNode() is sequence
    for index in (3, 0, count - 1, 1):
        browser.SetSelectedItemNumber(index)
        np.testing.assert_array_equal(array_of(browser.GetProxyNode(labels)), phantom.masks[index])
        np.testing.assert_array_equal(array_of(browser.GetProxyNode(sequence)), cine.frames[index])
    proxy = browser.GetProxyNode(labels)
    assert proxy.IsA("vtkMRMLLabelMapVolumeNode")
    color = scene.GetNodeByID(proxy.GetDisplayNode().GetColorNodeID())
    assert color.GetColorName(M.VESSEL_LABEL) == "vessel"
    np.testing.assert_array_equal(M.masksFromLabelSequence(labels), phantom.masks)


def test_anatomy_plays_as_a_second_label_sequence_named_by_segment(scene, phantom):
    sequence = M.addVolumeSequence(scene, referenced(phantom.cine))
    M.addLabelSequence(scene, phantom.masks, sequence)
    anatomy = np.where(phantom.masks > 0, 7, 0).astype(np.uint8)
    anatomy[:, :, : anatomy.shape[2] // 2] = 0  # left half: vessel of no named segment
    labels = M.addLabelSequence(scene, anatomy, sequence, "anatomy", M.anatomyColorNode(scene))
    browser = M.sequenceBrowser(scene, sequence)
    assert browser.GetNumberOfSynchronizedSequenceNodes() >= 2
    browser.SetSelectedItemNumber(2)
    proxy = browser.GetProxyNode(labels)
    np.testing.assert_array_equal(array_of(proxy), anatomy[2])
    color = scene.GetNodeByID(proxy.GetDisplayNode().GetColorNodeID())
    assert color.GetName() == "AngioSeg coronary segments"
    assert color.GetColorName(7) == "7 LAD mid" and color.GetColorName(10) == "9a First diagonal a"
    assert M.anatomyColorNode(scene) is color  # one table per scene


def test_each_label_frame_has_its_image_frame_geometry(scene, phantom):
    sequence = M.addVolumeSequence(scene, phantom.cine)
    for index in range(sequence.GetNumberOfDataNodes()):  # per-frame table shift and zoom
        node = sequence.GetNthDataNode(index)
        node.SetOrigin(3.0 * index, -2.0 * index, 0.5)
        node.SetSpacing(0.2 + 0.01 * index, 0.2 + 0.01 * index, 1.0)
    labels = M.addLabelSequence(scene, phantom.masks, sequence)
    for index in range(sequence.GetNumberOfDataNodes()):
        image, label = sequence.GetNthDataNode(index), labels.GetNthDataNode(index)
        np.testing.assert_array_equal(matrix_of(label), matrix_of(image))
        assert label.GetImageData().GetExtent() == image.GetImageData().GetExtent()
        assert label.GetAttribute(M.INSTANCE_UIDS_ATTRIBUTE) == image.GetAttribute(
            M.INSTANCE_UIDS_ATTRIBUTE)
    assert matrix_of(labels.GetNthDataNode(1))[0, 3] != matrix_of(labels.GetNthDataNode(2))[0, 3]


def test_a_cine_without_browser_gets_one(scene, phantom):
    sequence = M.addVolumeSequence(scene, phantom.cine, browser=False)
    assert M.sequenceBrowser(scene, sequence) is None
    labels = M.addLabelSequence(scene, phantom.masks, sequence)
    browser = M.sequenceBrowser(scene, labels)
    assert browser.GetMasterSequenceNode() is sequence


def test_segment_editor_round_trip_and_frame_update(scene, phantom):
    sequence = M.addVolumeSequence(scene, phantom.cine)
    labels = M.addLabelSequence(scene, phantom.masks, sequence)
    browser = M.sequenceBrowser(scene, sequence)
    browser.SetSelectedItemNumber(2)
    proxy = browser.GetProxyNode(labels)
    segmentation = M.addSegmentationFromLabel(scene, proxy)
    assert segmentation.GetSegmentation().GetNumberOfSegments() == 1
    assert segmentation.GetSegmentation().GetNthSegment(0).GetName() == "vessel"
    np.testing.assert_array_equal(M.labelArrayFromSegmentation(segmentation, proxy),
                                  phantom.masks[2])
    edited = phantom.masks[2].copy()
    edited[:10, :10] = 1
    M.updateLabelFrame(labels, 2, edited)
    np.testing.assert_array_equal(array_of(labels.GetNthDataNode(2)), edited)
    np.testing.assert_array_equal(array_of(browser.GetProxyNode(labels)), edited)
    browser.SetSelectedItemNumber(1)
    browser.SetSelectedItemNumber(2)
    np.testing.assert_array_equal(array_of(browser.GetProxyNode(labels)), edited)


# --- SEG import layout --------------------------------------------------------------------------


def test_seg_labels_join_the_referenced_cine_or_get_their_own_browser(scene, phantom):
    cine = referenced(phantom.cine)
    alone = M.addSegLabelSequence(scene, phantom.masks, "SEG alone", referencedUid=XA_UID,
                                  frameTimes=cine.frame_times_s, mmPerPixel=0.3)
    own = M.sequenceBrowser(scene, alone)
    assert own.GetMasterSequenceNode() is alone
    np.testing.assert_allclose(matrix_of(alone.GetNthDataNode(0))[:3, :3],
                               np.diag([-0.3, -0.3, 1.0]))
    sequence = M.addVolumeSequence(scene, cine)
    joined = M.addSegLabelSequence(scene, phantom.masks, "SEG", referencedUid=XA_UID)
    assert M.sequenceBrowser(scene, joined) is M.sequenceBrowser(scene, sequence)
    assert joined.GetNthIndexValue(3) == sequence.GetNthIndexValue(3)


def test_dicom_seg_of_the_labels_comes_back_onto_the_xa_run(scene, phantom, tmp_path):
    from AngioSegLib.io.seg import read_seg, write_seg
    from AngioSegLib.io.xa import read_xa
    from AngioSegLib.io.xa_write import write_xa

    source = read_xa(write_xa(phantom.cine, tmp_path / "run.dcm"))
    sequence = M.addVolumeSequence(scene, source, "XA")
    cine = M.cineFromSequence(sequence, source)
    assert M.sourceInstanceUid(sequence) == source.references[0].sop_instance_uid
    labels = M.addLabelSequence(scene, phantom.masks, sequence)
    edited = phantom.masks[1].copy()
    edited[40:50, 40:50] = 1
    M.updateLabelFrame(labels, 1, edited)
    path = write_seg(cine, M.masksFromLabelSequence(labels), tmp_path / "seg.dcm")

    import pydicom

    header = pydicom.dcmread(path, stop_before_pixels=True)
    assert str(header.SOPClassUID) == M.SEG_SOP_CLASS_UID
    assert M.referencedCineInstances(header) == [
        (str(source.references[0].sop_class_uid), M.sourceInstanceUid(sequence))]
    data = read_seg(path, n_frames=sequence.GetNumberOfDataNodes())
    back = M.addSegLabelSequence(scene, data.masks, "SEG", data.source_sop_instance_uid)
    assert M.sequenceBrowser(scene, back) is M.sequenceBrowser(scene, sequence)
    expected = phantom.masks.copy()
    expected[1] = edited
    np.testing.assert_array_equal(M.masksFromLabelSequence(back), expected)


# --- QCA tables and charts ---------------------------------------------------------------------


def column(table, name: str) -> list:
    array = table.GetTable().GetColumnByName(name)
    assert array is not None, [table.GetColumnName(i) for i in range(table.GetNumberOfColumns())]
    return [array.GetValue(i) for i in range(array.GetNumberOfTuples())]


def test_tables_hold_the_qca_result_with_units(scene, qca_result):
    result = qca_result
    analysis = result.analysis
    stenoses, frames, summary = Q.addTables(scene, result, "XA")
    unit = result.cine.calibration.unit
    assert unit == "mm"
    assert stenoses.GetNumberOfRows() == len(analysis.stenoses) > 0
    np.testing.assert_allclose(column(stenoses, "%DS (%)"),
                               [s.percent_diameter_stenosis for s in analysis.stenoses])
    np.testing.assert_allclose(column(stenoses, "MLD (mm)"), [s.mld for s in analysis.stenoses])
    assert stenoses.GetColumnUnitLabel("MLD (mm)") == "mm"
    assert frames.GetNumberOfRows() == result.cine.n_frames
    np.testing.assert_allclose(column(frames, "Time (s)"), result.cine.frame_times_s)
    assert frames.GetNumberOfColumns() > 2  # per-frame measures beyond frame and time
    items = dict(zip(column(summary, "Item"), column(summary, "Value"), strict=True))
    assert items["Calibration source"] == CalibrationSource.SYNTHETIC.value
    for table in (stenoses, frames, summary):
        assert table.GetAttribute("AngioSeg.calibrationSource") == CalibrationSource.SYNTHETIC.value


def test_uncalibrated_tables_say_pixels(scene, phantom):
    result = phantom_result(phantom, analyze=False)
    result = dataclasses.replace(result, cine=result.cine.with_calibration(Calibration()))
    stenoses, frames, summary = Q.addTables(scene, result, "XA")
    assert stenoses is None and frames is None
    items = dict(zip(column(summary, "Item"), column(summary, "Value"), strict=True))
    assert items["Length unit"] == "px"
    assert "calibrate on the catheter" in items["Calibration"]


def test_charts_plot_table_columns(scene, qca_result):
    result = qca_result
    tables = Q.addTables(scene, result, "XA")
    charts = Q.addCharts(scene, result, tables, "XA")
    assert charts, "expected at least the filling curve chart"
    for chart in charts:
        assert chart.GetNumberOfPlotSeriesNodes() >= 1
        for i in range(chart.GetNumberOfPlotSeriesNodes()):
            series = chart.GetNthPlotSeriesNode(i)
            table = series.GetTableNode()
            values = column(table, series.GetYColumnName())
            assert len(values) == len(column(table, series.GetXColumnName())) > 1
    filling = charts[0]
    assert "filling" in filling.GetName() and filling.GetXAxisTitle() == "Time (s)"


def test_column_labels_follow_units():
    assert Q.columnLabel("mld", "px") == ("MLD", "px")
    assert Q.columnLabel("vessel_area_mm2", "mm") == ("Vessel area", "mm²")
    assert Q.columnLabel("frame_time_s", "mm") == ("Frame time", "s")


# --- scene save and reload -------------------------------------------------------------------


def test_scene_with_sequences_and_tables_saves_and_reads_back(scene, qca_result, tmp_path):
    result = qca_result
    sequence = M.addVolumeSequence(scene, result.cine)
    labels = M.addLabelSequence(scene, result.masks, sequence)
    Q.addTables(scene, result, "XA")
    application = slicer.vtkMRMLApplicationLogic()
    application.SetMRMLScene(scene)
    assert application.SaveSceneToSlicerDataBundleDirectory(str(tmp_path), None)
    (mrml,) = tmp_path.glob("*.mrml")

    loaded = slicer.vtkMRMLScene()
    logic = slicer.vtkSlicerSequencesLogic()
    logic.SetMRMLScene(loaded)
    cache = slicer.vtkCacheManager()
    cache.SetRemoteCacheDirectory(str(tmp_path / "cache"))
    io = slicer.vtkDataIOManager()
    io.SetCacheManager(cache)
    loaded.SetDataIOManager(io)
    loaded.SetCacheManager(cache)
    loaded.SetURL(str(mrml))
    assert loaded.Import()
    labels_back = loaded.GetFirstNodeByName(labels.GetName())
    image_back = loaded.GetFirstNodeByName(sequence.GetName())
    count = sequence.GetNumberOfDataNodes()
    assert [labels_back.GetNthIndexValue(i) for i in range(count)] == [
        labels.GetNthIndexValue(i) for i in range(count)
    ]
    np.testing.assert_array_equal(M.masksFromLabelSequence(labels_back), result.masks)
    np.testing.assert_array_equal(M.cineFromSequence(image_back).frames, result.cine.frames)
    np.testing.assert_allclose(matrix_of(labels_back.GetNthDataNode(2)),
                               matrix_of(sequence.GetNthDataNode(2)))
    browser = M.sequenceBrowser(loaded, labels_back)
    assert browser is not None and browser.GetMasterSequenceNode() is image_back
    browser.SetSelectedItemNumber(3)
    np.testing.assert_array_equal(array_of(browser.GetProxyNode(labels_back)), result.masks[3])
    table = loaded.GetFirstNodeByName("XA stenoses")
    np.testing.assert_allclose(
        [float(v) for v in column(table, "%DS (%)")],
        [s.percent_diameter_stenosis for s in result.analysis.stenoses], rtol=1e-5)
    logic.SetMRMLScene(None)


# --- background job ----------------------------------------------------------------------------


def test_worker_lines_parse():
    line = 'ANGIOSEG_PROGRESS {"stage": "segment", "done": 3, "total": 8, "message": ""}'
    event = parseLine(line)
    assert (event.stage, event.done, event.total) == ("segment", 3, 8)
    error = parseLine('ANGIOSEG_ERROR {"type": "ModelError", "message": "no model x"}')
    assert (error.stage, error.errorType, error.message) == ("error", "ModelError", "no model x")
    assert parseLine("ANGIOSEG_DONE").stage == "done"
    assert parseLine("some warning").stage == "log"


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


def test_background_job_reports_each_frame_and_returns_the_result(small_cine, untrained_bundle):
    from AngioSegLib.pipeline import run

    options = PipelineOptions(model=str(untrained_bundle), device="cpu", temporal_k=1,
                              analyze=False)
    job = BackgroundJob()
    job.start(small_cine, options)
    folder = job.folder
    events = []
    job.wait(timeout_s=240, callback=events.append)
    result = job.result()
    assert not folder.exists()
    frames = [(e.done, e.total) for e in events if e.stage == "segment"]
    assert frames[-1] == (3, 3) and [d for d, _ in frames] == sorted(d for d, _ in frames)
    assert {"temporal", "done"} <= {e.stage for e in events}
    assert result.masks.shape == (3, 64, 64) and result.masks.dtype == np.uint8
    direct = run(small_cine, options)
    assert direct.probabilities.std() > 0
    np.testing.assert_allclose(result.probabilities, direct.probabilities, atol=1e-5)


def test_worker_errors_reach_the_job_with_their_message(small_cine):
    outside = PipelineOptions(catheter_french=6.0, catheter_points=((10.0, 10.0), (90.0, 20.0)))
    job = BackgroundJob()
    job.start(small_cine, outside)
    job.wait(timeout_s=120)
    message = r"catheter point \(row 90.0, column 20.0\) is outside the 64×64 image"
    with pytest.raises(JobError, match=message) as error:
        job.result()
    assert error.value.errorType == "InputError"


def test_cancel_kills_the_worker_and_cleans_up(phantom):
    job = BackgroundJob()
    job.start(phantom.cine, PipelineOptions(device="cpu"))
    folder = job.folder
    assert folder.is_dir() and job.process.poll() is None
    job.cancel()
    assert job.process.poll() is not None and job.finished
    assert not folder.exists()
    with pytest.raises(JobError, match="cancelled"):
        job.result()


# --- dependencies and DICOM SEG references ---------------------------------------------------


def test_dependency_install_leaves_slicers_own_packages_alone():
    import AngioSegDependencies as D

    requirements = __import__("importlib.metadata").metadata.requires("angioseg")
    names = {D.requirementName(r) for r in D.installableRequirements(requirements)}
    assert "monai" in names and "highdicom" in names
    assert not names & {"numpy", "simpleitk", "pydicom", "torch", "vtk", "pytest"}
    assert D.requirementName('scikit-image>=0.22; python_version > "3"') == "scikit-image"
    assert all(pin.split("==")[0] in D.KEPT_PACKAGES for pin in D.slicerPins())
    assert "numpy==" + np.__version__ in D.slicerPins()


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
    assert M.referencedCineInstances(seg) == [(M.XA_SOP_CLASS_UID, XA_UID)]
    assert M.referencedCineInstances(Dataset()) == []


# --- static checks of the module --------------------------------------------------------------


def module_files() -> list[Path]:
    return sorted(MODULE_DIR.glob("*.py"))


def test_module_files_compile_and_are_ruff_clean(tmp_path):
    for path in module_files():
        py_compile.compile(str(path), cfile=str(tmp_path / (path.stem + ".pyc")), doraise=True)
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    if not Path(ruff).exists():
        pytest.skip("ruff is not installed")
    root = MODULE_DIR.parents[1]
    checked = subprocess.run([ruff, "check", str(MODULE_DIR), str(Path(__file__))], cwd=root,
                             capture_output=True, text=True, check=False)
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
    on_disk = {p.name for p in module_files()} | {
        str(p.relative_to(MODULE_DIR)) for p in (MODULE_DIR / "Resources").rglob("*") if p.is_file()
    }
    assert listed == on_disk
    root = (MODULE_DIR.parents[1] / "CMakeLists.txt").read_text()
    assert "add_subdirectory(AngioSegExtension/AngioSeg)" in root
    for key in ("EXTENSION_HOMEPAGE", "EXTENSION_CATEGORY", "EXTENSION_CONTRIBUTORS",
                "EXTENSION_DESCRIPTION", "EXTENSION_ICONURL", "EXTENSION_SCREENSHOTURLS",
                "EXTENSION_DEPENDS"):
        assert f"set({key} " in root
