"""measurements.dcm: a TID 1500 SR whose every number reads back equal to qca.json."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import pydicom
import pytest
from sr_checks import check_group, content_items, read_groups

from AngioSegLib.cine import Calibration
from AngioSegLib.errors import InputError
from AngioSegLib.io import read_cine
from AngioSegLib.io.sr import CONCEPTS, SrAlgorithm, build_measurement_report
from AngioSegLib.io.xa_write import write_xa
from AngioSegLib.outputs.tables import qca_document
from AngioSegLib.phantom.generator import PhantomOptions, make_phantom

SEG_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"
needs_dciodvfy = pytest.mark.skipif(shutil.which("dciodvfy") is None,
                                    reason="dciodvfy (dicom3tools) missing")


pytestmark = pytest.mark.usefixtures("strict_dicom")  # the run's SEG and SR too


@pytest.fixture(scope="module")
def segmented(tmp_path_factory) -> Path:
    """`angioseg segment` of a 6-frame 128² phantom XA (the shipped model, CPU)."""
    folder = tmp_path_factory.mktemp("sr")
    run = make_phantom(PhantomOptions(seed=3, n_frames=6, size=128))
    source = write_xa(run.cine, folder / "run.dcm")
    out = folder / "out"
    from AngioSegLib.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["segment", str(source), "-o", str(out), "--device", "cpu", "--json"])
    assert exit_info.value.code == 0
    return out


@pytest.mark.slow
def test_every_number_equals_qca_json(segmented):
    qca = json.loads((segmented / "qca.json").read_text())
    assert qca["segments"] and qca["stenoses"], "the phantom run should show a stenosis"
    _, groups = read_groups(segmented / "measurements.dcm")
    assert len(groups) == len(qca["segments"]) + len(qca["stenoses"])
    for record in qca["segments"]:
        check_group(groups[record["segment_label"]], record, qca["unit"], qca["calibration"])
    numbers: dict[str, int] = {}
    for record in qca["stenoses"]:
        label = record["segment_label"]
        numbers[label] = numbers.get(label, 0) + 1
        group = groups[f"{label} stenosis {numbers[label]}"]
        check_group(group, record, qca["unit"], qca["calibration"])
        assert group.finding_type.value == CONCEPTS["stenosis"].value
        mld = group.get_measurements(name=CONCEPTS["diameter"])[0]
        (point,) = mld.referenced_coordinates
        assert point.GraphicType == "POINT"
        row, col = record["position_rc"]
        np.testing.assert_array_equal(point.value,
                                      np.float32([[col + 0.5, row + 0.5]]))


@pytest.mark.slow
def test_references_seg_segment_and_xa_frame(segmented):
    seg = pydicom.dcmread(segmented / "segmentation.dcm", stop_before_pixels=True)
    qca = json.loads((segmented / "qca.json").read_text())
    sr, groups = read_groups(segmented / "measurements.dcm")
    assert sr.StudyInstanceUID == seg.StudyInstanceUID
    assert sr.SeriesInstanceUID not in (seg.SeriesInstanceUID,
                                        seg.ReferencedSeriesSequence[0].SeriesInstanceUID)
    (xa,) = seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence
    xa_uid = xa.ReferencedSOPInstanceUID
    for group in groups.values():
        refs = {item.ReferencedSOPSequence[0].ReferencedSOPInstanceUID:
                item.ReferencedSOPSequence[0] for item in group.source_images}
        assert refs[seg.SOPInstanceUID].ReferencedSOPClassUID == SEG_CLASS
        assert refs[seg.SOPInstanceUID].ReferencedSegmentNumber == 1
        assert refs[xa_uid].ReferencedFrameNumber == qca["analysis_frame"] + 1
        algorithm = {item.ConceptNameCodeSequence[0].CodeMeaning: item.TextValue
                     for item in content_items(group) if item.ValueType == "TEXT"}
        assert algorithm["Algorithm Name"].startswith("AngioSeg ")
        assert algorithm["Algorithm Version"]
        (method,) = group.get_qualitative_evaluations(name=CONCEPTS["calibration_method"])
        assert method.value.value == "122486"  # Geometric Isocenter: ImagerPixelSpacing / ERMF
    evidence = {uid for _, _, uid, _ in sr.get_evidence()}
    assert {seg.SOPInstanceUID, xa_uid} <= evidence


@pytest.mark.slow
def test_round_trips_through_bytes(segmented):
    path = segmented / "measurements.dcm"
    again = pydicom.dcmread(path)
    assert again.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.33"  # Comprehensive SR
    assert again.ContentTemplateSequence[0].TemplateIdentifier == "1500"
    assert again.CompletionFlag == "COMPLETE" and again.VerificationFlag == "UNVERIFIED"


@pytest.mark.slow
@needs_dciodvfy
def test_dciodvfy_finds_no_error(segmented):
    for name in ("segmentation.dcm", "measurements.dcm"):
        result = subprocess.run(["dciodvfy", str(segmented / name)], capture_output=True,
                                text=True, check=False)
        errors = [line for line in (result.stdout + result.stderr).splitlines()
                  if line.startswith("Error")]
        assert errors == [], name


@pytest.fixture(scope="module")
def uncalibrated(tmp_path_factory):
    """A phantom XA without any pixel spacing, its ground-truth masks as the segmentation."""
    from AngioSegLib.io.seg import write_seg
    from AngioSegLib.qca.measures import analyze_run

    folder = tmp_path_factory.mktemp("uncalibrated")
    run = make_phantom(PhantomOptions(seed=0, n_frames=4, size=96))
    source = write_xa(replace(run.cine, calibration=Calibration()), folder / "run.dcm")
    cine = read_cine(source)
    assert not cine.calibration.is_calibrated
    masks = run.masks.astype(np.uint8)
    analysis = analyze_run(cine, masks.astype(np.float32), masks)
    seg = write_seg(cine, masks, folder / "segmentation.dcm")
    return cine, analysis, pydicom.dcmread(seg, stop_before_pixels=True)


def test_uncalibrated_lengths_are_pixels_never_mm(uncalibrated, tmp_path):
    cine, analysis, seg = uncalibrated
    assert analysis.segments
    sr = build_measurement_report(analysis, cine, seg, SrAlgorithm("AngioSeg test", "1", "0"))
    path = tmp_path / "measurements.dcm"
    sr.save_as(path, enforce_file_format=True)
    _, groups = read_groups(path)
    units = {m.unit.value for g in groups.values() for m in g.get_measurements()}
    assert units <= {"{pixel}", "%"} and "{pixel}" in units
    qca = qca_document(analysis)
    for record in qca["segments"]:
        check_group(groups[record["segment_label"]], record, "px", qca["calibration"])
    for group in groups.values():
        assert not group.get_qualitative_evaluations(name=CONCEPTS["calibration_method"])


def test_a_run_not_read_from_dicom_gets_no_sr(uncalibrated):
    cine, analysis, seg = uncalibrated
    with pytest.raises(InputError, match="was not read from DICOM; segment a DICOM XA input"):
        build_measurement_report(analysis, replace(cine, references=()), seg,
                                 SrAlgorithm("AngioSeg test", "1", "0"))


def test_a_seg_of_another_run_is_refused(uncalibrated):
    cine, analysis, seg = uncalibrated
    other = copy.deepcopy(seg)
    other.PerFrameFunctionalGroupsSequence = other.PerFrameFunctionalGroupsSequence[:0]
    with pytest.raises(InputError, match="write the SR from the SEG of the same run"):
        build_measurement_report(analysis, cine, other, SrAlgorithm("AngioSeg test", "1", "0"))



def test_a_run_without_any_vessel_gets_no_sr(uncalibrated):
    cine, analysis, seg = uncalibrated
    with pytest.raises(InputError, match="no vessel was measured on frame"):
        build_measurement_report(replace(analysis, segments=(), stenoses=()), cine, seg,
                                 SrAlgorithm("AngioSeg test", "1", "0"))
