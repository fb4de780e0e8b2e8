"""A run's outputs shown in Slicer's views: the labels as the label layer, the stenosis table and
the first chart in the layout.

The one helper here that needs the Slicer application (``slicer.app``, the Tables and Plots
modules); the Logic calls it only when asked to show a result, so scripts and tests that pass
``showResult=False`` never touch a view.
"""

from __future__ import annotations

import slicer

from .mrml import proxyNode


def showOutputs(outputs) -> None:
    """Show ``outputs`` (an :class:`~.outputs.AngioSegOutputs`) in the views and the layout."""
    proxy = proxyNode(slicer.mrmlScene, outputs.labelSequence)
    if proxy is not None and outputs.segmentation is None:
        slicer.util.setSliceViewerLayers(label=proxy, labelOpacity=0.5)
    layoutManager = slicer.app.layoutManager()
    if outputs.stenosisTable is not None and layoutManager is not None:
        tablesLogic = slicer.modules.tables.logic()
        layoutManager.setLayout(tablesLogic.GetLayoutWithTable(layoutManager.layout))
        applicationLogic = slicer.app.applicationLogic()
        applicationLogic.GetSelectionNode().SetActiveTableID(outputs.stenosisTable.GetID())
        applicationLogic.PropagateTableSelection()
    if outputs.charts:
        slicer.modules.plots.logic().ShowChartInLayout(outputs.charts[0])
