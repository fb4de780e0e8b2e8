"""What one AngioSeg run adds to the scene: its Result as a labelmap sequence (and the coronary
segments as a second one), QCA tables and charts, optionally a segmentation of the frame shown;
and the line the panel logs when it is done.

MRML only, like :mod:`.mrml`: no views, no dialogs (the Logic shows the outputs when asked).
"""

from __future__ import annotations

from dataclasses import dataclass

from .colors import anatomyColorNode
from .labelmaps import addLabelSequence
from .mrml import proxyNode
from .segment_editor import addSegmentationFromLabel

CAUTION = "Research software, not a medical device: check every result against the images."


@dataclass
class AngioSegOutputs:
    """The nodes one run added to the scene."""

    labelSequence: object
    stenosisTable: object = None
    framesTable: object = None
    summaryTable: object = None
    charts: tuple = ()
    segmentation: object = None
    anatomySequence: object = None  # coronary-segment labels (models with a segment head)


def addResultNodes(scene, sequenceNode, result, results,
                   createSegmentation: bool = False) -> AngioSegOutputs:
    """Labelmap sequence, tables and charts of ``result``, the run of ``sequenceNode``.

    ``result`` is kept in ``results`` (a :class:`~.results.ResultStore`) under the label
    sequence's ID, for DICOM SEG and SR export.
    """
    from . import qca_nodes

    labelSequence = addLabelSequence(scene, result.masks, sequenceNode)
    results.add(labelSequence.GetID(), sequenceNode.GetID(), result)
    tables = qca_nodes.addTables(scene, result, sequenceNode.GetName())
    charts = qca_nodes.addCharts(scene, result, tables, sequenceNode.GetName())
    outputs = AngioSegOutputs(labelSequence, *tables, charts=charts)
    if result.anatomy is not None:
        outputs.anatomySequence = addLabelSequence(
            scene, result.anatomy, sequenceNode, f"{sequenceNode.GetName()} anatomy",
            anatomyColorNode(scene))
    proxy = proxyNode(scene, labelSequence)
    if createSegmentation and proxy is not None:
        outputs.segmentation = addSegmentationFromLabel(scene, proxy)
    return outputs


def summaryText(outputs: AngioSegOutputs) -> str:
    """The line logged when a run is done: where the labels are, how many stenoses, the caution."""
    rows = outputs.stenosisTable.GetNumberOfRows() if outputs.stenosisTable else 0
    return (
        f"Done: labels in '{outputs.labelSequence.GetName()}', {rows} stenoses listed. "
        + CAUTION
    )
