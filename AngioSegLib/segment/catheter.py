"""The guiding catheter in a vessel mask: found by its shape, cleared as no vessel.

A contrast-filled catheter is as dark as the artery it injects, so the network draws it as vessel,
and ARCADE's experts never labelled one to teach it otherwise. Its shape tells it apart: it comes
down from the aortic root, so it enters the field across its top edge or the upper part of a side
edge (frames shown head up, as XA frames are), and it runs from there as a tube of one width,
nearly straight, with no side branch, until it meets the vessel tree at the ostium, where the
width changes. A distal artery that leaves the field tapers, branches, winds or leaves at the
bottom or lower sides.

:func:`catheter_pixels` walks the mask's skeleton from every end near the top or an upper side of
the field, through spurs (the skeleton's whiskers at a cut end or a bump of the border), and cuts
the walk where the width leaves its first value for good. The walk goes pixel by pixel from
those few ends only: skan's graph of the whole skeleton (``Skeleton`` + ``summarize``, as QCA
builds on its one analysis frame) costs about 37 ms per 512² frame, and this runs on every
frame. A stretch that is long, of even width, straight and not thin beside the tree's widest
vessels is a catheter; the mask pixels of the tube around it, up to two radii short of the
ostium, are returned.

On the 200 ARCADE val angiograms (`cenet-light` 0.4.0 masks): a catheter stretch found on 83,
every one a catheter by eye; 0.07 % of the experts' labelled vessel pixels cleared (catheter
tips inside the coarse polygons at the ostia). Catheters whose empty part the network leaves out
(a free end away from the field's edge) are not found: a free end and a vessel's origin look
alike.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy.ndimage import median_filter

EDGE_BAND = 0.05  # of the longer side: how near the field's edge the tube's end lies
UPPER_SHARE = 0.4  # of the field's height: a catheter enters a side edge above this
MIN_LENGTH = 0.12  # of the longer side: a shorter stretch could be any vessel's
MAX_SPREAD = 0.35  # (90th − 10th percentile) / median of the radius along the stretch, ...
RADIUS_STEP_PX = 0.5  # ... beyond the distance transform's own steps on a thin tube (px)
MIN_RELATIVE_RADIUS = 0.35  # × the 90th percentile radius of the whole skeleton
MAX_RELATIVE_RADIUS = 0.8  # × the vessels' off it: a catheter is thinner than the artery it injects
MIN_RADIUS_PX = 1.5  # thinner tubes are guidewires or small vessels (px)
MIN_STRAIGHTNESS = 0.8  # chord / arc length of the stretch
WIDTH_BAND = (0.7, 1.35)  # × the first radius: the width a catheter keeps to the ostium
SPUR_RADII = 3.0  # a side path ending within this many radii is a spur, walked past
MAX_MASK_SHARE = 0.25  # of the field: a larger "vessel" mask is no coronary tree (ARCADE ≤ 0.09)

_STEPS = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))


def catheter_pixels(mask: np.ndarray, field: np.ndarray | None = None) -> np.ndarray:
    """(H, W) bool: the pixels of ``mask`` (H, W bool, the predicted vessel) that a catheter
    entering the exposed ``field`` (H, W bool; None: the whole frame) covers (module docstring)."""
    from skimage.morphology import skeletonize

    mask = np.asarray(mask, bool)
    found = np.zeros(mask.shape, bool)
    field = np.ones(mask.shape, bool) if field is None else np.asarray(field, bool)
    if not mask.any() or not field.any() or mask.sum() > MAX_MASK_SHARE * field.sum():
        return found  # nothing to clear, or a failed segmentation (no tree to walk)
    skeleton = skeletonize(mask)
    if skeleton.sum() < 2:
        return found
    radius = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_5)
    tree_radius = float(np.percentile(radius[skeleton], 90))
    walked: set[tuple[int, int]] = set()
    for start in _entry_ends(skeleton, field):
        if start in walked:
            continue  # the other prong of a fork at the edge, already walked
        path = _walk(skeleton, radius, start)
        walked.update(path)
        stretch = _even_stretch(np.array(path), radius)
        if _is_catheter(stretch, radius, skeleton, tree_radius):
            found |= _tube(stretch, radius, mask)
    return found


def _entry_ends(skeleton: np.ndarray, field: np.ndarray) -> list[tuple[int, int]]:
    """Skeleton end points within EDGE_BAND of the field's top edge, or of a side edge above
    UPPER_SHARE of the field's height, (row, col) each."""
    neighbours = cv2.filter2D(skeleton.astype(np.uint8), -1, np.ones((3, 3), np.float32),
                              borderType=cv2.BORDER_CONSTANT)
    inside = field.copy()  # the image border is the field's edge too
    inside[[0, -1], :] = inside[:, [0, -1]] = False
    to_edge = cv2.distanceTransform(inside.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_5)
    band = EDGE_BAND * max(field.shape)
    rows, cols = np.nonzero(field.any(axis=1))[0], np.nonzero(field.any(axis=0))[0]
    top, bottom, left, right = rows[0], rows[-1], cols[0], cols[-1]
    ends = []
    for r, c in zip(*np.nonzero(skeleton & (neighbours == 2) & (to_edge <= band)), strict=True):
        on_top = r - top <= band
        on_side = (c - left <= band or right - c <= band) and (
            (r - top) <= UPPER_SHARE * max(bottom - top, 1))
        if on_top or on_side:
            ends.append((int(r), int(c)))
    return ends


