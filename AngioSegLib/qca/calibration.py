"""Catheter calibration: mm/pixel from a catheter of known French size (1 F = 1/3 mm).

The user gives two points near the catheter, either *along* it (both on the catheter) or *across*
it (one each side); the mode is found from the intensity: across the catheter the line crosses a
dark band, along it the perpendicular does. From the points an initial axis is refined:

1. intensity profiles perpendicular to the axis are sampled (:func:`.diameter.sample_profiles`,
   linear interpolation, 0.25 px) at axial positions every pixel (between the points, or ±6 px
   around the crossing); each profile's centre is the centroid of its dark dip; a line through
   the centres gives the catheter axis (so it is found near where the user points);
2. the profiles, re-sampled about the refined axis, are averaged;
3. the average is fitted (``scipy.optimize.least_squares``), within 2 radii + 4 px of the axis,
   with the projection of a solid tube seen by a blurred detector over a quadratic background,
   ``b + g·x + c·x² − A·(2·sqrt(r² − (x − x0)²))_+ ⊛ Gauss(σ)`` — the catheter is a
   contrast-filled cylinder, so its profile is a chord, not a plateau, and its edge is where the
   chord vanishes, not where the dip is half deep. The fit is refused (no catheter edge) when it
   leaves > 25 % of the dip unexplained or the dip is < 10 × the averaged profile's noise.

Then ``mm/pixel = (french / 3) / (2 r)``. Frames are MONOCHROME2 (the catheter is dark).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage, optimize

from AngioSegLib.cine import Calibration, CalibrationSource
from AngioSegLib.errors import InputError
from AngioSegLib.qca.diameter import sample_profiles

__all__ = ["CatheterMeasurement", "calibrate_from_catheter", "measure_catheter"]

MM_PER_FRENCH = 1.0 / 3.0
_STEP = 0.25
_MIN_DISTANCE_PX = 3.0
_FRENCH_RANGE = (2.0, 12.0)

Point = tuple[float, float]


@dataclass(frozen=True)
class CatheterMeasurement:
    """The catheter's width (px) and where it was measured: axis centre (row, col), unit axis
    direction, mode ("along" / "across"), number of profiles averaged, fitted blur σ (px) and the
    fit's RMS residual relative to the dip depth."""

    diameter_px: float
    centre_rc: tuple[float, float]
    direction_rc: tuple[float, float]
    mode: str
    n_profiles: int
    blur_px: float
    relative_residual: float


def _line_contrast(image: np.ndarray, centre: np.ndarray, direction: np.ndarray, half: float):
    offsets, values = sample_profiles(image, centre[None], direction[None], half, 0.5,
                                      outside="nearest")
    values = ndimage.gaussian_filter1d(values[0], 1.0)
    return float(values.max() - values.min()), offsets, values


def _initial_axis(image, p1, p2) -> tuple[np.ndarray, np.ndarray, float, str]:
    """(centre, axis direction, half length along the axis, mode) from the user's points."""
    vector = p2 - p1
    distance = float(np.linalg.norm(vector))
    u = vector / distance
    normal = np.array([-u[1], u[0]])
    mid = (p1 + p2) / 2
    along_line, offsets, values = _line_contrast(image, mid, u, distance / 2)
    darkest = mid + offsets[int(np.argmin(values))] * u
    across_line, *_ = _line_contrast(image, darkest, normal, distance / 2)
    if along_line > across_line:  # the line crosses a dark band: it is across the catheter
        return darkest, normal, 6.0, "across"
    return mid, u, max(distance / 2 - 1.0, 1.0), "along"


def _profiles(image, centre, axis, half_axis, half_width):
    normal = np.array([-axis[1], axis[0]])
    positions = np.arange(-half_axis, half_axis + 1e-9, 1.0)
    points = centre[None] + positions[:, None] * axis[None]
    offsets, values = sample_profiles(image, points, np.repeat(normal[None], len(points), 0),
                                      half_width, _STEP, outside="nearest")
    return positions, offsets, values, normal


def _detrend(values: np.ndarray, closing_px: float) -> np.ndarray:
    """Profiles minus their grey closing (upper envelope): ≤ 0 in dark dips narrower than
    ``closing_px``, ≈ 0 on the background whatever its slope (spine, ribs)."""
    size = int(closing_px / _STEP) | 1
    return values - ndimage.grey_closing(values, size=(1, size))


