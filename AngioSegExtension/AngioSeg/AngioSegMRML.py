"""MRML ↔ AngioSegLib conversions for the AngioSeg Slicer module, without the Qt application.

Works on the ``slicer-core`` wheel as in Slicer: only MRML/VTK classes, never ``slicer.util``, Qt
or ``slicer.app``, so pytest exercises it with a real ``vtkMRMLScene``.

An XA cine loaded by Slicer's DICOMImageSequencePlugin is a ``vtkMRMLSequenceNode`` of single-slice
scalar volumes (IJK→RAS = diag(−sx, −sy, 1)), indexed by "time" in s (from FrameTime) or by
"frame"; each frame carries the XA SOP Instance UID in its ``DICOM.instanceUIDs`` attribute.
Results go back as a labelmap sequence with the same index values and per-frame geometry, added
to the input's sequence browser so it plays with the cine.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import slicer
import vtk
from vtk.util import numpy_support

from AngioSegLib.cine import Calibration, CalibrationSource, CineRun, FrameReference
from AngioSegLib.errors import InputError

XA_SOP_CLASS_UID = "1.2.840.10008.5.1.4.1.1.12.1"
INSTANCE_UIDS_ATTRIBUTE = "DICOM.instanceUIDs"
VESSEL_LABEL = 1
VESSEL_COLOR_RGB = (0.90, 0.25, 0.20)
_TIME_UNIT_TO_S = {"s": 1.0, "sec": 1.0, "ms": 1e-3, "msec": 1e-3}


# --- arrays <-> vtkImageData -----------------------------------------------------------------


def arrayFromImageData(imageData: vtk.vtkImageData) -> np.ndarray:
    """The single slice of ``imageData`` as an (H, W) array (RGB averaged to grey)."""
    if imageData is None:
        raise InputError("the volume has no image data; load the cine again")
    columns, rows, slices = imageData.GetDimensions()
    if slices != 1:
        raise InputError(
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
        raise InputError(
            f"a frame of {columns}×{rows} pixels does not fit the extent {tuple(extent or ())}"
        )
    scalars = numpy_support.numpy_to_vtk(frame.ravel(), deep=True)
    imageData.GetPointData().SetScalars(scalars)
    return imageData


# --- input sequence -> CineRun ---------------------------------------------------------------


def sequenceFrameNodes(sequenceNode) -> list:
    """The data nodes of a volume sequence, frame 0 first; an error for anything else."""
    if sequenceNode is None or not sequenceNode.IsA("vtkMRMLSequenceNode"):
        raise InputError("choose an XA cine: a volume sequence loaded from DICOM")
    count = sequenceNode.GetNumberOfDataNodes()
    if count == 0:
        raise InputError(f"the sequence '{sequenceNode.GetName()}' has no frames")
    nodes = [sequenceNode.GetNthDataNode(i) for i in range(count)]
    for node in nodes:
        if node is None or not node.IsA("vtkMRMLScalarVolumeNode"):
            kind = node.GetClassName() if node is not None else "nothing"
            raise InputError(
                f"the sequence '{sequenceNode.GetName()}' holds {kind}, not image volumes; "
                "choose the XA cine"
            )
    return nodes


def isImageSequence(sequenceNode) -> bool:
    """True for a sequence of scalar (not labelmap) volumes, as the DICOM module makes for XA."""
    if sequenceNode is None or sequenceNode.GetNumberOfDataNodes() == 0:
        return False
    node = sequenceNode.GetNthDataNode(0)
    return node.IsA("vtkMRMLScalarVolumeNode") and not node.IsA("vtkMRMLLabelMapVolumeNode")


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


def calibrationFromVolume(volumeNode) -> tuple[Calibration, tuple[str, ...]]:
    """Calibration from the volume spacing (mm/pixel) and the warnings it needs."""
    spacingX, spacingY, _ = volumeNode.GetSpacing()
    if np.isclose(spacingX, 1.0) and np.isclose(spacingY, 1.0):
        return Calibration(), (
            "the cine has no pixel spacing: lengths are in pixels; calibrate on the catheter",
        )
    warnings = (
        f"pixel spacing {spacingX:.4g} mm taken from the Slicer volume; its DICOM source "
        "(detector or isocenter) is unknown",
    )
    if not np.isclose(spacingX, spacingY, rtol=1e-3):
        warnings += (f"pixels are not square ({spacingX:.4g} × {spacingY:.4g} mm); using the mean",)
    return Calibration((spacingX + spacingY) / 2, CalibrationSource.PIXEL_SPACING), warnings


def referencesFromFrames(frameNodes: Sequence) -> tuple[FrameReference, ...]:
    """One FrameReference per frame from ``DICOM.instanceUIDs`` (empty when any is missing)."""
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
            raise InputError(
                f"the DICOM file has {sourceCine.shape} frames×rows×columns but the sequence "
                f"'{sequenceNode.GetName()}' has {shape}; reload the series from the DICOM module"
            )
        return sourceCine
    frames = np.stack([arrayFromImageData(node.GetImageData()) for node in frameNodes])
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
    """The (row, col) pixel of an RAS point (mm) on a single-slice frame."""
    rasToIjk = vtk.vtkMatrix4x4()
    volumeNode.GetRASToIJKMatrix(rasToIjk)
    i, j, _, _ = rasToIjk.MultiplyPoint((*pointRas[:3], 1.0))
    return float(j), float(i)


# --- CineRun -> volume sequence (tests, self-test, SEG import) -------------------------------


def _xaMatrix(spacingX: float, spacingY: float) -> vtk.vtkMatrix4x4:
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
        frameNode.SetIJKToRASMatrix(_xaMatrix(scale, scale))
        if cine.references:
            frameNode.SetAttribute(
                INSTANCE_UIDS_ATTRIBUTE,
                next(iter(uid)) if len(uid) == 1 else cine.references[index].sop_instance_uid,
            )
        sequenceNode.SetDataNodeAtValue(frameNode, values[index])
    _addStorageNode(scene, sequenceNode)
    if browser:
        browserNode = scene.AddNewNodeByClass(
            "vtkMRMLSequenceBrowserNode", f"{sequenceNode.GetName()} browser"
        )
        rate = cine.frame_rate_hz
        browserNode.SetPlaybackRateFps(rate if rate else 10.0)
        browserNode.SetAndObserveMasterSequenceNodeID(sequenceNode.GetID())
    return sequenceNode


def _addStorageNode(scene, node) -> None:
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


# --- Result -> labelmap sequence --------------------------------------------------------------


def _colorTableNode(scene, name: str, colors: dict[int, tuple[str, tuple[float, ...]]]):
    """The user color table ``name`` (value → (name, RGB 0–1); 0 is transparent background),
    created once per scene."""
    node = scene.GetFirstNodeByName(name)
    if node is not None and node.IsA("vtkMRMLColorTableNode"):
        return node
    node = scene.AddNewNodeByClass("vtkMRMLColorTableNode", name)
    node.SetTypeToUser()
    node.SetNumberOfColors(max(colors) + 1)
    node.SetColor(0, "background", 0.0, 0.0, 0.0, 0.0)
    for value, (label, rgb) in colors.items():
        node.SetColor(value, label, *rgb, 1.0)
    node.SetAttribute("Category", "AngioSeg")
    return node


def vesselColorNode(scene):
    """The "AngioSeg labels" color table (0 background, 1 vessel), created once per scene."""
    return _colorTableNode(scene, "AngioSeg labels", {VESSEL_LABEL: ("vessel", VESSEL_COLOR_RGB)})


def anatomyColorNode(scene):
    """The "AngioSeg coronary segments" color table (0 background, 1–25 the SYNTAX segments by
    ARCADE's label values, named "7 LAD mid" and so on), created once per scene."""
    from AngioSegLib.anatomy.segments import SEGMENTS

    return _colorTableNode(scene, "AngioSeg coronary segments", {
        s.value: (f"{s.syntax} {s.name}", tuple(c / 255.0 for c in s.colour)) for s in SEGMENTS})


def addLabelSequence(scene, masks: np.ndarray, inputSequence, name: str | None = None,
                     colorNode=None):
    """Add ``masks`` (T, H, W) as a labelmap sequence synchronized with ``inputSequence``.

    The labelmap sequence has the input's index name, unit, type and values, and each label frame
    the extent and IJK→RAS geometry of the matching input frame. It is added to the input's
    sequence browser (one is created if there is none) so the labels play with the cine, shown
    with ``colorNode`` (default: the vessel color table; :func:`anatomyColorNode` for the
    coronary segments). Returns the labelmap sequence node.
    """
    frameNodes = sequenceFrameNodes(inputSequence)
    masks = np.asarray(masks)
    expected = (len(frameNodes), *arrayFromImageData(frameNodes[0].GetImageData()).shape)
    if masks.shape != expected:
        raise InputError(f"the masks have shape {masks.shape}, the input sequence {expected}")
    name = scene.GenerateUniqueName(name or f"{inputSequence.GetName()} vessels")
    labelSequence = scene.AddNewNodeByClass("vtkMRMLSequenceNode", name)
    labelSequence.CopySequenceIndex(inputSequence)
    labelSequence.SetAttribute("AngioSeg.inputSequence", inputSequence.GetID())
    geometry = vtk.vtkMatrix4x4()
    for index, frameNode in enumerate(frameNodes):
        labelNode = slicer.vtkMRMLLabelMapVolumeNode()
        extent = frameNode.GetImageData().GetExtent()
        labelNode.SetAndObserveImageData(imageDataFromArray(masks[index].astype(np.uint8), extent))
        frameNode.GetIJKToRASMatrix(geometry)
        labelNode.SetIJKToRASMatrix(geometry)
        for attribute in (INSTANCE_UIDS_ATTRIBUTE,):
            if frameNode.GetAttribute(attribute):
                labelNode.SetAttribute(attribute, frameNode.GetAttribute(attribute))
        labelSequence.SetDataNodeAtValue(labelNode, inputSequence.GetNthIndexValue(index))
    _addStorageNode(scene, labelSequence)
    browser = sequenceBrowser(scene, inputSequence)
    if browser is None:
        browser = scene.AddNewNodeByClass(
            "vtkMRMLSequenceBrowserNode", f"{inputSequence.GetName()} browser"
        )
        browser.SetAndObserveMasterSequenceNodeID(inputSequence.GetID())
    browser.AddSynchronizedSequenceNode(labelSequence)
    browser.SetSaveChanges(labelSequence, True)
    proxy = browser.GetProxyNode(labelSequence)
    if proxy is not None:
        _showAsVessels(scene, proxy, colorNode)
    return labelSequence


def _showAsVessels(scene, labelNode, colorNode=None) -> None:
    """Display ``labelNode`` with ``colorNode`` (default: the AngioSeg vessel color table)."""
    colorId = (colorNode or vesselColorNode(scene)).GetID()
    display = labelNode.GetDisplayNode()
    if display is None:
        display = slicer.vtkMRMLLabelMapVolumeDisplayNode()
        display.SetAndObserveColorNodeID(colorId)
        scene.AddNode(display)
        labelNode.SetAndObserveDisplayNodeID(display.GetID())
    display.SetAndObserveColorNodeID(colorId)


def masksFromLabelSequence(labelSequence) -> np.ndarray:
    """The (T, H, W) uint8 {0, 1} masks in a labelmap sequence (any label > 0 is vessel)."""
    frames = [arrayFromImageData(node.GetImageData()) for node in sequenceFrameNodes(labelSequence)]
    return (np.stack(frames) > 0).astype(np.uint8)


# --- Segment Editor bridge ---------------------------------------------------------------------


def addSegmentationFromLabel(scene, labelNode, name: str | None = None):
    """A segmentation node (segment "vessel") made from one label frame, for the Segment Editor."""
    segmentation = scene.AddNewNodeByClass(
        "vtkMRMLSegmentationNode", name or f"{labelNode.GetName()} segmentation"
    )
    segmentation.CreateDefaultDisplayNodes()
    segmentation.SetReferenceImageGeometryParameterFromVolumeNode(labelNode)
    previous = labelNode.GetDisplayNode().GetColorNodeID() if labelNode.GetDisplayNode() else None
    _showAsVessels(scene, labelNode)
    try:
        if not slicer.vtkSlicerSegmentationsModuleLogic.ImportLabelmapToSegmentationNode(
            labelNode, segmentation
        ):
            raise InputError(f"could not convert '{labelNode.GetName()}' to a segmentation")
    finally:
        if previous:
            labelNode.GetDisplayNode().SetAndObserveColorNodeID(previous)
    return segmentation


def labelArrayFromSegmentation(segmentation, referenceNode) -> np.ndarray:
    """The (H, W) uint8 union of all segments on ``referenceNode``'s grid (edited frame back)."""
    labelNode = slicer.vtkMRMLLabelMapVolumeNode()
    scene = segmentation.GetScene()
    scene.AddNode(labelNode)
    try:
        ids = vtk.vtkStringArray()
        segmentation.GetSegmentation().GetSegmentIDs(ids)
        if not slicer.vtkSlicerSegmentationsModuleLogic.ExportSegmentsToLabelmapNode(
            segmentation, ids, labelNode, referenceNode
        ):
            raise InputError(f"could not export '{segmentation.GetName()}' to a labelmap")
        return (arrayFromImageData(labelNode.GetImageData()) > 0).astype(np.uint8)
    finally:
        scene.RemoveNode(labelNode)


def updateLabelFrame(labelSequence, index: int, mask: np.ndarray) -> None:
    """Replace frame ``index`` of a labelmap sequence (and its proxy when shown) with ``mask``."""
    node = labelSequence.GetNthDataNode(index)
    extent = node.GetImageData().GetExtent()
    node.SetAndObserveImageData(imageDataFromArray(np.asarray(mask, dtype=np.uint8), extent))
    labelSequence.Modified()
    browser = sequenceBrowser(labelSequence.GetScene(), labelSequence)
    if browser is not None and browser.GetSelectedItemNumber() == index:
        proxy = browser.GetProxyNode(labelSequence)
        if proxy is not None:
            proxy.SetAndObserveImageData(imageDataFromArray(np.asarray(mask, np.uint8), extent))


# --- DICOM SEG import -----------------------------------------------------------------------------

SEG_SOP_CLASS_UID = "1.2.840.10008.5.1.4.1.1.66.4"
CINE_SOP_CLASS_UIDS = {
    "1.2.840.10008.5.1.4.1.1.12.1": "XA",
    "1.2.840.10008.5.1.4.1.1.12.1.1": "Enhanced XA",
    "1.2.840.10008.5.1.4.1.1.12.2": "XRF",
    "1.2.840.10008.5.1.4.1.1.7": "Secondary Capture",
    "1.2.840.10008.5.1.4.1.1.7.2": "Multi-frame Grayscale Byte SC",
    "1.2.840.10008.5.1.4.1.1.7.3": "Multi-frame Grayscale Word SC",
}


def referencedCineInstances(dataset) -> list[tuple[str, str]]:
    """(SOP Class UID, SOP Instance UID) of the cine instances a SEG references."""
    found = []
    for series in getattr(dataset, "ReferencedSeriesSequence", []):
        for item in getattr(series, "ReferencedInstanceSequence", []):
            classUid = str(getattr(item, "ReferencedSOPClassUID", ""))
            if classUid in CINE_SOP_CLASS_UIDS:
                found.append((classUid, str(item.ReferencedSOPInstanceUID)))
    return found



def findSequenceByInstanceUid(scene, instanceUid: str):
    """The image sequence loaded from the XA instance ``instanceUid``, or None."""
    for index in range(scene.GetNumberOfNodesByClass("vtkMRMLSequenceNode")):
        node = scene.GetNthNodeByClass(index, "vtkMRMLSequenceNode")
        if isImageSequence(node) and sourceInstanceUid(node) == instanceUid:
            return node
    return None


def addSegLabelSequence(
    scene, masks: np.ndarray, name: str, referencedUid: str | None = None,
    frameTimes: np.ndarray | None = None, mmPerPixel: float | None = None, colorNode=None,
):
    """Add DICOM SEG masks (T, H, W) as a labelmap sequence, shown with ``colorNode`` (default:
    the vessel color table).

    When the referenced XA run is in the scene with as many frames, the labels join its browser
    with its index and geometry; otherwise they get their own browser, laid out as the DICOM
    module lays out an XA cine (so they overlay it when it is loaded later).
    """
    masks = np.asarray(masks, dtype=np.uint8)
    source = findSequenceByInstanceUid(scene, referencedUid) if referencedUid else None
    if source is not None and source.GetNumberOfDataNodes() == masks.shape[0]:
        return addLabelSequence(scene, masks, source, name, colorNode)
    labelSequence = scene.AddNewNodeByClass("vtkMRMLSequenceNode", name)
    values = setIndex(labelSequence, frameTimes, masks.shape[0])
    scale = mmPerPixel or 1.0
    for index, mask in enumerate(masks):
        labelNode = slicer.vtkMRMLLabelMapVolumeNode()
        labelNode.SetAndObserveImageData(imageDataFromArray(mask))
        labelNode.SetIJKToRASMatrix(_xaMatrix(scale, scale))
        if referencedUid:
            labelNode.SetAttribute(INSTANCE_UIDS_ATTRIBUTE, referencedUid)
        labelSequence.SetDataNodeAtValue(labelNode, values[index])
    _addStorageNode(scene, labelSequence)
    browser = scene.AddNewNodeByClass("vtkMRMLSequenceBrowserNode", f"{name} browser")
    browser.SetAndObserveMasterSequenceNodeID(labelSequence.GetID())
    proxy = browser.GetProxyNode(labelSequence)
    if proxy is not None:
        _showAsVessels(scene, proxy, colorNode)
    return labelSequence
