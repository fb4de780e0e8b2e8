"""DICOM Segmentation of a run's coronary segments (SYNTAX): ``anatomy.dcm``.

One BINARY segment per SYNTAX segment that names at least one pixel of the run (numbered 1, 2, …
in the order of the label values), each frame referencing its XA source frame, built like the
vessel SEG (:func:`.seg_dataset.build_seg_dataset`: same study, new series, no Frame of
Reference). Each segment says what it is with codes from DICOM PS3.16:

- category "Anatomical Structure" (SCT 91723000, CID 7150);
- type: the coronary artery segment from CID 3014 "Coronary Artery Segments" (the BARI/CASS
  segments coded in SNOMED CT; SYNTAX's segments are the AHA/CASS ones, so most map one to one),
  or for SYNTAX 16 (the posterolateral trunk of the RCA, absent from CID 3014) "Posterolateral
  branch of right coronary artery" (SCT 17269004) from CID 3015 "Coronary Arteries";
- SYNTAX 9a and 10a ("First/Second diagonal a": an additional diagonal beside the first or
  second one) have no code in PS3.16 or SNOMED CT. Reusing the 1st/2nd diagonal's code would
  make two segments of one SEG claim the same structure, and BARI's "diagonal laterals" (15A,
  16A) are side branches *of* the diagonal, another thing. They take a code of the local scheme
  :data:`LOCAL_SCHEME` ("99" designators are private, PS3.3 8.2), declared in the Coding Scheme
  Identification Sequence;
- anatomic region: the parent artery from CID 3016 "Major Coronary Arteries" (RCA, left main,
  LAD, circumflex), so even a segment with a local type has a standard code for where it is;
- recommended display colour: the table's RGB (:data:`AngioSegLib.anatomy.segments.SEGMENTS`) in
  CIELab.

A run in which no pixel names a segment (every label 0) has nothing to store: a SEG needs at
least one segment, so :func:`write_anatomy_seg` refuses it and the outputs write no anatomy.dcm.
:func:`read_anatomy_seg` reads the SEG back into the (T, H, W) label map, naming each segment by
its property type code.
"""

from __future__ import annotations

import os
from pathlib import Path

import highdicom as hd
import numpy as np
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code

from AngioSegLib.anatomy.segments import BY_VALUE, SEGMENTS, CoronarySegment
from AngioSegLib.cine import CineRun
from AngioSegLib.errors import InputError
from AngioSegLib.io.seg_dataset import (
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
    "ANATOMY_SERIES",
    "LOCAL_SCHEME",
    "property_type",
    "read_anatomy_seg",
    "write_anatomy_seg",
]

LOCAL_SCHEME = "99ANGIOSEG"
"""Coding Scheme Designator of AngioSeg's local codes (SYNTAX segments PS3.16 does not code)."""

ANATOMY_SERIES = SegSeries(
    description="AngioSeg coronary segments (SYNTAX)",
    content_label="SYNTAX_SEGMENTS",
    content_description="Coronary artery segments (SYNTAX)",
    series_offset=1100,
)
"""The anatomy SEG's series: SeriesNumber 1100 + the XA's (vessel SEG 1000+, SR 2000+)."""

