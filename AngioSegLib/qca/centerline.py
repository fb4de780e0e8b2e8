"""Centerline network of a vessel mask: skeleton → graph of segments → smooth sub-pixel paths.

The mask is thinned with :func:`skimage.morphology.skeletonize`; :class:`skan.Skeleton` and
:func:`skan.summarize` turn the skeleton into paths between end points and junctions (no hand
traversal). Spurs are pruned with one rule, applied until nothing changes:

    a terminal path (end point → junction) is removed when it is shorter than
    ``max(spur_factor · D_local, min_branch_px)``, with ``D_local = max 2 · EDT`` over the path's
    pixels (junction included) the local vessel diameter (px) — the largest, so that a spur at a
    stenosis is judged by the vessel around it; at each junction only the shortest such spur
    goes per pass, so a vessel that ends in a fork keeps one of its two tips.

Isolated pieces (end point → end point, or loops) shorter than ``min_branch_px`` are dropped.
Each remaining path is fitted with a smoothing cubic B-spline (``scipy.interpolate.splprep``,
smoothing ``s = smoothing_px2 · n_pixels``, which removes the pixel staircase without cutting
curves) and resampled every ``step_px`` along its arc; tangents and normals come from the spline.

:func:`link_vessels` then joins segments across bifurcations into *vessels*, as a QCA analysis
segment runs from a proximal to a distal point through side-branch origins: at each junction the
two segment ends that continue most straight (turn < ``max_turn_deg``, directions taken over two
local diameters) are linked, greedily, best pair first.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace

import numpy as np
from scipy import interpolate, ndimage
from skan import Skeleton, summarize
from skimage.morphology import skeletonize

__all__ = ["CenterlineSegment", "extract_centerlines", "link_vessels", "prune_skeleton",
           "skeleton_summary", "smooth_path"]

_TERMINAL, _JUNCTION_JUNCTION = 1, 2


@dataclass(frozen=True, eq=False)
class CenterlineSegment:
    """One path of the network in pixel units.

    ``points_rc`` (N, 2) resampled every ``step_px`` along the smoothed path, ``arc_px`` (N,) the
    arc length from the first point, ``normals_rc`` (N, 2) unit normals; ``start_node`` /
    ``end_node`` the skeleton nodes at its ends and whether each is a junction. A vessel made by
    :func:`link_vessels` lists its ``segment_ids`` and the arc positions of the bifurcations it
    crosses (``junction_arc_px``).
    """

    index: int
    points_rc: np.ndarray
    arc_px: np.ndarray
    normals_rc: np.ndarray
    start_node: int
    end_node: int
    start_is_junction: bool
    end_is_junction: bool
    segment_ids: tuple[int, ...] = ()
    junction_arc_px: tuple[float, ...] = ()

    @property
    def length_px(self) -> float:
        return float(self.arc_px[-1])

    @property
    def chord_px(self) -> float:
        return float(np.linalg.norm(self.points_rc[-1] - self.points_rc[0]))

    def reversed(self) -> CenterlineSegment:
        """The same segment walked from its other end."""
        return CenterlineSegment(
            self.index,
            self.points_rc[::-1].copy(),
            self.length_px - self.arc_px[::-1],
            -self.normals_rc[::-1],
            self.end_node,
            self.start_node,
            self.end_is_junction,
            self.start_is_junction,
            self.segment_ids[::-1],
            tuple(self.length_px - a for a in self.junction_arc_px[::-1]),
        )


def skeleton_summary(skeleton: Skeleton):
    """(skan branch table, {node id: number of path ends at it}) of ``skeleton``."""
    with warnings.catch_warnings():  # skan 0.13 calls a pandas API that pandas deprecates
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        table = summarize(skeleton, separator="_")
    nodes = np.concatenate([table["node_id_src"].to_numpy(), table["node_id_dst"].to_numpy()])
    ids, counts = np.unique(nodes, return_counts=True)
    return table, dict(zip(ids.tolist(), counts.tolist(), strict=True))


def _spurs_to_prune(skeleton: Skeleton, diameter_px: np.ndarray, spur_factor: float,
                    min_branch_px: float) -> list[int]:
    """Path indices to remove in this pass (see the module docstring for the rule)."""
    table, degree = skeleton_summary(skeleton)
    shortest: dict[int, tuple[float, int]] = {}
    isolated = []
    for i, (src, dst, length, kind) in enumerate(zip(
        table["node_id_src"], table["node_id_dst"], table["branch_distance"], table["branch_type"],
        strict=True,
    )):
        if kind in (0, 3):  # isolated piece or loop
            if length < min_branch_px:
                isolated.append(i)
            continue
        if kind != _TERMINAL:
            continue
        junction = src if degree[src] > 1 else dst
        r, c = np.round(skeleton.path_coordinates(i)).astype(int).T
        limit = max(spur_factor * float(diameter_px[r, c].max()), min_branch_px)
        if length < limit and length < shortest.get(junction, (np.inf, -1))[0]:
            shortest[junction] = (float(length), i)
    return isolated + [i for _, i in shortest.values()]


def prune_skeleton(mask: np.ndarray, spur_factor: float = 1.5, min_branch_px: float = 3.0,
                   max_passes: int = 10) -> Skeleton | None:
    """The pruned :class:`skan.Skeleton` of a 2D mask, or None when nothing is left."""
    mask = np.asarray(mask, bool)
    skeleton_image = skeletonize(mask)
    if skeleton_image.sum() < 2:
        return None
    diameter_px = 2.0 * ndimage.distance_transform_edt(mask)
    skeleton = Skeleton(skeleton_image)
    for _ in range(max_passes):
        remove = _spurs_to_prune(skeleton, diameter_px, spur_factor, min_branch_px)
        if not remove:
            break
        if len(remove) == skeleton.n_paths:
            return None
        skeleton = skeleton.prune_paths(remove)
        if skeleton.skeleton_image.sum() < 2:
            return None
    return skeleton


def smooth_path(pixels_rc: np.ndarray, step_px: float = 0.5, smoothing_px2: float = 0.3
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(points (N, 2), arc (N,), unit normals (N, 2)) of a spline through skeleton pixels."""
    pixels = np.asarray(pixels_rc, float)
    keep = np.r_[True, np.any(np.diff(pixels, axis=0) != 0, axis=1)]
    pixels = pixels[keep]
    chord = np.r_[0.0, np.cumsum(np.linalg.norm(np.diff(pixels, axis=0), axis=1))]
    if len(pixels) >= 4:
        tck, _ = interpolate.splprep(pixels.T, u=chord, s=smoothing_px2 * len(pixels), k=3)
        fine_u = np.linspace(0.0, chord[-1], max(8 * len(pixels), 16))
        fine = np.stack(interpolate.splev(fine_u, tck), axis=1)
    else:
        fine = np.stack(
            [np.interp(np.linspace(0, chord[-1], 16), chord, pixels[:, k]) for k in (0, 1)], 1
        )
    fine_arc = np.r_[0.0, np.cumsum(np.linalg.norm(np.diff(fine, axis=0), axis=1))]
    n = max(int(round(fine_arc[-1] / step_px)) + 1, 2)
    arc = np.linspace(0.0, fine_arc[-1], n)
    points = np.stack([np.interp(arc, fine_arc, fine[:, k]) for k in (0, 1)], axis=1)
    tangent = np.gradient(points, axis=0)
    tangent /= np.maximum(np.linalg.norm(tangent, axis=1, keepdims=True), 1e-12)
    normals = np.stack([-tangent[:, 1], tangent[:, 0]], axis=1)
    return points, arc, normals


