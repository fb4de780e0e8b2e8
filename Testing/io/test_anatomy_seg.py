"""anatomy.dcm: the coronary segments (SYNTAX) of a run as a DICOM SEG, one segment each.

A 4-frame 64² phantom written as XA and read back; its vessel mask is named by hand: LAD mid
(value 7) on the left half, LAD proximal (6) on the right half, nothing on frame 0.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import replace

import highdicom as hd
import numpy as np
import pydicom
import pytest
from pydicom.sr.codedict import codes

from AngioSegLib.anatomy.segments import BY_VALUE, SEGMENTS
from AngioSegLib.errors import InputError, OutputExistsError
from AngioSegLib.io import read_cine
from AngioSegLib.io.anatomy_seg import (
    LOCAL_SCHEME,
    property_type,
    read_anatomy_seg,
    write_anatomy_seg,
)
from AngioSegLib.io.seg import read_seg, write_seg
from AngioSegLib.io.xa_write import write_xa
from AngioSegLib.outputs.writers import OUTPUT_NAMES, OutputOptions, write_outputs
from AngioSegLib.phantom.generator import PhantomOptions, make_phantom
from AngioSegLib.pipeline import PipelineOptions, Result

N_FRAMES, SIZE = 4, 64
LEFT, RIGHT = 7, 6  # LAD mid on the vessel's left half, LAD proximal on its right half
SEG_ONLY = OutputOptions(labelmaps=False, video=False, report=False)


pytestmark = pytest.mark.usefixtures("strict_dicom")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """(cine read from XA, vessel masks, hand-made anatomy with frame 0 unnamed)."""
    phantom = make_phantom(PhantomOptions(seed=0, n_frames=N_FRAMES, size=SIZE))
    path = write_xa(phantom.cine, tmp_path_factory.mktemp("xa") / "run.dcm")
    masks = phantom.masks.astype(np.uint8)
    anatomy = np.zeros_like(masks)
    left = np.zeros(masks.shape, bool)
    left[:, :, : SIZE // 2] = True
    anatomy[(masks > 0) & left] = LEFT
    anatomy[(masks > 0) & ~left] = RIGHT
    anatomy[0] = 0
    assert (anatomy[1:] == LEFT).any(axis=(1, 2)).all()
    assert (anatomy[1:] == RIGHT).any(axis=(1, 2)).all()
    return read_cine(path), masks, anatomy


def _result(cine, masks, anatomy) -> Result:
    return Result(cine=cine, options=PipelineOptions(), probabilities=masks.astype(np.float32),
                  masks=masks, anatomy=anatomy, model_name="ground truth")


def _dciodvfy(path) -> str:
    result = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, check=False)
    return result.stdout + result.stderr


def _pixels(seg, cine, segment_numbers) -> np.ndarray:
    """(T, H, W, S) of ``segment_numbers`` on every cine frame (unstored frames empty)."""
    return seg.get_pixels_by_source_frame(
        source_sop_instance_uid=cine.references[0].sop_instance_uid,
        source_frame_numbers=[r.frame_number for r in cine.references],
        segment_numbers=segment_numbers,
        assert_missing_frames_are_empty=True,  # frame 0 names nothing, so it is not stored
    )


def test_one_segment_per_syntax_value_with_codes_and_colour(run, tmp_path):
    cine, _, anatomy = run
    seg = hd.seg.segread(write_anatomy_seg(cine, anatomy, tmp_path / "anatomy.dcm"))
    assert seg.SegmentationType == "BINARY"
    items = seg.SegmentSequence
    assert [s.SegmentNumber for s in items] == [1, 2]  # values 6 then 7
    assert [s.SegmentLabel for s in items] == ["6 LAD proximal", "7 LAD mid"]
    for item, value in zip(items, (RIGHT, LEFT), strict=True):
        kind = item.SegmentedPropertyTypeCodeSequence[0]
        assert (kind.CodingSchemeDesignator, kind.CodeMeaning) == ("SCT", property_type(
            BY_VALUE[value]).meaning)
        assert item.SegmentedPropertyCategoryCodeSequence[0].CodeValue == "91723000"
        assert item.AnatomicRegionSequence[0].CodeValue == "59438005"  # LAD (CID 3016)
        assert item.SegmentAlgorithmType == "AUTOMATIC"
        lab = hd.color.CIELabColor.from_rgb(*BY_VALUE[value].colour).value
        assert tuple(item.RecommendedDisplayCIELabValue) == tuple(lab)
    assert [s.SegmentedPropertyTypeCodeSequence[0].CodeValue for s in items] == [
        "68787002", "91748002"]  # CID 3014 proximal and mid LAD
    assert "CodingSchemeIdentificationSequence" not in seg  # SCT only: nothing to declare


def test_each_segment_holds_exactly_its_pixels(run, tmp_path):
    cine, _, anatomy = run
    seg = hd.seg.segread(write_anatomy_seg(cine, anatomy, tmp_path / "anatomy.dcm"))
    pixels = _pixels(seg, cine, [1, 2])
    np.testing.assert_array_equal(pixels[..., 0], (anatomy == RIGHT).astype(np.uint8))
    np.testing.assert_array_equal(pixels[..., 1], (anatomy == LEFT).astype(np.uint8))
    # only frames where a segment has pixels are stored, each referencing its source frame
    stored = [(g.SegmentIdentificationSequence[0].ReferencedSegmentNumber,
               g.DerivationImageSequence[0].SourceImageSequence[0].ReferencedFrameNumber)
              for g in seg.PerFrameFunctionalGroupsSequence]
    assert stored == [(s, f) for s in (1, 2) for f in range(2, N_FRAMES + 1)]


def test_header_is_a_new_series_of_the_study_apart_from_the_vessel_seg(run, tmp_path):
    cine, masks, anatomy = run
    paths = write_outputs(_result(cine, masks, anatomy), tmp_path / "out", SEG_ONLY)
    assert sorted(p.name for p in paths.files) == ["anatomy.dcm", "segmentation.dcm"]
    anatomy_seg = pydicom.dcmread(paths.folder / "anatomy.dcm")
    vessel_seg = pydicom.dcmread(paths.seg)
    xa = pydicom.dcmread(cine.source_path, stop_before_pixels=True)
    for keyword in ("PatientName", "PatientID", "StudyInstanceUID", "StudyDate"):
        assert anatomy_seg.get(keyword) == xa.get(keyword), keyword
    assert anatomy_seg.SeriesInstanceUID not in (xa.SeriesInstanceUID,
                                                  vessel_seg.SeriesInstanceUID)
    assert anatomy_seg.SeriesNumber == 1100 + int(xa.SeriesNumber)
    assert anatomy_seg.ReferencedSeriesSequence[0].SeriesInstanceUID == xa.SeriesInstanceUID
    assert anatomy_seg.SegmentSequence[0].SegmentationAlgorithmIdentificationSequence[0] \
        .AlgorithmName == "AngioSeg ground truth"
    assert "FrameOfReferenceUID" not in anatomy_seg
    assert "anatomy.dcm" in OUTPUT_NAMES


def test_every_syntax_segment_has_its_own_code():
    """25 distinct types: PS3.16's CID 3014 (16: CID 3015), local codes only for 9a and 10a."""
    types = [property_type(s) for s in SEGMENTS]
    assert len({(c.value, c.scheme_designator) for c in types}) == len(SEGMENTS)
    standard = {(c.value, c.scheme_designator) for c in
                [*codes.cid3014.concepts.values(), *codes.cid3015.concepts.values()]}
    local = [s.syntax for s, c in zip(SEGMENTS, types, strict=True)
             if c.scheme_designator == LOCAL_SCHEME]
    assert local == ["9a", "10a"]
    assert all((c.value, c.scheme_designator) in standard for c in types
               if c.scheme_designator != LOCAL_SCHEME)


