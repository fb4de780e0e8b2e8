"""DICOM SEG of a cine: standard-valid, per-frame references, exact round trips."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import replace

import highdicom as hd
import numpy as np
import pydicom
import pytest

from AngioSegLib.errors import InputError, OutputExistsError
from AngioSegLib.io import read_cine
from AngioSegLib.io.seg import read_seg, write_seg
from AngioSegLib.io.xa_write import write_xa
from AngioSegLib.phantom.generator import PhantomOptions, make_phantom

N_FRAMES = 6


pytestmark = pytest.mark.usefixtures("strict_dicom")


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A phantom written as XA and read back: (cine, masks with empty first and last frames)."""
    run = make_phantom(PhantomOptions(seed=0, n_frames=N_FRAMES, size=64))
    path = tmp_path_factory.mktemp("xa") / "run.dcm"
    write_xa(run.cine, path)
    masks = run.masks.copy()
    masks[0] = 0
    masks[-1] = 0
    assert masks[1:-1].any(axis=(1, 2)).all()
    return read_cine(path), masks


@pytest.fixture(scope="module")
def probabilities(source):
    _, masks = source
    rng = np.random.default_rng(1)
    noise = rng.uniform(0.0, 0.4, size=masks.shape).astype(np.float32)
    return np.where(masks > 0, 1.0 - noise, noise).astype(np.float32)


def _dciodvfy_errors(path) -> list[str]:
    result = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, check=False)
    return [line for line in (result.stdout + result.stderr).splitlines() if "Error" in line]


def test_binary_round_trip_own_reader(source, tmp_path):
    cine, masks = source
    path = write_seg(cine, masks, tmp_path / "seg.dcm")
    data = read_seg(path, n_frames=cine.n_frames)
    np.testing.assert_array_equal(data.masks, masks)
    assert data.masks.dtype == np.uint8
    assert data.probabilities is None
    assert data.segmentation_type == "BINARY"
    assert data.source_sop_instance_uid == cine.references[0].sop_instance_uid
    assert data.referenced_frame_numbers == tuple(range(2, N_FRAMES))  # empty frames not stored
    assert data.segment_label == "Coronary artery"
    assert (data.algorithm_name, data.algorithm_version) == ("AngioSeg CE-Net", "0.1.0")
    # without the frame count the run ends at the last stored frame
    np.testing.assert_array_equal(read_seg(path).masks, masks[:-1])


def test_binary_highdicom_reads_masks_by_source_frame(source, tmp_path):
    cine, masks = source
    path = write_seg(cine, masks, tmp_path / "seg.dcm")
    seg = hd.seg.segread(path)
    assert seg.SegmentSequence[0].SegmentedPropertyTypeCodeSequence[0].CodeValue == "41801008"
    assert seg.SegmentSequence[0].SegmentedPropertyCategoryCodeSequence[0].CodeValue == "91723000"
    assert seg.SegmentSequence[0].SegmentAlgorithmType == "AUTOMATIC"
    pixels = seg.get_pixels_by_source_frame(
        source_sop_instance_uid=cine.references[0].sop_instance_uid,
        source_frame_numbers=[r.frame_number for r in cine.references],
        assert_missing_frames_are_empty=True,  # the last frame is empty, so not stored
    )
    np.testing.assert_array_equal(pixels[..., 0], masks)


def test_header_copies_patient_and_study_in_a_new_series(source, tmp_path):
    cine, masks = source
    seg = pydicom.dcmread(write_seg(cine, masks, tmp_path / "seg.dcm"))
    xa = pydicom.dcmread(cine.source_path, stop_before_pixels=True)
    for keyword in ("PatientName", "PatientID", "StudyInstanceUID", "StudyDate", "AccessionNumber"):
        assert seg.get(keyword) == xa.get(keyword), keyword
    assert seg.SeriesInstanceUID != xa.SeriesInstanceUID
    assert seg.Modality == "SEG"
    assert "FrameOfReferenceUID" not in seg
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == xa.SeriesInstanceUID
    first = seg.PerFrameFunctionalGroupsSequence[0]
    assert "PlanePositionSequence" not in first
    assert first.FrameContentSequence[0].DimensionIndexValues == [1, 2]


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dciodvfy (dicom3tools) missing")
@pytest.mark.parametrize("fractional", [False, True])
def test_dciodvfy_reports_no_errors(source, probabilities, tmp_path, fractional):
    cine, masks = source
    path = write_seg(cine, masks, tmp_path / "seg.dcm", fractional=fractional,
                     probabilities=probabilities if fractional else None)
    assert _dciodvfy_errors(path) == []


