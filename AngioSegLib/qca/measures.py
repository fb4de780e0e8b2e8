"""Quantitative vessel analysis (QCA-style) of a run, in mm: the public entry of the QCA stage.

``analyze_run(cine, probabilities, masks) -> RunAnalysis`` measures every frame (vessel area,
centerline length, segments, opacification), derives the contrast filling curve, picks the
analysis frame and runs QCA on it (:mod:`.analysis`: MLD, RVD, %DS, %AS, lesion length per analysis
segment). Lengths are in the calibration's unit ("mm", or "px" for an uncalibrated run) and every
exported number carries its unit and the calibration source.

Opacification of a frame: ``Σ_mask (B − I) / B · pixel area`` with ``I`` the frame (vessels dark)
and ``B`` its background, a grey closing of ``I`` wider than the widest vessel (a densitometric
area, unit², proportional to the iodine seen). The filling curve is that, median-filtered over 3
frames and normalised to its peak:

* arrival: first frame up to the peak where the curve exceeds baseline + 10 % of the rise
  (baseline: its minimum before the peak);
* peak opacification: the maximum;
* washout: first frame after the peak where it falls below baseline + 50 % of the rise (None if
  it never does within the run).

Analysis frame: with R-wave pointers in the file, the R-wave frame (end-diastole) nearest the peak
whose filling is at least 80 % of the peak; otherwise the peak opacification frame.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, fields, replace
from pathlib import Path

import cv2
import numpy as np
from scipy import ndimage

from AngioSegLib.cine import Calibration, CineRun
from AngioSegLib.errors import InputError
from AngioSegLib.io.atomic import atomic_write
from AngioSegLib.progress import Progress, ProgressCallback, no_progress
from AngioSegLib.qca.analysis import (
    DEFAULT_OPTIONS,
    QcaOptions,
    SegmentMeasures,
    Stenosis,
    list_stenoses,
    measure_segments,
)
from AngioSegLib.qca.centerline import extract_centerlines
from AngioSegLib.qca.densitometry import attenuation_image, densitometry_is_valid

__all__ = [
    "FillingCurve",
    "FrameMeasures",
    "QcaOptions",
    "RunAnalysis",
    "SegmentMeasures",
    "Stenosis",
    "analyze_run",
    "choose_analysis_frame",
    "filling_curve",
    "measure_frame",
]

# Unit kind of exported fields: "length" follows the calibration, "area" is its square.
_LENGTH = {"length", "mean_diameter", "mld", "edge_mld", "mld_position", "rvd", "lesion_length",
           "lesion_start", "lesion_end", "centerline_length", "densitometric_mld",
           "bridged_length", "overlap_length"}
_AREA = {"vessel_area", "opacification"}
_PERCENT = {"percent_diameter_stenosis", "percent_area_stenosis", "vessel_fraction"}
_FILLING_ARRIVAL, _FILLING_WASHOUT, _ED_MIN_FILLING = 0.1, 0.5, 0.8


@dataclass(frozen=True)
class FrameMeasures:
    """One frame: vessel area (unit²), fraction of the field of view (%), total centerline length
    (unit), graph segments, mean vessel contrast (B − I)/B (0–1), opacification (unit²) and
    filling (opacification / its run peak, 0–1)."""

    frame: int
    time_s: float | None
    vessel_area: float
    vessel_fraction: float
    centerline_length: float
    n_segments: int
    mean_contrast: float
    opacification: float
    filling: float


@dataclass(frozen=True, eq=False)
class FillingCurve:
    """The contrast filling curve: ``filling`` (T,) 0–1 and its landmarks (frames, s)."""

    filling: np.ndarray
    times_s: np.ndarray | None
    arrival_frame: int
    peak_frame: int
    washout_frame: int | None

    def time_of(self, frame: int | None) -> float | None:
        if frame is None or self.times_s is None:
            return None
        return float(self.times_s[frame])


def _value(name: str, value):
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, tuple):
        return [_value(name, v) for v in value]
    return value


def _key(name: str, unit: str) -> str:
    if name in _LENGTH:
        return f"{name}_{unit}"
    if name in _AREA:
        return f"{name}_{unit}2"
    if name in _PERCENT:
        return f"{name}_percent"
    return name


def _record(item, unit: str) -> dict:
    """Scalar fields of a measures dataclass, keys suffixed with their unit."""
    out = {}
    for f in fields(item):
        value = getattr(item, f.name)
        if isinstance(value, np.ndarray) or f.name == "unit" or not f.metadata.get("export", 1):
            continue
        out[_key(f.name, unit)] = _value(f.name, value)
    return out


def _columns(kind, unit: str) -> list[str]:
    """The keys :func:`_record` gives an instance of dataclass ``kind`` (for an empty table)."""
    return [_key(f.name, unit) for f in fields(kind)
            if "ndarray" not in str(f.type) and f.name != "unit" and f.metadata.get("export", 1)]


def _csv_text(records: list[dict], columns: list[str]) -> str:
    """CSV with a header row of ``columns`` (the records' keys when there are records)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(records[0]) if records else columns,
                            lineterminator="\n")
    writer.writeheader()
    if records:
        for r in records:
            writer.writerow({k: ";".join(map(str, v)) if isinstance(v, list) else v
                             for k, v in r.items()})
    return buffer.getvalue()


