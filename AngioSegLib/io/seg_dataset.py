"""The Segmentation IOD of a cine run without a Frame of Reference, shared by the vessel SEG
(:mod:`.seg`) and the coronary-segment SEG (:mod:`.anatomy_seg`): assembling the dataset
(:func:`build_seg_dataset`) for any number of segments, and, on reading, locating each stored
frame on the source run (:func:`frame_positions`).

See :mod:`.seg` for the layout: one SEG frame per stored (segment, cine frame), each with a
Derivation Image / Source Image reference to its XA frame, dimensions (ReferencedSegmentNumber,
TemporalPositionIndex = 1-based cine frame), BINARY (1 bit, packed) or FRACTIONAL PROBABILITY
(8 bit, 255 = 1.0), patient and study copied from the XA, a new series in the same study.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.pixels import pack_bits
from pydicom.sr.codedict import codes
from pydicom.uid import ExplicitVRLittleEndian, SegmentationStorage, generate_uid

from AngioSegLib.cine import CineRun, FrameReference
from AngioSegLib.errors import InputError
from AngioSegLib.io.atomic import atomic_write

__all__ = [
    "MAX_FRACTIONAL_VALUE",
    "SegSeries",
    "StoredFrame",
    "algorithm_identification",
    "build_seg_dataset",
    "frame_positions",
    "open_seg",
    "read_source_header",
    "require_dicom_source",
    "run_length",
    "save_seg",
]

MAX_FRACTIONAL_VALUE = 255
_PATIENT_STUDY_KEYWORDS = (
    "SpecificCharacterSet",
    "PatientName",
    "PatientID",
    "IssuerOfPatientID",
    "PatientBirthDate",
    "PatientSex",
    "PatientAge",
    "PatientSize",
    "PatientWeight",
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "StudyID",
    "AccessionNumber",
    "ReferringPhysicianName",
    "StudyDescription",
)
_REQUIRED_EMPTY = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyDate",
    "StudyTime",
    "StudyID",
    "AccessionNumber",
    "ReferringPhysicianName",
)


@dataclass(frozen=True)
class SegSeries:
    """How a SEG series names itself: ``description`` (SeriesDescription), ``content_label``
    (ContentLabel, a DICOM CS: upper case, digits, space, underscore), ``content_description``,
    and ``series_offset`` (SeriesNumber = offset + the XA's SeriesNumber)."""

    description: str
    content_label: str
    content_description: str
    series_offset: int


@dataclass(frozen=True)
class StoredFrame:
    """One SEG frame: the mask of segment ``segment_number`` (1-based) on cine frame ``index``
    (0-based; its DICOM source frame is ``cine.references[index]``)."""

    segment_number: int
    index: int


def _strict_value(element):
    """A copied value made valid where old files bend the rules: DA '1994.10.16' → '19941016',
    TM '08:30:00' → '083000' (strict when writing, tolerant when reading)."""
    value = element.value
    if not isinstance(value, str):
        return value
    if element.VR == "DA":
        return value.replace(".", "")
    if element.VR == "TM":
        return value.replace(":", "")
    return value


def require_dicom_source(cine: CineRun) -> None:
    """Raise :class:`~AngioSegLib.errors.InputError` unless ``cine`` was read from DICOM (a SEG
    references its source frames)."""
    if not cine.references:
        raise InputError(
            f"a DICOM SEG references the source DICOM frames, but '{cine.name}' was not read "
            "from DICOM; segment a DICOM XA input to get a SEG (labelmaps work for any input)"
        )


def save_seg(ds: Dataset, path: str | os.PathLike[str], *, force: bool = False) -> Path:
    """Write ``ds`` as a DICOM file at ``path`` atomically (refused over a file without
    ``force``); return the path."""
    with atomic_write(path, force=force) as tmp:
        ds.save_as(tmp, enforce_file_format=True)
    return Path(path)


def read_source_header(cine: CineRun, reference: FrameReference | None = None,
                       needed_by: str = "the SEG copies patient and study from it") -> Dataset:
    """The XA header (no pixels) of ``reference``'s instance (default: the first referenced);
    ``needed_by`` says in the error why the file must stay in place."""
    reference = reference or cine.references[0]
    source = reference.path or cine.source_path
    if source is None or not Path(source).is_file():
        raise InputError(
            f"the source DICOM file of '{cine.name}' is not available ({source}); "
            f"{needed_by}, so keep the input file in place"
        )
    try:
        return pydicom.dcmread(source, stop_before_pixels=True)
    except (OSError, pydicom.errors.InvalidDicomError) as error:
        raise InputError(f"cannot read the source DICOM header {source}: {error}") from error


def build_seg_dataset(
    source: Dataset,
    references: Sequence[FrameReference],
    frame_of: Callable[[StoredFrame], np.ndarray],
    stored: Sequence[StoredFrame],
    segments: Sequence[hd.seg.SegmentDescription],
    *,
    series: SegSeries,
    fractional: bool = False,
) -> Dataset:
    """A Segmentation dataset in a new series (new UIDs) of the XA ``source``'s study, with no
    Frame of Reference.

    ``stored`` lists the stored frames in order, each with its segment and cine frame;
    ``frame_of(stored frame)`` gives its (H, W) uint8 pixels (0/1, or 0–255 with
    ``fractional``), asked for one frame at a time (no copy of the whole run is made);
    ``references`` are the cine's source frames; ``segments`` the Segment Sequence items,
    numbered 1…len(segments).
    """
    numbers = [int(s.SegmentNumber) for s in segments]
    if numbers != list(range(1, len(segments) + 1)):
        raise InputError(f"segments must be numbered 1, 2, … in order, found {numbers}")
    if not stored:
        raise InputError("a SEG stores at least one frame; no stored frame was given")
    if not {f.segment_number for f in stored} <= set(numbers):
        raise InputError("a stored frame names a segment that is not in the segments")
    now = datetime.datetime.now()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SegmentationStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    for keyword in _PATIENT_STUDY_KEYWORDS:
        if keyword in source:
            setattr(ds, keyword, _strict_value(source[keyword]))
    for keyword in _REQUIRED_EMPTY:
        if keyword not in ds:
            setattr(ds, keyword, "")
    ds.SOPClassUID = SegmentationStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "SEG"
    ds.SeriesInstanceUID = generate_uid()
    ds.SeriesNumber = series.series_offset + int(source.get("SeriesNumber") or 0)
    ds.SeriesDescription = series.description
    ds.InstanceNumber = 1
    ds.PatientOrientation = source.get("PatientOrientation", "")
    ds.ContentDate = now.strftime("%Y%m%d")
    ds.ContentTime = now.strftime("%H%M%S")
    ds.SeriesDate, ds.SeriesTime = ds.ContentDate, ds.ContentTime
    ds.InstanceCreationDate, ds.InstanceCreationTime = ds.ContentDate, ds.ContentTime
    _add_image_attributes(ds, np.shape(frame_of(stored[0])), fractional, series)
    _add_references(ds, source, references, [f.index for f in stored])
    _add_frames(ds, references, frame_of, stored, fractional)
    ds.SegmentSequence = list(segments)
    return ds


def _add_image_attributes(
    ds: Dataset, frame_shape: tuple[int, int], fractional: bool, series: SegSeries
) -> None:
    ds.Manufacturer = "AngioSeg"
    ds.ManufacturerModelName = "AngioSeg"
    ds.DeviceSerialNumber = "0"
    ds.ImageType = ["DERIVED", "PRIMARY"]
    ds.ContentLabel = series.content_label
    ds.ContentDescription = series.content_description
    ds.ContentCreatorName = ""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = (int(n) for n in frame_shape)
    ds.PixelRepresentation = 0
    ds.LossyImageCompression = "00"
    if fractional:
        ds.BitsAllocated = ds.BitsStored = 8
        ds.HighBit = 7
        ds.SegmentationType = "FRACTIONAL"
        ds.SegmentationFractionalType = "PROBABILITY"
        ds.MaximumFractionalValue = MAX_FRACTIONAL_VALUE
    else:
        ds.BitsAllocated = ds.BitsStored = 1
        ds.HighBit = 0
        ds.SegmentationType = "BINARY"


def _add_references(
    ds: Dataset, source: Dataset, references: Sequence[FrameReference], indices: list[int]
) -> None:
    """Common Instance Reference module: the source series and each referenced instance."""
    instances = {}
    for t in indices:
        ref = references[t]
        instances.setdefault(ref.sop_instance_uid, ref.sop_class_uid)
    series = Dataset()
    series.SeriesInstanceUID = source.SeriesInstanceUID
    series.ReferencedInstanceSequence = [
        _sop_item(class_uid, instance_uid) for instance_uid, class_uid in instances.items()
    ]
    ds.ReferencedSeriesSequence = [series]


def _sop_item(class_uid: str, instance_uid: str) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = class_uid
    item.ReferencedSOPInstanceUID = instance_uid
    return item


def _add_frames(
    ds: Dataset,
    references: Sequence[FrameReference],
    frame_of: Callable[[StoredFrame], np.ndarray],
    stored: Sequence[StoredFrame],
    fractional: bool,
) -> None:
    """Multi-frame functional groups, dimensions and the pixel data of the stored frames."""
    dimension_uid = generate_uid()
    organization = Dataset()
    organization.DimensionOrganizationUID = dimension_uid
    ds.DimensionOrganizationSequence = [organization]
    ds.DimensionOrganizationType = "3D_TEMPORAL"
    ds.DimensionIndexSequence = [
        _dimension(
            dimension_uid,
            "ReferencedSegmentNumber",
            "SegmentIdentificationSequence",
            "Segment Number",
        ),
        _dimension(
            dimension_uid,
            "TemporalPositionIndex",
            "FrameContentSequence",
            "Temporal Position Index (source frame)",
        ),
    ]
    ds.SharedFunctionalGroupsSequence = [Dataset()]
    ds.PerFrameFunctionalGroupsSequence = [_frame_groups(references[f.index], f) for f in stored]
    ds.NumberOfFrames = len(stored)
    frames = (np.asarray(frame_of(f), dtype=np.uint8) for f in stored)
    ds.PixelData = b"".join(f.tobytes() for f in frames) if fractional else packed_bits(frames)


def packed_bits(frames: Iterable[np.ndarray], chunk: int = 8) -> bytes:
    """(H, W) frames of 0/1 as DICOM's binary PixelData (bits little-endian, continuous across
    frames, padded to even length), as :func:`pydicom.pixels.pack_bits` packs them, but
    ``chunk`` frames at a time: 8 frames always hold a whole number of bytes, and no temporary
    grows with the run (pack_bits makes three whole-run copies)."""
    parts, group = [], []
    for frame in frames:
        group.append(np.asarray(frame, dtype=np.uint8))
        if len(group) == chunk:
            parts.append(pack_bits(np.stack(group).ravel(), pad=False))
            group = []
    if group:
        parts.append(pack_bits(np.stack(group).ravel(), pad=False))
    packed = b"".join(parts)
    return packed + b"\x00" if len(packed) % 2 else packed


def _dimension(uid: str, pointer: str, group: str, label: str) -> Dataset:
    item = Dataset()
    item.DimensionOrganizationUID = uid
    item.DimensionIndexPointer = pydicom.datadict.tag_for_keyword(pointer)
    item.FunctionalGroupPointer = pydicom.datadict.tag_for_keyword(group)
    item.DimensionDescriptionLabel = label
    return item


def _frame_groups(reference: FrameReference, frame: StoredFrame) -> Dataset:
    """Per-frame functional groups of a SEG frame: segment and cine frame of ``frame``."""
    source_image = _sop_item(reference.sop_class_uid, reference.sop_instance_uid)
    if reference.frame_number is not None:
        source_image.ReferencedFrameNumber = reference.frame_number
    source_image.PurposeOfReferenceCodeSequence = [
        hd.sr.CodedConcept.from_code(codes.cid7202.SourceImageForImageProcessingOperation)
    ]
    source_image.SpatialLocationsPreserved = "YES"
    derivation = Dataset()
    derivation.DerivationCodeSequence = [
        hd.sr.CodedConcept.from_code(codes.cid7203.SegmentationImageDerivation)
    ]
    derivation.SourceImageSequence = [source_image]
    content = Dataset()
    content.DimensionIndexValues = [frame.segment_number, frame.index + 1]
    content.TemporalPositionIndex = frame.index + 1
    segment = Dataset()
    segment.ReferencedSegmentNumber = frame.segment_number
    groups = Dataset()
    groups.DerivationImageSequence = [derivation]
    groups.FrameContentSequence = [content]
    groups.SegmentIdentificationSequence = [segment]
    return groups


def algorithm_identification(
    algorithm_name: str, algorithm_version: str
) -> hd.AlgorithmIdentificationSequence:
    """The Segmentation Algorithm Identification of an AngioSeg model (family: AI)."""
    return hd.AlgorithmIdentificationSequence(
        name=algorithm_name,
        family=codes.cid7162.ArtificialIntelligence,
        version=algorithm_version,
        source="AngioSeg",
    )


def open_seg(path: str | os.PathLike[str]) -> Dataset:
    """The DICOM Segmentation at ``path``, read whole; InputError for another file."""
    try:
        ds = pydicom.dcmread(path)
    except (OSError, pydicom.errors.InvalidDicomError) as error:
        raise InputError(f"cannot read {path} as DICOM: {error}") from error
    if ds.get("SOPClassUID") != SegmentationStorage:
        raise InputError(f"{path} is not a DICOM Segmentation (SOP class {ds.get('SOPClassUID')})")
    return ds


def run_length(path: str | os.PathLike[str], positions: Sequence[int],
               n_frames: int | None) -> int:
    """The run's frame count: ``n_frames``, or without it the last stored frame; InputError when
    a stored frame's 1-based cine ``positions`` fall outside it."""
    total = n_frames if n_frames is not None else max(positions)
    if min(positions) < 1 or max(positions) > total:
        raise InputError(f"{path} references frame {max(positions)} but the run has {total}")
    return total


def frame_positions(ds: Dataset) -> tuple[list[int], list[str], list[int]]:
    """Per SEG frame: 1-based cine frame, source SOP instance UID, source frame number.

    The cine frame is the TemporalPositionIndex (as :func:`write_seg` stores it), else the
    ReferencedFrameNumber of a multi-frame source.
    """
    positions, uids, numbers = [], [], []
    for index, groups in enumerate(ds.PerFrameFunctionalGroupsSequence, start=1):
        try:
            source = groups.DerivationImageSequence[0].SourceImageSequence[0]
            content = groups.FrameContentSequence[0]
            number = source.get("ReferencedFrameNumber", content.get("TemporalPositionIndex"))
            position = content.get("TemporalPositionIndex", number)
            uids.append(str(source.ReferencedSOPInstanceUID))
        except (AttributeError, IndexError) as error:
            raise InputError(
                f"SEG frame {index} does not reference its source image frame; "
                "only SEGs with per-frame source references can be read onto a cine"
            ) from error
        if position is None:
            raise InputError(f"SEG frame {index} does not say which cine frame it belongs to")
        positions.append(int(position))
        numbers.append(int(number))
    return positions, uids, numbers
