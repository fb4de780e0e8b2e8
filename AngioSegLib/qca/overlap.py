"""Cross-sections where another vessel crosses or overlaps the analysed one, or it crosses an edge
of the background.

In a projection a vessel that crosses or lies on the analysed one adds its own contrast and its
own borders to the cross-section: the diameter there is not the analysed lumen's. QCA packages
ask the user to mark such stretches; here they are found from two signs and excluded from the
reference fit and from the lesion search (and listed in the outputs):

* **the segmentation's graph** (:func:`crossing_flags`): another vessel (a chain of
  :func:`.centerline.link_vessels`) passes through the analysed one, continuing at least
  ``CROSSING_REACH_DIAMETERS`` of the analysed vessel's diameters beyond it on *both* sides (a
  side branch starts at the vessel; a crossing goes through), or two other vessels end on it
  from opposite sides, facing each other (a crossing the linker did not join);
* **a contrast jump** (:func:`depth_jump_flags`): the lumen is darker than its running median
  along the vessel by more than ``DEPTH_JUMP_RATIO`` and by ``DEPTH_JUMP_SNR`` × the depth's
  noise (two vessels stacked in the projection attenuate like their sum; a lesion only
  lightens the lumen);
* **a background edge** (:func:`background_edge_flags`): the background beside the two borders
  differs by more than ``BACKGROUND_EDGE_RATIO`` × the lumen's running depth (the vessel crosses
  the diaphragm, the heart's border or a shutter edge, whose step the border detector takes for
  a border). Not an overlap, but as unreliable a cross-section.

Each sign flags the cross-sections within ``(D_self + D_other) / 2 + OVERLAP_MARGIN_DIAMETERS · D``
of where it was seen. Lengths in px, arrays (N,) along the analysed centerline.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from AngioSegLib.qca.centerline import CenterlineSegment

__all__ = ["background_edge_flags", "crossing_flags", "depth_jump_flags", "stretches"]

CROSSING_REACH_DIAMETERS = 1.0  # another vessel continuing this far beyond both sides crosses
TOUCH_MARGIN_PX = 1.5  # another vessel's point within radius + this of the centerline touches it
FACING_COS = -0.7  # two ends on the vessel from opposite sides: directions about opposite
OVERLAP_MARGIN_DIAMETERS = 0.0  # flagged stretch beyond the two vessels' half-widths
DEPTH_JUMP_RATIO = 1.7  # centre depth over its running median: another vessel on top
DEPTH_WINDOW_DIAMETERS = 8.0  # running median window
DEPTH_JUMP_SNR = 5.0  # the jump, and the vessel itself, in depth noise SDs
BACKGROUND_EDGE_RATIO = 1.5  # background step across a cross-section over the lumen's depth


def _flag_around(arc_px: np.ndarray, at_px: float, half_px: float, flags: np.ndarray) -> None:
    flags |= np.abs(arc_px - at_px) <= half_px


def _side(vessel: CenterlineSegment, j: int, point: np.ndarray) -> float:
    """Sign of ``point``'s offset along the vessel's normal at sample ``j``."""
    return float(np.sign((point - vessel.points_rc[j]) @ vessel.normals_rc[j]))


def crossing_flags(vessel: CenterlineSegment, others: tuple[CenterlineSegment, ...],
                   diameter_px: np.ndarray) -> np.ndarray:
    """(N,) bool: cross-sections of ``vessel`` where one of ``others`` crosses it.

    ``diameter_px`` (H, W) the local vessel diameter (twice the mask's distance transform),
    read along each vessel for its width.
    """
    flags = np.zeros(len(vessel.arc_px), bool)
    tree = cKDTree(vessel.points_rc)
    shape = np.array(diameter_px.shape) - 1
    r, c = np.clip(np.round(vessel.points_rc).astype(int), 0, shape).T
    width = float(np.median(diameter_px[r, c])) if len(r) else 1.0
    width = max(width, 1.0)
    touching_ends = []
    for other in others:
        if other is vessel or other.index == vessel.index:
            continue
        distance, nearest = tree.query(other.points_rc)
        near = distance <= 0.5 * width + TOUCH_MARGIN_PX
        if not near.any():
            continue
        ro, co = np.clip(np.round(other.points_rc).astype(int), 0, shape).T
        other_width = max(float(np.median(diameter_px[ro, co])), 1.0)
        half = 0.5 * (width + other_width) + OVERLAP_MARGIN_DIAMETERS * width
        labels, n = ndimage.label(near)
        for k in range(1, n + 1):
            run = np.flatnonzero(labels == k)
            i0, i1 = int(run[0]), int(run[-1])
            before, after = other.arc_px[i0], other.length_px - other.arc_px[i1]
            j = int(nearest[run[len(run) // 2]])
            reach = CROSSING_REACH_DIAMETERS * width
            inside = reach <= vessel.arc_px[j] <= vessel.length_px - reach  # not at our end
            if before >= reach and after >= reach and inside:
                p_before = other.points_rc[int(np.searchsorted(other.arc_px, before - reach))]
                p_after = other.points_rc[min(int(np.searchsorted(other.arc_px,
                                                                  other.arc_px[i1] + reach)),
                                              len(other.arc_px) - 1)]
                if _side(vessel, j, p_before) * _side(vessel, j, p_after) < 0:
                    _flag_around(vessel.arc_px, float(vessel.arc_px[j]), half, flags)
            elif inside and (i0 == 0 or i1 == len(other.arc_px) - 1):
                end = 0 if i0 == 0 else len(other.arc_px) - 1
                inward = other.points_rc[min(len(run) + 2, len(other.arc_px) - 1)] if end == 0 \
                    else other.points_rc[max(end - len(run) - 2, 0)]
                direction = inward - other.points_rc[end]
                norm = float(np.linalg.norm(direction))
                if norm > 0:
                    touching_ends.append((j, direction / norm, half))
    for a in range(len(touching_ends)):
        for b in range(a + 1, len(touching_ends)):
            (ja, da, ha), (jb, db, hb) = touching_ends[a], touching_ends[b]
            if abs(vessel.arc_px[ja] - vessel.arc_px[jb]) <= width and da @ db <= FACING_COS:
                _flag_around(vessel.arc_px, 0.5 * float(vessel.arc_px[ja] + vessel.arc_px[jb]),
                             max(ha, hb), flags)
    return flags


def _running_level(depth: np.ndarray, step_px: float, diameter_px: float
                   ) -> tuple[np.ndarray, np.ndarray] | None:
    """(depth with its gaps interpolated (N,), its running median over
    ``DEPTH_WINDOW_DIAMETERS`` × ``diameter_px``); None with under 5 finite samples."""
    depth = np.asarray(depth, float)
    finite = np.isfinite(depth)
    if finite.sum() < 5:
        return None
    filled = np.interp(np.arange(len(depth)), np.flatnonzero(finite), depth[finite])
    size = max(int(DEPTH_WINDOW_DIAMETERS * diameter_px / max(step_px, 1e-6)) | 1, 5)
    return filled, ndimage.median_filter(filled, size=size, mode="nearest")


def _widened(flags: np.ndarray, step_px: float, diameter_px: float) -> np.ndarray:
    """``flags`` widened by half a diameter each way."""
    grow = max(int(0.5 * diameter_px / max(step_px, 1e-6)), 1)
    return ndimage.binary_dilation(flags, iterations=grow) if flags.any() else flags


def background_edge_flags(background_step: np.ndarray, depth: np.ndarray, step_px: float,
                          diameter_px: float, noise: float = 0.0) -> np.ndarray:
    """(N,) bool: cross-sections where the background on the right less that on the left
    (``background_step``, image units), averaged along the vessel over a diameter (Gaussian σ
    half a diameter: the noise of the two bands averages out, an edge of the background
    stays), exceeds ``BACKGROUND_EDGE_RATIO`` × the lumen depth's running median and
    ``DEPTH_JUMP_SNR`` × ``noise`` (the depth's noise SD) in size; widened by half a
    diameter."""
    running = _running_level(depth, step_px, diameter_px)
    if running is None:
        return np.zeros(len(depth), bool)
    _, level = running
    sigma = max(0.5 * diameter_px / max(step_px, 1e-6), 1.0)
    edge = np.abs(ndimage.gaussian_filter1d(np.nan_to_num(np.asarray(background_step, float)),
                                            sigma))
    flags = (edge > BACKGROUND_EDGE_RATIO * np.maximum(level, 0.0)) & (
        edge > DEPTH_JUMP_SNR * noise)
    return _widened(flags, step_px, diameter_px)


def depth_jump_flags(depth: np.ndarray, step_px: float, diameter_px: float,
                     noise: float = 0.0) -> np.ndarray:
    """(N,) bool: cross-sections whose lumen depth (below the background, image units) exceeds
    ``DEPTH_JUMP_RATIO`` × its running median over ``DEPTH_WINDOW_DIAMETERS`` × ``diameter_px``
    *and* that median by ``DEPTH_JUMP_SNR`` × ``noise`` (the depth's noise SD), on a vessel
    that stands out (median ≥ ``DEPTH_JUMP_SNR`` × noise); widened by half a diameter."""
    running = _running_level(depth, step_px, diameter_px)
    if running is None:
        return np.zeros(len(depth), bool)
    filled, level = running
    smooth = ndimage.gaussian_filter1d(filled, max(0.25 * diameter_px / max(step_px, 1e-6), 1.0))
    floor = DEPTH_JUMP_SNR * noise
    jump = (smooth > DEPTH_JUMP_RATIO * level) & (smooth - level > floor) & (level > floor)
    return _widened(jump, step_px, diameter_px)


def stretches(flags: np.ndarray, distance: np.ndarray) -> tuple[tuple[float, float], ...]:
    """The (start, end) arc positions of each run of True in ``flags``."""
    labels, n = ndimage.label(np.asarray(flags, bool))
    out = []
    for k in range(1, n + 1):
        run = np.flatnonzero(labels == k)
        out.append((float(distance[run[0]]), float(distance[run[-1]])))
    return tuple(out)
