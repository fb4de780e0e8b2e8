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
from AngioSegLib.io.dicom_meta import header_value
from AngioSegLib.io.frames import DEFAULT_CACHE_FRAMES, CachedFrames

# what pydicom and its plugins raise for pixel data they cannot decode
_DECODE_ERRORS = (
    RuntimeError,
    NotImplementedError,
    ValueError,
    AttributeError,
    KeyError,
    EOFError,
    IndexError,
    TypeError,
)
# pydicom decoding plugin → the pip package that provides it
# what a Rust decoder (pylibjpeg-rle, via pyo3) raises when the data overruns the frame the header
# describes (e.g. Rows too small): a BaseException, so it is matched by name, everything else
# (KeyboardInterrupt included) propagates untouched
_RUST_PANIC = "PanicException"
_PIXEL_ATTRIBUTES = {
    "Rows": "(0028,0010)",
    "Columns": "(0028,0011)",
    "BitsAllocated": "(0028,0100)",
    "BitsStored": "(0028,0101)",
}
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
        """The transform a dataset's pixel attributes call for.

        Raises :class:`~AngioSegLib.errors.InputError` for a Modality LUT that cannot be applied
        (see :func:`read_modality_lut`).
        """
        bits = int(ds.BitsStored)
        signed = int(ds.get("PixelRepresentation", 0)) == 1
        lut, first = None, 0
        lut_items = ds.get("ModalityLUTSequence")
        if lut_items:
            lut, first, bits = read_modality_lut(lut_items[0])
            if signed and first > 32767:  # first mapped value is signed for signed pixel data
                first -= 65536
            signed = False  # the table output is unsigned
        invert = str(ds.PhotometricInterpretation).upper() == "MONOCHROME1"
        if lut is None and _negative_slope(ds):
            invert = not invert
        return cls(
            bits=bits,
            signed_offset=(1 << (bits - 1)) if signed else 0,
            invert=invert,
            lut=lut,
            lut_first_mapped=first,
        )


def _negative_slope(ds) -> bool:
    """Whether RescaleSlope is a negative number (a slope that is not a number is ignored)."""
    try:
        return float(ds.get("RescaleSlope", 1) or 1) < 0
    except (TypeError, ValueError):
        return False


_LUT_HINT = (
    "the file's Modality LUT (ModalityLUTSequence) is damaged: export the run again, or without "
    "its Modality LUT"
)


