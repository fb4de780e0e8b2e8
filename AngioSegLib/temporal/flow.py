"""Dense optical flow between the frames of a cine run (OpenCV DIS) and warping along it.

Motion is estimated once per pair of consecutive frames, in both directions, by DIS optical flow
(Kroeger et al., ECCV 2016) on frames scaled to a robust grey range and reduced to ``scale`` of
their size; the motion from frame k to any frame j is the chain of the consecutive flows,

    d_{k→k−l}(n) = d_{k→k−l+1}(n) + d_{k−l+1→k−l}(n + d_{k→k−l+1}(n)),

so a filter over 2K+1 frames costs two flow estimates per frame, whatever K. Images are moved
along the motion by bilinear interpolation (``cv2.remap``).

Convention: a displacement d_{k→j} is defined on the pixels n of frame k and points to where the
same tissue lies in frame j, ``frame_k(n) ≈ frame_j(n + d_{k→j}(n))``. Two channel orders meet
here, and every name says which it holds:

- ``_dy_dx``: (rows, columns), in full-resolution pixels: what :class:`MotionField` stores and
  :meth:`MotionField.displacement_dy_dx` returns (the phantom's ``displacement`` layout);
- ``_xy`` and remap maps: (x, y) = (columns, rows), OpenCV's order: what DIS returns,
  ``cv2.remap`` takes, :func:`upsample_displacement` returns and :func:`warp_image` takes.

:func:`_swap_channels_scaled` converts between the two (and between grid and frame pixels).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from AngioSegLib.choices import parse_choice
from AngioSegLib.cine import FrameSource
from AngioSegLib.errors import InputError
from AngioSegLib.progress import Progress, ProgressCallback, no_progress
from AngioSegLib.temporal.options import FlowPreset

_PERCENTILES = (1.0, 99.0)  # robust grey range of a frame (percent of its pixels)
MIN_FLOW_SIDE = 16  # px; DIS needs a few patches per side
AUTO_FLOW_SIDE = 256  # px; shorter side of the flow grid when no scale is given
_DIS_PRESETS = {
    FlowPreset.ULTRAFAST: cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    FlowPreset.FAST: cv2.DISOPTICAL_FLOW_PRESET_FAST,
    FlowPreset.MEDIUM: cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}


@dataclass(frozen=True)
class MotionField:
    """Motion between consecutive frames of a run of T frames of size ``frame_shape`` (H, W).

    ``backward_dy_dx[t − 1]`` is d_{t→t−1} and ``forward_dy_dx[t]`` is d_{t→t+1}, each
    (T − 1, h, w, 2) float32, (dy, dx) in full-resolution pixels (rows, columns: the order is in
    the name), sampled on the flow grid (h, w) ≈ (H, W) × ``scale``. ``frames`` holds the
    (T, h, w) uint8 contrast-normalised frames the flow was estimated on (used to judge how well
    a warp matches). Memory: about 1 MiB per frame on a 256² grid.
    """

    backward_dy_dx: np.ndarray
    forward_dy_dx: np.ndarray
    frames: np.ndarray
    frame_shape: tuple[int, int]

    def __post_init__(self) -> None:
        n_pairs = self.frames.shape[0] - 1
        expected = (n_pairs, *self.frames.shape[1:], 2)
        for name in ("backward_dy_dx", "forward_dy_dx"):
            found = getattr(self, name).shape
            if found != expected:
                raise InputError(f"{name} flows need shape {expected}, found {found}")

    @property
    def n_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def flow_shape(self) -> tuple[int, int]:
        """(h, w) of the grid the flow is sampled on."""
        return tuple(self.frames.shape[1:])  # type: ignore[return-value]

    @property
    def scale(self) -> tuple[float, float]:
        """Flow grid size over frame size, (rows, columns)."""
        (h, w), (big_h, big_w) = self.flow_shape, self.frame_shape
        return h / big_h, w / big_w

    def flow_grid_map(self, k: int, j: int) -> np.ndarray:
        """Where each flow-grid pixel of frame k lies in frame j: (h, w, 2) (x, y) in grid px.

        This is a ``cv2.remap`` map on the flow grid (OpenCV's (x, y) order).
        """
        self._check_index(j)
        if j == k:
            self._check_index(k)
            return _pixel_grid(self.flow_shape).copy()
        *_, last = self.chain_maps(k, 1 if j > k else -1, abs(j - k))
        return last

    def chain_maps(self, k: int, step: int, n: int) -> Iterator[np.ndarray]:
        """Flow-grid maps from frame k to frames k + step·l, l = 1..n, chained (step ±1)."""
        self._check_index(k)
        self._check_index(k + step * n)
        grid = _pixel_grid(self.flow_shape)
        flows = self.forward_dy_dx if step == 1 else self.backward_dy_dx
        offset = 0 if step == 1 else -1
        total = self._to_grid_units(flows[k + offset])
        yield grid + total
        for i in range(k + step, k + step * n, step):
            nxt = self._to_grid_units(flows[i + offset])
            total += cv2.remap(nxt, grid + total, None, cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REPLICATE)
            yield grid + total

    def displacement_dy_dx(self, k: int, j: int) -> np.ndarray:
        """d_{k→j} on the pixels of frame k: (H, W, 2) float32, (dy, dx) in pixels."""
        grid_map = self.flow_grid_map(k, j)
        return upsample_displacement(grid_map, self.frame_shape)[..., ::-1].copy()  # xy → dy dx

    def _to_grid_units(self, flow_dy_dx: np.ndarray) -> np.ndarray:
        """(dy, dx) full-res pixels → (dx, dy) flow-grid pixels (a new array)."""
        sy, sx = self.scale
        return _swap_channels_scaled(flow_dy_dx, sx, sy)

    def _check_index(self, k: int) -> None:
        if not 0 <= k < self.n_frames:
            raise InputError(f"frame {k} is outside the run's {self.n_frames} frames")


def flow_grey_levels(
    frame: np.ndarray, flow_shape: tuple[int, int], clahe: bool = False
) -> np.ndarray:
    """One frame reduced to ``flow_shape`` (h, w) and scaled to uint8 over its 1–99 % grey range:
    what the optical flow compares (not the network's input, :mod:`AngioSegLib.model.normalise`).

    A robust range (not min/max) keeps a saturated collimator edge or a dead pixel from taking the
    grey levels; ``clahe`` adds contrast-limited adaptive histogram equalisation.
    """
    image = np.asarray(frame)
    if image.dtype not in (np.uint8, np.uint16, np.float32):  # what cv2.resize takes as is
        image = image.astype(np.float32)
    small = cv2.resize(image, flow_shape[::-1], interpolation=cv2.INTER_AREA).astype(np.float32)
    low, high = np.percentile(small, _PERCENTILES)
    span = max(float(high - low), 1e-6)
    scaled = np.clip((small - low) * (255.0 / span), 0, 255).astype(np.uint8)
    if clahe:
        scaled = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(scaled)
    return scaled


def flow_shape_for(frame_shape: tuple[int, int], scale: float | None = None) -> tuple[int, int]:
    """Size (h, w) of the flow grid for frames of ``frame_shape`` (H, W) at ``scale`` (0 < s ≤ 1).

    ``scale`` None picks the scale that brings the shorter side to 256 px (never enlarging): DIS
    is then accurate to a fraction of a pixel on 512² cines at a quarter of the full-size cost.
    """
    if scale is None:
        scale = min(1.0, AUTO_FLOW_SIDE / min(frame_shape))
    if not 0.0 < scale <= 1.0:
        raise InputError(f"flow scale must be in (0, 1], found {scale}")
    if min(frame_shape) < MIN_FLOW_SIDE:
        raise InputError(
            f"frames of {tuple(frame_shape)} pixels are too small to compare by optical flow; "
            f"at least {MIN_FLOW_SIDE} pixels per side are needed"
        )
    return tuple(max(MIN_FLOW_SIDE, round(n * scale)) for n in frame_shape)


def estimate_flows(
    frames: np.ndarray | FrameSource,
    preset: FlowPreset | str = FlowPreset.MEDIUM,
    scale: float | None = None,
    clahe: bool = False,
    progress: ProgressCallback = no_progress,
) -> MotionField:
    """DIS optical flow between consecutive frames, both ways, at ``scale`` of the frame size
    (None: see :func:`flow_shape_for`).

    ``frames`` is a (T, H, W) array of any grey dtype or a lazy :class:`FrameSource`; frames
    are read one at a time and only their reduced uint8 copies are kept.
    """
    shape = tuple(frames.shape)
    if len(shape) != 3:
        raise InputError(f"optical flow needs frames of shape (T, H, W), found shape {shape}")
    n_frames, frame_shape = shape[0], (int(shape[1]), int(shape[2]))
    flow_shape = flow_shape_for(frame_shape, scale)
    preset = parse_choice(preset, FlowPreset, "optical flow preset")
    dis = cv2.DISOpticalFlow_create(_DIS_PRESETS[preset])
    small = np.empty((n_frames, *flow_shape), np.uint8)
    for t in range(n_frames):
        small[t] = flow_grey_levels(frames[t], flow_shape, clahe)
    n_pairs = max(n_frames - 1, 0)
    backward_dy_dx = np.empty((n_pairs, *flow_shape, 2), np.float32)
    forward_dy_dx = np.empty_like(backward_dy_dx)
    to_y, to_x = frame_shape[0] / flow_shape[0], frame_shape[1] / flow_shape[1]
    for t in range(n_pairs):
        forward_dy_dx[t], backward_dy_dx[t] = flow_pair(dis, small[t], small[t + 1], to_y, to_x)
        progress(Progress("optical flow", t + 1, n_pairs, f"frames {t}–{t + 1}"))
    return MotionField(backward_dy_dx, forward_dy_dx, small, frame_shape)


def flow_pair(dis, before: np.ndarray, now: np.ndarray, to_y: float,
              to_x: float) -> tuple[np.ndarray, np.ndarray]:
    """(d_{before→now}, d_{now→before}), each (h, w, 2) float32 (dy, dx) in frame pixels, from
    DIS on two flow-grid frames (DIS gives (dx, dy) in grid pixels; ``to_y``, ``to_x`` scale the
    grid to the frame). Forward first, then backward: the order every caller uses."""
    forward = _swap_channels_scaled(dis.calc(before, now, None), to_y, to_x)
    return forward, _swap_channels_scaled(dis.calc(now, before, None), to_y, to_x)


def upsample_displacement(grid_map: np.ndarray, frame_shape: tuple[int, int]) -> np.ndarray:
    """A flow-grid remap map → the full-resolution displacement (H, W, 2), (dx, dy) in pixels."""
    h, w = grid_map.shape[:2]
    big_h, big_w = frame_shape
    moved = grid_map - _pixel_grid((h, w))
    if (h, w) == (big_h, big_w):
        return moved
    full = cv2.resize(moved, (big_w, big_h), interpolation=cv2.INTER_LINEAR)
    to_x, to_y = big_w / w, big_h / h
    if to_x == to_y:
        full *= np.float32(to_x)  # numpy is slow at a per-channel (2,) broadcast; OpenCV is not
        return full
    return cv2.multiply(full, (to_x, to_y, 0.0, 0.0))


def displacement_at(grid_map: np.ndarray, frame_shape: tuple[int, int], rows: np.ndarray,
                    cols: np.ndarray) -> np.ndarray:
    """(N, 2) (dx, dy) px: :func:`upsample_displacement` of ``grid_map`` read at the frame
    pixels (``rows``, ``cols``) (N,) only, bilinear on the flow grid as that resize is (half-pixel
    centres, border repeated): a few vessel pixels cost a few samples, not a whole frame."""
    h, w = grid_map.shape[:2]
    big_h, big_w = frame_shape
    # on the grid: the map minus each sample's own position (bilinear is exact on the identity)
    x = np.clip((np.asarray(cols, np.float32) + 0.5) * (w / big_w) - 0.5, 0, w - 1)
    y = np.clip((np.asarray(rows, np.float32) + 0.5) * (h / big_h) - 0.5, 0, h - 1)
    sampled = cv2.remap(grid_map, x.reshape(-1, 1), y.reshape(-1, 1), cv2.INTER_LINEAR)
    moved = sampled.reshape(-1, 2) - np.stack([x, y], axis=1)
    return moved * np.array([big_w / w, big_h / h], np.float32)


def warp_image(image: np.ndarray, displacement_xy: np.ndarray, fill: float | None = None):
    """``image`` sampled at n + d(n) (bilinear); ``displacement_xy`` (H, W, 2) is (dx, dy) px.

    Outside the image the border is repeated, or ``fill`` is used when given.
    """
    remap_map = displacement_xy + _pixel_grid(displacement_xy.shape[:2])
    if fill is None:
        return cv2.remap(image, remap_map, None, cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REPLICATE)
    return cv2.remap(image, remap_map, None, cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_CONSTANT, borderValue=fill)


def inside_mask(grid_map: np.ndarray) -> np.ndarray:
    """255 where a remap map points inside its own (h, w) grid, else 0: (h, w) uint8."""
    h, w = grid_map.shape[:2]
    return cv2.inRange(grid_map, (-0.5, -0.5), (w - 0.5, h - 0.5))


def _swap_channels_scaled(flow: np.ndarray, first: float, second: float) -> np.ndarray:
    """(h, w, 2) channels (a, b) → (b · first, a · second), a new float32 array: (dx, dy) ↔
    (dy, dx), each channel scaled (grid ↔ full-resolution pixels)."""
    return cv2.multiply(cv2.merge([flow[..., 1], flow[..., 0]]), (first, second, 0.0, 0.0))


_GRIDS: dict[tuple[int, int], np.ndarray] = {}


def _pixel_grid(shape: tuple[int, int]) -> np.ndarray:
    """(h, w, 2) float32 of each pixel's own (x, y); cached per shape, read-only."""
    key = (int(shape[0]), int(shape[1]))
    grid = _GRIDS.get(key)
    if grid is None:
        ys, xs = np.mgrid[0:key[0], 0:key[1]].astype(np.float32)
        grid = np.dstack([xs, ys])
        grid.flags.writeable = False
        if len(_GRIDS) > 8:
            _GRIDS.clear()
        _GRIDS[key] = grid
    return grid