@pytest.fixture(scope="module")
def all_segments(run):
    """Anatomy naming all 25 segments: vessel pixels take values 1–25 in turn along the rows."""
    _, masks, _ = run
    rows = np.arange(SIZE)[None, :, None] * np.ones(masks.shape, int)
    return np.where(masks > 0, rows % len(SEGMENTS) + 1, 0).astype(np.uint8)


def test_all_segments_round_trip_as_a_label_map(run, all_segments, tmp_path):
    cine, _, _ = run
    seg = hd.seg.segread(write_anatomy_seg(cine, all_segments, tmp_path / "anatomy.dcm"))
    present = np.unique(all_segments[all_segments > 0])
    assert len(seg.SegmentSequence) == len(present) == len(SEGMENTS)
    numbers = seg.get_pixels_by_source_frame(  # (T, H, W) segment number, 0 = none
        source_sop_instance_uid=cine.references[0].sop_instance_uid,
        source_frame_numbers=[r.frame_number for r in cine.references],
        combine_segments=True,
    )
    value_of_number = np.concatenate([[0], present])
    np.testing.assert_array_equal(value_of_number[numbers], all_segments)
    declared = seg.CodingSchemeIdentificationSequence  # 9a and 10a use the local scheme
    assert [item.CodingSchemeDesignator for item in declared] == [LOCAL_SCHEME]
    kinds = {s.SegmentLabel: s.SegmentedPropertyTypeCodeSequence[0] for s in seg.SegmentSequence}
    assert kinds["9a First diagonal a"].CodingSchemeDesignator == LOCAL_SCHEME
    assert kinds["16 R-PLB"].CodeValue == "17269004"


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dciodvfy (dicom3tools) missing")
@pytest.mark.parametrize("which", ["two segments", "all 25 segments"])
def test_dciodvfy_reports_no_errors(run, all_segments, tmp_path, which):
    cine, _, anatomy = run
    path = write_anatomy_seg(cine, anatomy if which == "two segments" else all_segments,
                             tmp_path / "anatomy.dcm")
    report = _dciodvfy(path)
    assert [line for line in report.splitlines() if "Error" in line] == []
    # the only warnings allowed: dciodvfy does not know the (declared) private scheme
    warnings = {line for line in report.splitlines() if "Warning" in line}
    assert warnings <= {f"Warning - Unrecognized defined term <{LOCAL_SCHEME}> for value 1 of "
                        "attribute <Coding Scheme Designator>"}


