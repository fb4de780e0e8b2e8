"""measurements.dcm: a TID 1500 SR whose every number reads back equal to qca.json."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest

from AngioSegLib.cine import Calibration
from AngioSegLib.errors import InputError
from AngioSegLib.io import read_cine
from AngioSegLib.io.sr import CONCEPTS, SrAlgorithm, build_measurement_report
from AngioSegLib.io.xa_write import write_xa
from AngioSegLib.phantom import PhantomOptions, make_phantom

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


def _groups(path: Path):
    sr = hd.sr.srread(path)
    return sr, {g.tracking_identifier: g for g in sr.content.get_image_measurement_groups()}


def _items(sequence):
    """Every content item below ``sequence``, depth first."""
    for item in sequence:
        yield item
        yield from _items(item.get("ContentSequence", []))


def _values(group) -> dict[tuple[str, str | None, str | None], tuple[float, str]]:
    """{(concept, method, derivation): (value, UCUM unit)} of one group's measurements."""
    out = {}
    for m in group.get_measurements():
        key = (m.name.value, m.method.value if m.method else None,
               m.derivation.value if m.derivation else None)
        assert key not in out, f"two measurements {key}"
        out[key] = (m.value, m.unit.value)
    return out


def _expected(record: dict, unit: str, calibration: dict) -> dict:
    """The SR keys and values a qca.json record (segment or stenosis) must give."""
    diameter = CONCEPTS["diameter"].value
    mld_method = CONCEPTS[record["mld_method"]].value
    reference = ("122490" if record["reference_method"].startswith("interpolated")
                 else "122489")
    want = {
        (diameter, mld_method, "255605001"): record[f"mld_{unit}"],
        (diameter, reference, None): record[f"rvd_{unit}"],
        ("408715008", None, None): record["percent_diameter_stenosis_percent"],
        ("408714007", None, None): record["percent_area_stenosis_percent"],
        ("408716009", None, None): record[f"lesion_length_{unit}"],
        ("122528", None, None): record.get(f"lesion_start_{unit}"),
        ("122529", None, None): record.get(f"lesion_end_{unit}"),
        ("122510", None, None): record.get(f"length_{unit}"),
        (diameter, None, "373098007"): record.get(f"mean_diameter_{unit}"),
        ("122322", None, None): calibration["mm_per_pixel"],
    }
    if record["mld_method"] != "edge":
        want[(diameter, "123103", "255605001")] = record[f"edge_mld_{unit}"]
    if record["reference_method"] == "none":
        del want[(diameter, reference, None)]
    return {k: v for k, v in want.items() if v is not None}


def _check_group(group, record: dict, unit: str, calibration: dict) -> None:
    got = _values(group)
    want = _expected(record, unit, calibration)
    assert {k: v for k, (v, _) in got.items()} == want
    length_unit = "mm" if unit == "mm" else "{pixel}"
    for (concept, _, _), (_, ucum) in got.items():
        if concept in ("408715008", "408714007"):
            assert ucum == "%"
        elif concept == "122322":
            assert ucum == "mm/{pixel}"
        else:
            assert ucum == length_unit


@pytest.mark.slow
def test_every_number_equals_qca_json(segmented):
    qca = json.loads((segmented / "qca.json").read_text())
    assert qca["segments"] and qca["stenoses"], "the phantom run should show a stenosis"
    _, groups = _groups(segmented / "measurements.dcm")
    assert len(groups) == len(qca["segments"]) + len(qca["stenoses"])
    for record in qca["segments"]:
        _check_group(groups[record["segment_label"]], record, qca["unit"], qca["calibration"])
    numbers: dict[str, int] = {}
    for record in qca["stenoses"]:
        label = record["segment_label"]
        numbers[label] = numbers.get(label, 0) + 1
        group = groups[f"{label} stenosis {numbers[label]}"]
        _check_group(group, record, qca["unit"], qca["calibration"])
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
    sr, groups = _groups(segmented / "measurements.dcm")
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
                     for item in _items(group) if item.ValueType == "TEXT"}
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
    from AngioSegLib.quantify import analyze_run

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
    _, groups = _groups(path)
    units = {m.unit.value for g in groups.values() for m in g.get_measurements()}
    assert units <= {"{pixel}", "%"} and "{pixel}" in units
    qca = analysis.to_json()
    for record in qca["segments"]:
        _check_group(groups[record["segment_label"]], record, "px", qca["calibration"])
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
