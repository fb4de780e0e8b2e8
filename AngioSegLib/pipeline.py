"""`run(cine, options, progress) -> Result`: the one entry every front door (CLI, Slicer) calls.

Stages, each a pure function of its inputs: calibrate (DICOM or catheter,
:func:`apply_catheter_calibration`) → segment every frame
(CE-Net) → motion-compensated temporal filter → coronary-segment names (models with a segment
head: :func:`~AngioSegLib.anatomy.segments.name_vessels`, voted among nearby pixels and over the
filter's 2K+1 frames) → quantitative analysis (QCA). Progress is reported
per stage and frame; a callback that raises :class:`~AngioSegLib.errors.CancelledError` cancels
between frames.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from AngioSegLib.cine import CineRun
from AngioSegLib.errors import InputError
from AngioSegLib.progress import Progress, ProgressCallback, no_progress
from AngioSegLib.qca.options import QcaOptions
from AngioSegLib.segment.options import InferenceOptions
from AngioSegLib.temporal.options import TemporalOptions

if TYPE_CHECKING:
    from AngioSegLib.qca.measures import RunAnalysis
    from AngioSegLib.segment.segmenter import Segmenter

__all__ = [
    "CatheterCalibration",
    "PipelineOptions",
    "Result",
    "apply_catheter_calibration",
    "make_segmenter",
    "phantom_calibration_frames",
    "run",
]

Point = tuple[float, float]


@dataclass(frozen=True)
class CatheterCalibration:
    """Calibrate the pixel size on the catheter: its size ``french`` (1 F = 1/3 mm), two
    (row, col) pixels on it, in frame ``frame`` (see
    :func:`~AngioSegLib.qca.calibration.calibrate_from_catheter`)."""

    french: float
    points: tuple[Point, Point]
    frame: int = 0

    def __post_init__(self) -> None:
        if not self.french > 0:
            raise InputError(f"the catheter's French size must be more than 0, found "
                             f"{self.french}")
        try:
            (r1, c1), (r2, c2) = self.points
            points = ((float(r1), float(c1)), (float(r2), float(c2)))
        except (TypeError, ValueError) as error:
            raise InputError("catheter calibration needs two (row, col) pixels on the catheter, "
                             f"found {self.points!r}") from error
        object.__setattr__(self, "points", points)
        if isinstance(self.frame, bool) or int(self.frame) != self.frame or self.frame < 0:
            raise InputError(f"the catheter's frame must be a frame index ≥ 0, found "
                             f"{self.frame}")


@dataclass(frozen=True)
class PipelineOptions:
    """What to run, one stage's options each (each checked by its own dataclass).

    ``model``: a registered model name or a bundle folder (None: the shipped default).
    ``inference``: how the network runs (device, precision, backend, batch size, scale...).
    ``temporal``: the temporal filter (K, motion compensation, weights, flow...) and the mask
    ``threshold``. ``catheter``: calibrate on the catheter (None: the DICOM's calibration).
    ``qca``: how to measure (None: segment only, no QCA).
    """

    model: str | None = None
    inference: InferenceOptions = field(default_factory=InferenceOptions)
    temporal: TemporalOptions = field(default_factory=TemporalOptions)
    catheter: CatheterCalibration | None = None
    qca: QcaOptions | None = field(default_factory=QcaOptions)

    def __post_init__(self) -> None:
        for name, kind, optional in _PARTS:
            value = getattr(self, name)
            if not (isinstance(value, kind) or (optional and value is None)):
                raise InputError(f"PipelineOptions.{name} must be {kind.__name__}"
                                 f"{' or None' if optional else ''}, found "
                                 f"{type(value).__name__}; pass {name}={kind.__name__}(...)")


_PARTS = (("inference", InferenceOptions, False), ("temporal", TemporalOptions, False),
          ("catheter", CatheterCalibration, True), ("qca", QcaOptions, True))
"""PipelineOptions' parts: (field, type, whether None is allowed)."""


@dataclass(frozen=True)
class Result:
    """Everything a run produced. Probabilities float32 (T,H,W) in [0,1] (from :func:`run`: a
    read-only memmap of a temporary file, see :mod:`AngioSegLib.io.frame_spill`); masks uint8
    {0,1}. ``cine`` is the run as given (its frames still lazy), with the catheter calibration."""

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


def apply_catheter_calibration(cine: CineRun, catheter: CatheterCalibration | None) -> CineRun:
    """``cine`` with the pixel size measured on the catheter; ``cine`` itself when None."""
    if catheter is None:
        return cine
    from AngioSegLib.qca.calibration import calibrate_from_catheter

    calibration = calibrate_from_catheter(cine.frame(catheter.frame), *catheter.points,
                                          catheter.french)
    return cine.with_calibration(calibration)


def phantom_calibration_frames(n_frames: int = 8, size: int = 256) -> Iterator[np.ndarray]:
    """Raw (size, size) frames of a fixed phantom run, to calibrate int8 activation ranges."""
    from AngioSegLib.phantom.generator import PhantomOptions, make_phantom

    cine = make_phantom(PhantomOptions(seed=12345, n_frames=n_frames, size=size)).cine
    for i in range(cine.n_frames):
        yield cine.frame(i)


def make_segmenter(options: PipelineOptions, threads: int | None = None) -> Segmenter:
    """The :class:`~AngioSegLib.segment.segmenter.Segmenter` of ``options`` (model and inference
    options; ``threads`` overrides theirs when given); int8 calibrates on
    :func:`phantom_calibration_frames`."""
    from AngioSegLib.segment.segmenter import Segmenter

    inference = options.inference
    if threads is not None:
        inference = replace(inference, threads=threads)
    return Segmenter(options.model, inference, calibration_frames=phantom_calibration_frames)


def run(
    cine: CineRun,
    options: PipelineOptions | None = None,
    progress: ProgressCallback = no_progress,
    segmenter: Segmenter | None = None,
) -> Result:
    """Segment, filter and measure every frame of ``cine``; pass ``segmenter`` to reuse a model.

    The stages stream over the frames (see :mod:`AngioSegLib.pipeline_stream`): memory holds a
    window of 2K+1 frames, the masks (1 byte a pixel and frame) and, for a model with a segment
    head, the coronary-segment labels (as many); ``Result.probabilities`` is a read-only
    :class:`numpy.memmap` of a temporary file (4 bytes a pixel and frame on disk).
    """
    from AngioSegLib.pipeline_stream import stream_run

    options = options or PipelineOptions()
    timings: dict[str, float] = {}

    start = time.perf_counter()
    cine = apply_catheter_calibration(cine, options.catheter)
    timings["decode"] = time.perf_counter() - start

    start = time.perf_counter()
    if segmenter is None:
        progress(Progress("load model", 0, 1, "loading the segmentation model"))
        segmenter = make_segmenter(options)
        progress(Progress("load model", 1, 1, f"{segmenter.model_name} loaded"))
    timings["segment"] = time.perf_counter() - start  # the model's loading counts as segmenting
    streamed = stream_run(cine, options, segmenter, progress, timings)
    return Result(
        cine=cine,
        options=options,
        probabilities=streamed.probabilities,
        masks=streamed.masks,
        anatomy=streamed.anatomy,
        analysis=streamed.analysis,
        model_name=segmenter.model_name,
        model_version=segmenter.model_version,
        device=segmenter.device_label,
        timings_s=timings,
    )
