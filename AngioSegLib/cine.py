"""`CineRun`: the one in-memory form of an angiography run, whatever file it came from.

Arrays are (T, H, W) = frame, row, column, frame 0 first, in the MONOCHROME2 convention (contrast-
filled vessels are dark on a brighter background, as an XA cine is displayed). Lengths are in mm at
the isocenter, times in s.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from AngioSegLib.errors import InputError


class CalibrationSource(str, enum.Enum):
    """Where the mm/pixel scale comes from (accepts the enum or its string value)."""

    IMAGER_PIXEL_SPACING_MAGNIFICATION = (
        "ImagerPixelSpacing / EstimatedRadiographicMagnificationFactor"
    )
    IMAGER_PIXEL_SPACING_GEOMETRY = (
        "ImagerPixelSpacing × DistanceSourceToPatient / DistanceSourceToDetector"
    )
    IMAGER_PIXEL_SPACING = "ImagerPixelSpacing (detector plane, not corrected for magnification)"
    PIXEL_SPACING = "PixelSpacing"
    CATHETER = "catheter calibration"
    USER = "user calibration"
    SYNTHETIC = "synthetic phantom (exact)"
    NONE = "none (pixels)"


@dataclass(frozen=True)
class Calibration:
    """Isotropic pixel size at the isocenter (mm) and its source; ``mm_per_pixel`` None = pixels."""

    mm_per_pixel: float | None = None
    source: CalibrationSource = CalibrationSource.NONE

    def __post_init__(self) -> None:
        object.__setattr__(self, "source", CalibrationSource(self.source))
        if self.mm_per_pixel is not None and not (0.0 < self.mm_per_pixel < 10.0):
            raise InputError(
                f"pixel spacing must be between 0 and 10 mm, found {self.mm_per_pixel} mm"
            )

    @property
    def is_calibrated(self) -> bool:
        return self.mm_per_pixel is not None

    @property
    def unit(self) -> str:
        """"mm" when calibrated, else "px"."""
        return "mm" if self.is_calibrated else "px"

    @property
    def scale(self) -> float:
        """Length of one pixel in :attr:`unit` (1.0 when uncalibrated)."""
        return self.mm_per_pixel if self.mm_per_pixel is not None else 1.0


@dataclass(frozen=True)
class ViewGeometry:
    """C-arm view. Primary angle: + LAO, − RAO (deg). Secondary: + CRA, − CAU (deg)."""

    primary_angle_deg: float | None = None
    secondary_angle_deg: float | None = None
    source_to_detector_mm: float | None = None
    source_to_patient_mm: float | None = None

    @property
    def label(self) -> str:
        """The view as clinicians say it, e.g. "RAO 32° CRA 2°" ("unknown view" without angles)."""
        parts = []
        if self.primary_angle_deg is not None:
            side = "LAO" if self.primary_angle_deg >= 0 else "RAO"
            parts.append(f"{side} {abs(self.primary_angle_deg):.0f}°")
        if self.secondary_angle_deg is not None:
            side = "CRA" if self.secondary_angle_deg >= 0 else "CAU"
            parts.append(f"{side} {abs(self.secondary_angle_deg):.0f}°")
        return " ".join(parts) if parts else "unknown view"


@dataclass(frozen=True)
class FrameReference:
    """Which source DICOM frame a cine frame came from (what DICOM SEG references)."""

    sop_class_uid: str
    sop_instance_uid: str
    frame_number: int | None = None  # 1-based within a multi-frame instance; None if single-frame
    path: Path | None = None


@runtime_checkable
class FrameSource(Protocol):
    """Frames decoded on demand: ``len()``, ``shape`` (T, H, W), ``dtype`` and ``[i] -> (H, W)``."""

    shape: tuple[int, int, int]
    dtype: np.dtype

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> np.ndarray: ...


@dataclass(frozen=True)
class CineRun:
    """An angiography run: frames plus everything needed to measure and to reference it.

    ``frames`` is a (T, H, W) integer or float array, or a lazy :class:`FrameSource` that decodes a
    frame when indexed. ``frame_times_s`` holds each frame's time from the first (s), or None when
    the file says nothing about timing. ``pixel_intensity_relationship`` is the DICOM term for how
    the values relate to the X-ray intensity ("LIN" proportional, "LOG", "DISP" display-processed),
    None when unknown or when reading changed the values (inversion, modality LUT).
    """

    frames: np.ndarray | FrameSource
    frame_times_s: np.ndarray | None = None
    calibration: Calibration = field(default_factory=Calibration)
    view: ViewGeometry = field(default_factory=ViewGeometry)
    r_wave_frames: tuple[int, ...] = ()
    references: tuple[FrameReference, ...] = ()
    bits_stored: int = 8
    transfer_syntax: str | None = None
    name: str = "cine"
    source_path: Path | None = None
    warnings: tuple[str, ...] = ()
    pixel_intensity_relationship: str | None = None

    def __post_init__(self) -> None:
        shape = tuple(self.frames.shape)
        if len(shape) != 3:
            raise InputError(f"a cine needs frames of shape (T, H, W), found shape {shape}")
        if shape[0] == 0:
            raise InputError("the run has no frames; choose a file or folder with at least one")
        if self.frame_times_s is not None:
            times = np.asarray(self.frame_times_s, dtype=float)
            if times.shape != (shape[0],):
                raise InputError(
                    f"frame_times_s needs one time per frame ({shape[0]}), found {times.shape}"
                )
            if not np.all(np.isfinite(times)):
                raise InputError(
                    "frame_times_s must be finite times (s), found "
                    f"{int(np.sum(~np.isfinite(times)))} NaN or infinite; leave them None if "
                    "the timing is unknown"
                )
            object.__setattr__(self, "frame_times_s", times)
        if self.references and len(self.references) != shape[0]:
            raise InputError(
                f"references need one entry per frame ({shape[0]}), found {len(self.references)}"
            )

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.frames.shape)  # type: ignore[return-value]

    @property
    def n_frames(self) -> int:
        return self.shape[0]

    @property
    def frame_rate_hz(self) -> float | None:
        """Mean frames per second from the frame times, or None when timing is unknown."""
        if self.frame_times_s is None or self.n_frames < 2:
            return None
        duration = float(self.frame_times_s[-1] - self.frame_times_s[0])
        return (self.n_frames - 1) / duration if duration > 0 else None

    @property
    def duration_s(self) -> float | None:
        if self.frame_times_s is None:
            return None
        rate = self.frame_rate_hz
        return float(self.frame_times_s[-1] - self.frame_times_s[0]) + (1 / rate if rate else 0.0)

    def frame(self, index: int) -> np.ndarray:
        """Frame ``index`` as an (H, W) array (decoded now if the frames are lazy)."""
        if not -self.n_frames <= index < self.n_frames:
            raise IndexError(f"frame {index} is outside the run's {self.n_frames} frames")
        return np.asarray(self.frames[index])

    def iter_frames(self, indices: Sequence[int] | None = None):
        """Yield (H, W) frames one at a time, decoding lazily."""
        for i in range(self.n_frames) if indices is None else indices:
            yield self.frame(i)

    def to_array(self) -> np.ndarray:
        """All frames as one (T, H, W) array (decodes every frame of a lazy run)."""
        if isinstance(self.frames, np.ndarray):
            return self.frames
        return np.stack(list(self.iter_frames()))

    def with_calibration(self, calibration: Calibration) -> CineRun:
        """A copy with another calibration (e.g. from the catheter)."""
        return replace(self, calibration=calibration)