_CID3014 = codes.cid3014
_PROPERTY_TYPES: dict[str, Code] = {
    "1": _CID3014.ProximalRightCoronaryArtery,
    "2": _CID3014.MidRightCoronaryArtery,
    "3": _CID3014.DistalRightCoronaryArtery,
    "4": _CID3014.PosteriorDescendingRightCoronaryArtery,
    "5": _CID3014.LeftMainCoronaryArtery,
    "6": _CID3014.ProximalLeftAnteriorDescendingCoronaryArtery,
    "7": _CID3014.MidLeftAnteriorDescendingCoronaryArtery,
    "8": _CID3014.DistalLeftAnteriorDescendingCoronaryArtery,
    "9": _CID3014._1stDiagonalCoronaryArtery,
    "9a": Code("SYNTAX-9a", LOCAL_SCHEME, "First diagonal a coronary artery segment"),
    "10": _CID3014._2ndDiagonalCoronaryArtery,
    "10a": Code("SYNTAX-10a", LOCAL_SCHEME, "Second diagonal a coronary artery segment"),
    "11": _CID3014.ProximalCircumflexCoronaryArtery,
    "12": _CID3014.IntermediateArteryRamus,
    "12a": _CID3014._1stMarginalCoronaryArtery,
    "12b": _CID3014._2ndMarginalCoronaryArtery,
    "13": _CID3014.DistalCircumflexCoronaryArtery,
    "14": _CID3014._1stLeftPosterolateralCoronaryArtery,
    "14a": _CID3014._2ndLeftPosterolateralCoronaryArtery,
    "14b": _CID3014._3rdLeftPosterolateralCoronaryArtery,
    "15": _CID3014.LeftPosteriorDescendingCircumflexCoronaryArtery,
    "16": codes.cid3015.PosterolateralBranchOfRightCoronaryArtery,
    "16a": _CID3014._1stRightPosterolateralCoronaryArtery,
    "16b": _CID3014._2ndRightPosterolateralCoronaryArtery,
    "16c": _CID3014._3rdRightPosterolateralCoronaryArtery,
}
"""Segmented Property Type by SYNTAX number (see the module's docstring for the choices)."""

_VALUE_OF_TYPE = {
    (_PROPERTY_TYPES[s.syntax].value, _PROPERTY_TYPES[s.syntax].scheme_designator): s.value
    for s in SEGMENTS
}
"""Label value by Segmented Property Type (code value, scheme): how a SEG is read back."""

_ARTERIES: dict[str, Code] = {
    "RCA": codes.cid3016.RightCoronaryArtery,
    "LM": codes.cid3016.LeftMainCoronaryArtery,
    "LAD": codes.cid3016.LeftAnteriorDescendingCoronaryArtery,
    "LCx": codes.cid3016.CircumflexCoronaryArtery,
}
"""Anatomic Region (the parent major coronary artery, CID 3016) by the table's ``artery``."""


def property_type(segment: CoronarySegment) -> Code:
    """The Segmented Property Type code of a SYNTAX ``segment`` (PS3.16, or local)."""
    return _PROPERTY_TYPES[segment.syntax]


def write_anatomy_seg(
    cine: CineRun,
    anatomy: np.ndarray,
    path: str | os.PathLike[str],
    *,
    algorithm_name: str = "AngioSeg CE-Net",
    algorithm_version: str = "0.1.0",
    force: bool = False,
) -> Path:
    """Write the coronary segment labels ``anatomy`` of ``cine`` as a BINARY DICOM SEG.

    ``anatomy`` is (T, H, W) integer SYNTAX label values (0 = background or a vessel of no named
    segment, 1–25 :data:`~AngioSegLib.anatomy.segments.SEGMENTS`), the cine's shape. One segment
    per value present; a segment's frames are the cine frames where it has pixels. Raises
    :class:`~AngioSegLib.errors.InputError` for a non-DICOM run, a wrong shape or value, or a run
    with no named pixel. Returns the written path.
    """
    require_dicom_source(cine)
    labels = _check_labels(cine, anatomy)
    in_frame = [set(np.unique(frame).tolist()) - {0} for frame in labels]  # a frame at a time
    present = sorted(set().union(*in_frame))
    if not present:
        raise InputError(
            f"no pixel of '{cine.name}' names a SYNTAX segment (every anatomy label is 0); a "
            "DICOM SEG needs at least one segment, so there is no anatomy SEG to write"
        )
    algorithm = algorithm_identification(algorithm_name, algorithm_version)
    segments, stored = [], []
    for number, value in enumerate(present, start=1):
        segments.append(_segment_description(number, BY_VALUE[value], algorithm))
        stored += [StoredFrame(number, t) for t, values in enumerate(in_frame) if value in values]
    ds = build_seg_dataset(
        read_source_header(cine),
        cine.references,
        lambda frame: labels[frame.index] == present[frame.segment_number - 1],
        stored,
        segments,
        series=ANATOMY_SERIES,
    )
    ds.SoftwareVersions = algorithm_version
    if any(property_type(BY_VALUE[v]).scheme_designator == LOCAL_SCHEME for v in present):
        ds.CodingSchemeIdentificationSequence = [_local_scheme()]
    return save_seg(ds, path, force=force)


