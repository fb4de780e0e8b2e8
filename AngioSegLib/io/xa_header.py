"""One DICOM file's header, read with its pixel data left on disk, and the checks that say
whether it is an X-ray angiography image AngioSeg can read (:func:`check_instance`).

Reading is tolerant: a bare dataset without the 'DICM' preamble is accepted when it holds an
image header, and a file cut inside its pixel data keeps its header so that the error can say what
it was. A file cut inside its header (pydicom stops silently there) is detected by
:func:`read_header` and refused by :func:`check_instance`.
"""

from __future__ import annotations

import struct
import warnings
from dataclasses import dataclass
from pathlib import Path

from AngioSegLib.errors import InputError
from AngioSegLib.io import dicom_meta
from AngioSegLib.io.dicom_frames import check_pixel_attributes, check_pixel_data

__all__ = [
    "ANGIO_MODALITIES",
    "ANGIO_SOP_CLASSES",
    "MEDIA_STORAGE_DIRECTORY",
    "SECONDARY_CAPTURE_SOP_CLASSES",
    "SINGLE_FRAME_SC",
    "DicomInstance",
    "check_instance",
    "header_cut_message",
    "is_angio",
    "not_angio_message",
    "read_header",
    "sop_class_name",
    "try_header",
]

ANGIO_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.12.1": "X-Ray Angiographic",
    "1.2.840.10008.5.1.4.1.1.12.1.1": "Enhanced XA",
    "1.2.840.10008.5.1.4.1.1.12.2": "X-Ray Radiofluoroscopic",
    "1.2.840.10008.5.1.4.1.1.12.2.1": "Enhanced XRF",
}
SECONDARY_CAPTURE_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.7": "Secondary Capture",
    "1.2.840.10008.5.1.4.1.1.7.2": "Multi-frame Grayscale Byte Secondary Capture",
    "1.2.840.10008.5.1.4.1.1.7.3": "Multi-frame Grayscale Word Secondary Capture",
    "1.2.840.10008.5.1.4.1.1.7.4": "Multi-frame True Color Secondary Capture",
}
ANGIO_MODALITIES = ("XA", "RF")
MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"
SINGLE_FRAME_SC = "1.2.840.10008.5.1.4.1.1.7"
_DEFER_BYTES = 65536  # pixel data (and any value this large) is left on disk when reading headers
_UNDEFINED_LENGTH = 0xFFFFFFFF


@dataclass(frozen=True)
class DicomInstance:
    """One DICOM file's header (pixel data left on disk)."""

    path: Path
    ds: object
    truncated: bool  # the file ended inside its pixel data
    header_cut: bool = False  # the file ended inside its header (no pixel data read)

    @property
    def n_frames(self) -> int:
        """NumberOfFrames (1 when absent); an InputError when it is not a positive whole number."""
        value = dicom_meta.header_value(self.ds, "NumberOfFrames")
        if value in (None, ""):
            return 1
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = float("nan")
        if not (number >= 1 and number.is_integer()):
            raise InputError(
                f"{self.path.name} has NumberOfFrames (0028,0008) '{str(value).strip()[:40]}', "
                "not a positive whole number of frames; the header is damaged: export the run again"
            )
        return int(number)

    @property
    def is_multiframe(self) -> bool:
        """A multi-frame instance (its frames are referenced by number); single-frame Secondary
        Capture never is, even when it carries NumberOfFrames."""
        return "NumberOfFrames" in self.ds and self.ds.SOPClassUID != SINGLE_FRAME_SC


class _HeaderCut(Exception):
    """pydicom met the end of a DICOM file inside an element's tag, VR or length."""


def read_header(path: Path) -> DicomInstance:
    """The header of one DICOM file, or an InputError saying it is not DICOM."""
    from pydicom import dcmread
    from pydicom.errors import InvalidDicomError

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            try:
                ds = dcmread(path, defer_size=_DEFER_BYTES)
            except struct.error:  # a DICOM file that ends inside an element's tag, VR or length
                raise _HeaderCut from None
            except InvalidDicomError:  # no 'DICM' preamble: accept a bare dataset with an image
                ds = dcmread(path, defer_size=_DEFER_BYTES, force=True)
                if "SOPClassUID" not in ds or "Rows" not in ds:
                    raise InvalidDicomError("no DICOM image header") from None
        except _HeaderCut:
            raise InputError(_cut_message(path)) from None
        except (
            InvalidDicomError,
            ValueError,
            KeyError,
            EOFError,
            OSError,
            TypeError,
            struct.error,
        ) as error:
            raise InputError(
                f"{path} is not a DICOM file ({error}); choose an XA DICOM file, a folder of "
                "one run's DICOM files, a DICOMDIR, a PNG/TIFF folder or a video"
            ) from error
        truncated = any("End of file reached" in str(w.message) for w in caught)
        if truncated:  # pydicom drops the whole dataset: keep the header to say what it was
            ds = dcmread(path, stop_before_pixels=True)
    cut = not truncated and _ends_in_header(path, ds)
    return DicomInstance(path, ds, truncated, header_cut=cut)


