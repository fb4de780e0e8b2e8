"""QCA results as MRML tables and plots: stenosis list, per-frame values, run summary, charts.

Qt-free (works on the ``slicer-core`` wheel). Columns are read from the fields of
``AngioSegLib.qca.measures`` dataclasses, so new measures appear without changes here; each column
name carries its unit ("MLD (mm)", or "(px)" when the run is uncalibrated) and the summary table
and every table's ``AngioSeg.calibrationSource`` attribute record where the scale came from.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Sequence

import numpy as np
import vtk

# Known QCA fields: title and unit kind ("length" follows the calibration, "area" is its square).
FIELD_LABELS = {
    "segment_id": ("Segment ID", ""),
    "segment_label": ("Segment", ""),
    "frame": ("Frame", ""),
    "time_s": ("Time", "s"),
    "percent_diameter_stenosis": ("%DS", "%"),
    "percent_area_stenosis": ("%AS", "%"),
    "mld": ("MLD", "length"),
    "edge_mld": ("MLD (edges)", "length"),
    "rvd": ("RVD", "length"),
    "lesion_length": ("Lesion length", "length"),
    "mld_position": ("MLD position", "length"),
    "lesion_start": ("Lesion start", "length"),
    "lesion_end": ("Lesion end", "length"),
    "length": ("Length", "length"),
    "mean_diameter": ("Mean diameter", "length"),
    "centerline_length": ("Centerline length", "length"),
    "distance": ("Distance", "length"),
    "diameter": ("Diameter", "length"),
    "reference_diameter": ("Reference diameter", "length"),
    "densitometric_diameter": ("Densitometric diameter", "length"),
    "vessel_area": ("Vessel area", "area"),
    "opacification": ("Opacification", "area"),
    "vessel_fraction": ("Vessel fraction", "%"),
    "filling": ("Filling", "fraction of peak"),
    "mean_contrast": ("Mean contrast", "(B-I)/B"),
    "n_segments": ("Segments", ""),
    "reference_method": ("Reference method", ""),
    "mld_method": ("MLD method", ""),
    "syntax_segment": ("SYNTAX segment", ""),
    "segment_name": ("Coronary segment", ""),
}
SKIPPED_FIELDS = {"unit"}  # the unit is in every column name already
_SUFFIX_UNITS = (
    ("_mm2", "mm²"), ("_mm", "mm"), ("_px2", "px²"), ("_px", "px"), ("_percent", "%"),
    ("_pct", "%"), ("_s", "s"), ("_deg", "°"), ("_ml", "ml"),
)


def columnLabel(fieldName: str, lengthUnit: str) -> tuple[str, str]:
    """(column title, unit) of a dataclass field; "length" fields take ``lengthUnit``."""
    if fieldName in FIELD_LABELS:
        title, unit = FIELD_LABELS[fieldName]
        return title, {"length": lengthUnit, "area": f"{lengthUnit}²"}.get(unit, unit)
    for suffix, unit in _SUFFIX_UNITS:
        if fieldName.endswith(suffix):
            return fieldName[: -len(suffix)].replace("_", " ").capitalize(), unit
    return fieldName.replace("_", " ").capitalize(), ""


def columnName(title: str, unit: str) -> str:
    return f"{title} ({unit})" if unit else title


def _scalarColumns(items: Sequence, lengthUnit: str) -> list[tuple[str, str, list]]:
    """(title, unit, values) per scalar field of the dataclass ``items`` (pairs split in two)."""
    if not items:
        return []
    columns = []
    for field in dataclasses.fields(items[0]):
        if field.name in SKIPPED_FIELDS:
            continue
        values = [getattr(item, field.name) for item in items]
        first = values[0]
        if isinstance(first, enum.Enum):
            values = [v.value for v in values]
            first = values[0]
        if isinstance(first, (bool, int, float, str, np.number)) or first is None:
            if all(v is None or isinstance(v, (bool, int, float, str, np.number)) for v in values):
                title, unit = columnLabel(field.name, lengthUnit)
                columns.append((title, unit, values))
        elif isinstance(first, tuple) and len(first) == 2 and field.name.endswith("_rc"):
            base = field.name[:-3].replace("_", " ").capitalize()
            columns.append((f"{base} row", "px", [v[0] for v in values]))
            columns.append((f"{base} column", "px", [v[1] for v in values]))
    return columns


def _addColumn(table, title: str, unit: str, values: Sequence, description: str = "") -> None:
    numeric = all(
        v is None or (isinstance(v, (int, float, np.number)) and not isinstance(v, bool))
        for v in values
    )
    array = vtk.vtkDoubleArray() if numeric else vtk.vtkStringArray()
    array.SetName(columnName(title, unit))
    for value in values:
        if numeric:
            array.InsertNextValue(np.nan if value is None else float(value))
        else:
            array.InsertNextValue("" if value is None else str(value))
    table.AddColumn(array)
    table.SetColumnUnitLabel(array.GetName(), unit)
    table.SetColumnTitle(array.GetName(), title)
    if description:
        table.SetColumnDescription(array.GetName(), description)


def _newTable(scene, name: str, calibration):
    table = scene.AddNewNodeByClass("vtkMRMLTableNode", scene.GenerateUniqueName(name))
    table.SetUseColumnTitleAsColumnHeader(False)
    table.SetAttribute("AngioSeg.calibrationSource", calibration.source.value)
    table.SetAttribute("AngioSeg.lengthUnit", calibration.unit)
    return table


def _finish(scene, table):
    storage = table.CreateDefaultStorageNode()
    scene.AddNode(storage)
    table.SetAndObserveStorageNodeID(storage.GetID())
    table.Modified()
    return table


def perFrameColumns(analysis, lengthUnit: str) -> list[tuple[str, str, list]]:
    """Per-frame measures of a RunAnalysis (its ``frames``), without the frame and time columns."""
    return [c for c in _scalarColumns(analysis.frames, lengthUnit) if c[0] not in ("Frame", "Time")]


def addTables(scene, result, name: str):
    """(stenosis table, per-frame table, summary table) of a Result; None where not measured."""
    cine = result.cine
    calibration = cine.calibration
    summary = _newTable(scene, f"{name} AngioSeg summary", calibration)
    rows = summaryRows(result)
    _addColumn(summary, "Item", "", [r[0] for r in rows])
    _addColumn(summary, "Value", "", [r[1] for r in rows])
    _finish(scene, summary)
    analysis = result.analysis
    if analysis is None:
        return None, None, summary
    unit = analysis.calibration.unit if hasattr(analysis, "calibration") else calibration.unit

    stenoses = _newTable(scene, f"{name} stenoses", calibration)
    # "Rank", not "#": a header starting with "#" reads back as a comment line
    _addColumn(stenoses, "Rank", "", list(range(1, len(analysis.stenoses) + 1)))
    for title, columnUnit, values in _scalarColumns(list(analysis.stenoses), unit):
        _addColumn(stenoses, title, columnUnit, values)
    _finish(scene, stenoses)

    frames = _newTable(scene, f"{name} per frame", calibration)
    _addColumn(frames, "Frame", "", list(range(cine.n_frames)))
    if cine.frame_times_s is not None:
        _addColumn(frames, "Time", "s", cine.frame_times_s.tolist())
    for title, columnUnit, values in perFrameColumns(analysis, unit):
        _addColumn(frames, title, columnUnit, values)
    _finish(scene, frames)
    return stenoses, frames, summary


def summaryRows(result) -> list[tuple[str, str]]:
    """(item, value) rows: input, calibration and its source, model, filter, the QCA frame and
    segment (and who chose them), warnings."""
    cine = result.cine
    calibration = cine.calibration
    spacing = (f"{calibration.mm_per_pixel:.4f} mm/pixel" if calibration.is_calibrated
               else "none: lengths are in pixels; calibrate on the catheter")
    options = result.options
    rows = [
        ("Input", cine.name),
        ("Frames", f"{cine.n_frames} × {cine.shape[2]}×{cine.shape[1]} pixels"),
        ("Calibration", spacing),
        ("Calibration source", calibration.source.value),
        ("Length unit", calibration.unit),
        ("Model", f"{result.model_name} {result.model_version}".strip()),
        ("Device", result.device),
        ("Temporal filter", temporalSummary(options.temporal)),
    ]
    analysis = result.analysis
    if analysis is not None and hasattr(analysis, "analysis_frame"):
        qca = getattr(analysis, "options", None) or getattr(options, "qca", None)
        rows.append(("Analysis frame", analysisFrameText(analysis, qca)))
        rows.append(("QCA segment", segmentText(qca)))
    rows += [("Warning", w) for w in cine.warnings]
    rows.append(("Caution", "Research software, not a medical device."))
    return rows


def analysisFrameText(analysis, qca) -> str:
    """"4, chosen by the user" when ``qca.analysis_frame`` was set, else "7, chosen
    automatically: <the rule>" (the RunAnalysis's ``analysis_rule``)."""
    frame = analysis.analysis_frame
    if qca is not None and qca.analysis_frame is not None:
        return f"{frame}, chosen by the user"
    rule = getattr(analysis, "analysis_rule", "")
    return f"{frame}, chosen automatically" + (f": {rule}" if rule else "")


