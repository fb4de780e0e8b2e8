"""Quantitative vessel analysis (QCA-style) of a run, in mm: the public entry of the QCA stage.

``analyze_run(cine, probabilities, masks) -> RunAnalysis`` measures every frame (vessel area,
centerline length, segments, opacification), derives the contrast filling curve, picks the
analysis frame and runs QCA on it (:mod:`.analysis`: MLD, RVD, %DS, %AS, lesion length per analysis
segment). Lengths are in the calibration's unit ("mm", or "px" for an uncalibrated run), the
``unit`` of every result, each field declared with its unit (:mod:`.units`); the tables written
from them (:mod:`AngioSegLib.outputs.tables`) carry the unit in every key and the calibration
source.

Opacification of a frame: ``Σ_mask (B − I) / B · pixel area`` with ``I`` the frame (vessels dark)
and ``B`` its background, a grey closing of ``I`` wider than the widest vessel (a densitometric
area, unit², proportional to the iodine seen). The filling curve is that, median-filtered over
``FILLING_MEDIAN_FRAMES`` frames and normalised to its peak:

* arrival: first frame up to the peak where the curve exceeds baseline + ``FILLING_ARRIVAL``
  (10 %) of the rise (baseline: its minimum before the peak);
* peak opacification: the maximum;
* washout: first frame after the peak where it falls below baseline + ``FILLING_WASHOUT`` (50 %)
  of the rise (None if it never does within the run).

Analysis frame: with R-wave pointers in the file, the R-wave frame (end-diastole) nearest the peak
whose filling is at least ``ED_MIN_FILLING`` (80 %) of the peak; otherwise the peak opacification
frame.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np
from scipy import ndimage

from AngioSegLib.cine import Calibration, CineRun
from AngioSegLib.errors import InputError
from AngioSegLib.progress import Progress, ProgressCallback, no_progress
from AngioSegLib.qca.analysis import measure_segments
from AngioSegLib.qca.centerline import extract_centerlines
from AngioSegLib.qca.densitometry import attenuation_image, densitometry_is_valid
from AngioSegLib.qca.options import DEFAULT_OPTIONS, QcaOptions
from AngioSegLib.qca.results import SegmentMeasures, Stenosis
from AngioSegLib.qca.stenosis_list import list_stenoses
from AngioSegLib.qca.units import in_area_unit, in_length_unit, in_percent

__all__ = [
    "FillingCurve",
    "FrameMeasures",
    "QcaOptions",
    "RunAnalysis",
    "RunMeasurer",
    "SegmentMeasures",
    "Stenosis",
    "analyze_run",
    "choose_analysis_frame",
    "filling_curve",
    "measure_frame",
]

FILLING_MEDIAN_FRAMES = 3  # the opacification curve is median-filtered over this many frames
FILLING_ARRIVAL = 0.1  # of the rise above baseline: contrast has arrived
FILLING_WASHOUT = 0.5  # of the rise: below it after the peak, contrast has washed out
ED_MIN_FILLING = 0.8  # of the peak: the least filling of an end-diastolic analysis frame
# The background closing's disk: BACKGROUND_RADII × the widest vessel radius (px) each side,
# + 3 px, at most BACKGROUND_MAX_PX across (wider than any vessel, so vessels are removed).
BACKGROUND_RADII = 2.0
BACKGROUND_MAX_PX = 61


@dataclass(frozen=True)
class FrameMeasures:
    """One frame (index ``frame``, at ``time_s`` s, None when the run has no timing).

    In ``unit`` ("mm" or "px"): ``centerline_length`` (all centerline segments together); in
    ``unit``²: ``vessel_area`` and ``opacification`` (Σ over the vessel of (B − I)/B × pixel
    area); in % (0–100): ``vessel_fraction`` (of the field of view). Without a unit:
    ``n_segments`` (centerline graph segments), ``mean_contrast`` ((B − I)/B over the vessel,
    0–1) and ``filling`` (opacification / its run peak, 0–1)."""

    frame: int
    time_s: float | None
    vessel_area: float = in_area_unit()
    vessel_fraction: float = in_percent()
    centerline_length: float = in_length_unit()
    n_segments: int
    mean_contrast: float
    opacification: float = in_area_unit()
    filling: float
    unit: str


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
    size = int(min(2 * np.ceil(BACKGROUND_RADII * radius) + 3, BACKGROUND_MAX_PX))
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
        unit=calibration.unit,
    )


def filling_curve(opacification: np.ndarray, times_s: np.ndarray | None = None) -> FillingCurve:
    """The filling curve and its landmarks from per-frame opacification (see module docstring)."""
    values = np.asarray(opacification, float)
    if len(values) >= FILLING_MEDIAN_FRAMES:
        values = ndimage.median_filter(values, size=FILLING_MEDIAN_FRAMES, mode="nearest")
    peak = int(np.argmax(values))
    top = values[peak] if values[peak] > 0 else 1.0
    curve = values / top
    baseline = float(curve[: peak + 1].min())
    rise = 1.0 - baseline
    arrival = int(np.argmax(curve[: peak + 1] >= baseline + FILLING_ARRIVAL * rise))
    after = np.flatnonzero(curve[peak:] < baseline + FILLING_WASHOUT * rise)
    washout = int(peak + after[0]) if len(after) and rise > 0 else None
    return FillingCurve(curve, times_s, arrival, peak, washout)


def choose_analysis_frame(curve: FillingCurve, r_wave_frames: tuple[int, ...]) -> tuple[int, str]:
    """(frame, rule): end-diastole nearest peak opacification when known, else the peak."""
    candidates = [f for f in r_wave_frames
                  if 0 <= f < len(curve.filling) and curve.filling[f] >= ED_MIN_FILLING]
    if candidates:
        frame = min(candidates, key=lambda f: (abs(f - curve.peak_frame), f))
        return frame, (f"end-diastole: the R-wave frame nearest peak opacification (frame "
                       f"{curve.peak_frame}) with filling ≥ {ED_MIN_FILLING:.0%}")
    if r_wave_frames:
        return curve.peak_frame, ("peak opacification (no R-wave frame reaches "
                                  f"{ED_MIN_FILLING:.0%} filling)")
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
    measure = RunMeasurer(cine, options, progress)
    for i, frame in enumerate(cine.iter_frames()):
        measure.add(frame, masks[i])
    return measure.finish(probabilities[measure.analysis_frame_of()], masks)


class RunMeasurer:
    """:func:`analyze_run` as frames come: :meth:`add` each frame's mask in frame order (the
    per-frame measures), then :meth:`analysis_frame_of` says which frame QCA runs on and
    :meth:`finish` takes that frame's probabilities and the masks (anything indexable by frame)."""

    def __init__(self, cine: CineRun, options: QcaOptions = DEFAULT_OPTIONS,
                 progress: ProgressCallback = no_progress):
        self.cine, self.options, self.progress = cine, options, progress
        self.per_frame: list[FrameMeasures] = []
        self._curve: FillingCurve | None = None

    def add(self, frame: np.ndarray, mask: np.ndarray) -> FrameMeasures:
        """Measure the next frame (``frame`` (H, W) and its ``mask``)."""
        i, times = len(self.per_frame), self.cine.frame_times_s
        if i >= self.cine.n_frames:
            raise InputError(f"the run has {self.cine.n_frames} frames; no frame {i} to measure")
        time_s = float(times[i]) if times is not None else None
        measures = measure_frame(frame, mask, self.cine.calibration, self.options, i, time_s)
        self.per_frame.append(measures)
        self.progress(Progress("quantify", i + 1, self.cine.n_frames + 1,
                               f"measured frame {i + 1}"))
        return measures

    def analysis_frame_of(self) -> int:
        """The frame QCA runs on (every frame measured)."""
        return self._analysis()[0]

    def _analysis(self) -> tuple[int, str]:
        if len(self.per_frame) != self.cine.n_frames:
            raise InputError(f"{len(self.per_frame)} of the run's {self.cine.n_frames} frames "
                             "are measured; measure every frame first")
        if self._curve is None:
            opacification = np.array([f.opacification for f in self.per_frame])
            self._curve = filling_curve(opacification, self.cine.frame_times_s)
        return _analysis_frame(self._curve, self.cine, self.options)

    def finish(self, probability: np.ndarray, masks) -> RunAnalysis:
        """The run's analysis, with ``probability`` (H, W) of the analysis frame."""
        cine, options = self.cine, self.options
        analysis_frame, rule = self._analysis()
        curve, calibration = self._curve, cine.calibration
        total = cine.n_frames + 1
        frames = tuple(replace(f, filling=float(curve.filling[i]))
                       for i, f in enumerate(self.per_frame))
        relationship = cine.pixel_intensity_relationship
        segments = measure_segments(np.asarray(probability), np.asarray(masks[analysis_frame]),
                                    calibration.scale, calibration.unit, analysis_frame, options,
                                    image=attenuation_image(cine.frame(analysis_frame),
                                                            relationship),
                                    densitometry=densitometry_is_valid(relationship))
        self.progress(Progress("quantify", total, total, f"QCA on frame {analysis_frame}"))
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
