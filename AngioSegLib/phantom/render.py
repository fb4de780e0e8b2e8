"""X-ray rendering for the phantom: tubes by chord length, anatomy background, motion, detector.

The transmitted intensity of a pixel follows Beer–Lambert along the ray::

    I = exp(−(μ_c · o · chord_vessel + μ_cath · chord_catheter + B))

where the chord through a tube of radius r at distance d from its axis is ``2·sqrt(r² − d²)`` (mm),
``o`` is the local contrast opacity (0–1) and ``B`` the dimensionless background line integral
(soft tissue, spine, ribs, diaphragm). The detector blurs with a Gaussian and counts Poisson
photons.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage
from scipy.special import expit

__all__ = [
    "Motion",
    "draw_motion",
    "make_background",
    "render_tubes",
    "detect",
]

MU_CONTRAST_PER_MM = 0.25  # iodinated blood: a 4 mm lumen transmits ~37 %
MU_CATHETER_PER_MM = 0.22  # contrast-filled catheter lumen and wall
_CHUNK = 12  # polyline pieces rendered together


@dataclass(frozen=True)
class Motion:
    """Cardiac (non-rigid, periodic) plus respiratory (translation) motion; lengths in mm.

    The forward displacement of a frame-0 point ``p`` at time ``t`` is::

        u(p, t) = c(t) · [−α (p − C) + θ J (p − C) + Σ_k A_k sin(2π ⟨f_k, p⟩ + φ_k)] + r(t) · R

    with ``c(t) = (1 − cos 2πt / T_c) / 2``, ``r(t) = (1 − cos 2πt / T_r) / 2`` (both 0 at t = 0),
    ``J`` the 90° rotation, ``C`` the heart centre and ``R`` the respiratory excursion.
    """

    cardiac_period_s: float
    respiratory_period_s: float
    centre_mm: np.ndarray
    contraction: float
    twist_rad: float
    mode_amplitudes_mm: np.ndarray  # (K, 2)
    mode_frequencies_per_mm: np.ndarray  # (K, 2)
    mode_phases: np.ndarray  # (K,)
    respiration_mm: np.ndarray  # (2,) (rows, cols)

    def phases(self, t_s: float) -> tuple[float, float]:
        """(cardiac, respiratory) phase weights in [0, 1] at ``t_s``."""
        cardiac = 0.5 * (1.0 - np.cos(2.0 * np.pi * t_s / self.cardiac_period_s))
        respiratory = 0.5 * (1.0 - np.cos(2.0 * np.pi * t_s / self.respiratory_period_s))
        return float(cardiac), float(respiratory)

    def cardiac_field_mm(self, points_mm: np.ndarray) -> np.ndarray:
        """The cardiac displacement at full contraction (c = 1), (..., 2) mm, of points in mm."""
        rel = points_mm - self.centre_mm
        twist = np.stack([-rel[..., 1], rel[..., 0]], axis=-1)
        field = -self.contraction * rel + self.twist_rad * twist
        arg = np.tensordot(points_mm, self.mode_frequencies_per_mm.T, axes=1)  # (..., K)
        waves = np.sin(2.0 * np.pi * arg + self.mode_phases)
        return field + np.tensordot(waves, self.mode_amplitudes_mm, axes=1)

    def displacement_mm(
        self, points_mm: np.ndarray, t_s: float, cardiac_field_mm: np.ndarray | None = None
    ) -> np.ndarray:
        """Forward displacement (..., 2) in mm of frame-0 points (..., 2) in mm at ``t_s``
        (``cardiac_field_mm``: :meth:`cardiac_field_mm` of the points, when already known)."""
        cardiac, respiratory = self.phases(t_s)
        if cardiac_field_mm is None:
            cardiac_field_mm = self.cardiac_field_mm(points_mm)
        return cardiac * cardiac_field_mm + respiratory * self.respiration_mm


def draw_motion(field_mm: float, rng: np.random.Generator, enabled: bool) -> Motion:
    """Random motion scaled to the field of view; all amplitudes zero when not ``enabled``."""
    gain = 1.0 if enabled else 0.0
    k = 3
    return Motion(
        cardiac_period_s=60.0 / rng.uniform(60.0, 80.0),
        respiratory_period_s=rng.uniform(3.5, 5.0),
        centre_mm=np.array([0.58, 0.52]) * field_mm,
        contraction=gain * rng.uniform(0.05, 0.09),
        twist_rad=gain * rng.uniform(-0.05, 0.05),
        mode_amplitudes_mm=gain * rng.normal(0.0, 0.008, size=(k, 2)) * field_mm,
        mode_frequencies_per_mm=rng.uniform(-1.5, 1.5, size=(k, 2)) / field_mm,
        mode_phases=rng.uniform(0.0, 2.0 * np.pi, size=k),
        respiration_mm=gain
        * np.array([rng.uniform(0.02, 0.035), rng.uniform(-0.008, 0.008)])
        * field_mm,
    )


def _smooth_noise(shape: tuple[int, int], sigma_px: float, rng: np.random.Generator):
    """Zero-mean, unit-std Gaussian random field with correlation length ``sigma_px``."""
    field = ndimage.gaussian_filter(rng.standard_normal(shape), sigma_px, mode="wrap")
    return field / (field.std() + 1e-12)


def make_background(size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(static, breathing) background line integrals (H, W) float32, dimensionless.

    Static: the spine (a vertical band with vertebral bodies). Breathing (moves with respiration):
    soft tissue with smooth variations, the heart shadow, ribs, lungs and the diaphragm edge.
    """
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    # spine: soft-edged vertical band, denser vertebral bodies separated by discs
    spine_col = rng.uniform(0.08, 0.2) if rng.random() < 0.5 else rng.uniform(0.8, 0.92)
    band = expit((0.07 - np.abs(xx - spine_col)) / 0.012)
    vertebrae = 0.5 + 0.5 * np.cos(2.0 * np.pi * (yy / rng.uniform(0.11, 0.14) + rng.random()))
    static = band * (0.45 + 0.2 * vertebrae)
    # soft tissue and heart shadow
    breathing = 1.15 + 0.12 * _smooth_noise((size, size), size / 10, rng)
    heart = ((yy - 0.6) / 0.38) ** 2 + ((xx - 0.52) / 0.42) ** 2
    breathing += 0.35 * expit((1.0 - heart) / 0.08)
    # ribs: gently curved oblique bands
    spacing, tilt, phase = rng.uniform(0.16, 0.2), rng.uniform(0.25, 0.45), rng.random()
    rib_coord = (yy + tilt * xx + 0.15 * (xx - 0.5) ** 2) / spacing + phase
    ribs = np.clip(np.cos(2.0 * np.pi * rib_coord) - 0.55, 0.0, None) / 0.45
    breathing += 0.08 * ribs
    # diaphragm / liver: a denser region under a smooth dome
    dome = rng.uniform(0.82, 0.9) + 0.12 * (xx - rng.uniform(0.3, 0.7)) ** 2
    breathing += 0.55 * expit((yy - dome) / 0.01)
    return static.astype(np.float32), breathing.astype(np.float32)


