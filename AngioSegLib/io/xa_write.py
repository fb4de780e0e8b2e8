"""Write a :class:`~AngioSegLib.cine.CineRun` as one X-Ray Angiographic Image Storage instance.

The file is a standard multi-frame XA object (SOP class 1.2.840.10008.5.1.4.1.1.12.1) with the
Patient, General Study, General Series, General Equipment, General Acquisition, General Image,
Image Pixel, Contrast/Bolus, Cine, Multi-frame, Frame Pointers, X-Ray Image, X-Ray Acquisition,
XA Positioner and SOP Common modules, so ``dciodvfy`` finds no errors. The calibration is written
the way a C-arm writes it: ``ImagerPixelSpacing`` (detector plane) and
``EstimatedRadiographicMagnificationFactor`` = SID / SOD, whose ratio is the pixel size at the
isocenter.

Transfer syntaxes (pydicom 3 encoders): ``explicit`` / ``implicit`` VR little endian, ``rle``
(RLE Lossless), ``jpeg-ls`` (JPEG-LS Lossless, pyjpegls), ``jpeg2000`` (JPEG 2000 Lossless,
pylibjpeg-openjpeg) and ``jpeg-baseline`` (lossy 8-bit JPEG via Pillow: 12-bit frames are scaled
to 8 bits). pydicom has no encoder for JPEG Lossless (Process 14 SV1), so it is not offered.
"""

from __future__ import annotations

import datetime
import io
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.tag import Tag
from pydicom.uid import (
    UID,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLSLossless,
    RLELossless,
    generate_uid,
)

from AngioSegLib import __version__
from AngioSegLib.cine import CineRun
from AngioSegLib.errors import InputError, OutputExistsError
from AngioSegLib.io.atomic import atomic_write

__all__ = [
    "TRANSFER_SYNTAXES",
    "XA_SOP_CLASS_UID",
    "build_xa_dataset",
    "check_transfer_syntax",
    "write_xa",
]

XA_SOP_CLASS_UID = UID("1.2.840.10008.5.1.4.1.1.12.1")
TRANSFER_SYNTAXES: dict[str, UID] = {
    "explicit": ExplicitVRLittleEndian,
    "implicit": ImplicitVRLittleEndian,
    "rle": RLELossless,
    "jpeg-ls": JPEGLSLossless,
    "jpeg2000": JPEG2000Lossless,
    "jpeg-baseline": JPEGBaseline8Bit,
}


def _ds(value: float) -> str:
    """The most precise DS string (≤ 16 characters) for ``value``."""
    for digits in range(16, 0, -1):
        text = f"{value:.{digits}g}"
        if len(text) <= 16:
            return text
    raise InputError(f"{value} cannot be written as a DICOM decimal string")


def _frames_of(cine: CineRun) -> tuple[np.ndarray, int, int]:
    """(frames as uint8/uint16, BitsAllocated, BitsStored), checked against ``bits_stored``."""
    frames = np.asarray(cine.to_array())
    if frames.dtype not in (np.uint8, np.uint16):
        raise InputError(
            f"XA pixels must be unsigned 8- or 16-bit integers, found {frames.dtype}; "
            "convert the frames first"
        )
    allocated = frames.dtype.itemsize * 8
    stored = min(int(cine.bits_stored), allocated)
    if int(frames.max(initial=0)) >= 1 << stored:
        raise InputError(
            f"pixel values reach {int(frames.max())}, beyond BitsStored {stored}; "
            "set bits_stored to fit"
        )
    return frames, allocated, stored


def _frame_steps_ms(cine: CineRun) -> np.ndarray:
    """The intervals between consecutive frames (ms); empty for a single frame."""
    if cine.n_frames == 1:
        return np.zeros(0)
    if cine.frame_times_s is None:
        raise InputError("the run has no frame times; set frame_times_s before writing XA")
    steps = np.diff(np.asarray(cine.frame_times_s, dtype=float)) * 1000.0
    if np.any(steps <= 0):
        raise InputError("frame times must increase from frame to frame to write XA")
    return steps


