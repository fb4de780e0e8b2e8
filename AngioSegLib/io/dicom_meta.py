"""What an XA header says beyond pixels: calibration (mm/pixel), frame times (s), view, R waves.

Every reader here takes a pydicom Dataset and returns a value plus the warnings a clinician
should see (missing calibration, missing timing...). Attributes are looked up at the top level
and, for Enhanced XA/XRF, inside the shared and then the first frame's functional groups.

Implausible values are never used, and never refused either (reading is tolerant): a frame rate
outside :data:`FRAME_RATE_RANGE_HZ` or a pixel size outside :data:`MM_PER_PIXEL_RANGE`, like a
zero, negative, NaN or non-numeric value, is ignored with a warning that names the tag and its
value, and the next source in the order of trust is used (or none, with the usual warning).
"""

from __future__ import annotations

from datetime import datetime

import numpy as np

from AngioSegLib.cine import Calibration, CalibrationSource, ViewGeometry
from AngioSegLib.errors import InputError

_FUNCTIONAL_GROUPS = ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence")
FRAME_RATE_RANGE_HZ = (0.5, 1000.0)  # frames/s an X-ray cine can have (C-arms: 0.5–60)
MM_PER_PIXEL_RANGE = (0.01, 5.0)  # isocenter pixel sizes an X-ray image can have (mm)
_TAGS = {
    "FrameTime": "(0018,1063)",
    "FrameTimeVector": "(0018,1065)",
    "CineRate": "(0018,0040)",
    "RecommendedDisplayFrameRate": "(0008,2144)",
    "ImagerPixelSpacing": "(0018,1164)",
    "PixelSpacing": "(0028,0030)",
}


def header_value(ds, keyword: str):
    """``ds.get(keyword)``, or the element's raw text when pydicom cannot convert it.

    A value such as IS "abc" raises in pydicom on every access; the text lets callers say what
    the file holds instead of failing with pydicom's exception.
    """
    try:
        return ds.get(keyword)
    except (ValueError, TypeError, OverflowError):
        raw = getattr(ds.get_item(keyword), "value", b"")
        text = raw.decode("latin-1") if isinstance(raw, bytes) else str(raw)
        return text.strip(" \x00")


def _tag(keyword: str) -> str:
    return f"{keyword} {_TAGS[keyword]}" if keyword in _TAGS else keyword


def _shown(value) -> str:
    """A header value as a warning quotes it: numbers as they are, text in quotes."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{float(value):g}"
    text = str(value).strip()
    return f"'{text[:40]}'" if text else "empty"


def is_plausible_rate(hz: float) -> bool:
    """Whether ``hz`` (frames/s) lies in :data:`FRAME_RATE_RANGE_HZ`."""
    low, high = FRAME_RATE_RANGE_HZ
    return bool(np.isfinite(hz)) and low <= hz <= high


def _rate_range() -> str:
    low, high = FRAME_RATE_RANGE_HZ
    return f"the plausible {low:g}–{high:g} frames/s"


def find_attribute(ds, keyword: str):
    """Value of ``keyword`` at the top level or in the (shared, first per-frame) functional groups.

    Returns None when absent or empty.
    """
    value = header_value(ds, keyword)
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


def _as_list(value) -> list:
    """A multi-valued header value as a list; one value (or text) as a one-item list."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        return [value]
    return list(value)