def segmentText(qca) -> str:
    """The user's segment, "from (row, col) to (row, col) px, proximal first", or every vessel."""
    points = getattr(qca, "segment_points", None)
    if points is None:
        return "every vessel"
    (r0, c0), (r1, c1) = points
    return (f"chosen by the user: from (row {r0:.0f}, column {c0:.0f}) to (row {r1:.0f}, "
            f"column {c1:.0f}) px, proximal first")


def temporalSummary(temporal) -> str:
    """"K = 2, motion compensation on, reliability weights, medium flow, threshold 0.5"."""
    def name(value) -> str:
        return str(getattr(value, "value", value))

    motion = "on" if temporal.motion_compensation else "off"
    return (f"K = {temporal.k}, motion compensation {motion}, {name(temporal.weights)} weights, "
            f"{name(temporal.flow_preset)} flow, threshold {temporal.threshold:g}")


# --- charts --------------------------------------------------------------------------------


def _addSeries(scene, chart, table, xColumn: str, yColumn: str, name: str):
    series = scene.AddNewNodeByClass("vtkMRMLPlotSeriesNode", name)
    series.SetAndObserveTableNodeID(table.GetID())
    series.SetXColumnName(xColumn)
    series.SetYColumnName(yColumn)
    series.SetPlotType(series.PlotTypeScatter)
    series.SetMarkerStyle(series.MarkerStyleNone)
    series.SetUniqueColor()
    chart.AddAndObservePlotSeriesNodeID(series.GetID())
    return series