def _patient_study_series(ds: Dataset, cine: CineRun, now: datetime.datetime) -> None:
    ds.PatientName = "PHANTOM^ANGIOSEG"
    ds.PatientID = "ANGIOSEG-PHANTOM"
    ds.PatientBirthDate = ""
    ds.PatientSex = "O"
    ds.StudyInstanceUID = generate_uid()
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = ds.AcquisitionDate = now.strftime("%Y%m%d")
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = ds.AcquisitionTime = now.strftime("%H%M%S")
    ds.ReferringPhysicianName = ""
    ds.StudyID = "1"
    ds.AccessionNumber = ""
    ds.StudyDescription = "AngioSeg synthetic coronary angiography"
    ds.Modality = "XA"
    ds.SeriesInstanceUID = generate_uid()
    ds.SeriesNumber = 1
    ds.SeriesDescription = cine.name[:64]
    ds.Manufacturer = "AngioSeg"
    ds.ManufacturerModelName = "AngioSeg phantom"
    ds.SoftwareVersions = __version__
    ds.InstanceNumber = 1
    ds.PatientOrientation = ""
    ds.BodyPartExamined = "HEART"
    ds.BurnedInAnnotation = "NO"
    ds.ContrastBolusAgent = "Iodinated contrast (synthetic)"


def _geometry(ds: Dataset, cine: CineRun) -> None:
    """Positioner angles, distances (only when known) and the calibration.

    ``ImagerPixelSpacing / EstimatedRadiographicMagnificationFactor`` equals the run's pixel size at
    the isocenter; the magnification is SID / SOD when both are known, else 1 (the spacing is then
    the isocenter pixel size itself).
    """
    view = cine.view
    for keyword, value in (
        ("PositionerPrimaryAngle", view.primary_angle_deg),
        ("PositionerSecondaryAngle", view.secondary_angle_deg),
    ):
        setattr(ds, keyword, None if value is None else _ds(value))
    ds.PositionerMotion = "STATIC"
    sid, sod = view.source_to_detector_mm, view.source_to_patient_mm
    if sid is not None:
        ds.DistanceSourceToDetector = _ds(sid)
    if sod is not None:
        ds.DistanceSourceToPatient = _ds(sod)
    if cine.calibration.mm_per_pixel is not None:
        magnification = _ds(sid / sod if sid and sod else 1.0)
        ds.EstimatedRadiographicMagnificationFactor = magnification
        spacing = _ds(cine.calibration.mm_per_pixel * float(magnification))
        ds.ImagerPixelSpacing = [spacing, spacing]
        ds.IntensifierSize = _ds(max(cine.shape[1:]) * float(spacing))


def _acquisition_and_timing(ds: Dataset, cine: CineRun) -> None:
    ds.ImageType = ["ORIGINAL", "PRIMARY", "SINGLE PLANE"]
    # what the cine says its values are (a phantom: "LOG"); a cine that does not know is
    # written as display-processed, on which no densitometry is done
    ds.PixelIntensityRelationship = cine.pixel_intensity_relationship or "DISP"
    if ds.PixelIntensityRelationship in ("LOG", "LIN"):  # the XA Modality LUT is then required
        ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = "0", "1", "US"
    # unknown (type 2, empty): AngioSeg does not invent acquisition parameters
    ds.KVP = ds.XRayTubeCurrent = ds.ExposureTime = ds.Exposure = None
    ds.RadiationSetting = "GR"
    ds.FieldOfViewShape = "RECTANGLE"
    ds.NumberOfFrames = cine.n_frames
    steps_ms = _frame_steps_ms(cine)
    regular = steps_ms.size == 0 or np.ptp(steps_ms) <= 0.01 * steps_ms.mean()
    if regular:
        ds.FrameIncrementPointer = Tag("FrameTime")
        ds.FrameTime = _ds(float(steps_ms.mean()) if steps_ms.size else 0.0)
    else:  # irregular timing: the interval before each frame, 0 for the first
        ds.FrameIncrementPointer = Tag("FrameTimeVector")
        ds.FrameTimeVector = [_ds(float(v)) for v in np.r_[0.0, steps_ms]]
    if steps_ms.size:
        ds.CineRate = ds.RecommendedDisplayFrameRate = int(round(1000.0 / steps_ms.mean()))
    ds.StartTrim = 1
    ds.StopTrim = cine.n_frames
    if cine.r_wave_frames:
        ds.RWavePointer = [int(i) + 1 for i in cine.r_wave_frames]


