"""AngioSegSlicerLib.mrml on real MRML classes (``slicer-core`` wheel), without the Qt app.

Sequence ↔ CineRun, Result → labelmap sequence synchronized in the input's browser (index values,
proxies, per-frame geometry), Segment Editor bridge, SEG import layout, scene save/reload, and
the MRML-only helpers that work before AngioSegLib is installed.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

slicer = pytest.importorskip("slicer")
vtk = pytest.importorskip("vtk")

from AngioSegSlicerLib import colors as C  # noqa: E402
from AngioSegSlicerLib import labelmaps as L  # noqa: E402
from AngioSegSlicerLib import mrml as M  # noqa: E402
from AngioSegSlicerLib import qca_nodes as Q  # noqa: E402
from AngioSegSlicerLib import seg_import as S  # noqa: E402
from AngioSegSlicerLib import segment_editor as E  # noqa: E402
from slicer_helpers import XA_UID, array_of, column, matrix_of, referenced  # noqa: E402

from AngioSegLib.cine import CalibrationSource, CineRun  # noqa: E402
from AngioSegLib.errors import InputError  # noqa: E402


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
    labels = L.addLabelSequence(scene, phantom.masks, sequence)
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
        L.addLabelSequence(scene, phantom.masks[:2], sequence)


def test_catheter_points_map_from_ras_to_row_col(scene, phantom):
    sequence = M.addVolumeSequence(scene, phantom.cine)
    frame = sequence.GetNthDataNode(0)
    ijk_to_ras = matrix_of(frame)
    ras = ijk_to_ras @ np.array([12.0, 30.0, 0.0, 1.0])  # column 12, row 30
    assert M.rowColFromRas(frame, ras[:3]) == pytest.approx((30.0, 12.0))


def test_label_sequence_plays_with_the_cine(scene, phantom):
    cine = referenced(phantom.cine)
    sequence = M.addVolumeSequence(scene, cine)
    labels = L.addLabelSequence(scene, phantom.masks, sequence)
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
    assert color.GetColorName(C.VESSEL_LABEL) == "vessel"
    np.testing.assert_array_equal(L.masksFromLabelSequence(labels), phantom.masks)


def test_anatomy_plays_as_a_second_label_sequence_named_by_segment(scene, phantom):
    sequence = M.addVolumeSequence(scene, referenced(phantom.cine))
    L.addLabelSequence(scene, phantom.masks, sequence)
    anatomy = np.where(phantom.masks > 0, 7, 0).astype(np.uint8)
    anatomy[:, :, : anatomy.shape[2] // 2] = 0  # left half: vessel of no named segment
    labels = L.addLabelSequence(scene, anatomy, sequence, "anatomy", C.anatomyColorNode(scene))
    browser = M.sequenceBrowser(scene, sequence)
    assert browser.GetNumberOfSynchronizedSequenceNodes() >= 2
    browser.SetSelectedItemNumber(2)
    proxy = browser.GetProxyNode(labels)
    np.testing.assert_array_equal(array_of(proxy), anatomy[2])
    color = scene.GetNodeByID(proxy.GetDisplayNode().GetColorNodeID())
    assert color.GetName() == "AngioSeg coronary segments"
    assert color.GetColorName(7) == "7 LAD mid" and color.GetColorName(10) == "9a First diagonal a"
    assert C.anatomyColorNode(scene) is color  # one table per scene


def test_each_label_frame_has_its_image_frame_geometry(scene, phantom):
    sequence = M.addVolumeSequence(scene, phantom.cine)
    for index in range(sequence.GetNumberOfDataNodes()):  # per-frame table shift and zoom
        node = sequence.GetNthDataNode(index)
        node.SetOrigin(3.0 * index, -2.0 * index, 0.5)
        node.SetSpacing(0.2 + 0.01 * index, 0.2 + 0.01 * index, 1.0)
    labels = L.addLabelSequence(scene, phantom.masks, sequence)
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
    labels = L.addLabelSequence(scene, phantom.masks, sequence)
    browser = M.sequenceBrowser(scene, labels)
    assert browser.GetMasterSequenceNode() is sequence


def test_segment_editor_round_trip_and_frame_update(scene, phantom):
    sequence = M.addVolumeSequence(scene, phantom.cine)
    labels = L.addLabelSequence(scene, phantom.masks, sequence)
    browser = M.sequenceBrowser(scene, sequence)
    browser.SetSelectedItemNumber(2)
    proxy = browser.GetProxyNode(labels)
    segmentation = E.addSegmentationFromLabel(scene, proxy)
    assert segmentation.GetSegmentation().GetNumberOfSegments() == 1
    assert segmentation.GetSegmentation().GetNthSegment(0).GetName() == "vessel"
    np.testing.assert_array_equal(E.labelArrayFromSegmentation(segmentation, proxy),
                                  phantom.masks[2])
    edited = phantom.masks[2].copy()
    edited[:10, :10] = 1
    L.updateLabelFrame(labels, 2, edited)
    np.testing.assert_array_equal(array_of(labels.GetNthDataNode(2)), edited)
    np.testing.assert_array_equal(array_of(browser.GetProxyNode(labels)), edited)
    browser.SetSelectedItemNumber(1)
    browser.SetSelectedItemNumber(2)
    np.testing.assert_array_equal(array_of(browser.GetProxyNode(labels)), edited)


def test_seg_labels_join_the_referenced_cine_or_get_their_own_browser(scene, phantom):
    cine = referenced(phantom.cine)
    alone = S.addSegLabelSequence(scene, phantom.masks, "SEG alone", referencedUid=XA_UID,
                                  frameTimes=cine.frame_times_s, mmPerPixel=0.3)
    own = M.sequenceBrowser(scene, alone)
    assert own.GetMasterSequenceNode() is alone
    np.testing.assert_allclose(matrix_of(alone.GetNthDataNode(0))[:3, :3],
                               np.diag([-0.3, -0.3, 1.0]))
    sequence = M.addVolumeSequence(scene, cine)
    joined = S.addSegLabelSequence(scene, phantom.masks, "SEG", referencedUid=XA_UID)
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
    labels = L.addLabelSequence(scene, phantom.masks, sequence)
    edited = phantom.masks[1].copy()
    edited[40:50, 40:50] = 1
    L.updateLabelFrame(labels, 1, edited)
    path = write_seg(cine, L.masksFromLabelSequence(labels), tmp_path / "seg.dcm")

    import pydicom

    header = pydicom.dcmread(path, stop_before_pixels=True)
    assert str(header.SOPClassUID) == S.SEG_SOP_CLASS_UID
    assert S.referencedCineInstances(header) == [
        (str(source.references[0].sop_class_uid), M.sourceInstanceUid(sequence))]
    data = read_seg(path, n_frames=sequence.GetNumberOfDataNodes())
    back = S.addSegLabelSequence(scene, data.masks, "SEG", data.source_sop_instance_uid)
    assert M.sequenceBrowser(scene, back) is M.sequenceBrowser(scene, sequence)
    expected = phantom.masks.copy()
    expected[1] = edited
    np.testing.assert_array_equal(L.masksFromLabelSequence(back), expected)


def test_scene_with_sequences_and_tables_saves_and_reads_back(scene, qca_result, tmp_path):
    result = qca_result
    sequence = M.addVolumeSequence(scene, result.cine)
    labels = L.addLabelSequence(scene, result.masks, sequence)
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
    np.testing.assert_array_equal(L.masksFromLabelSequence(labels_back), result.masks)
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


def test_pixel_spacing_tells_calibrated_from_slicers_default(scene, phantom):
    sequence = M.addVolumeSequence(scene, phantom.cine)
    assert M.hasPixelSpacing(sequence.GetNthDataNode(0))
    plain = M.addVolumeSequence(scene, CineRun(np.zeros((2, 8, 8), np.uint8), name="plain"))
    assert not M.hasPixelSpacing(plain.GetNthDataNode(0))


def test_image_sequence_check_takes_empty_and_missing_sequences(scene):
    assert not M.isImageSequence(None)
    assert not M.isImageSequence(scene.AddNewNodeByClass("vtkMRMLSequenceNode", "empty"))


def test_mrml_only_helpers_work_without_angioseglib(tmp_path):
    """The panel uses isImageSequence, sourceInstanceUid, hasPixelSpacing and sequenceBrowser
    before AngioSegLib is installed: importing mrml must not import it."""
    from conftest import MODULE_DIR

    code = f"""
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name == "AngioSegLib" or name.startswith("AngioSegLib."):
            raise ImportError("AngioSegLib is blocked in this test")