def _next_pixels(skeleton: np.ndarray, pixel: tuple[int, int], seen: set) -> list:
    """Unvisited skeleton neighbours of ``pixel``; of two touching ones (a staircase corner)
    only the nearer, so that a bend is no fork."""
    rows, cols = skeleton.shape
    r, c = pixel
    found = [(r + dr, c + dc) for dr, dc in _STEPS
             if 0 <= r + dr < rows and 0 <= c + dc < cols and skeleton[r + dr, c + dc]
             and (r + dr, c + dc) not in seen]
    if len(found) < 2:
        return found
    straight = [p for p in found if abs(p[0] - r) + abs(p[1] - c) == 1]
    return [p for p in found if p in straight or not any(
        max(abs(p[0] - q[0]), abs(p[1] - q[1])) == 1 for q in straight)]


def _ends_within(skeleton: np.ndarray, start: tuple[int, int], seen: set, limit: int) -> bool:
    """Whether the skeleton path from ``start`` (away from ``seen``) ends within ``limit`` px
    without forking: a spur."""
    local, pixel = set(seen) | {start}, start
    for _ in range(limit):
        nxt = _next_pixels(skeleton, pixel, local)
        if not nxt:
            return True
        if len(nxt) > 1:
            return False
        pixel = nxt[0]
        local.add(pixel)
    return False


def _walk(skeleton: np.ndarray, radius: np.ndarray, start: tuple[int, int],
          max_px: int = 4000) -> list[tuple[int, int]]:
    """Skeleton pixels from the end ``start`` inward, past spurs, to a fork or an end."""
    path, seen, pixel = [start], {start}, start
    while len(path) < max_px:
        nxt = _next_pixels(skeleton, pixel, seen)
        if len(nxt) > 1:
            reach = int(max(SPUR_RADII * radius[pixel], 6))
            branches = [p for p in nxt if not _ends_within(skeleton, p, seen | set(nxt), reach)]
            seen.update(nxt)
            nxt = branches
        if len(nxt) != 1:
            break
        pixel = nxt[0]
        path.append(pixel)
        seen.add(pixel)
    return path


def _even_stretch(path: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """The first part of ``path`` (N, 2) whose radius stays in WIDTH_BAND × its first radius
    (the median over its first 40 px, past the cut end at the field's edge; ± RADIUS_STEP_PX):
    it ends where the width leaves the band for two radii on end (the ostium)."""
    radii = median_filter(radius[path[:, 0], path[:, 1]], size=9, mode="nearest")
    first = float(np.median(radii[3:40])) if len(radii) > 3 else float(np.median(radii))
    outside = ((radii < WIDTH_BAND[0] * first - RADIUS_STEP_PX)
               | (radii > WIDTH_BAND[1] * first + RADIUS_STEP_PX))
    begin = int(np.argmax(~outside))  # the cut end thins to nothing at the edge
    run = max(int(2 * first), 4)
    for i in range(begin, len(outside) - run + 1):
        if outside[i:i + run].all():
            return path[:i]
    return path


def _is_catheter(stretch: np.ndarray, radius: np.ndarray, skeleton: np.ndarray,
                 tree_radius: float) -> bool:
    """Whether a stretch (N, 2) is long, even, straight, not thin beside the skeleton's widest
    vessels (``tree_radius`` px) and thinner than the vessels off it (when there are any)."""
    if len(stretch) < 10:
        return False
    arc = float(np.linalg.norm(np.diff(stretch, axis=0), axis=1).sum())
    radii = radius[stretch[:, 0], stretch[:, 1]]
    middle = radii[len(radii) // 10: max(9 * len(radii) // 10, 1)]
    median = float(np.median(middle))
    spread = float(np.percentile(middle, 90) - np.percentile(middle, 10)) - RADIUS_STEP_PX
    straightness = float(np.linalg.norm(stretch[-1] - stretch[0])) / max(arc, 1e-6)
    side_px = max(skeleton.shape)
    if not (arc >= MIN_LENGTH * side_px and spread <= MAX_SPREAD * median
            and median >= max(MIN_RADIUS_PX, MIN_RELATIVE_RADIUS * tree_radius)
            and straightness >= MIN_STRAIGHTNESS):
        return False
    return median <= MAX_RELATIVE_RADIUS * _vessel_radius_off(stretch, radius, skeleton, arc)


def _vessel_radius_off(stretch: np.ndarray, radius: np.ndarray, skeleton: np.ndarray,
                       arc: float) -> float:
    """90th percentile radius (px) of the skeleton off the stretch, over vessels of at least
    MIN_RADIUS_PX (guidewires left out); infinite when they run for less than the stretch's
    ``arc`` (px): a frame of devices alone, or before the contrast, has no artery to be thinner
    than."""
    off = skeleton.copy()
    off[stretch[:, 0], stretch[:, 1]] = False
    radii = radius[off]
    radii = radii[radii >= MIN_RADIUS_PX]
    return float(np.percentile(radii, 90)) if radii.size >= arc else float("inf")


def _tube(stretch: np.ndarray, radius: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(H, W) bool: the mask pixels within each stretch pixel's radius + 1.5 px, up to two
    radii short of the stretch's inner end (the ostium stays the vessel's)."""
    radii = radius[stretch[:, 0], stretch[:, 1]]
    keep = max(len(stretch) - int(2 * np.median(radii)), 1)
    canvas = np.zeros(mask.shape, np.uint8)
    for (r, c), rad in zip(stretch[:keep], radii[:keep], strict=True):
        cv2.circle(canvas, (int(c), int(r)), int(np.ceil(rad + 1.5)), 1, -1)
    return canvas.astype(bool) & mask
