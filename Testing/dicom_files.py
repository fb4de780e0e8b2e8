"""Small XA DICOM files built with pydicom for tests (:func:`make_xa`), and the real public runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    generate_uid,
)

XA = "1.2.840.10008.5.1.4.1.1.12.1"
ENHANCED_XA = "1.2.840.10008.5.1.4.1.1.12.1.1"
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
CT = "1.2.840.10008.5.1.4.1.1.2"
SHARED_XA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "xa"
needs_shared = pytest.mark.skipif(not SHARED_XA.is_dir(), reason="../shared/data/xa is absent")


def phantom_frames(n_frames=4, rows=48, columns=64, bits=10, seed=0) -> np.ndarray:
    """Smooth background with a dark vessel-like band and noise: compresses like an angiogram."""
    rng = np.random.default_rng(seed)
    r, c = np.mgrid[:rows, :columns]
    top = (1 << bits) - 1
    frames = []
    for t in range(n_frames):
        image = 0.7 * top - 0.2 * top * np.exp(-(((r - rows / 2 - 3 * t) / 4.0) ** 2))
        image += rng.normal(0, top * 0.01, image.shape)
        frames.append(np.clip(image, 0, top))
    return np.asarray(frames).astype(np.uint16 if bits > 8 else np.uint8)


def make_xa(
    path: Path,
    frames: np.ndarray,
    *,
    bits: int | None = None,
    sop_class: str = XA,
    transfer_syntax=ExplicitVRLittleEndian,
    multiframe: bool = True,
    series_uid: str | None = None,
    instance_number: int = 1,
    compress_kwargs: dict | None = None,
    **attributes,
) -> Path:
    """Write ``frames`` (T, H, W) as a DICOM instance with ``attributes`` set on the dataset."""
    frames = np.asarray(frames)
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.PatientID, ds.PatientName = "PHANTOM", "Phantom^XA"
    ds.StudyInstanceUID, ds.StudyID = "1.2.826.0.1.3680043.8.498.1", "1"
    ds.StudyDate, ds.StudyTime = "20260101", "120000"
    ds.SeriesInstanceUID = series_uid or "1.2.826.0.1.3680043.8.498.2"
    ds.SeriesNumber, ds.InstanceNumber, ds.Modality = 1, instance_number, "XA"
    ds.Rows, ds.Columns = frames.shape[-2:]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated = 8 if frames.dtype.itemsize == 1 else 16
    ds.BitsStored = bits or ds.BitsAllocated
    ds.HighBit, ds.PixelRepresentation = ds.BitsStored - 1, 0
    if multiframe:
        ds.NumberOfFrames = len(frames)
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    pixels = frames if multiframe else frames[0]
    ds.PixelData = pixels.tobytes()
    if transfer_syntax in (ImplicitVRLittleEndian, DeflatedExplicitVRLittleEndian):
        ds.file_meta.TransferSyntaxUID = transfer_syntax
    elif transfer_syntax != ExplicitVRLittleEndian:
        ds.compress(transfer_syntax, pixels, **(compress_kwargs or {}))
    ds.save_as(path, enforce_file_format=True)
    return path