def read_anatomy_seg(path: str | os.PathLike[str], n_frames: int | None = None) -> np.ndarray:
    """(T, H, W) uint8 SYNTAX label values of an anatomy SEG (:func:`write_anatomy_seg`), on
    the source run's frames (frames not stored are 0).

    Each segment's value comes from its Segmented Property Type code, so a SEG whose segments
    are numbered otherwise reads the same. ``n_frames`` is the run's frame count; without it the
    run ends at the last stored frame. Raises InputError for a segment of another type or for
    two segments on one pixel (a label map holds one name per pixel).
    """
    ds = open_seg(path)
    if ds.get("SegmentationType") != "BINARY":
        raise InputError(f"{path} is a {ds.get('SegmentationType')} SEG; an anatomy SEG is "
                         "BINARY")
    value_of_number = {}
    for item in ds.SegmentSequence:
        code = item.SegmentedPropertyTypeCodeSequence[0]
        key = (str(code.CodeValue), str(code.CodingSchemeDesignator))
        if key not in _VALUE_OF_TYPE:
            raise InputError(
                f"segment {item.SegmentNumber} of {path} ({item.get('SegmentLabel', '')}, "
                f"{key[1]} {key[0]}) is no SYNTAX coronary segment; read a vessel SEG with "
                "read_seg"
            )
        value_of_number[int(item.SegmentNumber)] = _VALUE_OF_TYPE[key]
    positions, _, _ = frame_positions(ds)
    total = run_length(path, positions, n_frames)
    stored = ds.pixel_array.reshape(len(positions), ds.Rows, ds.Columns)
    labels = np.zeros((total, ds.Rows, ds.Columns), np.uint8)
    for groups, position, frame in zip(ds.PerFrameFunctionalGroupsSequence, positions, stored,
                                       strict=True):
        number = int(groups.SegmentIdentificationSequence[0].ReferencedSegmentNumber)
        if number not in value_of_number:
            raise InputError(f"{path} has a frame of segment {number}, which it does not "
                             "describe")
        on = frame > 0
        target = labels[position - 1]
        if (target[on] > 0).any():
            raise InputError(f"{path}: two segments cover one pixel of frame {position}; a "
                             "label map holds one segment name per pixel")
        target[on] = value_of_number[number]
    return labels


def _check_labels(cine: CineRun, anatomy: np.ndarray) -> np.ndarray:
    """``anatomy`` as (T, H, W) uint8 after checking shape, type and values."""
    anatomy = np.asarray(anatomy)
    if anatomy.shape != cine.shape:
        raise InputError(
            f"anatomy labels must match the cine's shape {cine.shape}, found {anatomy.shape}"
        )
    if not np.issubdtype(anatomy.dtype, np.integer):
        raise InputError(f"anatomy labels must be integers (uint8), found {anatomy.dtype}")
    if anatomy.size and (anatomy.min() < 0 or anatomy.max() > len(SEGMENTS)):
        raise InputError(
            f"anatomy labels must be 0 (none) or 1–{len(SEGMENTS)} (SYNTAX segments), found "
            f"values from {anatomy.min()} to {anatomy.max()}"
        )
    return anatomy.astype(np.uint8, copy=False)


def _segment_description(
    number: int, segment: CoronarySegment, algorithm: hd.AlgorithmIdentificationSequence
) -> hd.seg.SegmentDescription:
    """Segment ``number`` of the SEG: SYNTAX ``segment`` with its codes and colour."""
    return hd.seg.SegmentDescription(
        segment_number=number,
        segment_label=f"{segment.syntax} {segment.name}",
        segmented_property_category=codes.SCT.AnatomicalStructure,
        segmented_property_type=property_type(segment),
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
        algorithm_identification=algorithm,
        anatomic_regions=[_ARTERIES[segment.artery]],
        display_color=hd.color.CIELabColor.from_rgb(*segment.colour),
    )


def _local_scheme() -> Dataset:
    """Coding Scheme Identification item that declares :data:`LOCAL_SCHEME`."""
    item = Dataset()
    item.CodingSchemeDesignator = LOCAL_SCHEME
    item.CodingSchemeName = "AngioSeg local codes (SYNTAX coronary segments)"
    item.CodingSchemeResponsibleOrganization = "AngioSeg"
    return item
