"""The QCA tables a run writes: ``qca.json``, ``qca.csv`` (segments) and ``frames.csv``.

Each record is the scalar fields of a QCA result (:class:`~AngioSegLib.qca.results.Stenosis`,
:class:`~AngioSegLib.qca.results.SegmentMeasures`,
:class:`~AngioSegLib.qca.measures.FrameMeasures`), in field order, each key suffixed with the unit
its field declares (:mod:`AngioSegLib.qca.units`): ``mld_mm`` / ``mld_px`` for a length,
``vessel_area_mm2`` / ``_px2`` for an area, ``_percent`` for a percentage; arrays, the ``unit``
field and fields marked ``export=False`` are left out. Non-finite numbers are written as null
(JSON) or empty (CSV); a tuple becomes a list (JSON) or ";"-joined (CSV). Files are written
atomically and refuse to overwrite unless ``force``.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import Field, fields
from pathlib import Path

import numpy as np

from AngioSegLib.io.atomic import atomic_write
from AngioSegLib.qca.measures import FrameMeasures, RunAnalysis
from AngioSegLib.qca.results import SegmentMeasures
from AngioSegLib.qca.units import AREA, LENGTH, PERCENT, unit_kind

__all__ = ["column_names", "frames_table", "measure_record", "qca_document", "segments_table",
           "write_frames_csv", "write_qca_json", "write_segments_csv"]


def _key(item: Field, unit: str) -> str:
    """The table key of a field: its name, suffixed with the unit it declares."""
    kind = unit_kind(item)
    if kind == LENGTH:
        return f"{item.name}_{unit}"
    if kind == AREA:
        return f"{item.name}_{unit}2"
    if kind == PERCENT:
        return f"{item.name}_percent"
    return item.name


def _exported(item: Field) -> bool:
    return item.name != "unit" and item.metadata.get("export", True)


def _value(value):
    """A JSON-ready scalar: numpy scalars as Python ones, NaN/inf as None, tuples as lists."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, tuple):
        return [_value(v) for v in value]
    return value


def measure_record(item, unit: str) -> dict:
    """The scalar fields of a QCA result dataclass ``item``, keys suffixed with their unit
    (``unit`` the run's: "mm" or "px")."""
    return {_key(f, unit): _value(getattr(item, f.name)) for f in fields(item)
            if _exported(f) and not isinstance(getattr(item, f.name), np.ndarray)}


def column_names(kind: type, unit: str) -> list[str]:
    """The keys :func:`measure_record` gives an instance of dataclass ``kind`` (the header of an
    empty table)."""
    return [_key(f, unit) for f in fields(kind) if _exported(f) and "ndarray" not in str(f.type)]


def qca_document(analysis: RunAnalysis) -> dict:
    """The ``qca.json`` document: calibration, analysis frame, filling curve landmarks (frames
    and s), then the stenoses, segments and frames as :func:`measure_record` gives them."""
    unit, curve = analysis.unit, analysis.filling_curve
    return {
        "unit": unit,
        "calibration": {"mm_per_pixel": analysis.calibration.mm_per_pixel,
                        "source": analysis.calibration.source.value},
        "analysis_frame": analysis.analysis_frame,
        "analysis_time_s": curve.time_of(analysis.analysis_frame),
        "analysis_rule": analysis.analysis_rule,
        "filling_curve": {
            "arrival_frame": curve.arrival_frame,
            "arrival_time_s": curve.time_of(curve.arrival_frame),
            "peak_frame": curve.peak_frame,
            "peak_time_s": curve.time_of(curve.peak_frame),
            "washout_frame": curve.washout_frame,
            "washout_time_s": curve.time_of(curve.washout_frame),
        },
        "stenoses": [measure_record(s, unit) for s in analysis.stenoses],
        "segments": [measure_record(s, unit) for s in analysis.segments],
        "frames": [measure_record(f, unit) for f in analysis.frames],
    }


def _csv_text(records: list[dict], columns: list[str]) -> str:
    """CSV with a header row of ``columns`` (the records' keys when there are records)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(records[0]) if records else columns,
                            lineterminator="\n")
    writer.writeheader()
    for r in records:
        writer.writerow({k: ";".join(map(str, v)) if isinstance(v, list) else v
                         for k, v in r.items()})
    return buffer.getvalue()


def _table(items, kind: type, analysis: RunAnalysis) -> str:
    """One row per item of ``kind``, units in the header, the calibration source last."""
    source = analysis.calibration.source.value
    return _csv_text([{**measure_record(item, analysis.unit), "calibration_source": source}
                      for item in items],
                     [*column_names(kind, analysis.unit), "calibration_source"])


def segments_table(analysis: RunAnalysis) -> str:
    """``qca.csv``: one row per analysis segment of the analysis frame."""
    return _table(analysis.segments, SegmentMeasures, analysis)


def frames_table(analysis: RunAnalysis) -> str:
    """``frames.csv``: one row per frame."""
    return _table(analysis.frames, FrameMeasures, analysis)


def _write_text(path: str | Path, text: str, force: bool) -> Path:
    with atomic_write(path, force=force) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_qca_json(analysis: RunAnalysis, path: str | Path, force: bool = False) -> Path:
    """Write :func:`qca_document` to ``path`` (indented JSON, ASCII)."""
    return _write_text(path, json.dumps(qca_document(analysis), indent=2), force)


def write_segments_csv(analysis: RunAnalysis, path: str | Path, force: bool = False) -> Path:
    """Write :func:`segments_table` to ``path``."""
    return _write_text(path, segments_table(analysis), force)


def write_frames_csv(analysis: RunAnalysis, path: str | Path, force: bool = False) -> Path:
    """Write :func:`frames_table` to ``path``."""
    return _write_text(path, frames_table(analysis), force)
