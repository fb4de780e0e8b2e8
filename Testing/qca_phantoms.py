"""Test helpers for QCA: tubes of known geometry rendered as a mask and a probability map, the
phantoms the QCA tests share, and a run analysed once (used by Testing/qca and Testing/outputs)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

SUPERSAMPLE = 4  # sub-pixels per pixel side when rendering a tube's probability


def render_tube(shape, points_rc, radius_px) -> tuple[np.ndarray, np.ndarray]:
    """(mask uint8: pixel centres inside, probability float32: fraction of the pixel inside) of a
    tube along a dense polyline with per-point radius (px)."""
    points_rc = np.asarray(points_rc, float)
    radius_px = np.broadcast_to(np.asarray(radius_px, float), (len(points_rc),))
    tree = cKDTree(points_rc)

    def inside(rows, cols):
        grid = np.stack([rows.ravel(), cols.ravel()], 1)
        _, nearest = tree.query(grid)
        d = np.linalg.norm(grid - points_rc[nearest], axis=1)
        return (d <= radius_px[nearest]).reshape(rows.shape)

    h, w = shape
    rows, cols = np.mgrid[0:h, 0:w].astype(float)
    mask = inside(rows, cols).astype(np.uint8)
    sub = (np.arange(SUPERSAMPLE) + 0.5) / SUPERSAMPLE - 0.5
    fine = inside(*np.meshgrid((np.arange(h)[:, None] + sub).ravel(),
                               (np.arange(w)[:, None] + sub).ravel(), indexing="ij"))
    probability = fine.reshape(h, SUPERSAMPLE, w, SUPERSAMPLE).mean((1, 3)).astype(np.float32)
    return mask, probability


def straight_line(centre, angle_deg, length_px, step=0.1) -> np.ndarray:
    """(N, 2) points (row, col) ``step`` px apart along a line through ``centre``."""
    t = np.arange(-length_px / 2, length_px / 2 + step, step)
    a = np.deg2rad(angle_deg)
    return np.asarray(centre, float) + t[:, None] * np.array([np.sin(a), np.cos(a)])


def arc_line(centre, radius, start_deg, sweep_deg, step=0.1) -> np.ndarray:
    """(N, 2) points (row, col) ``step`` px apart along a circular arc of ``radius`` px."""
    angles = np.deg2rad(start_deg) + np.arange(0, np.deg2rad(sweep_deg), step / radius)
    return np.asarray(centre, float) + radius * np.stack([np.sin(angles), np.cos(angles)], 1)


def main_segment(segments):
    """The longest analysis segment."""
    return max(segments, key=lambda s: s.length)


def interior_length_error(segment, points, spacing_mm, step_px, margin_px) -> float:
    """Measured arc between two interior centerline points vs. the true arc between their
    projections onto the true polyline (dense, ``step_px`` apart); relative error."""
    arc = segment.distance / spacing_mm
    keep = (arc >= margin_px) & (arc <= arc[-1] - margin_px)
    inner = segment.points_rc[keep]
    _, ends = cKDTree(points).query(inner[[0, -1]])
    measured = (arc[keep][-1] - arc[keep][0]) * spacing_mm
    true = abs(ends[1] - ends[0]) * step_px * spacing_mm
    return measured / true - 1.0


def make_lesion_phantom():
    """One 256² frame at 0.2 mm/px with a 40 % LAD and a 75 % LCx lesion, no motion."""
    from AngioSegLib.phantom.generator import PhantomOptions, StenosisSpec, make_phantom

    stenoses = (StenosisSpec("LAD", 40.0, 5.0, 0.40), StenosisSpec("LCx", 75.0, 5.0, 0.45))
    return make_phantom(PhantomOptions(seed=3, n_frames=1, size=256, mm_per_pixel=0.2,
                                       motion=False, contrast_inflow=False, stenoses=stenoses))


def analyze_phantom_run(phantom):
    """:func:`~AngioSegLib.qca.measures.analyze_run` of ``phantom`` with its masks blurred by
    0.7 px as the probabilities (a smooth, calibrated network output)."""
    from AngioSegLib.qca.measures import analyze_run

    probabilities = np.stack([ndimage.gaussian_filter(m.astype(np.float32), 0.7)
                              for m in phantom.masks])
    return analyze_run(phantom.cine, probabilities, phantom.masks)