def _dip_centres(offsets: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """Centroid (px) of the dark dip of each (detrended) profile above half its depth; the dip
    chosen is the deepest after weighting by closeness to the axis (the user's points)."""
    centres = np.empty(len(depth))
    closeness = np.exp(-0.5 * (offsets / (offsets[-1] / 4)) ** 2)
    for i, row in enumerate(-depth):
        peak = int(np.argmax(row * closeness))
        inside = row > 0.5 * row[peak]
        lo, hi = peak, peak
        while lo > 0 and inside[lo - 1]:
            lo -= 1
        while hi < len(row) - 1 and inside[hi + 1]:
            hi += 1
        w = row[lo:hi + 1]
        centres[i] = float((w * offsets[lo:hi + 1]).sum() / max(w.sum(), 1e-12))
    return centres


def _tube_model(params, x):
    x0, radius, amplitude, base, slope, sigma, curve = params
    chord = 2.0 * np.sqrt(np.clip(radius**2 - (x - x0) ** 2, 0.0, None))
    background = base + slope * x + curve * x**2
    return background - amplitude * ndimage.gaussian_filter1d(chord, sigma / _STEP)


def _fit_tube(offsets: np.ndarray, profile: np.ndarray) -> tuple[np.ndarray, float]:
    """(x0, r, A, b, g, σ, c) of :func:`_tube_model` and the RMS residual relative to the depth."""
    depth_profile = _detrend(profile[None], offsets[-1])[0]
    base = float(np.median(profile))
    depth = -float(depth_profile.min())
    if depth <= 0:
        raise ValueError("flat profile")
    half = offsets[depth_profile < -depth / 2]
    radius = max((half.max() - half.min()) / 2 / 0.866, 1.0) if len(half) else 2.0
    limit = offsets[-1]
    radius = min(radius, limit / 2)
    near = np.abs(offsets) <= min(2.0 * radius + 4.0, limit)  # the catheter, not its neighbours
    x, y = offsets[near], profile[near]
    start = [0.0, radius, depth / (2 * radius), base, 0.0, 0.8, 0.0]
    fit = optimize.least_squares(
        lambda p: _tube_model(p, x) - y, start,
        bounds=([-radius, 0.5, 0.0, -np.inf, -np.inf, 0.2, -np.inf],
                [radius, limit / 1.5, np.inf, np.inf, np.inf, 4.0, np.inf]),
    )
    residual = float(np.sqrt(np.mean(fit.fun**2)) / depth)
    return fit.x, residual


def _check_points(image: np.ndarray, p1: np.ndarray, p2: np.ndarray) -> None:
    h, w = image.shape
    for p in (p1, p2):
        if not (0 <= p[0] <= h - 1 and 0 <= p[1] <= w - 1):
            raise InputError(
                f"catheter point (row {p[0]:.1f}, column {p[1]:.1f}) is outside the "
                f"{w}×{h} image; click on the catheter"
            )
    if np.linalg.norm(p2 - p1) < _MIN_DISTANCE_PX:
        raise InputError(
            f"the two catheter points are {np.linalg.norm(p2 - p1):.1f} px apart; place them at "
            f"least {_MIN_DISTANCE_PX:.0f} px apart, along the catheter or across it"
        )


def measure_catheter(frame: np.ndarray, point1: Point, point2: Point,
                     search_px: float = 25.0) -> CatheterMeasurement:
    """The catheter's width in pixels near the two (row, col) points (see the module doc).

    ``search_px``: how far from the axis the profiles reach (px). Raises
    :class:`~AngioSegLib.errors.InputError` for points outside the image or too close, and when
    no catheter edge is found.
    """
    image = np.asarray(frame, np.float32)
    if image.ndim != 2:
        raise InputError(f"catheter calibration needs one (H, W) frame, found shape {image.shape}")
    p1, p2 = np.asarray(point1, float), np.asarray(point2, float)
    _check_points(image, p1, p2)
    centre, axis, half_axis, mode = _initial_axis(image, p1, p2)
    for _ in range(2):  # refine the axis from the dip centres
        positions, offsets, values, normal = _profiles(image, centre, axis, half_axis, search_px)
        centres = _dip_centres(offsets, _detrend(values, search_px))
        slope, intercept = np.polyfit(positions, centres, 1) if len(positions) > 1 else (0.0,
                                                                                      centres[0])
        centre = centre + intercept * normal
        axis = axis + slope * normal
        axis /= np.linalg.norm(axis)
    _, offsets, values, _ = _profiles(image, centre, axis, half_axis, search_px)
    profile = values.mean(0)
    try:
        params, residual = _fit_tube(offsets, profile)
    except ValueError as error:
        raise InputError(
            "no catheter edge found near the points: the line shows no dark catheter; place the "
            "points on a contrast-filled catheter"
        ) from error
    radius = float(params[1])
    noise = float(np.median(values.std(0))) / np.sqrt(len(values))
    dip = float(params[2]) * 2.0 * radius
    if residual > 0.25 or radius <= 0.6 or radius >= offsets[-1] / 1.6 or dip < 10.0 * noise:
        raise InputError(
            f"no catheter edge found near the points (fit residual {residual:.0%} of the "
            f"contrast, width {2 * radius:.1f} px); place the points on a straight, "
            "contrast-filled stretch of the catheter"
        )
    return CatheterMeasurement(
        diameter_px=2.0 * radius,
        centre_rc=(float(centre[0]), float(centre[1])),
        direction_rc=(float(axis[0]), float(axis[1])),
        mode=mode,
        n_profiles=len(values),
        blur_px=float(params[5]),
        relative_residual=residual,
    )


def calibrate_from_catheter(frame: np.ndarray, point1: Point, point2: Point,
                            french: float) -> Calibration:
    """``Calibration(mm_per_pixel, CATHETER)`` from a catheter of ``french`` size (1 F = 1/3 mm)
    near the two (row, col) points of ``frame``."""
    if not _FRENCH_RANGE[0] <= french <= _FRENCH_RANGE[1]:
        raise InputError(
            f"catheter size must be between {_FRENCH_RANGE[0]:.0f} and {_FRENCH_RANGE[1]:.0f} F "
            f"(diagnostic catheters are 4–8 F), found {french} F"
        )
    width_px = measure_catheter(frame, point1, point2).diameter_px
    return Calibration(french * MM_PER_FRENCH / width_px, CalibrationSource.CATHETER)
