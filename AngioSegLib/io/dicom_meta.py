"""What an XA header says beyond pixels: calibration (mm/pixel), frame times (s), view, R waves.

Every reader here takes a pydicom Dataset and returns a value plus the warnings a clinician
should see (missing calibration, missing timing...). Attributes are looked up at the top level
and, for Enhanced XA/XRF, inside the shared and then the first frame's functional groups.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np

from AngioSegLib.cine import Calibration, CalibrationSource, ViewGeometry
from AngioSegLib.errors import InputError

_FUNCTIONAL_GROUPS = ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence")


def find_attribute(ds, keyword: str):
    """Value of ``keyword`` at the top level or in the (shared, first per-frame) functional groups.

    Returns None when absent or empty.
    """
    value = ds.get(keyword)
    if value not in (None, ""):
        return value
    for groups in _FUNCTIONAL_GROUPS:
        items = ds.get(groups)
        if not items:
            continue
        for macro in items[0]:
            if macro.VR != "SQ" or not macro.value:
                continue
            value = macro.value[0].get(keyword)
            if value not in (None, ""):
                return value
    return None


def _positive(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) and number > 0 else None


def _isotropic(spacing, what: str, warnings: list[str]) -> float | None:
    """(row, column) spacing in mm → one value; warns when the two differ by more than 1 %."""
    try:
        values = [float(v) for v in spacing]
    except (TypeError, ValueError):
        return None
    if len(values) != 2 or min(values) <= 0:
        return None
    if abs(values[0] - values[1]) > 0.01 * max(values):
        warnings.append(
            f"{what} is not square ({values[0]} × {values[1]} mm); using the mean "
            f"{np.mean(values):.4f} mm for lengths"
        )
    return float(np.mean(values))


def read_calibration(ds) -> tuple[Calibration, list[str]]:
    """mm/pixel at the isocenter, in this order of trust.

    1. ImagerPixelSpacing ÷ EstimatedRadiographicMagnificationFactor
    2. ImagerPixelSpacing × DistanceSourceToPatient ÷ DistanceSourceToDetector
    3. PixelSpacing
    4. ImagerPixelSpacing alone (detector plane: lengths overestimated; warns)
    5. none → pixels (warns)
    """
    notes: list[str] = []
    imager = _isotropic(find_attribute(ds, "ImagerPixelSpacing"), "ImagerPixelSpacing", notes)
    magnification = _positive(find_attribute(ds, "EstimatedRadiographicMagnificationFactor"))
    sid = _positive(find_attribute(ds, "DistanceSourceToDetector"))
    sod = _positive(find_attribute(ds, "DistanceSourceToPatient"))
    pixel = _isotropic(find_attribute(ds, "PixelSpacing"), "PixelSpacing", notes)
    candidates: list[tuple[float | None, CalibrationSource]] = []
    if imager is not None and magnification is not None:
        candidates.append(
            (imager / magnification, CalibrationSource.IMAGER_PIXEL_SPACING_MAGNIFICATION)
        )
    if imager is not None and sid is not None and sod is not None and sod < sid:
        candidates.append((imager * sod / sid, CalibrationSource.IMAGER_PIXEL_SPACING_GEOMETRY))
    if pixel is not None:
        candidates.append((pixel, CalibrationSource.PIXEL_SPACING))
    if imager is not None:
        candidates.append((imager, CalibrationSource.IMAGER_PIXEL_SPACING))
    for mm, source in candidates:
        try:
            calibration = Calibration(mm, source)
        except InputError as error:
            notes.append(f"ignored {source.value}: {error}")
            continue
        if source is CalibrationSource.IMAGER_PIXEL_SPACING:
            notes.append(
                "pixel spacing is ImagerPixelSpacing at the detector, with no magnification "
                "factor or source distances: lengths are overestimated (typically 1.2–1.5×); "
                "calibrate on the catheter for true mm"
            )
        return calibration, notes
    notes.append(
        "no pixel spacing in the file (ImagerPixelSpacing, PixelSpacing): measurements are "
        "in pixels; calibrate on the catheter to get mm"
    )
    return Calibration(), notes


def read_view(ds) -> ViewGeometry:
    """C-arm angles (deg) and source distances (mm) of the first frame."""

    def number(keyword: str) -> float | None:
        value = find_attribute(ds, keyword)
        try:
            return float(value) if value is not None else None
        except (TypeError, ValueError):
            return None

    return ViewGeometry(
        primary_angle_deg=number("PositionerPrimaryAngle"),
        secondary_angle_deg=number("PositionerSecondaryAngle"),
        source_to_detector_mm=_positive(find_attribute(ds, "DistanceSourceToDetector")),
        source_to_patient_mm=_positive(find_attribute(ds, "DistanceSourceToPatient")),
    )


def _times_from_rate(rate, n_frames: int) -> np.ndarray | None:
    hz = _positive(rate)
    return np.arange(n_frames) / hz if hz else None


def read_frame_times(ds, n_frames: int) -> tuple[np.ndarray | None, list[str]]:
    """Time of each frame from the first (s) of a multi-frame instance, and warnings.

    FrameTimeVector (ms between frames, first entry 0) → cumulative sum; FrameTime (ms) →
    ``t·FrameTime``; CineRate or RecommendedDisplayFrameRate (frames/s) → ``t / rate``; Enhanced
    per-frame FrameReferenceDateTime / FrameAcquisitionDateTime; else None with a warning.
    """
    notes: list[str] = []
    vector = ds.get("FrameTimeVector")
    if vector is not None:
        increments_ms = np.atleast_1d(np.asarray(vector, dtype=float))
        if len(increments_ms) == n_frames - 1:
            increments_ms = np.concatenate([[0.0], increments_ms])
        if len(increments_ms) == n_frames and np.all(increments_ms[1:] > 0):
            return np.cumsum(increments_ms) / 1000.0 - increments_ms[0] / 1000.0, notes
        notes.append(
            f"FrameTimeVector has {len(increments_ms)} entries for {n_frames} frames; ignored"
        )
    frame_time_ms = _positive(ds.get("FrameTime"))
    if frame_time_ms:
        return np.arange(n_frames) * frame_time_ms / 1000.0, notes
    times = _times_from_rate(ds.get("CineRate"), n_frames)
    if times is not None:
        return times, notes
    times = _per_frame_datetimes(ds, n_frames)
    if times is not None:
        return times, notes
    times = _times_from_rate(ds.get("RecommendedDisplayFrameRate"), n_frames)
    if times is not None:
        notes.append(
            "frame times come from RecommendedDisplayFrameRate (the display rate, which may "
            "differ from the acquisition rate)"
        )
        return times, notes
    notes.append(
        "no frame timing in the file (FrameTime, FrameTimeVector, CineRate): frame times and "
        "flow measures are unavailable"
    )
    return None, notes


def _parse_datetime(value) -> float | None:
    """DICOM DT 'YYYYMMDDHHMMSS.FFFFFF' (offset ignored) → POSIX-like seconds, or None."""
    text = str(value or "").strip().split("+")[0].split("-")[0]
    for layout in ("%Y%m%d%H%M%S.%f", "%Y%m%d%H%M%S"):
        try:
            return datetime.strptime(text, layout).timestamp()
        except ValueError:
            continue
    return None


def _relative_increasing(seconds: list[float | None]) -> np.ndarray | None:
    if not seconds or any(s is None for s in seconds):
        return None
    times = np.asarray(seconds, dtype=float) - seconds[0]
    return times if len(times) == 1 or np.all(np.diff(times) > 0) else None


def _per_frame_datetimes(ds, n_frames: int) -> np.ndarray | None:
    items = ds.get("PerFrameFunctionalGroupsSequence")
    if not items or len(items) != n_frames:
        return None
    for keyword in ("FrameReferenceDateTime", "FrameAcquisitionDateTime"):
        seconds = []
        for item in items:
            content = item.get("FrameContentSequence")
            value = content[0].get(keyword) if content else None
            seconds.append(_parse_datetime(value))
        times = _relative_increasing(seconds)
        if times is not None:
            return times
    return None


def instance_seconds(ds) -> float | None:
    """Acquisition (or content) time of a single-frame instance, in s since an arbitrary origin."""
    stamp = _parse_datetime(ds.get("AcquisitionDateTime"))
    if stamp is not None:
        return stamp
    for date_kw, time_kw in (
        ("AcquisitionDate", "AcquisitionTime"),
        ("ContentDate", "ContentTime"),
    ):
        clock = str(ds.get(time_kw) or "").strip()
        if clock:
            day = str(ds.get(date_kw) or "19700101").strip()
            stamp = _parse_datetime(day + clock if "." in clock else f"{day}{clock}.0")
            if stamp is not None:
                return stamp
    return None


def read_series_times(datasets: list) -> tuple[np.ndarray | None, list[str]]:
    """Frame times (s) of a run stored as single-frame instances, and warnings.

    Strictly increasing acquisition/content times are used; else the first instance's
    FrameTime, CineRate or RecommendedDisplayFrameRate; else None with a warning.
    """
    times = _relative_increasing([instance_seconds(ds) for ds in datasets])
    if times is not None and len(datasets) > 1:
        return times, []
    return read_frame_times(datasets[0], len(datasets))


def read_r_wave_frames(ds, n_frames: int) -> tuple[tuple[int, ...], list[str]]:
    """RWavePointer (1-based frame numbers) → 0-based frame indices inside the run."""
    pointer = ds.get("RWavePointer")
    if pointer is None:
        return (), []
    numbers = [int(v) for v in np.atleast_1d(np.asarray(pointer, dtype=int))]
    inside = tuple(n - 1 for n in numbers if 1 <= n <= n_frames)
    notes = []
    if len(inside) != len(numbers):
        notes.append(f"RWavePointer {numbers} points outside the {n_frames} frames; kept {inside}")
    return inside, notes
