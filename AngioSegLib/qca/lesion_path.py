"""A centerline through every lesion: minimum-cost paths on the image where the segmentation broke.

At a tight lesion or a total occlusion the network's mask often narrows to nothing and breaks:
the vessel's skeleton ends on both sides of the lesion and no analysis segment runs through it.
:func:`bridge_gaps` finds such breaks and joins them along the darkest, most vessel-like route:

* candidates are pairs of skeleton end points (:mod:`skan` paths with a free end) of *different*
  mask components, at most ``MAX_GAP_MM`` apart, each end pointing at the other (the end's
  direction, over ``END_DIRECTION_DIAMETERS`` local diameters, within ``MAX_TURN_DEG`` of the
  chord, the two together within ``MAX_TOTAL_TURN_DEG``), and of comparable width (diameter
  ratio ≤ ``MAX_DIAMETER_RATIO``): a vessel that continues, not two tips that happen to face
  each other;
* ends of vessels narrower than ``MIN_END_DIAMETER_MM`` are left alone (distal fragments are
  not graded), and a route that comes within ``EDGE_MARGIN_PX`` of the frame's border is
  refused (a vessel leaving the field is no break);
* pairs are taken closest first, each end once;
* the route is the minimum-cost path (:func:`skimage.graph.route_through_array`, 8-connected,
  distance weighted) over ``cost = 1 / (VESSELNESS_FLOOR + V)``, ``V`` the Sato tubeness of the
  frame (dark ridges, scales of the vessel's rough radius) normalised to its 99th percentile in
  the crop; where a total occlusion leaves no contrast the cost is flat and the route straight;
* a route longer than ``MAX_DETOUR`` × the chord is refused (it went round something);
* an end left without a partner (the far side of the break ends in a junction, or was pruned)
  is bridged to the nearest skeleton pixel of another component within ``BODY_CONE_DEG`` of
  its direction, where that component runs along the chord or the end's direction
  (``BODY_MAX_TURN_DEG``, its direction taken along its skeleton) with a comparable width
  (``MAX_DIAMETER_RATIO``), and only
  when the route looks like a vessel (median tubeness over its middle ≥ ``MIN_BODY_TUBENESS``:
  a tight lumen, not a total occlusion, which needs the two facing ends) or ends on a tip of the
  unpruned skeleton (the far side's end, pruned as a spur because a junction next to it made
  the vessel look wide there: the two ends face each other);

Each route is drawn into a copy of the mask (one pixel wide, 8-connected), so the skeleton,
the centerline and the analysis segment run through the lesion; the lumen there is then measured
on the image (:mod:`.lumen_edges`: 0 where it vanished, a total occlusion reads 100 %DS).

:func:`trace_between` is the same minimum-cost route between two user points, for a user's own
analysis segment. Coordinates are (row, col) pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage.draw import line
from skimage.filters import sato
from skimage.graph import route_through_array
from skimage.morphology import skeletonize

from AngioSegLib.errors import InputError
from AngioSegLib.qca.centerline import prune_skeleton, skeleton_summary

__all__ = ["Bridge", "bridge_gaps", "trace_between"]

MAX_GAP_MM = 12.0  # longest break bridged (a lesion or occlusion the segmentation lost)
MIN_END_DIAMETER_MM = 1.2  # vessels narrower than this are not graded (distal fragments)
EDGE_MARGIN_PX = 3  # a route that touches the frame's border is no vessel's break
MAX_TURN_DEG = 60.0  # each end's direction against the chord to the other end ...
MAX_TOTAL_TURN_DEG = 75.0  # ... and both together (a break at a bend still bridges)
MAX_DIAMETER_RATIO = 2.5  # the two ends' local diameters
END_DIRECTION_DIAMETERS = 3.0  # direction of an end: over this many local diameters
MIN_END_REACH_PX = 4.0  # ... and never fewer pixels
MAX_DETOUR = 1.5  # route length over chord
VESSELNESS_FLOOR = 0.05  # of the normalised tubeness: the cost where nothing looks like a vessel
CROP_MARGIN_PX = 10  # around the two ends, where the route is sought
BODY_CONE_DEG = 30.0  # an end facing another component's body: within this of its direction
BODY_MAX_TURN_DEG = 45.0  # ... where that body runs along the chord (the vessel continues)
MIN_BODY_TUBENESS = 0.15  # ... and the route looks like a vessel (a tight lumen, not nothing)


@dataclass(frozen=True, eq=False)
class Bridge:
    """One bridged break: ``points_rc`` (K, 2) the route's pixels, ``length_px`` its length."""

    points_rc: np.ndarray
    length_px: float