def _write_text(path, text: str, force: bool) -> Path:
    with atomic_write(path, force=force) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


@dataclass(frozen=True, eq=False)
class RunAnalysis:
    """QCA of a run. ``frames`` one :class:`FrameMeasures` per frame; ``segments`` and
    ``stenoses`` (most severe first) on ``analysis_frame``, chosen by ``analysis_rule``."""

    calibration: Calibration
    options: QcaOptions
    frames: tuple[FrameMeasures, ...]
    filling_curve: FillingCurve
    analysis_frame: int
    analysis_rule: str
    segments: tuple[SegmentMeasures, ...]
    stenoses: tuple[Stenosis, ...]

    @property
    def unit(self) -> str:
        return self.calibration.unit

    def segment(self, segment_id: int) -> SegmentMeasures:
        """The analysis segment with ``segment_id`` on the analysis frame."""
        for s in self.segments:
            if s.segment_id == segment_id:
                return s
        raise InputError(f"no segment {segment_id} on frame {self.analysis_frame}")

    def to_json(self) -> dict:
        """A JSON-ready dict; each number's key ends with its unit (``mld_mm``, ``_percent``)."""
        unit, curve = self.unit, self.filling_curve
        return {
            "unit": unit,
            "calibration": {"mm_per_pixel": self.calibration.mm_per_pixel,
                            "source": self.calibration.source.value},
            "analysis_frame": self.analysis_frame,
            "analysis_time_s": curve.time_of(self.analysis_frame),
            "analysis_rule": self.analysis_rule,
            "filling_curve": {
                "arrival_frame": curve.arrival_frame,
                "arrival_time_s": curve.time_of(curve.arrival_frame),
                "peak_frame": curve.peak_frame,
                "peak_time_s": curve.time_of(curve.peak_frame),
                "washout_frame": curve.washout_frame,
                "washout_time_s": curve.time_of(curve.washout_frame),
            },
            "stenoses": [_record(s, unit) for s in self.stenoses],
            "segments": [_record(s, unit) for s in self.segments],
            "frames": [_record(f, unit) for f in self.frames],
        }

    def segments_csv(self) -> str:
        """qca.csv: one row per analysis segment of the analysis frame, units in the header."""
        source = self.calibration.source.value
        return _csv_text([{**_record(s, self.unit), "calibration_source": source}
                          for s in self.segments],
                         [*_columns(SegmentMeasures, self.unit), "calibration_source"])

    def frames_csv(self) -> str:
        """frames.csv: one row per frame, units in the header."""
        source = self.calibration.source.value
        return _csv_text([{**_record(f, self.unit), "calibration_source": source}
                          for f in self.frames],
                         [*_columns(FrameMeasures, self.unit), "calibration_source"])

    def write_segments_csv(self, path, force: bool = False) -> Path:
        return _write_text(path, self.segments_csv(), force)

    def write_frames_csv(self, path, force: bool = False) -> Path:
        return _write_text(path, self.frames_csv(), force)

    def summary_lines(self) -> list[str]:
        """A few lines for a console: analysis frame, then each stenosis."""
        unit = self.unit
        lines = [f"QCA on frame {self.analysis_frame} ({self.analysis_rule}); lengths in {unit} "
                 f"({self.calibration.source.value})"]
        if not self.stenoses:
            lines.append(f"no stenosis of {self.options.min_stenosis_percent:.0f} % or more")
        for s in self.stenoses:
            length = "–" if s.lesion_length is None else f"{s.lesion_length:.1f}"
            where = (f"{s.segment_label} ({s.segment_name}, segment {s.syntax_segment})"
                     if s.syntax_segment else s.segment_label)
            lines.append(
                f"{where}: {s.percent_diameter_stenosis:.0f} %DS "
                f"({s.percent_area_stenosis:.0f} %AS), MLD {s.mld:.2f} {unit} ({_how(s)}), "
                f"RVD {s.rvd:.2f} {unit}, lesion length {length} {unit}"
            )
        return lines


