"""The Segment Editor bridge: one label frame as a segmentation node, and the edit back.

MRML only, like :mod:`.mrml`, with the Segmentations module logic of the ``slicer-core`` wheel.
The segmentation of a shown frame is tagged with its labelmap sequence (``AngioSeg.labelSequence``)
so that the edit finds its way back to that frame.
"""

from __future__ import annotations

import numpy as np
import slicer
import vtk

from .colors import showAsVessels
from .labelmaps import updateLabelFrame
from .mrml import arrayFromImageData, inputError, proxyNode, sequenceBrowser

LABEL_SEQUENCE_ATTRIBUTE = "AngioSeg.labelSequence"


def addSegmentationFromLabel(scene, labelNode, name: str | None = None):
    """A segmentation node (segment "vessel") made from one label frame, for the Segment Editor."""
    segmentation = scene.AddNewNodeByClass(
        "vtkMRMLSegmentationNode", name or f"{labelNode.GetName()} segmentation"
    )
    segmentation.CreateDefaultDisplayNodes()
    segmentation.SetReferenceImageGeometryParameterFromVolumeNode(labelNode)
    previous = labelNode.GetDisplayNode().GetColorNodeID() if labelNode.GetDisplayNode() else None
    showAsVessels(scene, labelNode)
    try:
        if not slicer.vtkSlicerSegmentationsModuleLogic.ImportLabelmapToSegmentationNode(
            labelNode, segmentation
        ):
            raise inputError(f"could not convert '{labelNode.GetName()}' to a segmentation")
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
            raise inputError(f"could not export '{segmentation.GetName()}' to a labelmap")
        return (arrayFromImageData(labelNode.GetImageData()) > 0).astype(np.uint8)
    finally:
        scene.RemoveNode(labelNode)



def segmentationForShownFrame(scene, labelSequence):
    """A segmentation node of the label frame now shown, for the Segment Editor."""
    proxy = proxyNode(scene, labelSequence)
    if proxy is None:
        raise ValueError("the labels are not in a sequence browser; segment again")
    segmentation = addSegmentationFromLabel(scene, proxy)
    segmentation.SetAttribute(LABEL_SEQUENCE_ATTRIBUTE, labelSequence.GetID())
    return segmentation


def applyEditedFrame(scene, labelSequence) -> int:
    """Write the newest segmentation of the current frame back into the labelmap sequence;
    return the frame's index."""
    browser = sequenceBrowser(scene, labelSequence)
    segmentations = [
        node for node in (scene.GetNthNodeByClass(i, "vtkMRMLSegmentationNode")
                          for i in range(scene.GetNumberOfNodesByClass("vtkMRMLSegmentationNode")))
        if node.GetAttribute(LABEL_SEQUENCE_ATTRIBUTE) == labelSequence.GetID()
    ]
    if browser is None or not segmentations:
        raise ValueError("edit a frame first: press 'Edit current frame'")
    proxy = browser.GetProxyNode(labelSequence)
    mask = labelArrayFromSegmentation(segmentations[-1], proxy)
    frame = browser.GetSelectedItemNumber()
    updateLabelFrame(labelSequence, frame, mask)
    return frame
