"""MRML ↔ AngioSegLib conversions for the AngioSeg Slicer module, without the Qt application:
arrays ↔ vtkImageData, an XA cine's volume sequence ↔ CineRun, and the sequence browser.

Works on the ``slicer-core`` wheel as in Slicer: only MRML/VTK classes, never ``slicer.util``, Qt
or ``slicer.app``, so pytest exercises it with a real ``vtkMRMLScene``. AngioSegLib is imported
inside the functions that need it, so the module's MRML-only helpers (``isImageSequence``,
``sourceInstanceUid``, ``hasPixelSpacing``, ``sequenceBrowser``, ``proxyNode``) serve the panel
before AngioSegLib is installed.

An XA cine loaded by Slicer's DICOMImageSequencePlugin is a ``vtkMRMLSequenceNode`` of single-slice
scalar volumes (IJK→RAS = diag(−sx, −sy, 1)), indexed by "time" in s (from FrameTime) or by
"frame"; each frame carries the XA SOP Instance UID in its ``DICOM.instanceUIDs`` attribute.
The results go back as labelmap sequences (:mod:`.labelmaps`), shown with the color tables of
:mod:`.colors`; :mod:`.segment_editor` bridges a label frame to the Segment Editor and
:mod:`.seg_import` brings a DICOM SEG back.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import slicer
import vtk
from vtk.util import numpy_support

if TYPE_CHECKING:
    from AngioSegLib.cine import Calibration, CineRun, FrameReference

XA_SOP_CLASS_UID = "1.2.840.10008.5.1.4.1.1.12.1"
INSTANCE_UIDS_ATTRIBUTE = "DICOM.instanceUIDs"
_TIME_UNIT_TO_S = {"s": 1.0, "sec": 1.0, "ms": 1e-3, "msec": 1e-3}


def inputError(message: str) -> Exception:
    """AngioSegLib's InputError, imported when raised: the MRML-only helpers (isImageSequence,
    sourceInstanceUid, hasPixelSpacing, sequenceBrowser, ...) work before AngioSegLib is
    installed."""
    from AngioSegLib.errors import InputError

    return InputError(message)


# --- arrays <-> vtkImageData -----------------------------------------------------------------


def arrayFromImageData(imageData: vtk.vtkImageData) -> np.ndarray:
    """The single slice of ``imageData`` as an (H, W) array (RGB averaged to grey)."""
    if imageData is None:
        raise inputError("the volume has no image data; load the cine again")
    columns, rows, slices = imageData.GetDimensions()
    if slices != 1:
        raise inputError(
            f"AngioSeg needs a sequence of single-slice frames (2D + time), found {slices} slices "
            "per frame; load the XA run with the DICOM module's 'Image sequence' option"
        )
    scalars = numpy_support.vtk_to_numpy(imageData.GetPointData().GetScalars())
    components = imageData.GetNumberOfScalarComponents()
    frame = scalars.reshape(rows, columns, components)
    if components == 1:
        return frame[:, :, 0].copy()
    return frame[:, :, :3].mean(axis=2).astype(np.float32)


def imageDataFromArray(frame: np.ndarray, extent: Sequence[int] | None = None) -> vtk.vtkImageData:
    """A single-slice vtkImageData holding the (H, W) ``frame`` (deep copy)."""
    frame = np.ascontiguousarray(frame)
    rows, columns = frame.shape
    imageData = vtk.vtkImageData()
    if extent is not None:
        imageData.SetExtent(*extent)
    else:
        imageData.SetDimensions(columns, rows, 1)
    if imageData.GetDimensions() != (columns, rows, 1):
        raise inputError(
            f"a frame of {columns}×{rows} pixels does not fit the extent {tuple(extent or ())}"
        )
    scalars = numpy_support.numpy_to_vtk(frame.ravel(), deep=True)
    imageData.GetPointData().SetScalars(scalars)
    return imageData


# --- input sequence -> CineRun ---------------------------------------------------------------


def sequenceFrameNodes(sequenceNode) -> list:
    """The data nodes of a volume sequence, frame 0 first; an error for anything else."""
    if sequenceNode is None or not sequenceNode.IsA("vtkMRMLSequenceNode"):
        raise inputError("choose an XA cine: a volume sequence loaded from DICOM")
    count = sequenceNode.GetNumberOfDataNodes()
    if count == 0:
        raise inputError(f"the sequence '{sequenceNode.GetName()}' has no frames")
    nodes = [sequenceNode.GetNthDataNode(i) for i in range(count)]
    for node in nodes:
        if node is None or not node.IsA("vtkMRMLScalarVolumeNode"):
            kind = node.GetClassName() if node is not None else "nothing"
            raise inputError(
                f"the sequence '{sequenceNode.GetName()}' holds {kind}, not image volumes; "
                "choose the XA cine"
            )
    return nodes


def isImageSequence(sequenceNode) -> bool:
    """True for a sequence of scalar (not labelmap) volumes, as the DICOM module makes for XA."""
    if sequenceNode is None or sequenceNode.GetNumberOfDataNodes() == 0:
        return False
    node = sequenceNode.GetNthDataNode(0)
    return bool(node is not None and node.IsA("vtkMRMLScalarVolumeNode")
                and not node.IsA("vtkMRMLLabelMapVolumeNode"))


def frameTimesFromSequence(sequenceNode) -> np.ndarray | None:
    """Frame times in s from a numeric "time" index (s or ms), or None for a frame index."""
    scale = _TIME_UNIT_TO_S.get(sequenceNode.GetIndexUnit().strip().lower())
    if scale is None or sequenceNode.GetIndexType() != sequenceNode.NumericIndex:
        return None
    values = [sequenceNode.GetNthIndexValue(i) for i in range(sequenceNode.GetNumberOfDataNodes())]
    try:
        times = np.array([float(v) for v in values]) * scale
    except ValueError:
        return None
    return times - times[0]


def hasPixelSpacing(volumeNode) -> bool:
    """Whether the volume's in-plane spacing is not Slicer's 1 mm default (no calibration)."""
    spacingX, spacingY, _ = volumeNode.GetSpacing()
    return not (np.isclose(spacingX, 1.0) and np.isclose(spacingY, 1.0))


def calibrationFromVolume(volumeNode) -> tuple[Calibration, tuple[str, ...]]:
    """Calibration from the volume spacing (mm/pixel) and the warnings it needs."""
    from AngioSegLib.cine import Calibration, CalibrationSource

    if not hasPixelSpacing(volumeNode):
        return Calibration(), (
            "the cine has no pixel spacing: lengths are in pixels; calibrate on the catheter",
        )
    spacingX, spacingY, _ = volumeNode.GetSpacing()
    warnings = (
        f"pixel spacing {spacingX:.4g} mm taken from the Slicer volume; its DICOM source "
        "(detector or isocenter) is unknown",
    )
    if not np.isclose(spacingX, spacingY, rtol=1e-3):
        warnings += (f"pixels are not square ({spacingX:.4g} × {spacingY:.4g} mm); using the mean",)
    return Calibration((spacingX + spacingY) / 2, CalibrationSource.PIXEL_SPACING), warnings


def referencesFromFrames(frameNodes: Sequence) -> tuple[FrameReference, ...]:
    """One FrameReference per frame from ``DICOM.instanceUIDs`` (empty when any is missing)."""
    from AngioSegLib.cine import FrameReference

    uids = [node.GetAttribute(INSTANCE_UIDS_ATTRIBUTE) for node in frameNodes]
    if not all(uids):
        return ()
    uids = [uid.split()[0] for uid in uids]
    multiFrame = len(set(uids)) == 1 and len(uids) > 1
    return tuple(
        FrameReference(XA_SOP_CLASS_UID, uid, frame_number=i + 1 if multiFrame else None)
        for i, uid in enumerate(uids)
    )


def sourceInstanceUid(sequenceNode) -> str | None:
    """The XA SOP Instance UID of the sequence's first frame, if it was loaded from DICOM."""
    node = sequenceNode.GetNthDataNode(0) if sequenceNode.GetNumberOfDataNodes() else None
    uids = node.GetAttribute(INSTANCE_UIDS_ATTRIBUTE) if node is not None else None
    return uids.split()[0] if uids else None


