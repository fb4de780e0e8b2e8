"""AngioSegSlicerLib.qca_nodes: QCA results as MRML tables (units, calibration source) and
charts, on the ``slicer-core`` wheel."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

slicer = pytest.importorskip("slicer")

from AngioSegSlicerLib import qca_nodes as Q  # noqa: E402
from slicer_helpers import column, phantom_result  # noqa: E402

from AngioSegLib.cine import Calibration, CalibrationSource  # noqa: E402


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


def test_summary_names_the_temporal_stage_options(scene, qca_result):
    from AngioSegLib.temporal.filter import TemporalOptions

    text = Q.temporalSummary(TemporalOptions(k=1, motion_compensation=False, weights="uniform",
                                             flow_preset="fast", threshold=0.4))
    assert text == "K = 1, motion compensation off, uniform weights, fast flow, threshold 0.4"
    _, _, summary = Q.addTables(scene, qca_result, "XA")
    items = dict(zip(column(summary, "Item"), column(summary, "Value"), strict=True))
    assert items["Temporal filter"] == Q.temporalSummary(qca_result.options.temporal)


def _summaryItems(scene, result) -> dict[str, str]:
    _, _, summary = Q.addTables(scene, result, "XA")
    return dict(zip(column(summary, "Item"), column(summary, "Value"), strict=True))


def test_summary_says_who_chose_the_analysis_frame_and_segment(scene, phantom, qca_result):
    from AngioSegLib.qca.measures import analyze_run
    from AngioSegLib.qca.options import QcaOptions

    items = _summaryItems(scene, qca_result)
    frame = qca_result.analysis.analysis_frame
    assert items["Analysis frame"] == (f"{frame}, chosen automatically: "
                                       f"{qca_result.analysis.analysis_rule}")
    assert items["QCA segment"] == "every vessel"
    vessel = phantom.centerlines[1][0].points_rc
    start, end = vessel[len(vessel) // 5], vessel[3 * len(vessel) // 5]
    options = QcaOptions(analysis_frame=1, segment_points=(tuple(start), tuple(end)))
    masks = qca_result.masks
    user = dataclasses.replace(qca_result, analysis=analyze_run(
        qca_result.cine, masks.astype(np.float32), masks, options))
    items = _summaryItems(scene, user)
    assert items["Analysis frame"] == "1, chosen by the user"
    assert items["QCA segment"] == (
        f"chosen by the user: from (row {start[0]:.0f}, column {start[1]:.0f}) to "
        f"(row {end[0]:.0f}, column {end[1]:.0f}) px, proximal first")
