"""Labelmap stacks: Slicer reads the .seq.nrrd back exactly; the NIfTI keeps layout and spacing."""

from __future__ import annotations

import nibabel as nib
import nrrd
import numpy as np
import pytest

from AngioSegLib.errors import InputError, OutputExistsError
from AngioSegLib.io.labelmap import write_labelmap_nifti, write_labelmap_sequence

T, H, W = 5, 24, 32
TIMES_S = np.arange(T) / 15.0


@pytest.fixture(scope="module")
def masks():
    """Asymmetric masks (a row bar and a column bar moving with the frame) to catch transposes."""
    out = np.zeros((T, H, W), dtype=np.uint8)
    for t in range(T):
        out[t, 2 + t, 3:20] = 1
        out[t, 10:22, 25 - t] = 1
    return out


def _read_with_slicer(path):
    slicer = pytest.importorskip("slicer")
    vtk = pytest.importorskip("vtk")
    from vtk.util.numpy_support import vtk_to_numpy

    scene = slicer.vtkMRMLScene()
    sequence = slicer.vtkMRMLSequenceNode()
    scene.AddNode(sequence)
    storage = slicer.vtkMRMLVolumeSequenceStorageNode()
    scene.AddNode(storage)
    storage.SetFileName(str(path))
    assert storage.ReadData(sequence) == 1
    volumes, ijk_to_ras = [], []
    for i in range(sequence.GetNumberOfDataNodes()):
        node = sequence.GetNthDataNode(i)
        image = node.GetImageData()
        dims = image.GetDimensions()
        voxels = vtk_to_numpy(image.GetPointData().GetScalars()).reshape(dims[::-1])
        volumes.append(voxels[0])
        matrix = vtk.vtkMatrix4x4()
        node.GetIJKToRASMatrix(matrix)
        ijk_to_ras.append([[matrix.GetElement(r, c) for c in range(4)] for r in range(4)])
        assert node.GetClassName() == "vtkMRMLLabelMapVolumeNode"
    values = [sequence.GetNthIndexValue(i) for i in range(sequence.GetNumberOfDataNodes())]
    return np.stack(volumes), values, sequence, np.array(ijk_to_ras)


def test_slicer_reads_sequence_exactly(masks, tmp_path):
    path = write_labelmap_sequence(masks, tmp_path / "labels.seq.nrrd", spacing_mm=0.25,
                                   frame_times_s=TIMES_S)
    volumes, values, sequence, ijk_to_ras = _read_with_slicer(path)
    assert sequence.GetNumberOfDataNodes() == T
    np.testing.assert_array_equal(volumes, masks)
    assert values == [f"{t:.3f}" for t in TIMES_S]
    assert (sequence.GetIndexName(), sequence.GetIndexUnit()) == ("time", "s")
    # DICOMImageSequencePlugin geometry: IJK→RAS diag(−1, −1, 1) · spacing, origin 0
    expected = np.diag([-0.25, -0.25, 1.0, 1.0])
    np.testing.assert_allclose(ijk_to_ras, np.broadcast_to(expected, (T, 4, 4)), atol=1e-9)


def test_sequence_without_timing_indexes_frames(masks, tmp_path):
    path = write_labelmap_sequence(masks, tmp_path / "labels.seq.nrrd")
    volumes, values, sequence, ijk_to_ras = _read_with_slicer(path)
    np.testing.assert_array_equal(volumes, masks)
    assert values == [str(t) for t in range(T)]
    assert sequence.GetIndexName() == "frame"
    np.testing.assert_allclose(ijk_to_ras[0], np.diag([-1.0, -1.0, 1.0, 1.0]), atol=1e-9)


def test_sequence_header_has_the_list_axis_first(masks, tmp_path):
    path = write_labelmap_sequence(masks, tmp_path / "labels.seq.nrrd", frame_times_s=TIMES_S)
    data, header = nrrd.read(str(path))
    assert list(header["sizes"]) == [T, W, H, 1]
    assert list(header["kinds"]) == ["list", "domain", "domain", "domain"]
    assert header["axis 0 index type"] == "numeric"
    np.testing.assert_array_equal(data[..., 0].transpose(0, 2, 1), masks)


def test_nifti_layout_and_spacing(masks, tmp_path):
    path = write_labelmap_nifti(masks, tmp_path / "labels.nii.gz", spacing_mm=0.3,
                                frame_times_s=TIMES_S)
    image = nib.load(path)
    data = np.asarray(image.dataobj)
    assert data.shape == (W, H, T)  # x = column, y = row, z = frame
    np.testing.assert_array_equal(data.transpose(2, 1, 0), masks)
    np.testing.assert_allclose(image.header.get_zooms(), (0.3, 0.3, 1 / 15.0), rtol=1e-6)
    np.testing.assert_allclose(image.affine[:3, :3], np.diag([-0.3, -0.3, 1 / 15.0]), rtol=1e-6)


def test_nifti_without_calibration_or_timing_uses_unit_spacing(masks, tmp_path):
    image = nib.load(write_labelmap_nifti(masks, tmp_path / "labels.nii.gz"))
    assert image.header.get_zooms() == (1.0, 1.0, 1.0)


@pytest.mark.parametrize("writer", [write_labelmap_sequence, write_labelmap_nifti])
def test_no_overwrite_without_force_and_nothing_left_on_error(writer, masks, tmp_path):
    path = tmp_path / ("labels.seq.nrrd" if writer is write_labelmap_sequence else "labels.nii.gz")
    path.write_bytes(b"keep")
    with pytest.raises(OutputExistsError, match="already exists"):
        writer(masks, path)
    assert path.read_bytes() == b"keep"
    writer(masks, path, force=True)
    assert path.stat().st_size > 100
    with pytest.raises(InputError, match="one time per frame"):
        writer(masks, tmp_path / "other", frame_times_s=TIMES_S[:2])
    with pytest.raises(InputError, match="only whole values 0–1"):
        writer(masks * 2, tmp_path / "other")
    with pytest.raises(InputError, match=r"\(T, H, W\)"):
        writer(masks[0], tmp_path / "other")
    assert [p.name for p in tmp_path.iterdir()] == [path.name]
