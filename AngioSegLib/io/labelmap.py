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

import gzip
import io
import os
from collections.abc import Iterator
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
    """Write (T, H, W) uint8 masks (values 0…``max_label``) as a Slicer volume sequence,
    compressed one image row at a time (no copy of the whole stack)."""
    import nrrd

    masks = _check_masks(masks, max_label)
    spacing = _spacing(spacing_mm)
    times = _check_times(frame_times_s, len(masks))
    if times is None:
        name, unit, values = "frame", "", [str(t) for t in range(len(masks))]
    else:
        name, unit, values = "time", "s", [f"{t:.3f}" for t in times]
    n_frames, rows, cols = masks.shape
    directions = np.array([[np.nan] * 3, [spacing, 0.0, 0.0], [0.0, spacing, 0.0],
                           [0.0, 0.0, 1.0]])
    header = "".join(f"{line}\n" for line in (
        "NRRD0005",
        "# Complete NRRD file format specification at:",
        "# http://teem.sourceforge.net/nrrd/format.html",
        "type: uint8",
        "dimension: 4",
        "space: left-posterior-superior",
        f"sizes: {n_frames} {cols} {rows} 1",
        f"space directions: {nrrd.format_optional_vector_list(directions)}",
        "kinds: list domain domain domain",
        "encoding: gzip",
        f'labels: "{name}" "" "" ""',
        f'units: "{unit}" "" "" ""',
        "space origin: (0,0,0)",
        "DataNodeClassName:=vtkMRMLLabelMapVolumeNode",
        "axis 0 index type:=numeric",
        f"axis 0 index values:={' '.join(values)}",
        "",
    ))
    # NRRD axes (frame, column, row, 1), fastest first: each image row as (W, T) in C order
    rows_data = (np.ascontiguousarray(masks[:, row, :].T) for row in range(rows))
    with atomic_write(path, force=force) as tmp:
        _write_gzipped(tmp, header.encode("ascii"), rows_data)
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
    y = row, z = frame, compressed one frame at a time (no copy of the whole stack)."""
    import nibabel as nib

    masks = _check_masks(masks, max_label)
    spacing = _spacing(spacing_mm)
    times = _check_times(frame_times_s, len(masks))
    frame_step = float(np.median(np.diff(times))) if times is not None and len(times) > 1 else 1.0
    affine = np.diag([-spacing, -spacing, frame_step, 1.0])
    header = nib.Nifti1Header()
    header.set_data_dtype(np.uint8)
    header.set_data_shape(masks.shape[::-1])
    header.set_qform(affine, code=1)
    header.set_sform(affine, code=1)
    header.set_xyzt_units(xyz="mm", t="sec")
    header["descrip"] = description.encode("ascii")[:79]
    head = io.BytesIO()
    header.write_to(head)  # 348 bytes, the empty extension flag; voxels follow at 352
    # x (column) fastest, then y (row), then z (frame): the frames' own C-order bytes
    with atomic_write(path, force=force) as tmp:
        _write_gzipped(tmp, head.getvalue(), iter(masks), compress_head=True)
    return Path(path)


def _write_gzipped(path: Path, head: bytes, chunks: Iterator[np.ndarray],
                   compress_head: bool = False) -> None:
    """Write ``head`` (plain, or inside the gzip stream) then the gzip-compressed bytes of each
    array of ``chunks`` in turn."""
    with open(path, "wb") as raw:
        if not compress_head:
            raw.write(head)
        with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0) as stream:
            if compress_head:
                stream.write(head)
            for chunk in chunks:
                stream.write(np.ascontiguousarray(chunk).data)


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
    """``masks`` as (T, H, W) uint8 (uint8 input as it is, no copy); InputError unless every
    value is whole and within 0…``max_label``. Checked a frame at a time."""
    masks = np.asarray(masks)
    if masks.ndim != 3 or 0 in masks.shape:
        raise InputError(f"masks must be a (T, H, W) array of frames, found shape {masks.shape}")
    integral = masks.dtype.kind in "biu"
    if any(frame.min() < 0 or frame.max() > max_label
           or not (integral or np.array_equal(frame, np.round(frame))) for frame in masks):
        raise InputError(f"masks must hold only whole values 0–{max_label} (uint8), found "
                         "other values")
    return masks.astype(np.uint8, copy=False)


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