def cineFromSequence(sequenceNode, sourceCine: CineRun | None = None) -> CineRun:
    """A CineRun of the frames in ``sequenceNode``.

    ``sourceCine``, the same run read from its DICOM file by AngioSegLib, supplies frames,
    calibration, view, timing and references when its size matches the sequence.
    """
    frameNodes = sequenceFrameNodes(sequenceNode)
    shape = (len(frameNodes), *arrayFromImageData(frameNodes[0].GetImageData()).shape)
    if sourceCine is not None:
        if sourceCine.shape != shape:
            raise inputError(
                f"the DICOM file has {sourceCine.shape} frames×rows×columns but the sequence "
                f"'{sequenceNode.GetName()}' has {shape}; reload the series from the DICOM module"
            )
        return sourceCine
    frames = np.stack([arrayFromImageData(node.GetImageData()) for node in frameNodes])
    from AngioSegLib.cine import CineRun

    calibration, warnings = calibrationFromVolume(frameNodes[0])
    return CineRun(
        frames=frames,
        frame_times_s=frameTimesFromSequence(sequenceNode),
        calibration=calibration,
        references=referencesFromFrames(frameNodes),
        name=sequenceNode.GetName(),
        warnings=warnings,
    )


def rowColFromRas(volumeNode, pointRas: Sequence[float]) -> tuple[float, float]:
    """The (row, col) pixel of an RAS point (mm) on a single-slice frame.

    ``pointRas``: any sequence of 3 numbers, including the ``vtkVector3d`` that
    ``GetNthControlPointPositionWorld`` returns (it can be indexed, not sliced).
    """
    rasToIjk = vtk.vtkMatrix4x4()
    volumeNode.GetRASToIJKMatrix(rasToIjk)
    i, j, _, _ = rasToIjk.MultiplyPoint((*(float(pointRas[k]) for k in range(3)), 1.0))
    return float(j), float(i)