def extract_centerlines(mask: np.ndarray, spur_factor: float = 1.5, min_branch_px: float = 3.0,
                        step_px: float = 0.5) -> tuple[CenterlineSegment, ...]:
    """The centerline segments of a 2D mask (pixel units), longest first."""
    skeleton = prune_skeleton(mask, spur_factor, min_branch_px)
    if skeleton is None:
        return ()
    table, degree = skeleton_summary(skeleton)
    segments = []
    for i, (src, dst) in enumerate(
        zip(table["node_id_src"], table["node_id_dst"], strict=True)
    ):
        pixels = skeleton.path_coordinates(i)
        if len(pixels) < 2:
            continue
        points, arc, normals = smooth_path(pixels, step_px)
        segments.append(CenterlineSegment(
            i, points, arc, normals, int(src), int(dst), degree[src] > 1, degree[dst] > 1, (i,)
        ))
    segments.sort(key=lambda s: -s.length_px)
    return tuple(segments)


def _direction_out(segment: CenterlineSegment, at_start: bool, reach_px: float) -> np.ndarray:
    """Unit vector from the segment's end at the junction into the segment."""
    walk = segment if at_start else segment.reversed()
    k = int(np.searchsorted(walk.arc_px, min(reach_px, walk.length_px / 2)))
    vector = walk.points_rc[max(k, 1)] - walk.points_rc[0]
    return vector / max(float(np.linalg.norm(vector)), 1e-12)