def _ends_in_header(path: Path, ds) -> bool:
    """Whether an image file without pixel data stopped inside its header.

    pydicom stops silently at the end of the file, so a file cut inside its header reads as a
    shorter dataset. It is cut when the file is shorter than its file meta group says, when
    nothing follows the file meta, when the file meta (or the dataset) names an image class
    AngioSeg reads but SOPClassUID or Rows never came, or when its last element's declared
    length does not end where the file ends.
    """
    if "PixelData" in ds:
        return False
    meta = getattr(ds, "file_meta", None) or {}
    meta_length = meta.get("FileMetaInformationGroupLength")
    preamble = 128 + 4 + 12  # preamble, 'DICM', the group length element itself
    if meta_length and path.stat().st_size < preamble + int(meta_length):
        return True
    if meta and len(ds) == 0:
        return True
    sop_class = str(ds.get("SOPClassUID") or meta.get("MediaStorageSOPClassUID", ""))
    if sop_class not in ANGIO_SOP_CLASSES and sop_class not in SECONDARY_CAPTURE_SOP_CLASSES:
        return False
    if "SOPClassUID" not in ds or "Rows" not in ds:
        return True
    last = ds.get_item(max(ds.keys()))
    tell, length = getattr(last, "value_tell", None), getattr(last, "length", None)
    syntax = meta.get("TransferSyntaxUID")
    if tell is None or length in (None, _UNDEFINED_LENGTH) or getattr(syntax, "is_deflated", 0):
        return False
    return tell + length != path.stat().st_size


def header_cut_message(instance: DicomInstance) -> str:
    return _cut_message(instance.path)


def _cut_message(path: Path) -> str:
    return (
        f"{path.name} is truncated or damaged: the file ends inside its DICOM header "
        f"({path.stat().st_size} bytes, no pixel data); copy or export the run again"
    )


def try_header(path: Path) -> DicomInstance | None:
    try:
        return read_header(path)
    except InputError:
        return None


def sop_class_name(ds) -> str:
    from pydicom.uid import UID

    uid = str(ds.get("SOPClassUID", ""))
    return UID(uid).name if uid else "an instance without SOP Class UID"


def is_angio(ds) -> bool:
    uid = str(ds.get("SOPClassUID", ""))
    if uid in ANGIO_SOP_CLASSES:
        return True
    modality = str(ds.get("Modality", "")).upper()
    return uid in SECONDARY_CAPTURE_SOP_CLASSES and modality in ANGIO_MODALITIES


def not_angio_message(ds, where: Path) -> str:
    modality = ds.get("Modality") or "none"
    return (
        f"{where} is DICOM {sop_class_name(ds)} (Modality {modality}), not an X-ray "
        "angiography image; choose an XA, XRF or Secondary Capture (Modality XA/RF) cine"
    )


def check_instance(instance: DicomInstance) -> None:
    """Refuse instances AngioSeg cannot turn into greyscale frames, saying why."""
    ds, path = instance.ds, instance.path
    if instance.header_cut:
        raise InputError(header_cut_message(instance))
    if not is_angio(ds):
        raise InputError(not_angio_message(ds, path))
    check_pixel_attributes(ds, path.name)
    photometric = str(ds.get("PhotometricInterpretation", "")).upper()
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    if not photometric:
        raise InputError(
            f"{path.name} has no PhotometricInterpretation (0028,0004), which every image needs; "
            "the header is incomplete: export the run again"
        )
    if samples != 1 or photometric not in ("MONOCHROME1", "MONOCHROME2"):
        raise InputError(
            f"{path.name} is a colour image (PhotometricInterpretation {photometric or '?'}, "
            f"{samples} samples per pixel); AngioSeg reads greyscale XA frames: export the "
            "original acquisition rather than a screen capture"
        )
    if "PixelData" not in ds:
        if instance.truncated:
            raise InputError(
                f"{path.name} is truncated: the file ends inside its pixel data; copy or export "
                "the run again"
            )
        raise InputError(
            f"{path.name} has no pixel data (a {sop_class_name(ds)} header only, "
            f"{path.stat().st_size} bytes); choose the file that holds the images, or copy it "
            "again if it was cut short"
        )
    bits = int(ds.get("BitsAllocated", 0) or 0)
    if bits not in (8, 16) or not 1 <= int(ds.get("BitsStored", 0) or 0) <= bits:
        raise InputError(
            f"{path.name} stores {bits}-bit pixels (BitsStored {ds.get('BitsStored')}); AngioSeg "
            "reads 8- to 16-bit greyscale frames"
        )
    check_pixel_data(ds, path, instance.n_frames)