def _newChart(scene, name: str, xTitle: str, yTitle: str):
    chart = scene.AddNewNodeByClass("vtkMRMLPlotChartNode", scene.GenerateUniqueName(name))
    chart.SetTitle(name)
    chart.SetXAxisTitle(xTitle)
    chart.SetYAxisTitle(yTitle)
    return chart


def fillingChart(scene, framesTable, name: str):
    """The filling curve (fraction of peak opacification) against time (or frame), or None."""
    columns = [framesTable.GetColumnName(i) for i in range(framesTable.GetNumberOfColumns())]
    xColumn = "Time (s)" if "Time (s)" in columns else "Frame"
    yColumn = next((c for c in columns if c.startswith("Filling")), None)
    if yColumn is None:
        return None
    chart = _newChart(scene, f"{name} filling curve", xColumn, yColumn)
    _addSeries(scene, chart, framesTable, xColumn, yColumn, yColumn)
    return chart


def profileArrays(segment) -> dict[str, np.ndarray]:
    """The 1D arrays of one segment measure (distance, diameters...), keyed by field name."""
    arrays = {}
    for field in dataclasses.fields(segment):
        value = getattr(segment, field.name)
        if isinstance(value, np.ndarray) and value.ndim == 1 and value.size > 1:
            arrays[field.name] = value
    return arrays


def diameterChart(scene, result, stenosis, name: str):
    """Diameter (and reference) along the stenosed segment against distance; None if absent."""
    analysis, calibration = result.analysis, result.cine.calibration
    lengthUnit = calibration.unit
    segmentId = getattr(stenosis, "segment_id", None)
    if segmentId is None or not hasattr(analysis, "segment"):
        return None
    arrays = profileArrays(analysis.segment(segmentId))
    distance = next((k for k in arrays if any(t in k for t in ("distance", "arc", "position"))),
                    None)
    diameters = [k for k in arrays if "diameter" in k and arrays[k].shape == arrays.get(
        distance, np.empty(0)).shape]
    if distance is None or not diameters:
        return None
    label = getattr(stenosis, "segment_label", str(segmentId))
    table = _newTable(scene, f"{name} {label} profile", calibration)
    xTitle, xUnit = columnLabel(distance, lengthUnit)
    _addColumn(table, xTitle, xUnit or lengthUnit, arrays[distance].tolist())
    yNames = []
    for key in diameters:
        title, unit = columnLabel(key, lengthUnit)
        _addColumn(table, title, unit or lengthUnit, arrays[key].tolist())
        yNames.append(columnName(title, unit or lengthUnit))
    _finish(scene, table)
    xName = columnName(xTitle, xUnit or lengthUnit)
    chart = _newChart(scene, f"{name} {label} diameter", xName, f"diameter ({lengthUnit})")
    for yName in yNames:
        _addSeries(scene, chart, table, xName, yName, f"{label} {yName}")
    return chart


def addCharts(scene, result, tables, name: str, maxProfiles: int = 3) -> tuple:
    """Filling curve chart, then a diameter profile chart for each of the worst stenoses."""
    _, framesTable, _ = tables
    analysis = result.analysis
    if analysis is None or framesTable is None:
        return ()
    charts = [fillingChart(scene, framesTable, name)]
    charts += [diameterChart(scene, result, s, name) for s in list(analysis.stenoses)[:maxProfiles]]
    return tuple(c for c in charts if c is not None)
