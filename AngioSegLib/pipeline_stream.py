"""The stages of :func:`AngioSegLib.pipeline.run`, streamed over the frames of a run.

Each frame flows through segmentation (:meth:`~AngioSegLib.segment.segmenter.Segmenter.iter_run`),
the temporal filter (:func:`~AngioSegLib.temporal.stream.filter_stream`, K frames behind), the
coronary-segment vote (2K frames behind) and the per-frame measures
(:class:`~AngioSegLib.qca.measures.RunMeasurer`) as soon as what it needs has come, and is then
dropped: only a window of 2K+1 frames (raw frame, probabilities, flows) is held at any time. What
is kept for the whole run is small per frame: the masks (uint8), the coronary-segment labels of a
model with a segment head (uint8) and the per-frame measures. The filtered probabilities go to a
temporary file as they come (:class:`~AngioSegLib.io.frame_spill.FrameSpill`); QCA of the analysis
frame reads its one frame back. The results are those of the stages run one after the other on
whole (T, H, W) arrays, bit for bit.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from AngioSegLib.cine import CineRun
from AngioSegLib.progress import Progress, ProgressCallback

if TYPE_CHECKING:
    from AngioSegLib.pipeline import PipelineOptions
    from AngioSegLib.qca.measures import RunAnalysis
    from AngioSegLib.segment.segmenter import Segmenter
    from AngioSegLib.temporal.stream import FilteredFrame

__all__ = ["StreamedRun", "stream_run"]


@dataclass(frozen=True)
class StreamedRun:
    """What :func:`stream_run` keeps of a run (see :class:`AngioSegLib.pipeline.Result`)."""

    probabilities: np.ndarray
    masks: np.ndarray
    anatomy: np.ndarray | None
    analysis: RunAnalysis | None


class _Clock:
    """Seconds spent in each stage, added up over the interleaved frames."""

    def __init__(self, timings: dict[str, float]):
        self.timings = timings

    def add(self, key: str, seconds: float) -> None:
        self.timings[key] = self.timings.get(key, 0.0) + seconds

    def timed(self, iterator: Iterator, key: str) -> Iterator:
        """``iterator`` with the time spent in each step added to ``key``."""
        while True:
            start = time.perf_counter()
            try:
                item = next(iterator)
            except StopIteration:
                self.add(key, time.perf_counter() - start)
                return
            self.add(key, time.perf_counter() - start)
            yield item


def stream_run(cine: CineRun, options: PipelineOptions, segmenter: Segmenter,
               progress: ProgressCallback, timings: dict[str, float]) -> StreamedRun:
    """Run segmentation → temporal filter → coronary segments → QCA over ``cine``, frame by frame;
    adds each stage's seconds to ``timings`` ("segment", "temporal", "anatomy", "quantify")."""
    from AngioSegLib.io.frame_spill import FrameSpill
    from AngioSegLib.temporal.stream import filter_stream

    clock = _Clock(timings)
    n_frames, shape = cine.n_frames, cine.shape[1:]
    classes: dict[int, np.ndarray] = {}

    def probabilities() -> Iterator[np.ndarray]:
        for frame in clock.timed(segmenter.iter_run(cine, progress=progress), "segment"):
            if frame.classes is not None:
                classes[frame.index] = frame.classes
            yield frame.probability

    named = None
    if segmenter.segment_classes:
        named = _AnatomyVote(n_frames, shape, options)
        progress(Progress("anatomy", 0, 1, "naming the coronary segments"))
    measure = None
    if options.qca is not None:
        from AngioSegLib.qca.measures import RunMeasurer

        measure = RunMeasurer(cine, options.qca, progress)
    masks = np.zeros(cine.shape, np.uint8)
    spill = FrameSpill(cine.shape, np.float32)
    try:
        filtered = filter_stream(probabilities(), cine.frames, options.temporal, progress,
                                 keep_extra=1 if named is not None else 0)
        segment_before = timings.get("segment", 0.0)
        start = time.perf_counter()
        for frame in filtered:
            clock.add("temporal", time.perf_counter() - start
                      - (timings.get("segment", 0.0) - segment_before))
            masks[frame.index] = frame.mask
            spill.write(frame.probability)
            if named is not None:
                begun = time.perf_counter()
                named.add(frame, classes.pop(frame.index))
                clock.add("anatomy", time.perf_counter() - begun)
            if measure is not None:
                begun = time.perf_counter()
                measure.add(cine.frame(frame.index), frame.mask)
                clock.add("quantify", time.perf_counter() - begun)
            segment_before = timings.get("segment", 0.0)
            start = time.perf_counter()
        clock.add("temporal", time.perf_counter() - start
                  - (timings.get("segment", 0.0) - segment_before))
        stack = spill.array()
    finally:
        spill.close()
    anatomy = None
    if named is not None:
        start = time.perf_counter()
        anatomy = named.finish()
        clock.add("anatomy", time.perf_counter() - start)
        progress(Progress("anatomy", 1, 1, "coronary segments named"))
    analysis = None
    if measure is not None:
        start = time.perf_counter()
        analysis = measure.finish(stack[measure.analysis_frame_of()], masks)
        if anatomy is not None:
            from AngioSegLib.anatomy.segments import name_analysis

            analysis = name_analysis(analysis, anatomy)
        clock.add("quantify", time.perf_counter() - start)
    return StreamedRun(stack, masks, anatomy, analysis)


class _AnatomyVote:
    """:func:`~AngioSegLib.anatomy.segments.name_vessels` as filtered frames come: each frame's vote
    among nearby pixels at once, its vote over frames t−K … t+K once frame t+K is filtered (the
    window's other masks left empty, so that only frame t is voted)."""

    def __init__(self, n_frames: int, shape: tuple[int, int], options: PipelineOptions):
        self.n_frames, self.k = n_frames, options.temporal.k
        self.motion_compensation = options.temporal.motion_compensation
        self.labels: dict[int, np.ndarray] = {}
        self.masks: dict[int, np.ndarray] = {}
        self.out = np.zeros((n_frames, *shape), np.uint8)
        self._empty = np.zeros(shape, np.uint8)
        self._motion = None
        self._progressed = False

    def add(self, frame: FilteredFrame, classes: np.ndarray) -> None:
        from AngioSegLib.anatomy.segments import vote_nearby

        self.labels[frame.index] = vote_nearby(classes, frame.mask)
        self.masks[frame.index] = frame.mask
        self._motion = frame.motion
        if self.k <= 0 or self.n_frames < 2:
            self.out[frame.index] = self.labels.pop(frame.index)
            return
        if frame.index - self.k >= 0:
            self._vote(frame.index - self.k)

    def finish(self) -> np.ndarray:
        if self.k > 0 and self.n_frames >= 2:
            for t in range(max(0, self.n_frames - self.k), self.n_frames):
                self._vote(t)
        return self.out

    def _vote(self, t: int) -> None:
        from AngioSegLib.anatomy.segments import vote_over_time

        lo, hi = max(0, t - self.k), min(self.n_frames - 1, t + self.k)
        labels = np.stack([self.labels[i] for i in range(lo, hi + 1)])
        masks = [self.masks[t] if i == t else self._empty for i in range(lo, hi + 1)]
        flows = (self._motion.field(lo, hi) if self.motion_compensation and self._motion
                 is not None else None)
        self.out[t] = vote_over_time(labels, masks, flows, self.k)[t - lo]
        for i in [i for i in self.labels if i < t + 1 - self.k]:
            del self.labels[i]
            del self.masks[i]