def _pixels(ds: Dataset, frames: np.ndarray, allocated: int, stored: int) -> None:
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = frames.shape[1:]
    ds.BitsAllocated = allocated
    ds.BitsStored = stored
    ds.HighBit = stored - 1
    ds.PixelRepresentation = 0
    ds.LossyImageCompression = "00"
    ds.WindowCenter = _ds((1 << stored) / 2)
    ds.WindowWidth = _ds(1 << stored)
    ds.PixelData = frames.tobytes()


def _jpeg_baseline(ds: Dataset, frames: np.ndarray, stored: int) -> None:
    """Lossy 8-bit JPEG (ISO 10918-1 baseline) of every frame, encoded with Pillow."""
    from PIL import Image

    frames8 = (frames >> max(stored - 8, 0)).astype(np.uint8)
    fragments = []
    for frame in frames8:
        buffer = io.BytesIO()
        Image.fromarray(frame).save(buffer, format="JPEG", quality=95)
        fragments.append(buffer.getvalue())
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.WindowCenter, ds.WindowWidth = "128", "256"
    ds.PixelData = encapsulate(fragments)
    ds["PixelData"].VR = "OB"
    ds.LossyImageCompression = "01"
    ds.LossyImageCompressionRatio = _ds(frames8.nbytes / sum(len(f) for f in fragments))
    ds.LossyImageCompressionMethod = "ISO_10918_1"


def check_transfer_syntax(name: str) -> UID:
    """The transfer syntax UID for one of :data:`TRANSFER_SYNTAXES`' names."""
    if name not in TRANSFER_SYNTAXES:
        raise InputError(
            f"transfer syntax must be one of {', '.join(TRANSFER_SYNTAXES)}, found {name!r}"
        )
    return TRANSFER_SYNTAXES[name]


def _compress(ds: Dataset, frames: np.ndarray, syntax: UID) -> None:
    """Encode the pixels with pydicom's encoder for ``syntax`` (lossless)."""
    plugin = "pyjpegls" if syntax == JPEGLSLossless else ""
    try:
        ds.compress(syntax, frames if len(frames) > 1 else frames[0], encoding_plugin=plugin)
    except (ValueError, RuntimeError, ImportError) as error:
        raise InputError(
            f"cannot encode the frames as {syntax.name}: {error}; choose another transfer syntax"
        ) from error


def build_xa_dataset(cine: CineRun, transfer_syntax: str = "explicit") -> Dataset:
    """The XA dataset for ``cine``, pixels encoded with ``transfer_syntax`` (see module doc)."""
    syntax = check_transfer_syntax(transfer_syntax)
    frames, allocated, stored = _frames_of(cine)
    now = datetime.datetime.now(datetime.timezone.utc)
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = XA_SOP_CLASS_UID
    ds.SOPClassUID = XA_SOP_CLASS_UID
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.InstanceCreationDate = now.strftime("%Y%m%d")
    ds.InstanceCreationTime = now.strftime("%H%M%S")
    _patient_study_series(ds, cine, now)
    _geometry(ds, cine)
    _acquisition_and_timing(ds, cine)
    _pixels(ds, frames, allocated, stored)
    if syntax == JPEGBaseline8Bit:
        _jpeg_baseline(ds, frames, stored)
        ds.file_meta.TransferSyntaxUID = syntax
    elif syntax.is_compressed:
        _compress(ds, frames, syntax)
    else:
        ds.file_meta.TransferSyntaxUID = syntax
    return ds


def write_xa(
    cine: CineRun,
    path: str | Path,
    transfer_syntax: str = "explicit",
    force: bool = False,
) -> Path:
    """Write ``cine`` to ``path`` as one multi-frame XA instance; returns the path written.

    Written atomically (temporary file beside the target, then renamed). Raises
    :class:`~AngioSegLib.errors.OutputExistsError` when ``path`` exists and ``force`` is False, or
    when it is the run's own source file.
    """
    path = Path(path).expanduser()
    if cine.source_path is not None and path.resolve() == Path(cine.source_path).resolve():
        raise OutputExistsError(f"{path} is the run's source file; write to another file")
    ds = build_xa_dataset(cine, transfer_syntax)
    with atomic_write(path, force=force) as tmp:
        ds.save_as(tmp, enforce_file_format=True)
    return path