def _links(segments, diameter_px, max_turn_deg: float) -> dict:
    """{(segment position, at_start): (other position, other at_start)} across junctions."""
    ends: dict[int, list[tuple[int, bool]]] = {}
    for k, seg in enumerate(segments):
        if seg.start_node == seg.end_node:
            continue  # a loop: not linked
        for at_start, node, is_junction in ((True, seg.start_node, seg.start_is_junction),
                                             (False, seg.end_node, seg.end_is_junction)):
            if is_junction:
                ends.setdefault(node, []).append((k, at_start))
    links = {}
    min_cos = np.cos(np.deg2rad(180.0 - max_turn_deg))
    for members in ends.values():
        rc = segments[members[0][0]].points_rc[0 if members[0][1] else -1]
        r, c = np.clip(np.round(rc).astype(int), 0, np.array(diameter_px.shape) - 1)
        reach = 2.0 * max(float(diameter_px[r, c]), 2.0)
        dirs = [_direction_out(segments[k], at_start, reach) for k, at_start in members]
        pairs = sorted(
            (float(dirs[a] @ dirs[b]), a, b)
            for a in range(len(members)) for b in range(a + 1, len(members))
            if members[a][0] != members[b][0]
        )
        used: set[int] = set()
        for cos, a, b in pairs:
            if cos > min_cos or a in used or b in used:
                continue
            used |= {a, b}
            links[members[a]] = members[b]
            links[members[b]] = members[a]
    return links


def _join(parts: list[CenterlineSegment], index: int) -> CenterlineSegment:
    """One vessel from oriented segments that meet end to start."""
    points = [parts[0].points_rc]
    normals = [parts[0].normals_rc]
    junctions = []
    for part in parts[1:]:
        junctions.append(float(np.linalg.norm(np.diff(np.concatenate(points), axis=0), axis=1)
                               .sum()))
        points.append(part.points_rc[1:])
        normals.append(part.normals_rc[1:])
    points_rc = np.concatenate(points)
    arc = np.r_[0.0, np.cumsum(np.linalg.norm(np.diff(points_rc, axis=0), axis=1))]
    return CenterlineSegment(
        index, points_rc, arc, np.concatenate(normals), parts[0].start_node, parts[-1].end_node,
        parts[0].start_is_junction, parts[-1].end_is_junction,
        tuple(i for p in parts for i in p.segment_ids), tuple(junctions),
    )


def link_vessels(segments: tuple[CenterlineSegment, ...], mask: np.ndarray,
                 max_turn_deg: float = 50.0) -> tuple[CenterlineSegment, ...]:
    """Vessels: chains of ``segments`` linked straight through bifurcations, longest first."""
    diameter_px = 2.0 * ndimage.distance_transform_edt(np.asarray(mask, bool))
    links = _links(segments, diameter_px, max_turn_deg)
    seen: set[int] = set()
    vessels = []
    # chains start at an unlinked end; what is left over is a ring of links, started anywhere
    starts = [(k, True) for k in range(len(segments)) if (k, True) not in links]
    starts += [(k, False) for k in range(len(segments)) if (k, False) not in links]
    starts += [(k, True) for k in range(len(segments))]
    for k, at_start in starts:
        if k in seen:
            continue
        parts = []
        while k not in seen:
            seen.add(k)
            parts.append(segments[k] if at_start else segments[k].reversed())
            nxt = links.get((k, not at_start))
            if nxt is None:
                break
            k, at_start = nxt
        vessels.append(_join(parts, len(vessels)))
    vessels.sort(key=lambda v: -v.length_px)
    return tuple(replace(v, index=i) for i, v in enumerate(vessels))
