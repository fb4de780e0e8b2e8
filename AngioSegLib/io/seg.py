"""DICOM Segmentation (SEG) of a cine run, referencing each XA source frame; write and read.

An X-ray angiography run has no Frame of Reference, so highdicom cannot build the SEG for a
multi-frame XA source (highdicom issues #200, #284) and dcmqi would invent a geometry. We assemble
the Segmentation IOD with pydicom from highdicom's validated content objects
(:class:`highdicom.seg.SegmentDescription`, :class:`highdicom.AlgorithmIdentificationSequence`):

- one segment, "Coronary artery" (SCT 41801008) of category "Anatomical Structure"
  (SCT 91723000), algorithm type AUTOMATIC;
- one SEG frame per non-empty cine frame (the first frame when all are empty), each with a
  Derivation Image / Source Image reference to its XA frame (ReferencedFrameNumber for a
  multi-frame source) and SpatialLocationsPreserved YES;
- dimensions (ReferencedSegmentNumber, TemporalPositionIndex), the temporal position being the
  1-based cine frame number (= the source frame number of a multi-frame XA); no plane position,
  orientation or Frame of Reference;
- BINARY (1 bit, packed) by default, or FRACTIONAL PROBABILITY (8 bit, 255 = 1.0);
- patient and study copied from the XA; a new series in the same study.

The assembly (:mod:`.seg_dataset`: header, references, frames for any number of segments) is
shared with :mod:`.anatomy_seg`, which writes one segment per coronary segment in the same way;
its names stay importable from here.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import highdicom as hd
import numpy as np
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes

from AngioSegLib.cine import CineRun
from AngioSegLib.errors import InputError
from AngioSegLib.io.seg_dataset import (
    MAX_FRACTIONAL_VALUE,
    SegSeries,
    StoredFrame,
    algorithm_identification,
    build_seg_dataset,
    frame_positions,
    open_seg,
    read_source_header,
    require_dicom_source,
    run_length,
    save_seg,
)

__all__ = [
    "SegData",
    "SegSeries",
    "StoredFrame",
    "VESSEL_SERIES",
    "algorithm_identification",
    "build_seg_dataset",
    "frame_positions",
    "open_seg",
    "read_seg",
    "read_source_header",
    "require_dicom_source",
    "run_length",
    "save_seg",
    "write_seg",
]

SEGMENT_LABEL = "Coronary artery"
_SEGMENT_NUMBER = 1
_DISPLAY_COLOR = hd.color.CIELabColor.from_rgb(230, 40, 40)


VESSEL_SERIES = SegSeries(
    description="AngioSeg vessel segmentation",
    content_label="VESSELS",
    content_description="Coronary artery segmentation",
    series_offset=1000,
)


@dataclass(frozen=True)
class SegData:
    """A SEG read back, aligned to the source run's frames.

    ``masks`` is (T, H, W) uint8 {0, 1} (for a FRACTIONAL SEG: probability >= 0.5);
    ``probabilities`` is (T, H, W) float32 in [0, 1] for a FRACTIONAL SEG, else None.
    ``referenced_frame_numbers`` are the 1-based source frames of the stored SEG frames (frames
    not stored are empty).
    """

    masks: np.ndarray
    probabilities: np.ndarray | None
    segmentation_type: str
    source_sop_instance_uid: str
    source_sop_instance_uids: tuple[str, ...]
    referenced_frame_numbers: tuple[int, ...]
    segment_label: str
    algorithm_name: str
    algorithm_version: str


def write_seg(
    cine: CineRun,
    masks: np.ndarray,
    path: str | os.PathLike[str],
    *,
    probabilities: np.ndarray | None = None,
    fractional: bool = False,
    algorithm_name: str = "AngioSeg CE-Net",
    algorithm_version: str = "0.1.0",
    force: bool = False,
) -> Path:
    """Write the vessel masks (or, with ``fractional``, the probabilities) of ``cine`` as SEG.

    ``masks`` is (T, H, W) uint8 {0, 1}; ``probabilities`` (T, H, W) float32 in [0, 1] is
    required with ``fractional=True`` and not accepted otherwise. Returns the written path.
    """
    require_dicom_source(cine)
    pixels = _frames_to_store(cine, masks, probabilities, fractional)
    source = read_source_header(cine)
    stored = [
        StoredFrame(_SEGMENT_NUMBER, t) for t in range(cine.n_frames) if pixels(t).any()
    ] or [StoredFrame(_SEGMENT_NUMBER, 0)]
    ds = build_seg_dataset(
        source,
        cine.references,
        lambda frame: pixels(frame.index),
        stored,
        [_vessel_segment(algorithm_name, algorithm_version)],
        series=VESSEL_SERIES,
        fractional=fractional,
    )
    ds.SoftwareVersions = algorithm_version
    return save_seg(ds, path, force=force)


def _frames_to_store(
    cine: CineRun, masks: np.ndarray, probabilities: np.ndarray | None, fractional: bool
) -> Callable[[int], np.ndarray]:
    """Check the arrays against the cine (a frame at a time: no run-sized temporaries); return
    frame t → (H, W) uint8 (0/1, or 0..255 fractional)."""
    masks = np.asarray(masks)
    if masks.shape != cine.shape:
        raise InputError(f"masks must match the cine's shape {cine.shape}, found {masks.shape}")
    if not fractional:
        if probabilities is not None:
            raise InputError(
                "probabilities are stored only in a fractional SEG; "
                "pass fractional=True or leave probabilities out"
            )
        if any(((frame != 0) & (frame != 1)).any() for frame in masks):  # frame by frame:
            raise InputError("masks must hold only 0 and 1 (uint8), found other values")
        return lambda t: np.asarray(masks[t], dtype=np.uint8)
    if probabilities is None:
        raise InputError("a fractional SEG stores probabilities; pass probabilities (T, H, W)")
    probabilities = np.asarray(probabilities)
    if probabilities.shape != cine.shape:
        raise InputError(
            f"probabilities must match the cine's shape {cine.shape}, found {probabilities.shape}"
        )
    if any(not np.isfinite(frame).all() or frame.min() < 0 or frame.max() > 1
           for frame in probabilities):
        raise InputError("probabilities must lie in [0, 1]; found values outside or NaN")
    return lambda t: np.rint(np.asarray(probabilities[t], np.float32)
                             * MAX_FRACTIONAL_VALUE).astype(np.uint8)


def _vessel_segment(algorithm_name: str, algorithm_version: str) -> hd.seg.SegmentDescription:
    """The one segment of the vessel SEG: "Coronary artery" (SCT 41801008)."""
    return hd.seg.SegmentDescription(
        segment_number=_SEGMENT_NUMBER,
        segment_label=SEGMENT_LABEL,
        segmented_property_category=codes.SCT.AnatomicalStructure,
        segmented_property_type=codes.SCT.CoronaryArtery,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
        algorithm_identification=algorithm_identification(algorithm_name, algorithm_version),
        display_color=_DISPLAY_COLOR,
    )


def read_seg(path: str | os.PathLike[str], n_frames: int | None = None) -> SegData:
    """Read a single-segment SEG written by :func:`write_seg` back onto the source frames.

    ``n_frames`` is the source run's frame count; without it the run is taken to end at the last
    stored frame (trailing empty frames are not stored in the SEG).
    """
    ds = open_seg(path)
    if len(ds.SegmentSequence) != 1:
        raise InputError(
            f"{path} holds {len(ds.SegmentSequence)} segments; expected one vessel "
            "segment as AngioSeg writes it (read a coronary segment SEG, anatomy.dcm, with "
            "AngioSegLib.io.anatomy_seg.read_anatomy_seg)"
        )
    positions, uids, numbers = frame_positions(ds)
    total = run_length(path, positions, n_frames)
    stored = ds.pixel_array.reshape(len(positions), ds.Rows, ds.Columns)
    values = np.zeros((total, ds.Rows, ds.Columns), dtype=stored.dtype)
    values[np.asarray(positions) - 1] = stored
    fractional = ds.SegmentationType == "FRACTIONAL"
    probabilities = None
    if fractional:
        probabilities = values.astype(np.float32) / float(ds.MaximumFractionalValue)
        masks = (probabilities >= 0.5).astype(np.uint8)
    else:
        masks = values.astype(np.uint8)
    segment = ds.SegmentSequence[0]
    algorithm = segment.get("SegmentationAlgorithmIdentificationSequence", [Dataset()])[0]
    distinct = tuple(dict.fromkeys(uids))
    return SegData(
        masks=masks,
        probabilities=probabilities,
        segmentation_type=str(ds.SegmentationType),
        source_sop_instance_uid=distinct[0],
        source_sop_instance_uids=distinct,
        referenced_frame_numbers=tuple(numbers),
        segment_label=str(segment.SegmentLabel),
        algorithm_name=str(algorithm.get("AlgorithmName", "")),
        algorithm_version=str(algorithm.get("AlgorithmVersion", "")),
    )