def read_modality_lut(item) -> tuple[np.ndarray, int, int]:
    """(table, first stored value mapped, bits per entry) of one Modality LUT Sequence item.

    LUTDescriptor must hold 3 values (number of entries, 0 meaning 65536; first stored value
    mapped; bits per entry, 1–16) and LUTData exactly that many entries.
    """
    try:
        descriptor = [int(v) for v in (item.get("LUTDescriptor") or [])]
    except (TypeError, ValueError):
        descriptor = []
    if len(descriptor) != 3:
        raise InputError(
            f"LUTDescriptor (0028,3002) has {len(descriptor)} values {descriptor}, DICOM needs 3 "
            f"(entries, first mapped value, bits per entry): {_LUT_HINT}"
        )
    entries, first, bits = descriptor
    entries = entries or 65536
    if not 1 <= bits <= 16:
        raise InputError(
            f"LUTDescriptor (0028,3002) gives {bits} bits per entry, expected 1 to 16: {_LUT_HINT}"
        )
    raw = item.get("LUTData")
    if raw is None:
        raise InputError(f"the Modality LUT has no LUTData (0028,3006): {_LUT_HINT}")
    if isinstance(raw, bytes):  # OW: 16-bit little-endian words
        raw = np.frombuffer(raw[: len(raw) // 2 * 2], "<u2")
    lut = np.atleast_1d(np.asarray(raw))
    if len(lut) != entries:
        raise InputError(
            f"the Modality LUT's LUTData (0028,3006) holds {len(lut)} entries, its LUTDescriptor "
            f"says {entries}: {_LUT_HINT}"
        )
    return lut, first, bits


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
        except OSError as error:  # moved, deleted or unreadable since the run was opened
            raise InputError(
                f"{self.paths[index]} can no longer be read ({error.strerror or error}); the "
                "run's files must stay in place while it is used: open the run again"
            ) from error
        except _DECODE_ERRORS as error:
            raise decode_error(error, self.paths[index], self.transfer_syntax, index) from error
        except BaseException as error:
            if type(error).__name__ != _RUST_PANIC:
                raise
            raise decode_error(error, self.paths[index], self.transfer_syntax, index) from error
        return self.transform.apply(stored)

    def check_decodable(self) -> None:
        """Decode the first and last frames now so a bad file fails at reading, not later."""
        self.preload(sorted({0, len(self) - 1}))


def transfer_syntax_of(ds):
    """(UID, whether the file meta names it); a bare dataset's is inferred from its encoding."""
    from pydicom.uid import UID

    named = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    if named is not None:
        return named, True
    implicit, little = getattr(ds, "original_encoding", (True, True))
    if implicit:
        return UID("1.2.840.10008.1.2"), False
    return UID("1.2.840.10008.1.2.1" if little else "1.2.840.10008.1.2.2"), False


def check_pixel_attributes(ds, name: str) -> None:
    """Rows, Columns, BitsAllocated and BitsStored must be present positive whole numbers."""
    for keyword, tag in _PIXEL_ATTRIBUTES.items():
        value = header_value(ds, keyword)
        if value in (None, ""):
            raise InputError(
                f"{name} has no {keyword} {tag}, which every image needs; the header is "
                "incomplete: export the run again"
            )
        try:
            number = int(value)
        except (TypeError, ValueError):
            number = 0
        if number < 1:
            raise InputError(
                f"{name} has {keyword} {tag} '{value}', expected a positive whole number; "
                "the header is damaged: export the run again"
            )


def check_pixel_data(ds, path: Path, n_frames: int) -> None:
    """Refuse pixel data that cannot be decoded as the header describes it (see below)."""
    _check_transfer_syntax(ds, path.name)
    _check_native_length(ds, path, n_frames)


def _check_transfer_syntax(ds, name: str) -> None:
    """The file meta's TransferSyntaxUID must name a transfer syntax."""
    from pydicom.uid import UID

    syntax, named = transfer_syntax_of(ds)
    if not named:
        return
    try:
        known = UID(str(syntax)).is_transfer_syntax
    except ValueError:  # a private UID: pydicom cannot tell what it is
        known = False
    if not known:
        raise InputError(
            f"{name} names '{syntax}' as its TransferSyntaxUID (0002,0010), which is not a DICOM "
            "transfer syntax, so its pixel data cannot be decoded; export the run again with a "
            "standard transfer syntax (e.g. Explicit VR Little Endian)"
        )


def _check_native_length(ds, path: Path, n_frames: int) -> None:
    """Uncompressed pixel data must hold exactly the frames the header describes.

    NumberOfFrames × Rows × Columns × BitsAllocated/8 bytes, plus the one padding byte DICOM adds
    to an odd length. Fewer bytes on disk than that is a truncated file; any other length means
    the header does not describe the data (frames would be garbage), which is refused.
    """
    syntax, _ = transfer_syntax_of(ds)
    if syntax.is_compressed:
        return
    element = ds.get_item(0x7FE00010)
    rows, columns, bits = int(ds.Rows), int(ds.Columns), int(ds.BitsAllocated)
    frame_bytes = rows * columns * bits // 8
    expected = frame_bytes * n_frames
    value_tell = getattr(element, "value_tell", None)
    length = element.length if value_tell is not None else len(element.value or b"")
    on_disk = length  # a deflated file's offsets are in the inflated stream: trust the length
    if value_tell is not None and not syntax.is_deflated:
        on_disk = path.stat().st_size - value_tell
    if on_disk < min(length, expected):
        raise InputError(
            f"{path.name} is truncated: its pixel data holds {on_disk} bytes, {n_frames} frames "
            f"of {rows}×{columns} need {expected}; copy or export the run again"
        )
    if length not in (expected, expected + expected % 2):
        raise InputError(
            f"{path.name}: the header does not match the pixel data: NumberOfFrames {n_frames} × "
            f"Rows {rows} × Columns {columns} × BitsAllocated {bits}/8 = {expected} bytes, but "
            f"the uncompressed pixel data holds {length} bytes ({length / frame_bytes:.4g} frames "
            "of that size); check NumberOfFrames, Rows, Columns and BitsAllocated, or export the "
            "run again"
        )


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
        "file is probably damaged or truncated, or its Rows, Columns or BitsAllocated do not "
        f"describe it ({str(error).strip().splitlines()[0]}); export the run again"
    )
