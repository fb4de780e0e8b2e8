"""Decode DICOM frames one at a time: `DicomFrames` (a lazy frame source) and `PixelTransform`.

Each frame is decoded straight from its file with ``pydicom.pixels.pixel_array(path, index=i)``
(pydicom + pylibjpeg / pyjpegls plugins), so nothing but the file paths stays in memory and the
source pickles into a background process; the files must stay in place while the run is used.
(A deflated file is inflated whole for each frame.) What is done to the stored values (see
:class:`PixelTransform`):

* Stored values are kept as they are (the model normalises intensities itself); bits above
  BitsStored are masked by pydicom. The VOI LUT (window) is display-only and is never applied.
* A Modality LUT *table* (Modality LUT Sequence) is applied, because only the table maps stored
  values to meaningful ones; a linear Rescale Slope/Intercept is not (it changes no structure),
  except that a negative slope flips the contrast and is undone like MONOCHROME1.
* Signed stored values are shifted by 2^(BitsStored−1) into the unsigned range.
* MONOCHROME1 is inverted to MONOCHROME2: ``v → 2^bits − 1 − v``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from AngioSegLib.errors import InputError, UnsupportedTransferSyntaxError
from AngioSegLib.io.frames import DEFAULT_CACHE_FRAMES, CachedFrames

# what pydicom and its plugins raise for pixel data they cannot decode
_DECODE_ERRORS = (RuntimeError, NotImplementedError, ValueError, AttributeError, KeyError, EOFError)
# pydicom decoding plugin → the pip package that provides it
_PLUGIN_PACKAGES = {
    "gdcm": "python-gdcm",
    "pylibjpeg": "pylibjpeg-libjpeg",
    "pyjpegls": "pyjpegls",
    "pillow": "pillow",
}


@dataclass(frozen=True)
class PixelTransform:
    """Stored values → cine values (MONOCHROME2, unsigned, ``bits`` significant bits)."""

    bits: int
    signed_offset: int = 0
    invert: bool = False
    lut: np.ndarray | None = None  # Modality LUT table
    lut_first_mapped: int = 0

    @property
    def is_identity(self) -> bool:
        """Whether cine values are the stored values (no LUT, offset or inversion)."""
        return self.lut is None and not self.signed_offset and not self.invert

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.uint8 if self.bits <= 8 else np.uint16)

    def apply(self, stored: np.ndarray) -> np.ndarray:
        """One decoded (H, W) frame of stored values → cine values of :attr:`dtype`."""
        if self.is_identity:
            return stored.astype(self.dtype, copy=False)
        values = stored.astype(np.int64)
        if self.lut is not None:
            index = np.clip(values - self.lut_first_mapped, 0, len(self.lut) - 1)
            values = self.lut[index].astype(np.int64)
        values = values + self.signed_offset
        if self.invert:
            values = (1 << self.bits) - 1 - values
        return np.clip(values, 0, (1 << self.bits) - 1).astype(self.dtype)

    @classmethod
    def from_dataset(cls, ds) -> PixelTransform:
        """The transform a dataset's pixel attributes call for."""
        bits = int(ds.BitsStored)
        signed = int(ds.get("PixelRepresentation", 0)) == 1
        lut, first = None, 0
        lut_items = ds.get("ModalityLUTSequence")
        if lut_items:
            descriptor = [int(v) for v in lut_items[0].LUTDescriptor]
            raw = lut_items[0].LUTData
            lut = np.asarray(raw if not isinstance(raw, bytes) else np.frombuffer(raw, "<u2"))
            first, bits = descriptor[1], descriptor[2]
            if signed and first > 32767:  # first mapped value is signed for signed pixel data
                first -= 65536
            signed = False  # the table output is unsigned
        invert = str(ds.PhotometricInterpretation).upper() == "MONOCHROME1"
        if lut is None and float(ds.get("RescaleSlope", 1) or 1) < 0:
            invert = not invert
        return cls(
            bits=bits,
            signed_offset=(1 << (bits - 1)) if signed else 0,
            invert=invert,
            lut=lut,
            lut_first_mapped=first,
        )


class DicomFrames(CachedFrames):
    """Lazy frames of one run: frame ``t`` is frame ``indices[t]`` (0-based) of ``paths[t]``."""

    def __init__(
        self,
        paths: list[Path],
        indices: list[int],
        rows: int,
        columns: int,
        transform: PixelTransform,
        transfer_syntax=None,
        *,
        bare: bool = False,
        cache_frames: int = DEFAULT_CACHE_FRAMES,
    ):
        super().__init__((len(paths), rows, columns), transform.dtype, cache_frames)
        self.paths = [Path(p) for p in paths]
        self.indices = list(indices)
        self.transform = transform
        self.transfer_syntax = transfer_syntax
        self.deflated = bool(getattr(transfer_syntax, "is_deflated", False))
        # a bare dataset (no file meta) needs its transfer syntax told to pydicom
        self.options = {"transfer_syntax_uid": transfer_syntax} if bare else {}

    def decode(self, index: int) -> np.ndarray:
        """Frame ``index``; a frame pydicom cannot decode raises the InputError that says why."""
        from pydicom.pixels import pixel_array

        source = self.paths[index]
        try:
            if self.deflated:  # pydicom reads a deflated file only whole (rare for XA)
                from pydicom import dcmread

                source = dcmread(source)
            stored = pixel_array(source, index=self.indices[index], **self.options)
        except _DECODE_ERRORS as error:
            raise decode_error(error, self.paths[index], self.transfer_syntax, index) from error
        return self.transform.apply(stored)

    def check_decodable(self) -> None:
        """Decode the first and last frames now so a bad file fails at reading, not later."""
        self.preload(sorted({0, len(self) - 1}))


def decode_error(error: Exception, path: Path, transfer_syntax, frame: int) -> InputError:
    """The clinician-facing error for a frame that pydicom could not decode."""
    from pydicom.pixels import get_decoder

    if transfer_syntax is None:
        return InputError(
            f"{path.name}: frame {frame + 1} could not be decoded and the file names no transfer "
            f"syntax ({str(error).strip().splitlines()[0]}); export it again as DICOM Part 10"
        )
    name = getattr(transfer_syntax, "name", str(transfer_syntax))
    try:
        decoder = get_decoder(transfer_syntax)
    except NotImplementedError:
        return UnsupportedTransferSyntaxError(
            f"{path.name}: pixel data is compressed as {name} ({transfer_syntax}), which no "
            "installed decoder reads; convert the file to an uncompressed transfer syntax "
            "(e.g. 'gdcmconv --raw' or 'dcmdjpeg') and try again"
        )
    missing = [dep.split(" - ")[0].strip() for dep in decoder.missing_dependencies]
    unsupported = not decoder.is_available or "support" in str(error).lower()
    if missing and unsupported:
        packages = " ".join(_PLUGIN_PACKAGES.get(m, m) for m in missing)
        reason = str(error).strip().splitlines()[-1].strip()
        return UnsupportedTransferSyntaxError(
            f"{path.name}: no installed decoder ({', '.join(decoder.available_plugins) or 'none'})"
            f" can read its {name} pixel data ({reason}); the {' or '.join(missing)} plugin would:"
            f" 'pip install {packages}', or convert the file to an uncompressed transfer syntax "
            "(e.g. 'gdcmconv --raw in.dcm out.dcm')"
        )
    return InputError(
        f"{path.name}: frame {frame + 1} could not be decoded from its {name} pixel data: the "
        f"file is probably damaged or truncated ({str(error).strip().splitlines()[0]}); "
        "export the run again"
    )
