"""DICOM SEG of an XA cine → labelmap sequence: the SEG's cine references, the referenced run
in the scene, and the labels laid out to play with it (used by :mod:`.dicom_plugin`).

MRML only, like :mod:`.mrml`.
"""

from __future__ import annotations

import numpy as np
import slicer

from .colors import showAsVessels
from .labelmaps import addLabelSequence
from .mrml import (
    INSTANCE_UIDS_ATTRIBUTE,
    addStorageNode,
    imageDataFromArray,
    isImageSequence,
    setIndex,
    sourceInstanceUid,
    xaMatrix,
)

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
        labelNode.SetIJKToRASMatrix(xaMatrix(scale, scale))
        if referencedUid:
            labelNode.SetAttribute(INSTANCE_UIDS_ATTRIBUTE, referencedUid)
        labelSequence.SetDataNodeAtValue(labelNode, values[index])
    addStorageNode(scene, labelSequence)
    browser = scene.AddNewNodeByClass("vtkMRMLSequenceBrowserNode", f"{name} browser")
    browser.SetAndObserveMasterSequenceNodeID(labelSequence.GetID())
    proxy = browser.GetProxyNode(labelSequence)
    if proxy is not None:
        showAsVessels(scene, proxy, colorNode)
    return labelSequence