@dataclass(frozen=True)
class _End:
    point: np.ndarray  # (2,) the end pixel
    direction: np.ndarray  # (2,) unit vector out of the vessel
    diameter_px: float
    component: int


def _free_ends(mask: np.ndarray, diameter: np.ndarray, min_branch_px: float) -> list[_End]:
    """Free ends of the mask's pruned skeleton, with direction, local diameter (from
    ``diameter`` (H, W), twice the mask's distance transform, px) and component."""
    skeleton = prune_skeleton(mask, 1.5, min_branch_px)
    if skeleton is None:
        return []
    table, degree = skeleton_summary(skeleton)
    labels, _ = ndimage.label(mask, structure=np.ones((3, 3)))
    ends = []
    for i, (src, dst) in enumerate(zip(table["node_id_src"], table["node_id_dst"], strict=True)):
        path = skeleton.path_coordinates(i)
        if len(path) < 3:
            continue
        for node, walk in ((src, path), (dst, path[::-1])):
            if degree[node] != 1:
                continue
            r, c = np.round(walk[0]).astype(int)
            local = float(np.median(diameter[tuple(np.round(walk[: len(walk) // 2 + 1])
                                                    .astype(int).T)]))
            reach = max(END_DIRECTION_DIAMETERS * local, MIN_END_REACH_PX)
            k = min(int(reach), len(walk) - 1)
            vector = walk[0] - walk[k]
            norm = float(np.linalg.norm(vector))
            if norm == 0:
                continue
            ends.append(_End(walk[0].astype(float), vector / norm, max(local, 1.0),
                             int(labels[r, c])))
    return ends


def _tubeness(image: np.ndarray, radius_px: float) -> np.ndarray:
    """Sato tubeness of dark ridges about ``radius_px``, normalised to its 99th percentile."""
    sigmas = np.unique(np.clip(np.array([0.5, 1.0]) * radius_px, 1.0, None))
    tube = sato(image, sigmas=sigmas, black_ridges=True, mode="reflect")
    top = float(np.percentile(tube, 99))
    return np.clip(tube / top, 0.0, 1.0) if top > 0 else np.zeros_like(tube)


def _route(image: np.ndarray, a: np.ndarray, b: np.ndarray, radius_px: float
           ) -> tuple[np.ndarray, float, float]:
    """(pixels (K, 2), length px, median normalised tubeness over the route's middle half) of
    the minimum-cost route from ``a`` to ``b`` on ``image``."""
    lo = np.maximum(np.floor(np.minimum(a, b)).astype(int) - CROP_MARGIN_PX, 0)
    hi = np.minimum(np.ceil(np.maximum(a, b)).astype(int) + CROP_MARGIN_PX + 1,
                    np.array(image.shape))
    crop = np.asarray(image[lo[0]:hi[0], lo[1]:hi[1]], float)
    tube = _tubeness(crop, radius_px)
    cost = 1.0 / (VESSELNESS_FLOOR + tube)
    start = tuple(np.clip(np.round(a).astype(int) - lo, 0, np.array(crop.shape) - 1))
    end = tuple(np.clip(np.round(b).astype(int) - lo, 0, np.array(crop.shape) - 1))
    path = np.asarray(route_through_array(cost, start, end, fully_connected=True,
                                          geometric=True)[0])
    middle = path[len(path) // 4: max(3 * len(path) // 4, len(path) // 4 + 1)]
    vesselness = float(np.median(tube[middle[:, 0], middle[:, 1]]))
    pixels = path + lo
    length = float(np.linalg.norm(np.diff(pixels, axis=0), axis=1).sum()) if len(pixels) > 1 \
        else 0.0
    return pixels, length, vesselness


def _touches_border(pixels: np.ndarray, shape: tuple[int, int]) -> bool:
    """Whether a route comes within ``EDGE_MARGIN_PX`` of the frame's border."""
    return bool(((pixels < EDGE_MARGIN_PX) | (pixels >= np.array(shape) - EDGE_MARGIN_PX)).any())


def _pairs(ends: list[_End], max_gap_px: float) -> list[tuple[float, int, int]]:
    """(distance, i, j) of end pairs that may be one vessel's break, closest first."""
    min_cos = np.cos(np.deg2rad(MAX_TURN_DEG))
    max_total = np.deg2rad(MAX_TOTAL_TURN_DEG)
    pairs = []
    for i, a in enumerate(ends):
        for j in range(i + 1, len(ends)):
            b = ends[j]
            if a.component == b.component:
                continue
            chord = b.point - a.point
            distance = float(np.linalg.norm(chord))
            if distance == 0 or distance > max_gap_px:
                continue
            unit = chord / distance
            ratio = max(a.diameter_px, b.diameter_px) / min(a.diameter_px, b.diameter_px)
            cos_a, cos_b = float(a.direction @ unit), float(-(b.direction @ unit))
            total = np.arccos(np.clip(cos_a, -1, 1)) + np.arccos(np.clip(cos_b, -1, 1))
            if min(cos_a, cos_b) >= min_cos and total <= max_total \
                    and ratio <= MAX_DIAMETER_RATIO:
                pairs.append((distance, i, j))
    return sorted(pairs)


def bridge_gaps(mask: np.ndarray, image: np.ndarray, mm_per_pixel: float,
                max_gap_mm: float = MAX_GAP_MM, min_branch_px: float = 3.0
                ) -> tuple[np.ndarray, tuple[Bridge, ...]]:
    """(bridged mask (H, W) uint8, the bridges) of a vessel ``mask`` on its frame ``image``
    (H, W; vessels dark). ``mm_per_pixel`` converts ``max_gap_mm``. See the module docstring."""
    mask = np.asarray(mask).astype(bool)
    image = np.asarray(image, np.float32)
    if image.shape != mask.shape:
        raise InputError(f"image must match the mask's shape {mask.shape}, found {image.shape}")
    diameter = 2.0 * ndimage.distance_transform_edt(mask)
    ends = [e for e in _free_ends(mask, diameter, min_branch_px)
            if e.diameter_px * mm_per_pixel >= MIN_END_DIAMETER_MM]
    out = mask.copy()
    used: set[int] = set()
    bridges = []
    for distance, i, j in _pairs(ends, max_gap_mm / mm_per_pixel):
        if i in used or j in used:
            continue
        radius = 0.25 * (ends[i].diameter_px + ends[j].diameter_px)
        pixels, length, _ = _route(image, ends[i].point, ends[j].point, radius)
        if length > MAX_DETOUR * distance + 2.0 or _touches_border(pixels, image.shape):
            continue
        used |= {i, j}
        out[pixels[:, 0], pixels[:, 1]] = True
        bridges.append(Bridge(pixels.astype(float), length))
    skeleton = skeletonize(mask)
    points = np.argwhere(skeleton).astype(float)
    labels = ndimage.label(mask, structure=np.ones((3, 3)))[0][skeleton]
    neighbours = ndimage.convolve(skeleton.astype(np.uint8), np.ones((3, 3), np.uint8),
                                  mode="constant")[skeleton] - 1
    for k, end in enumerate(ends):
        if k in used:
            continue
        bridge = _to_body(end, skeleton, diameter, points, labels, neighbours == 1, image,
                          max_gap_mm / mm_per_pixel)
        if bridge is not None:
            out[bridge.points_rc[:, 0].astype(int), bridge.points_rc[:, 1].astype(int)] = True
            bridges.append(bridge)
    return out.astype(np.uint8), tuple(bridges)


def _along_skeleton(skeleton: np.ndarray, start: np.ndarray, reach_px: float) -> np.ndarray:
    """(K, 2) pixels of ``skeleton`` (H, W) bool within ``reach_px`` steps of ``start`` along it
    (a geodesic walk: a crossing next to ``start`` adds only its own first pixels)."""
    reach = int(np.ceil(reach_px))
    lo = np.maximum(start.astype(int) - reach - 1, 0)
    hi = np.minimum(start.astype(int) + reach + 2, skeleton.shape)
    crop = skeleton[lo[0]:hi[0], lo[1]:hi[1]]
    seed = np.zeros_like(crop)
    seed[tuple(start.astype(int) - lo)] = True
    walked = ndimage.binary_dilation(seed, np.ones((3, 3), bool), iterations=reach, mask=crop)
    return (np.argwhere(walked) + lo).astype(float)


def _to_body(end: _End, skeleton: np.ndarray, diameter_px: np.ndarray, points: np.ndarray,
             labels: np.ndarray, tips: np.ndarray, image: np.ndarray,
             max_gap_px: float) -> Bridge | None:
    """A bridge from a free ``end`` to the body of another component it points at (the far
    side of a break whose own end is lost in a junction or pruned as a spur), or None.
    ``skeleton`` (H, W) the mask's unpruned skeleton, ``diameter_px`` (H, W) twice the mask's
    distance transform, ``points`` (M, 2) the skeleton's pixels, their
    component ``labels`` (M,) and ``tips`` (M,) bool, its end pixels. See the module
    docstring."""
    chord = points - end.point
    distance = np.linalg.norm(chord, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = (chord @ end.direction) / distance
    ahead = (labels != end.component) & (distance > 0) & (distance <= max_gap_px) & (
        cos >= np.cos(np.deg2rad(BODY_CONE_DEG)))
    if not ahead.any():
        return None
    target_index = np.flatnonzero(ahead)[np.argmin(distance[ahead])]
    target = points[target_index]
    near = _along_skeleton(skeleton, target, end.diameter_px)
    if len(near) < 3:
        return None
    body = float(np.median(diameter_px[tuple(near.astype(int).T)]))
    if max(body, end.diameter_px) > MAX_DIAMETER_RATIO * max(min(body, end.diameter_px), 1.0):
        return None  # a thin branch ahead is no continuation of this vessel
    local = near - near.mean(axis=0)
    axis = np.linalg.svd(local, full_matrices=False)[2][0]  # the body's direction there
    unit = chord[target_index] / distance[target_index]
    # the body continues the chord or the end's own direction (a blunt end's skeleton tip
    # veers towards a corner, so the chord between two tips may run askew)
    along = max(abs(float(axis @ unit)), abs(float(axis @ end.direction)))
    if along < np.cos(np.deg2rad(BODY_MAX_TURN_DEG)):
        return None
    pixels, length, vesselness = _route(image, end.point, target, 0.5 * end.diameter_px)
    # reaching the far side's own (spur) tip, the two ends face each other across the break,
    # as a pair does, and a total occlusion has no contrast to show; else the route must look
    # like a vessel
    facing = bool(tips[target_index])
    if length > MAX_DETOUR * distance[target_index] + 2.0 \
            or (vesselness < MIN_BODY_TUBENESS and not facing) \
            or _touches_border(pixels, image.shape):
        return None
    return Bridge(pixels.astype(float), length)


def trace_between(image: np.ndarray, start_rc: tuple[float, float], end_rc: tuple[float, float],
                  radius_px: float = 3.0) -> np.ndarray:
    """(K, 2) pixels of the minimum-cost route on ``image`` (vessels dark) from ``start_rc`` to
    ``end_rc`` (a user's analysis segment); a straight line where the route is not found."""
    image = np.asarray(image, np.float32)
    a, b = np.asarray(start_rc, float), np.asarray(end_rc, float)
    for point, name in ((a, "start"), (b, "end")):
        if not (0 <= point[0] <= image.shape[0] - 1 and 0 <= point[1] <= image.shape[1] - 1):
            raise InputError(f"the segment's {name} point {tuple(point)} lies outside the "
                             f"{image.shape[0]}×{image.shape[1]} frame: give (row, col) pixels "
                             "inside it")
    if np.linalg.norm(b - a) < 4.0:
        raise InputError("the segment's start and end points must be at least 4 pixels apart")
    pixels, _, _ = _route(image, a, b, radius_px)
    if len(pixels) < 2:
        rr, cc = line(*np.round(a).astype(int), *np.round(b).astype(int))
        pixels = np.stack([rr, cc], 1)
    return pixels.astype(float)