def _how(stenosis: Stenosis) -> str:
    """How a stenosis' MLD was measured, with the edge MLD beside a densitometric one."""
    if stenosis.mld_method == "edge":
        return "edges"
    return f"{stenosis.mld_method}; edges {stenosis.edge_mld:.2f}"


def _background(frame: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Grey closing of ``frame`` with a disk wider than the widest vessel (removes dark vessels)."""
    radius = float(ndimage.distance_transform_edt(mask).max()) if mask.any() else 1.0
    size = int(min(2 * np.ceil(2.0 * radius) + 3, 61))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    return cv2.morphologyEx(frame, cv2.MORPH_CLOSE, kernel)


def measure_frame(frame: np.ndarray, mask: np.ndarray, calibration: Calibration,
                  options: QcaOptions = DEFAULT_OPTIONS, index: int = 0,
                  time_s: float | None = None) -> FrameMeasures:
    """Per-frame measures (``filling`` left at 0: it is relative to the run's peak)."""
    mask = np.asarray(mask).astype(bool)
    scale = calibration.scale
    image = np.asarray(frame, np.float32)
    contrast = 0.0
    opacification = 0.0
    if mask.any():
        background = _background(image, mask.astype(np.uint8))
        relative = np.clip((background - image) / np.maximum(background, 1e-6), 0.0, 1.0)[mask]
        contrast = float(relative.mean())
        opacification = float(relative.sum()) * scale**2
    segments = extract_centerlines(mask, options.spur_factor, options.min_branch_mm / scale)
    return FrameMeasures(
        frame=index,
        time_s=time_s,
        vessel_area=float(mask.sum()) * scale**2,
        vessel_fraction=100.0 * float(mask.mean()),
        centerline_length=sum(s.length_px for s in segments) * scale,
        n_segments=len(segments),
        mean_contrast=contrast,
        opacification=opacification,
        filling=0.0,
    )


def filling_curve(opacification: np.ndarray, times_s: np.ndarray | None = None) -> FillingCurve:
    """The filling curve and its landmarks from per-frame opacification (see module docstring)."""
    values = np.asarray(opacification, float)
    if len(values) >= 3:
        values = ndimage.median_filter(values, size=3, mode="nearest")
    peak = int(np.argmax(values))
    top = values[peak] if values[peak] > 0 else 1.0
    curve = values / top
    baseline = float(curve[: peak + 1].min())
    rise = 1.0 - baseline
    arrival = int(np.argmax(curve[: peak + 1] >= baseline + _FILLING_ARRIVAL * rise))
    after = np.flatnonzero(curve[peak:] < baseline + _FILLING_WASHOUT * rise)
    washout = int(peak + after[0]) if len(after) and rise > 0 else None
    return FillingCurve(curve, times_s, arrival, peak, washout)


def choose_analysis_frame(curve: FillingCurve, r_wave_frames: tuple[int, ...]) -> tuple[int, str]:
    """(frame, rule): end-diastole nearest peak opacification when known, else the peak."""
    candidates = [f for f in r_wave_frames
                  if 0 <= f < len(curve.filling) and curve.filling[f] >= _ED_MIN_FILLING]
    if candidates:
        frame = min(candidates, key=lambda f: (abs(f - curve.peak_frame), f))
        return frame, (f"end-diastole: the R-wave frame nearest peak opacification (frame "
                       f"{curve.peak_frame}) with filling ≥ {_ED_MIN_FILLING:.0%}")
    if r_wave_frames:
        return curve.peak_frame, ("peak opacification (no R-wave frame reaches "
                                  f"{_ED_MIN_FILLING:.0%} filling)")
    return curve.peak_frame, "peak opacification (the file has no R-wave pointers)"


def _analysis_frame(curve: FillingCurve, cine: CineRun, options: QcaOptions) -> tuple[int, str]:
    """(frame, rule): the user's ``options.analysis_frame``, or :func:`choose_analysis_frame`."""
    if options.analysis_frame is None:
        return choose_analysis_frame(curve, cine.r_wave_frames)
    if not 0 <= options.analysis_frame < cine.n_frames:
        raise InputError(f"analysis frame {options.analysis_frame} is not in the run: give a "
                         f"frame from 0 to {cine.n_frames - 1}")
    return options.analysis_frame, "chosen by the user"


def _check_inputs(cine: CineRun, probabilities: np.ndarray, masks: np.ndarray) -> None:
    if probabilities.shape != cine.shape or masks.shape != cine.shape:
        raise InputError(
            f"probabilities and masks must match the cine's shape {cine.shape}, found "
            f"{probabilities.shape} and {masks.shape}"
        )


def analyze_run(cine: CineRun, probabilities: np.ndarray, masks: np.ndarray,
                options: QcaOptions = DEFAULT_OPTIONS,
                progress: ProgressCallback = no_progress) -> RunAnalysis:
    """Measure every frame, the filling curve, and QCA on the analysis frame (see module doc)."""
    probabilities, masks = np.asarray(probabilities), np.asarray(masks)
    _check_inputs(cine, probabilities, masks)
    calibration, times = cine.calibration, cine.frame_times_s
    total = cine.n_frames + 1
    per_frame = []
    for i, frame in enumerate(cine.iter_frames()):
        time_s = float(times[i]) if times is not None else None
        per_frame.append(measure_frame(frame, masks[i], calibration, options, i, time_s))
        progress(Progress("quantify", i + 1, total, f"measured frame {i + 1}"))
    curve = filling_curve(np.array([f.opacification for f in per_frame]), times)
    frames = tuple(replace(f, filling=float(curve.filling[i])) for i, f in enumerate(per_frame))
    analysis_frame, rule = _analysis_frame(curve, cine, options)
    relationship = cine.pixel_intensity_relationship
    segments = measure_segments(probabilities[analysis_frame], masks[analysis_frame],
                                calibration.scale, calibration.unit, analysis_frame, options,
                                image=attenuation_image(cine.frame(analysis_frame), relationship),
                                densitometry=densitometry_is_valid(relationship))
    progress(Progress("quantify", total, total, f"QCA on frame {analysis_frame}"))
    return RunAnalysis(
        calibration=calibration,
        options=options,
        frames=frames,
        filling_curve=curve,
        analysis_frame=analysis_frame,
        analysis_rule=rule,
        segments=segments,
        stenoses=list_stenoses(segments, options),
    )
