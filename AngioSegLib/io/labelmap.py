"""Vessel masks as labelmap stacks: Slicer's volume-sequence NRRD (``.seq.nrrd``) and NIfTI.

The same writers take the coronary-segment label maps (values 0–25, ``max_label`` =
:data:`~AngioSegLib.anatomy.segments.SEGMENT_CLASSES` − 1); :func:`write_colour_table` writes their
names and colours as a Slicer colour table (``.ctbl``).

Geometry follows Slicer's DICOMImageSequencePlugin for XA frames, so the labels overlay the cine
as Slicer loads it: IJK→RAS = diag(−1, −1, 1) · spacing, origin 0, i = column, j = row, one slice
per frame (k = 0). Spacing is ``spacing_mm`` (mm/pixel; 1.0 when the run is uncalibrated).

``.seq.nrrd`` — a 4-D NRRD with the sequence axis first, as vtkMRMLVolumeSequenceStorageNode
reads it (Slicer ≤ 5.8 wrote this layout; later versions read it too)::

    sizes: T W H 1          kinds: list domain domain domain
    space: left-posterior-superior   (LPS +x,+y  ==  RAS −x,−y)
    labels: "time" "" "" ""          units: "s" "" "" ""
    axis 0 index type:=numeric       axis 0 index values:=0.000 0.067 ...
    DataNodeClassName:=vtkMRMLLabelMapVolumeNode

Index values are the frame times in s with 3 decimals (index name "time"), or frame numbers
0, 1, ... (index name "frame") when the run has no timing, as the plugin does.

``.nii.gz`` — one 3-D volume x = column, y = row, z = frame; voxel size (mm, mm, frame time in s,
or 1 without timing); affine diag(−mm, −mm, z) in RAS, the same in-plane geometry as above.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from AngioSegLib.errors import InputError
from AngioSegLib.io.atomic import atomic_write

__all__ = ["write_colour_table", "write_labelmap_nifti", "write_labelmap_sequence"]


def write_labelmap_sequence(
    masks: np.ndarray,
    path: str | os.PathLike[str],
    *,
    spacing_mm: float | None = None,
    frame_times_s: np.ndarray | None = None,
    force: bool = False,
    max_label: int = 1,
    description: str = "AngioSeg vessels; z = frame",
) -> Path:
    """Write (T, H, W) uint8 masks (values 0…``max_label``) as a Slicer volume sequence."""
    import nrrd

    masks = _check_masks(masks, max_label)
    spacing = _spacing(spacing_mm)
    times = _check_times(frame_times_s, len(masks))
    if times is None:
        name, unit, values = "frame", "", [str(t) for t in range(len(masks))]
    else:
        name, unit, values = "time", "s", [f"{t:.3f}" for t in times]
    header = {
        "type": "uint8",
        "dimension": 4,
        "space": "left-posterior-superior",
        "space directions": [
            [np.nan] * 3,
            [spacing, 0.0, 0.0],
            [0.0, spacing, 0.0],
            [0.0, 0.0, 1.0],
        ],
        "space origin": [0.0, 0.0, 0.0],
        "kinds": ["list", "domain", "domain", "domain"],
        "labels": [name, "", "", ""],
        "units": [unit, "", "", ""],
        "encoding": "gzip",
        "DataNodeClassName": "vtkMRMLLabelMapVolumeNode",
        "axis 0 index type": "numeric",
        "axis 0 index values": " ".join(values),
    }
    data = masks.transpose(0, 2, 1)[..., np.newaxis]  # (T, W, H, 1): NRRD axes 0..3, fastest first
    with atomic_write(path, force=force) as tmp:
        nrrd.write(str(tmp), np.asfortranarray(data), header)
    return Path(path)


def write_labelmap_nifti(
    masks: np.ndarray,
    path: str | os.PathLike[str],
    *,
    spacing_mm: float | None = None,
    frame_times_s: np.ndarray | None = None,
    force: bool = False,
    max_label: int = 1,
    description: str = "AngioSeg vessels; z = frame",
) -> Path:
    """Write (T, H, W) uint8 masks (values 0…``max_label``) as one NIfTI volume x = column,
    y = row, z = frame."""
    import nibabel as nib

    masks = _check_masks(masks, max_label)
    spacing = _spacing(spacing_mm)
    times = _check_times(frame_times_s, len(masks))
    frame_step = float(np.median(np.diff(times))) if times is not None and len(times) > 1 else 1.0
    affine = np.diag([-spacing, -spacing, frame_step, 1.0])
    image = nib.Nifti1Image(masks.transpose(2, 1, 0), affine)
    image.header.set_xyzt_units(xyz="mm", t="sec")
    image.header["descrip"] = description.encode("ascii")[:79]
    image.set_qform(affine, code=1)
    image.set_sform(affine, code=1)
    with atomic_write(path, force=force) as tmp:
        nib.save(image, str(tmp))
    return Path(path)


def write_colour_table(names: dict[int, tuple[str, tuple[int, int, int]]],
                       path: str | os.PathLike[str], force: bool = False) -> Path:
    """Write a Slicer colour table: one line ``value name R G B 255`` per label value of
    ``names`` (value → (name, RGB 0–255)); spaces in names become underscores."""
    lines = ["# Color table file " + Path(path).name, f"# {len(names)} values"]
    for value, (name, (r, g, b)) in sorted(names.items()):
        lines.append(f"{value} {'_'.join(name.split())} {r} {g} {b} 255")
    with atomic_write(path, force=force) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    return Path(path)


def _check_masks(masks: np.ndarray, max_label: int = 1) -> np.ndarray:
    masks = np.asarray(masks)
    if masks.ndim != 3 or 0 in masks.shape:
        raise InputError(f"masks must be a (T, H, W) array of frames, found shape {masks.shape}")
    if masks.size and (masks.min() < 0 or masks.max() > max_label
                       or not np.array_equal(masks, np.round(masks))):
        raise InputError(f"masks must hold only whole values 0–{max_label} (uint8), found "
                         "other values")
    return masks.astype(np.uint8)


def _spacing(spacing_mm: float | None) -> float:
    if spacing_mm is None:
        return 1.0
    if not 0.0 < spacing_mm < 10.0:
        raise InputError(f"pixel spacing must be between 0 and 10 mm, found {spacing_mm} mm")
    return float(spacing_mm)


def _check_times(frame_times_s: np.ndarray | None, n_frames: int) -> np.ndarray | None:
    if frame_times_s is None:
        return None
    times = np.asarray(frame_times_s, dtype=float)
    if times.shape != (n_frames,):
        raise InputError(
            f"frame_times_s needs one time per frame ({n_frames}), found shape {times.shape}"
        )
    if not np.isfinite(times).all() or (np.diff(times) <= 0).any():
        raise InputError("frame times must be finite and increasing (s)")
    return times
