"""The AngioSeg color tables (vessel labels, coronary segments) and showing a labelmap with one.

MRML only, like :mod:`.mrml`; the coronary-segment table imports AngioSegLib when made.
"""

from __future__ import annotations

import slicer

VESSEL_LABEL = 1
VESSEL_COLOR_RGB = (0.90, 0.25, 0.20)


def colorTableNode(scene, name: str, colors: dict[int, tuple[str, tuple[float, ...]]]):
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
    return colorTableNode(scene, "AngioSeg labels", {VESSEL_LABEL: ("vessel", VESSEL_COLOR_RGB)})


def anatomyColorNode(scene):
    """The "AngioSeg coronary segments" color table (0 background, 1–25 the SYNTAX segments by
    ARCADE's label values, named "7 LAD mid" and so on), created once per scene."""
    from AngioSegLib.anatomy.segments import SEGMENTS

    return colorTableNode(scene, "AngioSeg coronary segments", {
        s.value: (f"{s.syntax} {s.name}", tuple(c / 255.0 for c in s.colour)) for s in SEGMENTS})


def showAsVessels(scene, labelNode, colorNode=None) -> None:
    """Display ``labelNode`` with ``colorNode`` (default: the AngioSeg vessel color table)."""
    colorId = (colorNode or vesselColorNode(scene)).GetID()
    display = labelNode.GetDisplayNode()
    if display is None:
        display = slicer.vtkMRMLLabelMapVolumeDisplayNode()
        display.SetAndObserveColorNodeID(colorId)
        scene.AddNode(display)
        labelNode.SetAndObserveDisplayNodeID(display.GetID())
    display.SetAndObserveColorNodeID(colorId)