sys.meta_path.insert(0, Block())
sys.path.insert(0, {str(MODULE_DIR)!r})
import slicer
from AngioSegSlicerLib import mrml
scene = slicer.vtkMRMLScene()
node = scene.AddNewNodeByClass("vtkMRMLSequenceNode", "empty")
assert not mrml.isImageSequence(node) and mrml.sourceInstanceUid(node) is None
assert mrml.sequenceBrowser(scene, node) is None
assert not any(m.startswith("AngioSegLib") for m in sys.modules)
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stdout + done.stderr


def test_a_catheter_line_maps_to_row_col_on_the_frame_shown(scene, phantom):
    sequence = M.addVolumeSequence(scene, phantom.cine)
    M.sequenceBrowser(scene, sequence).SetSelectedItemNumber(2)
    frame = sequence.GetNthDataNode(2)
    line = scene.AddNewNodeByClass("vtkMRMLMarkupsLineNode", "catheter")
    assert M.linePointsOnShownFrame(sequence, line) == (None, 0)
    for row, col in ((30.0, 12.0), (31.0, 40.0)):
        line.AddControlPointWorld(list((matrix_of(frame) @ [col, row, 0.0, 1.0])[:3]))
    points, index = M.linePointsOnShownFrame(sequence, line)
    assert index == 2
    np.testing.assert_allclose(points, ((30.0, 12.0), (31.0, 40.0)), atol=1e-6)


