"""Result masks → labelmap sequences that play with the XA cine, and the masks back.

MRML only, like :mod:`.mrml`: a labelmap sequence has the input's index and per-frame geometry
and joins the input's sequence browser, shown with a color table of :mod:`.colors`.
"""

from __future__ import annotations

import numpy as np
import slicer
import vtk

from .colors import showAsVessels
from .mrml import (
    INSTANCE_UIDS_ATTRIBUTE,
    addStorageNode,
    arrayFromImageData,
    imageDataFromArray,
    inputError,
    sequenceBrowser,
    sequenceFrameNodes,
)

INPUT_SEQUENCE_ATTRIBUTE = "AngioSeg.inputSequence"  # on a label sequence: its cine's ID


def addLabelSequence(scene, masks: np.ndarray, inputSequence, name: str | None = None,
                     colorNode=None):
    """Add ``masks`` (T, H, W) as a labelmap sequence synchronized with ``inputSequence``.

    The labelmap sequence has the input's index name, unit, type and values, and each label frame
    the extent and IJK→RAS geometry of the matching input frame. It is added to the input's
    sequence browser (one is created if there is none) so the labels play with the cine, shown
    with ``colorNode`` (default: the vessel color table; :func:`.colors.anatomyColorNode` for the
    coronary segments). Returns the labelmap sequence node.
    """
    frameNodes = sequenceFrameNodes(inputSequence)
    masks = np.asarray(masks)
    expected = (len(frameNodes), *arrayFromImageData(frameNodes[0].GetImageData()).shape)
    if masks.shape != expected:
        raise inputError(f"the masks have shape {masks.shape}, the input sequence {expected}")
    name = scene.GenerateUniqueName(name or f"{inputSequence.GetName()} vessels")
    labelSequence = scene.AddNewNodeByClass("vtkMRMLSequenceNode", name)
    labelSequence.CopySequenceIndex(inputSequence)
    labelSequence.SetAttribute(INPUT_SEQUENCE_ATTRIBUTE, inputSequence.GetID())
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
    addStorageNode(scene, labelSequence)
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
        showAsVessels(scene, proxy, colorNode)
    return labelSequence



def masksFromLabelSequence(labelSequence) -> np.ndarray:
    """The (T, H, W) uint8 {0, 1} masks in a labelmap sequence (any label > 0 is vessel)."""
    frames = [arrayFromImageData(node.GetImageData()) for node in sequenceFrameNodes(labelSequence)]
    return (np.stack(frames) > 0).astype(np.uint8)


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