def shownFrameIndex(sequenceNode) -> int:
    """The index of the frame the sequence's browser shows (0 without a browser)."""
    browser = sequenceBrowser(sequenceNode.GetScene(), sequenceNode)
    return max(browser.GetSelectedItemNumber(), 0) if browser is not None else 0


def linePointsOnShownFrame(sequenceNode, lineNode):
    """((row, col), (row, col)) of a markups line's two points on the frame its browser shows,
    and that frame's index; (None, 0) without a line of two points (catheter calibration)."""
    if lineNode is None or lineNode.GetNumberOfControlPoints() < 2:
        return None, 0
    frame = shownFrameIndex(sequenceNode)
    frameNode = sequenceNode.GetNthDataNode(frame)
    points = tuple(rowColFromRas(frameNode, lineNode.GetNthControlPointPositionWorld(i))
                   for i in (0, 1))
    return points, frame


def segmentPointsOnShownFrame(sequenceNode, markupsNode):
    """((row, col), (row, col)) of the QCA segment's start (proximal) and end: the two points of
    a markups line or point list, in pixels of the frame shown; None without a node (QCA then
    measures every vessel).

    An error, with what was found, for a node without exactly two placed points or a point off
    the frame (found here, before the run, rather than by QCA after the segmentation).
    """
    if markupsNode is None:
        return None
    count = markupsNode.GetNumberOfDefinedControlPoints()
    if count != 2:
        raise inputError(
            f"the QCA segment '{markupsNode.GetName()}' needs two points, its start (proximal) "
            f"then its end, found {count}; place them on the vessel, or choose no segment to "
            "measure every vessel"
        )
    frameNode = sequenceNode.GetNthDataNode(shownFrameIndex(sequenceNode))
    columns, rows, _ = frameNode.GetImageData().GetDimensions()
    points = tuple(rowColFromRas(frameNode, markupsNode.GetNthControlPointPositionWorld(i))
                   for i in (0, 1))
    for (row, col), name in zip(points, ("start", "end"), strict=True):
        if not (0 <= row <= rows - 1 and 0 <= col <= columns - 1):
            raise inputError(
                f"the QCA segment's {name} point (row {row:.1f}, column {col:.1f}) lies outside "
                f"the {rows}×{columns} frame: place both points on the image"
            )
    return points


