"""`run(cine, options, progress) -> Result`: the one entry every front door (CLI, Slicer) calls.

Stages, each a pure function of its inputs: calibrate (DICOM or catheter) → segment every frame
(CE-Net) → motion-compensated temporal filter → coronary-segment names (models with a segment
head: :func:`~AngioSegLib.anatomy.segments.name_vessels`, voted along branches and over the filter's
2K+1 frames) → quantitative analysis (QCA). Progress is reported
per stage and frame; a callback that raises :class:`~AngioSegLib.errors.CancelledError` cancels
between frames.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from AngioSegLib.cine import CineRun
from AngioSegLib.errors import InputError
from AngioSegLib.progress import Progress, ProgressCallback, no_progress
from AngioSegLib.qca.analysis import DEFAULT_OPTIONS, QcaOptions

if TYPE_CHECKING:
    from AngioSegLib.qca.measures import RunAnalysis
    from AngioSegLib.segment.segmenter import Segmenter

Point = tuple[float, float]


@dataclass(frozen=True)
class PipelineOptions:
    """What to run. Lengths in mm; ``catheter_points`` are two (row, col) pixels on the catheter."""

    model: str | None = None  # None = the shipped default model
    device: str = "auto"
    precision: str = "auto"  # auto, fp32, int8 (CPU, ONNX Runtime), bf16, fp16 (GPU)
    temporal_k: int = 2
    motion_compensation: bool = True
    threshold: float = 0.5
    catheter_french: float | None = None
    catheter_points: tuple[Point, Point] | None = None
    catheter_frame: int = 0
    analyze: bool = True
    qca: QcaOptions = DEFAULT_OPTIONS

    def __post_init__(self) -> None:
        if self.temporal_k < 0:
            raise InputError(f"temporal K must be 0 or more frames, found {self.temporal_k}")
        if not 0.0 < self.threshold < 1.0:
            raise InputError(f"threshold must be between 0 and 1, found {self.threshold}")
        if (self.catheter_french is None) != (self.catheter_points is None):
            raise InputError(
                "catheter calibration needs both the French size and two points on the catheter"
            )


@dataclass(frozen=True)
class Result:
    """Everything a run produced. Probabilities float32 (T,H,W) in [0,1]; masks uint8 {0,1}."""

    cine: CineRun
    options: PipelineOptions
    probabilities: np.ndarray
    masks: np.ndarray
    anatomy: np.ndarray | None = None  # (T, H, W) uint8 SYNTAX label values (anatomy module)
    analysis: RunAnalysis | None = None
    model_name: str = ""
    model_version: str = ""
    device: str = ""
    timings_s: dict[str, float] = field(default_factory=dict)


def calibrate(cine: CineRun, options: PipelineOptions) -> CineRun:
    """The cine with the catheter calibration applied when the options ask for one."""
    if options.catheter_french is None or options.catheter_points is None:
        return cine
    from AngioSegLib.qca.calibration import calibrate_from_catheter

    calibration = calibrate_from_catheter(
        cine.frame(options.catheter_frame), *options.catheter_points, options.catheter_french
    )
    return cine.with_calibration(calibration)


def run(
    cine: CineRun,
    options: PipelineOptions | None = None,
    progress: ProgressCallback = no_progress,
    segmenter: Segmenter | None = None,
) -> Result:
    """Segment, filter and measure every frame of ``cine``; pass ``segmenter`` to reuse a model."""
    from AngioSegLib.segment.segmenter import Segmenter
    from AngioSegLib.temporal.filter import TemporalOptions, filter_probabilities

    options = options or PipelineOptions()
    timings: dict[str, float] = {}

    start = time.perf_counter()
    cine = calibrate(cine, options)
    # Decode once: segmentation, optical flow, QCA and the outputs all read every frame
    # (a 1024² × 200-frame 16-bit run is 400 MB).
    cine = replace(cine, frames=cine.to_array())
    timings["decode"] = time.perf_counter() - start

    start = time.perf_counter()
    if segmenter is None:
        progress(Progress("load model", 0, 1, "loading the segmentation model"))
        segmenter = Segmenter(
            model=options.model, device=options.device, precision=options.precision
        )
    segmentation = segmenter.segment_run(cine, progress=progress)
    timings["segment"] = time.perf_counter() - start

    start = time.perf_counter()
    temporal = filter_probabilities(
        segmentation.probabilities,
        cine.to_array(),
        TemporalOptions(
            k=options.temporal_k,
            motion_compensation=options.motion_compensation,
            threshold=options.threshold,
        ),
        progress=progress,
    )
    timings["temporal"] = time.perf_counter() - start
    classes = segmentation.classes
    del segmentation  # the unfiltered probabilities (4 bytes a pixel and frame) are not kept

    anatomy = None
    if classes is not None:
        from AngioSegLib.anatomy.segments import name_vessels

        start = time.perf_counter()
        progress(Progress("anatomy", 0, 1, "naming the coronary segments"))
        anatomy = name_vessels(classes, temporal.masks, temporal.flows,
                               options.temporal_k)
        progress(Progress("anatomy", 1, 1, "coronary segments named"))
        timings["anatomy"] = time.perf_counter() - start

    analysis = None
    if options.analyze:
        from AngioSegLib.qca.measures import analyze_run

        start = time.perf_counter()
        analysis = analyze_run(cine, temporal.probabilities, temporal.masks, options.qca,
                               progress=progress)
        if anatomy is not None:
            from AngioSegLib.anatomy.segments import name_analysis

            analysis = name_analysis(analysis, anatomy)
        timings["quantify"] = time.perf_counter() - start

    return Result(
        cine=cine,
        options=options,
        probabilities=temporal.probabilities,
        masks=temporal.masks,
        anatomy=anatomy,
        analysis=analysis,
        model_name=segmenter.model_name,
        model_version=segmenter.model_version,
        device=segmenter.device_label,
        timings_s=timings,
    )