def shift_image(image: np.ndarray, shift_px: np.ndarray) -> np.ndarray:
    """``image`` moved by ``shift_px`` (rows, cols), sub-pixel, borders reflected."""
    matrix = np.float32([[1, 0, shift_px[1]], [0, 1, shift_px[0]]])
    return cv2.warpAffine(
        image, matrix, image.shape[::-1], flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
    )


def _nearest_piece(
    a: np.ndarray, b: np.ndarray, ra: np.ndarray, rb: np.ndarray, rows, cols
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Over pixel centres in ``rows`` × ``cols``: the piece (a→b, radius ra→rb) leaving the most
    room ``r² − d²``, the projection parameter t on it, and that room (px²)."""
    ys = np.arange(*rows, dtype=np.float32)[None, :, None]
    xs = np.arange(*cols, dtype=np.float32)[None, None, :]
    ab = (b - a)[:, :, None, None]
    ay, ax = a[:, 0, None, None], a[:, 1, None, None]
    len2 = np.maximum(ab[:, 0] ** 2 + ab[:, 1] ** 2, 1e-12)
    t = np.clip(((ys - ay) * ab[:, 0] + (xs - ax) * ab[:, 1]) / len2, 0.0, 1.0)
    d2 = (ys - ay - t * ab[:, 0]) ** 2 + (xs - ax - t * ab[:, 1]) ** 2
    r = ra[:, None, None] + t * (rb - ra)[:, None, None]
    slack = r * r - d2
    best = slack.argmax(0)
    rows_i, cols_i = np.indices(best.shape, sparse=True)
    return best, t[best, rows_i, cols_i], slack[best, rows_i, cols_i]


def render_tubes(
    shape: tuple[int, int],
    polylines: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
) -> tuple[np.ndarray, np.ndarray]:
    """Chord length (px) through a union of tubes and the opacity of the tube crossed, per pixel.

    Each polyline is (points (N, 2) px, radius (N,) px, value (N,)); the radius and value vary
    linearly between points and the ends are round. A pixel centre at distance d from the axis of
    a piece of radius r sees ``2·sqrt(r² − d²)``; where tubes overlap, the longest chord wins (the
    union's chord at a bifurcation). Work is done in small bounding boxes of ``_CHUNK`` pieces.
    """
    h, w = shape
    chord = np.zeros(shape, np.float32)
    value = np.zeros(shape, np.float32)
    for points, radius, val in polylines:
        for i in range(0, len(points) - 1, _CHUNK):
            a, b = points[i : i + _CHUNK], points[i + 1 : i + _CHUNK + 1]
            a = a[: len(b)]
            ra, rb = radius[i : i + len(b)], radius[i + 1 : i + 1 + len(b)]
            va, vb = val[i : i + len(b)], val[i + 1 : i + 1 + len(b)]
            reach = float(max(ra.max(), rb.max())) + 1.0
            lo = np.floor(np.minimum(a.min(0), b.min(0)) - reach).astype(int)
            hi = np.ceil(np.maximum(a.max(0), b.max(0)) + reach).astype(int) + 1
            r0, c0 = max(lo[0], 0), max(lo[1], 0)
            r1, c1 = min(hi[0], h), min(hi[1], w)
            if r0 >= r1 or c0 >= c1:
                continue
            best, t, slack = _nearest_piece(a, b, ra, rb, (r0, r1), (c0, c1))
            piece_chord = 2.0 * np.sqrt(np.clip(slack, 0.0, None))
            piece_val = va[best] + t * (vb - va)[best]
            window = chord[r0:r1, c0:c1]
            wins = piece_chord > window
            window[wins] = piece_chord[wins]
            value[r0:r1, c0:c1][wins] = piece_val[wins]
    return chord, value


def detect(
    line_integral: np.ndarray,
    blur_px: float,
    photons: float | None,
    rng: np.random.Generator,
) -> np.ndarray:
    """Detector response to ``exp(−line_integral)``: Gaussian blur, then Poisson counts of
    ``photons`` per unattenuated pixel (no noise when None). Returns counts / photons (float32)."""
    intensity = np.exp(-line_integral).astype(np.float32)
    if blur_px > 0:
        intensity = cv2.GaussianBlur(intensity, (0, 0), blur_px, borderType=cv2.BORDER_REFLECT)
    if photons is None:
        return intensity
    # Poisson statistics in the Gaussian limit (background counts are in the hundreds)
    mean = intensity * np.float32(photons)
    noise = rng.standard_normal(mean.shape, dtype=np.float32) * np.sqrt(mean)
    return np.maximum(mean + noise, 0.0) / np.float32(photons)