def _isotropic(spacing, what: str, warnings: list[str]) -> float | None:
    """(row, column) spacing in mm → one value; warns when the two differ by more than 1 %.

    A present value that is not two positive finite numbers, or whose mean is outside
    :data:`MM_PER_PIXEL_RANGE`, is ignored with a warning.
    """
    if spacing is None:
        return None
    values = [_number(v) for v in _as_list(spacing)]
    if len(values) != 2 or not all(v is not None and v > 0 for v in values):
        shown = "\\".join(str(v) for v in _as_list(spacing))
        warnings.append(f"ignored {_tag(what)}: {_shown(shown)} is not two positive numbers (mm)")
        return None
    low, high = MM_PER_PIXEL_RANGE
    if not low <= float(np.mean(values)) <= high:
        warnings.append(
            f"ignored {_tag(what)}: {float(np.mean(values)):.4g} mm is outside the plausible "
            f"{low:g}–{high:g} mm"
        )
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
    low, high = MM_PER_PIXEL_RANGE
    for mm, source in candidates:
        if not low <= mm <= high:
            notes.append(
                f"ignored {source.value}: {mm:.4g} mm/pixel is outside the plausible "
                f"{low:g}–{high:g} mm"
            )
            continue
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
    usable = "usable " if any(note.startswith("ignored") for note in notes) else ""
    notes.append(
        f"no {usable}pixel spacing in the file (ImagerPixelSpacing, PixelSpacing): measurements "
        "are in pixels; calibrate on the catheter to get mm"
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


def _number(value) -> float | None:
    """``value`` as a float, or None when it is not a number (NaN and ±inf included)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None


def _rate_hz(ds, keyword: str, notes: list[str]) -> float | None:
    """A frames/s attribute (CineRate, RecommendedDisplayFrameRate) when plausible, else None.

    A present but unusable value is reported in ``notes``, naming the tag and the value.
    """
    value = header_value(ds, keyword)
    if value in (None, ""):
        return None
    hz = _number(value)
    if hz is None or hz <= 0:
        notes.append(f"ignored {_tag(keyword)}: {_shown(value)} is not a positive frame rate")
        return None
    if not is_plausible_rate(hz):
        notes.append(f"ignored {_tag(keyword)}: {hz:g} frames/s is outside {_rate_range()}")
        return None
    return hz


def _frame_time_ms(ds, notes: list[str]) -> float | None:
    """FrameTime (ms between frames) when it is a plausible positive number, else None."""
    value = header_value(ds, "FrameTime")
    if value in (None, ""):
        return None
    ms = _number(value)
    if ms is None or ms <= 0:
        notes.append(f"ignored {_tag('FrameTime')}: {_shown(value)} is not a positive time (ms)")
        return None
    if not is_plausible_rate(1000.0 / ms):
        notes.append(
            f"ignored {_tag('FrameTime')}: {ms:g} ms ({1000.0 / ms:.3g} frames/s) is outside "
            f"{_rate_range()}"
        )
        return None
    return ms


def _vector_times(ds, n_frames: int, ignored: list[str], notes: list[str]) -> np.ndarray | None:
    """Frame times (s) from FrameTimeVector (ms before each frame, the first 0), or None.

    Unusable values go to ``ignored``; a vector of the wrong length to ``notes`` (as always).
    """
    vector = header_value(ds, "FrameTimeVector")
    if vector is None:
        return None
    try:
        increments_ms = np.atleast_1d(np.asarray(vector, dtype=float))
    except (TypeError, ValueError):
        ignored.append(f"ignored {_tag('FrameTimeVector')}: {_shown(vector)} is not numbers (ms)")
        return None
    if len(increments_ms) == n_frames - 1:
        increments_ms = np.concatenate([[0.0], increments_ms])
    if len(increments_ms) != n_frames:
        notes.append(
            f"FrameTimeVector has {len(increments_ms)} entries for {n_frames} frames; ignored"
        )
        return None
    steps = increments_ms[1:]
    if not np.all(np.isfinite(steps) & (steps > 0)):
        ignored.append(
            f"ignored {_tag('FrameTimeVector')}: not every interval is a positive time (ms)"
        )
        return None
    if steps.size and not all(is_plausible_rate(1000.0 / step) for step in steps):
        ignored.append(
            f"ignored {_tag('FrameTimeVector')}: intervals of {steps.min():g}–{steps.max():g} ms "
            f"are outside {_rate_range()}"
        )
        return None
    return np.cumsum(increments_ms) / 1000.0 - increments_ms[0] / 1000.0


def plausible_times(times: np.ndarray | None) -> bool:
    """Whether frame times (s) give a mean frame rate in :data:`FRAME_RATE_RANGE_HZ`."""
    if times is None or len(times) < 2:
        return times is not None
    duration = float(times[-1] - times[0])
    return duration > 0 and is_plausible_rate((len(times) - 1) / duration)


def read_frame_times(ds, n_frames: int) -> tuple[np.ndarray | None, list[str]]:
    """Time of each frame from the first (s) of a multi-frame instance, and warnings.

    FrameTimeVector (ms between frames, first entry 0) → cumulative sum; FrameTime (ms) →
    ``t·FrameTime``; CineRate or RecommendedDisplayFrameRate (frames/s) → ``t / rate``; Enhanced
    per-frame FrameReferenceDateTime / FrameAcquisitionDateTime; else None with a warning.

    A value that is zero, negative, NaN, text, or outside :data:`FRAME_RATE_RANGE_HZ` is never
    used and never refused: it is ignored with a warning naming the tag and the value, and the
    next source is used (the warnings say which). A single frame's timing does not matter, so its
    ignored values go unmentioned.
    """
    ignored: list[str] = []
    times, source, notes = _timing(ds, n_frames, ignored)
    if n_frames == 1 or not ignored:
        return times, notes
    used = [f"frame times come from {source} instead"] if source else []
    notes = [note.replace("no frame timing", "no usable frame timing") for note in notes]
    return times, [*ignored, *used, *notes]


def _timing(ds, n_frames: int, ignored: list[str]):
    """(times or None, the source used or None, other warnings); unusable values → ``ignored``."""
    notes: list[str] = []
    times = _vector_times(ds, n_frames, ignored, notes)
    if times is not None:
        return times, "FrameTimeVector", notes
    frame_time_ms = _frame_time_ms(ds, ignored)
    if frame_time_ms is not None:
        times = np.arange(n_frames) * frame_time_ms / 1000.0
        return times, f"FrameTime ({frame_time_ms:g} ms)", notes
    hz = _rate_hz(ds, "CineRate", ignored)
    if hz is not None:
        return np.arange(n_frames) / hz, f"CineRate ({hz:g} frames/s)", notes
    times = _per_frame_datetimes(ds, n_frames)
    if times is not None and plausible_times(times):
        return times, "the per-frame date-times (FrameContentSequence)", notes
    if times is not None:
        ignored.append(
            f"ignored the per-frame date-times (FrameContentSequence): their frame rate is "
            f"outside {_rate_range()}"
        )
    hz = _rate_hz(ds, "RecommendedDisplayFrameRate", ignored)
    if hz is not None:
        notes.append(
            "frame times come from RecommendedDisplayFrameRate (the display rate, which may "
            "differ from the acquisition rate)"
        )
        return np.arange(n_frames) / hz, None, notes
    notes.append(
        "no frame timing in the file (FrameTime, FrameTimeVector, CineRate): frame times and "
        "flow measures are unavailable"
    )
    return None, None, notes


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
        if plausible_times(times):
            return times, []
        found, notes = read_frame_times(datasets[0], len(datasets))
        rate = (len(times) - 1) / float(times[-1] - times[0])
        return found, [
            f"ignored the acquisition times of the {len(datasets)} single-frame instances: "
            f"{rate:.3g} frames/s is outside {_rate_range()}",
            *notes,
        ]
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