def test_a_run_naming_no_segment_writes_no_anatomy_seg(run, tmp_path):
    """All labels 0 (or a vessel-only model, anatomy None): segmentation.dcm but no anatomy.dcm;
    the writer itself refuses, since a SEG needs at least one segment."""
    cine, masks, anatomy = run
    with pytest.raises(InputError, match="no pixel of .* names a SYNTAX segment.*no anatomy "
                                         "SEG to write"):
        write_anatomy_seg(cine, np.zeros_like(anatomy), tmp_path / "anatomy.dcm")
    events = []
    paths = write_outputs(_result(cine, masks, np.zeros_like(anatomy)), tmp_path / "unnamed",
                          SEG_ONLY, progress=events.append)
    assert [p.name for p in paths.files] == ["segmentation.dcm"]
    assert any("no anatomy.dcm" in e.message for e in events)
    paths = write_outputs(_result(cine, masks, None), tmp_path / "vessel-only", SEG_ONLY)
    assert [p.name for p in paths.files] == ["segmentation.dcm"]


@pytest.mark.parametrize("which", ["two segments", "all 25 segments"])
def test_own_reader_gives_back_the_label_map(run, all_segments, tmp_path, which):
    cine, _, anatomy = run
    labels = anatomy if which == "two segments" else all_segments
    path = write_anatomy_seg(cine, labels, tmp_path / "anatomy.dcm")
    back = read_anatomy_seg(path, n_frames=N_FRAMES)
    assert back.dtype == np.uint8
    np.testing.assert_array_equal(back, labels)


def test_readers_tell_the_two_segs_apart(run, tmp_path):
    cine, masks, anatomy = run
    vessel = write_seg(cine, masks, tmp_path / "segmentation.dcm")
    with pytest.raises(InputError, match="is no SYNTAX coronary segment; read a vessel SEG"):
        read_anatomy_seg(vessel)
    named = write_anatomy_seg(cine, anatomy, tmp_path / "anatomy.dcm")
    with pytest.raises(InputError, match="holds 2 segments.*read_anatomy_seg"):
        read_seg(named)
    with pytest.raises(InputError, match="not a DICOM Segmentation"):
        read_anatomy_seg(cine.source_path)


def test_bad_input_is_refused_and_nothing_written(run, tmp_path):
    cine, _, anatomy = run
    with pytest.raises(InputError, match="not read from DICOM.*DICOM XA input"):
        write_anatomy_seg(replace(cine, references=()), anatomy, tmp_path / "a.dcm")
    with pytest.raises(InputError, match=r"must match the cine's shape \(4, 64, 64\)"):
        write_anatomy_seg(cine, anatomy[:2], tmp_path / "a.dcm")
    with pytest.raises(InputError, match="must be integers"):
        write_anatomy_seg(cine, anatomy.astype(np.float32), tmp_path / "a.dcm")
    with pytest.raises(InputError, match="0 \\(none\\) or 1–25.*from 0 to 26"):
        write_anatomy_seg(cine, np.where(anatomy > 0, 26, 0).astype(np.uint8), tmp_path / "a.dcm")
    assert not any(tmp_path.iterdir())


def test_no_overwrite_without_force(run, tmp_path):
    cine, _, anatomy = run
    path = write_anatomy_seg(cine, anatomy, tmp_path / "anatomy.dcm")
    first = pydicom.dcmread(path).SOPInstanceUID
    with pytest.raises(OutputExistsError, match="already exists.*--force"):
        write_anatomy_seg(cine, anatomy, path)
    assert pydicom.dcmread(path).SOPInstanceUID == first
    write_anatomy_seg(cine, anatomy, path, force=True)
    assert pydicom.dcmread(path).SOPInstanceUID != first
