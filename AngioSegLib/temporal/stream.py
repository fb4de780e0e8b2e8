"""The temporal filter over frames as they come: only a window of 2K+1 frames is held.

:func:`filter_stream` takes each frame's vessel probabilities as the segmenter gives them, frame 0
first, and yields each filtered frame as soon as its K following neighbours have arrived. It
computes exactly what :func:`~AngioSegLib.temporal.filter.filter_probabilities` computes for the
whole run at once (the same optical flow calls in the same order, the same Eq. 1 for each frame on
the window around it), but holds only the probabilities, flow-grid frames and flows of the frames
still needed: memory no longer grows with the number of frames.

Frame k of a run of T frames needs frames max(0, k − K) … min(T − 1, k + K); Eq. 1 on that window,
with k's index in it, is Eq. 1 on the run (the sums run over the frames present in both).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from AngioSegLib.cine import FrameSource
from AngioSegLib.errors import InputError
from AngioSegLib.progress import Progress, ProgressCallback, no_progress
from AngioSegLib.temporal.filter import _filter_frame, _needs_small, _threshold
from AngioSegLib.temporal.flow import (
    _DIS_PRESETS,
    MotionField,
    flow_grey_levels,
    flow_pair,
    flow_shape_for,
)
from AngioSegLib.temporal.options import FlowPreset, TemporalOptions

__all__ = ["FilteredFrame", "MotionWindow", "filter_stream"]


@dataclass(frozen=True)
class FilteredFrame:
    """Frame ``index`` filtered: ``probability`` (H, W) float32 in [0, 1], ``mask`` (H, W) uint8
    {0, 1}; ``motion`` is the stream's :class:`MotionWindow` (None without motion), which still
    holds the flows of the K·``keep_extra`` frames before the window (see :func:`filter_stream`)."""

    index: int
    probability: np.ndarray
    mask: np.ndarray
    motion: MotionWindow | None


class MotionWindow:
    """The flow-grid frames and consecutive flows of the latest frames of a run, by run index.

    :meth:`field` gives the :class:`~AngioSegLib.temporal.flow.MotionField` of frames lo … hi
    (still held), whose chained maps are those of the whole run's field between those frames.
    """

    def __init__(self, frame_shape: tuple[int, int], flow_shape: tuple[int, int]):
        self.frame_shape = frame_shape
        self.flow_shape = flow_shape
        self.small: dict[int, np.ndarray] = {}
        self.forward_dy_dx: dict[int, np.ndarray] = {}  # t: d_{t→t+1}
        self.backward_dy_dx: dict[int, np.ndarray] = {}  # t: d_{t+1→t}

    def field(self, lo: int, hi: int) -> MotionField:
        """The motion of frames lo … hi (inclusive)."""
        missing = [t for t in range(lo, hi + 1) if t not in self.small]
        if missing:
            raise InputError(f"frames {missing} are no longer (or not yet) in the motion window")
        pairs = range(lo, hi)
        empty = np.empty((0, *self.flow_shape, 2), np.float32)
        return MotionField(
            np.stack([self.backward_dy_dx[t] for t in pairs]) if hi > lo else empty,
            np.stack([self.forward_dy_dx[t] for t in pairs]) if hi > lo else empty.copy(),
            np.stack([self.small[t] for t in range(lo, hi + 1)]),
            self.frame_shape,
        )

    def drop_before(self, first: int) -> None:
        """Forget every frame before ``first``."""
        for store in (self.small, self.forward_dy_dx, self.backward_dy_dx):
            for t in [t for t in store if t < first]:
                del store[t]


class _Window:
    """Probabilities of frames lo … hi as a (n, H, W) stack without copying them."""

    def __init__(self, frames: list[np.ndarray]):
        self._frames = frames
        self.shape = (len(frames), *frames[0].shape)

    def __getitem__(self, index: int) -> np.ndarray:
        return self._frames[index]


def filter_stream(
    probabilities: Iterable[np.ndarray],
    frames: np.ndarray | FrameSource,
    options: TemporalOptions | None = None,
    progress: ProgressCallback = no_progress,
    keep_extra: int = 0,
) -> Iterator[FilteredFrame]:
    """Filter each frame's probabilities (H, W) in [0, 1], given in frame order, over 2K+1 frames.

    ``frames`` are the run's angiogram frames (array or lazy source, (T, H, W); read one at a time,
    each once, for the motion). Yields one :class:`FilteredFrame` per frame, in order, K frames
    after its own probabilities arrive (all at the end of the run). The motion window keeps
    ``keep_extra`` × K frames more than the filter needs, for a consumer that votes over the
    filtered frames' neighbours too (the pipeline's coronary-segment names).
    """
    options = options or TemporalOptions()
    shape = tuple(getattr(frames, "shape", ()))
    if len(shape) != 3:
        raise InputError(f"frames need shape (T, H, W), found shape {shape}")
    n_frames, frame_shape = shape[0], (int(shape[1]), int(shape[2]))
    k = options.k if n_frames > 1 else 0
    motion = _motion_estimator(frame_shape, options, n_frames) if k else None
    window = motion.window if motion is not None else None
    held: dict[int, np.ndarray] = {}
    arrived = 0
    for t, probability in enumerate(probabilities):
        if t >= n_frames:
            raise InputError(f"more probability frames than the run's {n_frames} frames")
        held[t] = _checked_frame(probability, frame_shape, t)
        arrived = t + 1
        if k == 0:
            filtered = held.pop(t).copy()
            yield FilteredFrame(t, filtered, _threshold(filtered, options.threshold), None)
            continue
        if motion is not None:
            motion.add(t, frames[t], progress)
        if t - k >= 0:
            yield _filtered(t - k, held, window, options, k, n_frames, progress)
            _forget(held, window, t - k + 1 - k, keep_extra * k)
    if arrived != n_frames:
        raise InputError(f"the run has {n_frames} frames but {arrived} probability frames came")
    if k:
        for c in range(max(0, n_frames - k), n_frames):
            yield _filtered(c, held, window, options, k, n_frames, progress)


def _filtered(c: int, held: dict[int, np.ndarray], window: MotionWindow | None,
              options: TemporalOptions, k: int, n_frames: int,
              progress: ProgressCallback) -> FilteredFrame:
    """Eq. 1 for frame c on the window of frames around it."""
    lo, hi = max(0, c - k), min(n_frames - 1, c + k)
    probs = _Window([held[t] for t in range(lo, hi + 1)])
    flows = small = None
    if window is not None:
        field = window.field(lo, hi)
        small = field.frames if _needs_small(options) else None
        flows = field if options.motion_compensation else None
    out = np.empty(probs.shape[1:], np.float32)
    _filter_frame(probs, c - lo, options, flows, small, out=out)
    np.clip(out, 0.0, 1.0, out=out)
    progress(Progress("temporal", c + 1, n_frames, f"frame {c + 1} of {n_frames}"))
    return FilteredFrame(c, out, _threshold(out, options.threshold), window)


def _forget(held: dict[int, np.ndarray], window: MotionWindow | None, first: int,
            extra: int) -> None:
    """Drop probabilities before ``first`` and motion before ``first − extra``."""
    for t in [t for t in held if t < first]:
        del held[t]
    if window is not None:
        window.drop_before(first - extra)


class _MotionEstimator:
    """DIS flow between each new frame and the one before, in the order
    :func:`~AngioSegLib.temporal.flow.estimate_flows` uses (forward, then backward, per pair)."""

    def __init__(self, frame_shape: tuple[int, int], options: TemporalOptions, n_frames: int,
                 flows: bool):
        flow_shape = flow_shape_for(frame_shape, options.flow_scale)
        self.window = MotionWindow(frame_shape, flow_shape)
        self.options = options
        self.n_pairs = max(n_frames - 1, 0)
        self.dis = cv2.DISOpticalFlow_create(_DIS_PRESETS[FlowPreset(options.flow_preset)]) \
            if flows else None
        self.to_y = frame_shape[0] / flow_shape[0]
        self.to_x = frame_shape[1] / flow_shape[1]

    def add(self, t: int, frame: np.ndarray, progress: ProgressCallback) -> None:
        window = self.window
        window.small[t] = flow_grey_levels(frame, window.flow_shape, self.options.clahe)
        if t == 0:
            return
        if self.dis is None:  # reliability weights without motion compensation: frames only
            empty = np.zeros((*window.flow_shape, 2), np.float32)
            window.forward_dy_dx[t - 1] = window.backward_dy_dx[t - 1] = empty
            return
        window.forward_dy_dx[t - 1], window.backward_dy_dx[t - 1] = flow_pair(
            self.dis, window.small[t - 1], window.small[t], self.to_y, self.to_x)
        progress(Progress("optical flow", t, self.n_pairs, f"frames {t - 1}–{t}"))


def _motion_estimator(frame_shape: tuple[int, int], options: TemporalOptions,
                      n_frames: int) -> _MotionEstimator | None:
    """What the filter needs of the frames: flows (motion compensation) and/or the flow-grid
    frames (reliability weights); None when it needs neither."""
    if not (options.motion_compensation or _needs_small(options)):
        return None
    return _MotionEstimator(frame_shape, options, n_frames, options.motion_compensation)


def _checked_frame(probability: np.ndarray, frame_shape: tuple[int, int], t: int) -> np.ndarray:
    probs = np.asarray(probability)
    if probs.shape != frame_shape:
        raise InputError(f"probabilities of frame {t} need shape {frame_shape}, found "
                         f"{probs.shape}")
    if probs.dtype.kind not in "fiub":
        raise InputError(f"probabilities must be a real array, found {probs.dtype}")
    probs = probs.astype(np.float32, copy=False)
    low, high = float(probs.min()), float(probs.max())
    if not (low >= 0.0 and high <= 1.0):  # also catches NaN
        raise InputError(f"probabilities of frame {t} must lie in [0, 1], found values from "
                         f"{low} to {high}")
    return probs
