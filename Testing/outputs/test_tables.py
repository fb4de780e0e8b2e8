"""The QCA tables (:mod:`AngioSegLib.outputs.tables`): qca.json, qca.csv and frames.csv carry
each number's unit in its key and the calibration source, in a fixed column order."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from AngioSegLib.cine import Calibration, CalibrationSource
from AngioSegLib.errors import OutputExistsError
from AngioSegLib.outputs.tables import (
    column_names,
    frames_table,
    measure_record,
    qca_document,
    segments_table,
    write_frames_csv,
    write_qca_json,
    write_segments_csv,
)
from AngioSegLib.qca.measures import FrameMeasures, analyze_run
from AngioSegLib.qca.results import SegmentMeasures, Stenosis

# The headers of qca.csv and frames.csv, as angioseg has written them (a calibrated run).
SEGMENT_COLUMNS_MM = (
    "segment_id,segment_label,frame,n_bifurcations,length_mm,mean_diameter_mm,mld_mm,"
    "mld_position_mm,rvd_mm,percent_diameter_stenosis_percent,percent_area_stenosis_percent,"
    "lesion_length_mm,lesion_start_mm,lesion_end_mm,tortuosity,reference_method,mld_method,"
    "edge_mld_mm,start_is_junction,end_is_junction,densitometric_mld_mm,border_method,"
    "bridged_length_mm,overlap_length_mm,overlap_stretches,vessel_snr,user_defined,n_stenoses,"
    "syntax_segment,segment_name,calibration_source"
)
FRAME_COLUMNS_MM = (
    "frame,time_s,vessel_area_mm2,vessel_fraction_percent,centerline_length_mm,n_segments,"
    "mean_contrast,opacification_mm2,filling,calibration_source"
)
STENOSIS_KEYS_PX = [
    "segment_id", "segment_label", "frame", "percent_diameter_stenosis_percent",
    "percent_area_stenosis_percent", "mld_px", "rvd_px", "lesion_length_px", "mld_position_px",
    "position_rc", "reference_method", "mld_method", "edge_mld_px", "densitometric_mld_px",
    "border_method", "through_bridge", "syntax_segment", "segment_name",
]


def test_headers_keep_their_order_and_units(run_analysis):
    assert segments_table(run_analysis).splitlines()[0] == SEGMENT_COLUMNS_MM
    assert frames_table(run_analysis).splitlines()[0] == FRAME_COLUMNS_MM
    assert column_names(Stenosis, "px") == STENOSIS_KEYS_PX
    assert [*column_names(SegmentMeasures, "mm"), "calibration_source"] == \
        SEGMENT_COLUMNS_MM.split(",")
    assert [*column_names(FrameMeasures, "mm"), "calibration_source"] == \
        FRAME_COLUMNS_MM.split(",")


def test_a_record_is_json_ready():
    """NaN becomes None, numpy scalars Python numbers, tuples lists; arrays are left out."""
    frame = FrameMeasures(frame=np.int64(2), time_s=None, vessel_area=float("nan"),
                          vessel_fraction=np.float32(1.5), centerline_length=3.0, n_segments=1,
                          mean_contrast=0.25, opacification=float("inf"), filling=1.0, unit="px")
    record = measure_record(frame, "px")
    assert record == {"frame": 2, "time_s": None, "vessel_area_px2": None,
                      "vessel_fraction_percent": 1.5, "centerline_length_px": 3.0,
                      "n_segments": 1, "mean_contrast": 0.25, "opacification_px2": None,
                      "filling": 1.0}
    assert type(record["frame"]) is int
    json.dumps(record, allow_nan=False)


def test_the_document_holds_every_stenosis_segment_and_frame(run_analysis):
    data = json.loads(json.dumps(qca_document(run_analysis)))
    assert data["analysis_frame"] == run_analysis.analysis_frame
    assert [s["mld_mm"] for s in data["stenoses"]] == [s.mld for s in run_analysis.stenoses]
    assert len(data["segments"]) == len(run_analysis.segments)
    assert len(data["frames"]) == len(run_analysis.frames)
    assert all("distance" not in s and "lesions" not in s for s in data["segments"])


def test_json_and_csv_carry_units_and_calibration(run_analysis, tmp_path):
    data = json.loads(json.dumps(qca_document(run_analysis)))
    assert data["unit"] == "mm"
    assert data["calibration"]["source"] == CalibrationSource.SYNTHETIC.value
    assert "mld_mm" in data["segments"][0] and "vessel_area_mm2" in data["frames"][0]
    path = write_segments_csv(run_analysis, tmp_path / "qca.csv")
    header = path.read_text().splitlines()[0].split(",")
    assert {"mld_mm", "edge_mld_mm", "mld_method", "percent_diameter_stenosis_percent"} <= set(
        header)
    assert header[-1] == "calibration_source"
    frames = write_frames_csv(run_analysis, tmp_path / "frames.csv").read_text().splitlines()
    assert len(frames) == len(run_analysis.frames) + 1
    with pytest.raises(OutputExistsError, match="already exists"):
        write_segments_csv(run_analysis, tmp_path / "qca.csv")
    write_segments_csv(run_analysis, tmp_path / "qca.csv", force=True)
    empty = write_segments_csv(replace(run_analysis, segments=()), tmp_path / "empty.csv")
    assert empty.read_text().splitlines() == [",".join(header)]  # the header, no rows


def test_qca_json_is_the_indented_document(run_analysis, tmp_path):
    path = write_qca_json(run_analysis, tmp_path / "qca.json")
    assert path.read_text(encoding="ascii") == json.dumps(qca_document(run_analysis), indent=2)
    with pytest.raises(OutputExistsError, match="already exists"):
        write_qca_json(run_analysis, path)


def test_an_uncalibrated_run_is_tabled_in_pixels(small_phantom):
    cine = small_phantom.cine.with_calibration(Calibration())
    masks = small_phantom.masks[:2]
    cine = replace(cine, frames=cine.frames[:2], frame_times_s=None, r_wave_frames=())
    analysis = analyze_run(cine, masks.astype(np.float32), masks)
    data = qca_document(analysis)
    assert data["unit"] == "px" and "length_px" in data["segments"][0]
    assert "vessel_area_px2" in data["frames"][0]
    assert data["filling_curve"]["peak_time_s"] is None
    assert data["calibration"]["source"] == CalibrationSource.NONE.value
    assert "mld_px" in segments_table(analysis).splitlines()[0]