def test_fractional_round_trip_within_one_step(source, probabilities, tmp_path):
    cine, masks = source
    path = write_seg(cine, masks, tmp_path / "seg.dcm", probabilities=probabilities,
                     fractional=True)
    data = read_seg(path, n_frames=cine.n_frames)
    assert data.segmentation_type == "FRACTIONAL"
    assert data.probabilities.dtype == np.float32
    assert np.abs(data.probabilities - probabilities).max() <= 0.5 / 255 + 1e-6
    np.testing.assert_array_equal(data.masks, (probabilities >= 0.5).astype(np.uint8))
    seg = hd.seg.segread(path)
    assert seg.SegmentationFractionalType == "PROBABILITY"
    pixels = seg.get_pixels_by_source_frame(
        source_sop_instance_uid=cine.references[0].sop_instance_uid,
        source_frame_numbers=[r.frame_number for r in cine.references],
        assert_missing_frames_are_empty=True,
    )
    assert np.abs(pixels[..., 0] - probabilities).max() <= 1 / 255


def test_all_empty_masks_store_one_empty_frame(source, tmp_path):
    cine, masks = source
    path = write_seg(cine, np.zeros_like(masks), tmp_path / "seg.dcm")
    assert pydicom.dcmread(path).NumberOfFrames == 1
    assert not read_seg(path, n_frames=cine.n_frames).masks.any()


def test_seg_needs_a_dicom_source(source, tmp_path):
    cine, masks = source
    with pytest.raises(InputError, match="not read from DICOM.*DICOM XA input"):
        write_seg(replace(cine, references=()), masks, tmp_path / "seg.dcm")
    assert not any(tmp_path.iterdir())


def test_bad_arrays_are_refused(source, tmp_path):
    cine, masks = source
    with pytest.raises(InputError, match="masks must match the cine's shape"):
        write_seg(cine, masks[:2], tmp_path / "a.dcm")
    with pytest.raises(InputError, match="only 0 and 1"):
        write_seg(cine, masks * 3, tmp_path / "a.dcm")
    with pytest.raises(InputError, match="fractional SEG stores probabilities"):
        write_seg(cine, masks, tmp_path / "a.dcm", fractional=True)
    with pytest.raises(InputError, match="pass fractional=True"):
        write_seg(cine, masks, tmp_path / "a.dcm", probabilities=masks.astype(np.float32))
    with pytest.raises(InputError, match=r"lie in \[0, 1\]"):
        write_seg(cine, masks, tmp_path / "a.dcm", fractional=True,
                  probabilities=masks.astype(np.float32) * 2)
    assert not any(tmp_path.iterdir())


def test_no_overwrite_without_force(source, tmp_path):
    cine, masks = source
    path = write_seg(cine, masks, tmp_path / "seg.dcm")
    first_uid = pydicom.dcmread(path).SOPInstanceUID
    with pytest.raises(OutputExistsError, match="already exists.*--force"):
        write_seg(cine, masks, path)
    assert pydicom.dcmread(path).SOPInstanceUID == first_uid
    write_seg(cine, masks, path, force=True)
    assert pydicom.dcmread(path).SOPInstanceUID != first_uid
    assert [p.name for p in tmp_path.iterdir()] == ["seg.dcm"]


def test_read_seg_refuses_other_dicom_and_a_shorter_run(source, tmp_path):
    cine, masks = source
    with pytest.raises(InputError, match="not a DICOM Segmentation"):
        read_seg(cine.source_path)
    path = write_seg(cine, masks, tmp_path / "seg.dcm")
    with pytest.raises(InputError, match="references frame 5 but the run has 3"):
        read_seg(path, n_frames=3)


def test_single_frame_instances_are_referenced_one_by_one(source, tmp_path):
    """A run from a folder of single-frame XA files: one instance per frame, no frame number."""
    cine, masks = source
    uids = [pydicom.uid.generate_uid() for _ in range(N_FRAMES)]
    references = tuple(
        replace(ref, sop_instance_uid=uid, frame_number=None)
        for ref, uid in zip(cine.references, uids, strict=True)
    )
    path = write_seg(replace(cine, references=references), masks, tmp_path / "seg.dcm")
    seg = hd.seg.segread(path)
    stored = [
        item.DerivationImageSequence[0].SourceImageSequence[0]
        for item in seg.PerFrameFunctionalGroupsSequence
    ]
    assert [s.ReferencedSOPInstanceUID for s in stored] == uids[1:-1]
    assert not any("ReferencedFrameNumber" in s for s in stored)
    pixels = seg.get_pixels_by_source_instance(source_sop_instance_uids=uids[1:-1])
    np.testing.assert_array_equal(pixels[..., 0], masks[1:-1])
    data = read_seg(path, n_frames=N_FRAMES)
    np.testing.assert_array_equal(data.masks, masks)
    assert data.source_sop_instance_uids == tuple(uids[1:-1])
    if shutil.which("dciodvfy"):
        assert _dciodvfy_errors(path) == []


@pytest.mark.parametrize("shape", [(1, 5, 3), (9, 7, 5), (17, 16, 16), (3, 1, 1)])
def test_binary_pixel_data_is_packed_as_pydicom_packs_it_eight_frames_at_a_time(shape):
    from pydicom.pixels import pack_bits

    from AngioSegLib.io.seg_dataset import packed_bits

    frames = (np.random.default_rng(sum(shape)).random(shape) > 0.5).astype(np.uint8)
    assert packed_bits(frames) == pack_bits(frames.ravel())
