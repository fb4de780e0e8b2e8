"""Motion-compensated temporal filter of vessel probabilities (the paper's Eq. 1).

A per-frame segmenter flickers: a faint vessel is found in one frame and lost in the next. The
filter averages each frame's probabilities with those of its 2K neighbours, after moving the
neighbours onto the frame along the estimated motion, so vessels that move with the heart are
not smeared:

    f̂(n, k) = Σ_{l=−K..K} h(l) · g(n + d_{k→k−l}(n), k − l) / Σ_{l} h(l)

g is the segmenter's probability, d_{k→j} the dense optical flow from frame k to frame j (see
:mod:`.flow`) and h(l) the weights: uniform 1/(2K+1) as in the paper, Gaussian in l,
or "reliability", which also lowers a neighbour's weight per pixel where the warped neighbour
frame does not match frame k (the flow is wrong there). The sum runs over the frames present, so
the weights renormalise at the run's ends and where a warp leaves the image. K = 0 is the
identity; ``motion_compensation=False`` gives the plain temporal average.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from AngioSegLib.cine import FrameSource
from AngioSegLib.errors import InputError
from AngioSegLib.progress import Progress, ProgressCallback, no_progress
from AngioSegLib.temporal.flow import (
    MotionField,
    estimate_flows,
    flow_grey_levels,
    flow_shape_for,
    inside_mask,
    upsample_displacement,
    warp_image,
)
from AngioSegLib.temporal.options import FlowPreset, TemporalOptions, TemporalWeights

__all__ = [
    "FlowPreset",
    "MotionField",
    "TemporalOptions",
    "TemporalResult",
    "TemporalWeights",
    "estimate_flows",
    "filter_probabilities",
    "warp_previous_onto_current",
]


@dataclass(frozen=True)
class TemporalResult:
    """Filtered probabilities (T, H, W) float32 in [0, 1], masks (T, H, W) uint8 {0, 1}, and the
    motion between consecutive frames (None when it was not needed: K = 0 or no compensation)."""

    probabilities: np.ndarray
    masks: np.ndarray
    flows: MotionField | None


def filter_probabilities(
    probabilities: np.ndarray,
    frames: np.ndarray | FrameSource,
    options: TemporalOptions | None = None,
    progress: ProgressCallback = no_progress,
    flows: MotionField | None = None,
) -> TemporalResult:
    """Average each frame's vessel probabilities with its neighbours' moved onto it (Eq. 1).

    ``probabilities`` (T, H, W) in [0, 1] come from the segmenter and ``frames`` (T, H, W) are
    the angiogram frames they were computed from (array or lazy source; used for the motion).
    Pass ``flows`` from an earlier result to skip estimating the motion again. Inputs are not
    modified.
    """
    options = options or TemporalOptions()
    probs = _checked_probabilities(probabilities)
    _check_frames(frames, probs.shape)
    if options.k == 0 or probs.shape[0] == 1:
        filtered = probs.copy()
        return TemporalResult(filtered, _threshold(filtered, options.threshold), flows)
    if options.motion_compensation and flows is None:
        flows = estimate_flows(frames, options.flow_preset, options.flow_scale, options.clahe,
                               progress)
    if flows is not None:
        _check_flows(flows, probs.shape)
    small = _small_frames(frames, flows, options) if _needs_small(options) else None
    filtered = np.empty_like(probs)
    n_frames = probs.shape[0]
    for k in range(n_frames):
        _filter_frame(probs, k, options, flows, small, out=filtered[k])
        progress(Progress("temporal", k + 1, n_frames, f"frame {k + 1} of {n_frames}"))
    np.clip(filtered, 0.0, 1.0, out=filtered)
    return TemporalResult(filtered, _threshold(filtered, options.threshold), flows)


def warp_previous_onto_current(stack: np.ndarray, flows: MotionField) -> np.ndarray:
    """Each frame t−1 of ``stack`` moved onto frame t along the motion: (T−1, H, W) float32.

    Feed masks this way to :func:`AngioSegLib.evaluation.metrics.temporal_flicker` so that real
    vessel motion does not count as flicker (it thresholds the warped masks at 0.5).
    """
    data = np.asarray(stack)
    _check_flows(flows, data.shape)
    out = np.empty((data.shape[0] - 1, *data.shape[1:]), np.float32)
    for t in range(1, data.shape[0]):
        displacement = upsample_displacement(flows.flow_grid_map(t, t - 1), flows.frame_shape)
        out[t - 1] = warp_image(data[t - 1].astype(np.float32), displacement)
    return out


def _filter_frame(
    probs: np.ndarray,
    k: int,
    options: TemporalOptions,
    flows: MotionField | None,
    small: np.ndarray | None,
    out: np.ndarray,
) -> None:
    """Eq. 1 for frame k into ``out``: the weighted sum over the neighbours present, divided by
    the sum of their weights."""
    total = out
    np.copyto(total, probs[k])
    weight_sum: np.ndarray | float = 1.0  # h(0) = 1 for every weighting
    for step in (-1, 1):
        n = min(options.k, k if step == -1 else probs.shape[0] - 1 - k)
        if n == 0:
            continue
        maps = (
            flows.chain_maps(k, step, n) if flows is not None and options.motion_compensation
            else (None for _ in range(n))
        )
        for lag, grid_map in enumerate(maps, start=1):
            j = k + step * lag
            weight = _neighbour_weight(options, lag, grid_map, small, k, j)
            if grid_map is None:
                neighbour = probs[j]
            else:
                displacement = upsample_displacement(grid_map, probs.shape[1:])
                neighbour = warp_image(probs[j], displacement)
            if isinstance(weight, np.ndarray):
                weight = _upsample(weight, probs.shape[1:])
                cv2.accumulateProduct(weight, neighbour, total)  # total += weight · neighbour
                if isinstance(weight_sum, np.ndarray):
                    weight_sum += weight
                else:
                    weight_sum = weight + weight_sum
            else:
                cv2.scaleAdd(neighbour, weight, total, dst=total)
                weight_sum += weight
    total /= weight_sum


def _neighbour_weight(
    options: TemporalOptions,
    lag: int,
    grid_map: np.ndarray | None,
    small: np.ndarray | None,
    k: int,
    j: int,
) -> float | np.ndarray:
    """h(l), times per-pixel validity (warp inside the frame) and reliability, on the flow grid."""
    weight: float | np.ndarray = options.frame_weight(lag)
    if grid_map is not None:
        inside = inside_mask(grid_map)
        if cv2.countNonZero(inside) < inside.size:
            weight = inside.astype(np.float32) * np.float32(weight / 255.0)
    if options.weights is TemporalWeights.RELIABILITY and small is not None:
        neighbour = small[j] if grid_map is None else cv2.remap(
            small[j], grid_map, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        residual = cv2.blur(cv2.absdiff(small[k], neighbour), (3, 3))
        reliability = cv2.LUT(residual, _reliability_table(options.reliability_grey))
        reliability *= weight
        weight = reliability
    return weight


@functools.lru_cache(maxsize=8)
def _reliability_table(reliability_grey: float) -> np.ndarray:
    """exp(−½ (r / reliability_grey)²) for each grey-level residual r = 0..255, float32."""
    residual = np.arange(256, dtype=np.float64)
    return np.exp(-0.5 * (residual / reliability_grey) ** 2).astype(np.float32)


def _upsample(weight: np.ndarray, frame_shape: tuple[int, int]) -> np.ndarray:
    if weight.shape == tuple(frame_shape):
        return weight
    return cv2.resize(weight, frame_shape[::-1], interpolation=cv2.INTER_LINEAR)


def _needs_small(options: TemporalOptions) -> bool:
    return options.weights is TemporalWeights.RELIABILITY


def _small_frames(
    frames: np.ndarray | FrameSource, flows: MotionField | None, options: TemporalOptions
) -> np.ndarray:
    """The normalised frames on the flow grid (from the flows when there are any)."""
    if flows is not None:
        return flows.frames
    shape = flow_shape_for(tuple(frames.shape[1:]), options.flow_scale)
    return np.stack([flow_grey_levels(frames[t], shape, options.clahe)
                     for t in range(frames.shape[0])])


def _checked_probabilities(probabilities: np.ndarray) -> np.ndarray:
    probs = np.asarray(probabilities)
    if probs.ndim != 3:
        raise InputError(f"probabilities need shape (T, H, W), found shape {probs.shape}")
    if probs.dtype.kind not in "fiub" or probs.size == 0:
        raise InputError(f"probabilities must be a non-empty real array, found {probs.dtype}")
    probs = probs.astype(np.float32, copy=False)
    low, high = float(probs.min()), float(probs.max())
    if not (low >= 0.0 and high <= 1.0):  # also catches NaN
        raise InputError(
            f"probabilities must lie in [0, 1], found values from {low} to {high}"
        )
    return probs


def _check_frames(frames: np.ndarray | FrameSource, shape: tuple[int, ...]) -> None:
    found = tuple(getattr(frames, "shape", ()))
    if found != tuple(shape):
        raise InputError(
            f"frames {found} and probabilities {tuple(shape)} must have the same (T, H, W) shape"
        )


def _check_flows(flows: MotionField, shape: tuple[int, ...]) -> None:
    if len(shape) != 3:
        raise InputError(f"a (T, H, W) stack is needed, found shape {tuple(shape)}")
    if flows.n_frames != shape[0] or tuple(flows.frame_shape) != tuple(shape[1:]):
        raise InputError(
            f"the flows were estimated for {flows.n_frames} frames of {flows.frame_shape}, "
            f"not for {shape[0]} frames of {tuple(shape[1:])}"
        )


def _threshold(probabilities: np.ndarray, threshold: float) -> np.ndarray:
    return (probabilities >= threshold).astype(np.uint8)