# --- CineRun -> volume sequence (tests, self-test, SEG import) -------------------------------


def xaMatrix(spacingX: float, spacingY: float) -> vtk.vtkMatrix4x4:
    """IJK→RAS as the DICOMImageSequencePlugin sets it: rotated 180° in plane, origin 0."""
    matrix = vtk.vtkMatrix4x4()
    matrix.SetElement(0, 0, -spacingX)
    matrix.SetElement(1, 1, -spacingY)
    return matrix


def setIndex(sequenceNode, frameTimes: np.ndarray | None, count: int) -> list[str]:
    """Set index name/unit as the DICOM plugin does; return the index values ("%.3f" s or frame)."""
    sequenceNode.SetIndexType(sequenceNode.NumericIndex)
    if frameTimes is None:
        sequenceNode.SetIndexName("frame")
        sequenceNode.SetIndexUnit("")
        return [str(i) for i in range(count)]
    sequenceNode.SetIndexName("time")
    sequenceNode.SetIndexUnit("s")
    return [f"{t:.3f}" for t in frameTimes]


def addVolumeSequence(scene, cine: CineRun, name: str | None = None, browser: bool = True):
    """Add ``cine`` as an image sequence laid out like Slicer's DICOM import; return the node.

    With ``browser`` a sequence browser is added too (``sequenceBrowser(scene, node)`` finds it).
    """
    sequenceNode = scene.AddNewNodeByClass("vtkMRMLSequenceNode", name or cine.name)
    values = setIndex(sequenceNode, cine.frame_times_s, cine.n_frames)
    scale = cine.calibration.scale
    uid = {ref.sop_instance_uid for ref in cine.references}
    frameNode = slicer.vtkMRMLScalarVolumeNode()
    for index, frame in enumerate(cine.iter_frames()):
        frameNode.SetAndObserveImageData(imageDataFromArray(frame))
        frameNode.SetIJKToRASMatrix(xaMatrix(scale, scale))
        if cine.references:
            frameNode.SetAttribute(
                INSTANCE_UIDS_ATTRIBUTE,
                next(iter(uid)) if len(uid) == 1 else cine.references[index].sop_instance_uid,
            )
        sequenceNode.SetDataNodeAtValue(frameNode, values[index])
    addStorageNode(scene, sequenceNode)
    if browser:
        browserNode = scene.AddNewNodeByClass(
            "vtkMRMLSequenceBrowserNode", f"{sequenceNode.GetName()} browser"
        )
        rate = cine.frame_rate_hz
        browserNode.SetPlaybackRateFps(rate if rate else 10.0)
        browserNode.SetAndObserveMasterSequenceNodeID(sequenceNode.GetID())
    return sequenceNode


def addStorageNode(scene, node) -> None:
    """Give ``node`` its default storage node so that saving the scene writes its data."""
    if node.GetStorageNode() is None:
        storageNode = node.CreateDefaultStorageNode()
        scene.AddNode(storageNode)
        node.SetAndObserveStorageNodeID(storageNode.GetID())


# --- sequence browser -------------------------------------------------------------------------


def sequenceBrowser(scene, sequenceNode):
    """The first sequence browser that plays ``sequenceNode`` (master or synchronized), or None."""
    for index in range(scene.GetNumberOfNodesByClass("vtkMRMLSequenceBrowserNode")):
        browser = scene.GetNthNodeByClass(index, "vtkMRMLSequenceBrowserNode")
        if browser.IsSynchronizedSequenceNodeID(sequenceNode.GetID(), True):
            return browser
    return None


def proxyNode(scene, sequenceNode):
    """The node that shows the browser's current item of ``sequenceNode`` (None without browser)."""
    browser = sequenceBrowser(scene, sequenceNode)
    return browser.GetProxyNode(sequenceNode) if browser is not None else None