def test_a_qca_segment_maps_to_row_col_proximal_first_on_the_frame_shown(scene, phantom):
    sequence = M.addVolumeSequence(scene, phantom.cine)
    assert M.shownFrameIndex(sequence) == 0
    M.sequenceBrowser(scene, sequence).SetSelectedItemNumber(3)
    assert M.shownFrameIndex(sequence) == 3
    frame = sequence.GetNthDataNode(3)
    assert M.segmentPointsOnShownFrame(sequence, None) is None  # every vessel
    for kind in ("vtkMRMLMarkupsLineNode", "vtkMRMLMarkupsFiducialNode"):
        markups = scene.AddNewNodeByClass(kind, "segment")
        for row, col in ((70.0, 5.5), (20.0, 60.0)):  # proximal (start) first
            markups.AddControlPointWorld(list((matrix_of(frame) @ [col, row, 0.0, 1.0])[:3]))
        points = M.segmentPointsOnShownFrame(sequence, markups)
        np.testing.assert_allclose(points, ((70.0, 5.5), (20.0, 60.0)), atol=1e-6)


def test_a_qca_segment_without_two_points_on_the_frame_is_refused(scene, phantom):
    sequence = M.addVolumeSequence(scene, phantom.cine)
    frame = sequence.GetNthDataNode(0)
    line = scene.AddNewNodeByClass("vtkMRMLMarkupsLineNode", "LAD segment")
    with pytest.raises(InputError, match="'LAD segment' needs two points.*found 0"):
        M.segmentPointsOnShownFrame(sequence, line)
    line.AddControlPointWorld(list((matrix_of(frame) @ [10.0, 10.0, 0.0, 1.0])[:3]))
    with pytest.raises(InputError, match="needs two points, its start \\(proximal\\).*found 1"):
        M.segmentPointsOnShownFrame(sequence, line)
    line.AddControlPointWorld(list((matrix_of(frame) @ [120.0, 40.0, 0.0, 1.0])[:3]))
    with pytest.raises(InputError, match=r"end point \(row 40.0, column 120.0\) lies outside "
                                         r"the 96×96 frame"):
        M.segmentPointsOnShownFrame(sequence, line)
