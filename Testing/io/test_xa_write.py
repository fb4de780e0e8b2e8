"""The XA writer (:mod:`AngioSegLib.io.xa_write`): phantom runs written in every transfer syntax
read back exactly (lossy JPEG marked and close), carry only what is known, and pass dciodvfy."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pydicom
import pytest

from AngioSegLib.cine import CineRun
from AngioSegLib.errors import InputError, OutputExistsError
from AngioSegLib.io.xa_write import XA_SOP_CLASS_UID, write_xa
from AngioSegLib.phantom.generator import PhantomOptions, make_phantom


@pytest.fixture(scope="module")
def tiny_run():
    return make_phantom(PhantomOptions(seed=5, n_frames=3, size=64))


@pytest.mark.parametrize("syntax", ["explicit", "implicit", "rle", "jpeg-ls", "jpeg2000"])
def test_lossless_xa_reads_back_exactly(tiny_run, tmp_path, syntax):
    path = write_xa(tiny_run.cine, tmp_path / "run.dcm", syntax)
    ds = pydicom.dcmread(path)
    assert ds.SOPClassUID == XA_SOP_CLASS_UID and ds.Modality == "XA"
    assert np.array_equal(ds.pixel_array, tiny_run.cine.frames)
    assert ds.BitsStored == 12 and ds.PhotometricInterpretation == "MONOCHROME2"
    spacing = float(ds.ImagerPixelSpacing[0]) / float(ds.EstimatedRadiographicMagnificationFactor)
    assert spacing == pytest.approx(tiny_run.cine.calibration.mm_per_pixel, rel=1e-12)
    assert float(ds.FrameTime) == pytest.approx(1000 / 15) and ds.CineRate == 15
    assert ds.NumberOfFrames == 3 and ds.FrameIncrementPointer == 0x00181063
    assert (float(ds.PositionerPrimaryAngle), float(ds.PositionerSecondaryAngle)) == (30.0, 20.0)


def test_jpeg_baseline_is_marked_lossy_and_close(tiny_run, tmp_path):
    ds = pydicom.dcmread(write_xa(tiny_run.cine, tmp_path / "run.dcm", "jpeg-baseline"))
    assert ds.BitsStored == 8 and ds.LossyImageCompression == "01"
    assert ds.LossyImageCompressionMethod == "ISO_10918_1"
    error = np.abs(ds.pixel_array.astype(int) - (tiny_run.cine.frames >> 4))
    assert error.mean() < 1.5 and error.max() <= 16


def _bare_cine(tiny_run) -> CineRun:
    """8-bit frames, irregular timing, no calibration and no view."""
    frames = (tiny_run.cine.frames >> 4).astype(np.uint8)
    return CineRun(frames=frames, frame_times_s=np.array([0.0, 0.1, 0.15]))


def test_irregular_uncalibrated_run_writes_only_what_is_known(tiny_run, tmp_path):
    ds = pydicom.dcmread(write_xa(_bare_cine(tiny_run), tmp_path / "run.dcm", "rle"))
    assert ds.FrameIncrementPointer == 0x00181065  # FrameTimeVector
    assert [float(v) for v in ds.FrameTimeVector] == pytest.approx([0.0, 100.0, 50.0])
    assert ds.BitsAllocated == ds.BitsStored == 8
    assert np.array_equal(ds.pixel_array, tiny_run.cine.frames >> 4)
    for absent in ("ImagerPixelSpacing", "DistanceSourceToDetector", "DistanceSourceToPatient"):
        assert absent not in ds
    assert ds.PositionerPrimaryAngle is None and ds.KVP is None


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dciodvfy (dicom3tools) not installed")
@pytest.mark.parametrize(
    "syntax, bare",
    [("explicit", False), ("jpeg-ls", False), ("jpeg-baseline", False), ("rle", True)],
)
def test_dciodvfy_finds_no_errors(tiny_run, tmp_path, syntax, bare):
    cine = _bare_cine(tiny_run) if bare else tiny_run.cine
    path = write_xa(cine, tmp_path / "run.dcm", syntax)
    result = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, timeout=60)
    report = result.stdout + result.stderr
    assert "XAImage" in report
    assert not [line for line in report.splitlines() if line.startswith("Error")], report


def test_write_refuses_to_overwrite_and_bad_input(tiny_run, tmp_path):
    path = write_xa(tiny_run.cine, tmp_path / "run.dcm")
    before = path.read_bytes()
    with pytest.raises(OutputExistsError, match="already exists; choose another name"):
        write_xa(tiny_run.cine, path)
    assert path.read_bytes() == before
    assert write_xa(tiny_run.cine, path, force=True) == path
    assert [p.name for p in tmp_path.iterdir()] == ["run.dcm"]  # no temporary file left
    with pytest.raises(InputError, match="transfer syntax must be one of"):
        write_xa(tiny_run.cine, tmp_path / "other.dcm", "jpeg-lossless")
    floats = CineRun(frames=tiny_run.cine.frames.astype(np.float32))
    with pytest.raises(InputError, match="unsigned 8- or 16-bit integers, found float32"):
        write_xa(floats, tmp_path / "float.dcm")
