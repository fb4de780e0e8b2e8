"""The imaging system's blur, read off a vessel's own healthy cross-sections.

A round lumen of radius ``r`` seen in a log (attenuation) image is a *chord* profile
``2·√(r² − t²)`` deep; the X-ray focal spot, the detector and the interpolation blur it with a
point-spread function, taken Gaussian of ``σ``::

    v(t) = b + s·t − a · (chord_r ∗ G_σ)(t − c)                                  (1)

(``b``, ``s`` the background level and slope, ``a`` the contrast per px of chord, ``c`` the lumen
centre). Border detectors read a narrow lumen too wide once ``r`` nears ``σ``: its blurred
profile no longer shows its edges. :func:`fit_blur` fits (1) to the median straightened profile
of the segment's widest cross-sections, where ``r ≫ σ`` and ``σ`` shows in the edges' spread;
:func:`frame_blur_px` takes the median over a frame's vessels (one imaging chain), and
:mod:`.blur_correction` uses it to undo the detector's bias at the lesion.

Lengths in px; profiles (N, M) are rows along the vessel, columns at ``offsets`` (M,) across it,
the lumen dark.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage, optimize

__all__ = ["LumenFit", "blurred_chord", "fit_blur", "frame_blur_px"]

GRID_STEP_PX = 0.05  # fine grid on which the chord is blurred
REFERENCE_PERCENTILE = 60  # rows at least this wide (percentile of the diameters) are healthy
MIN_REFERENCE_ROWS = 8
FIT_MARGIN_PX = 4.0  # the fit reads 1.5 × radius + this either side of the lumen
SIGMA_BOUNDS_PX = (0.2, 4.0)
MAX_FIT_RMS = 0.05  # a worse fit (a crossing, a bifurcation, a catheter in the profile) is left out
# σ shows in the edges only where the lumen is wider than its blur: a fit with a radius under
# MIN_RADIUS_SIGMAS × σ (a small vessel, where σ and r trade off) is left out of the frame's blur
MIN_RADIUS_SIGMAS = 2.0


@dataclass(frozen=True)
class LumenFit:
    """Model (1) fitted to a vessel's healthy cross-sections: ``sigma_px`` the blur (Gaussian σ,
    px, interpolation and pixel size included), ``radius_px`` the healthy lumen radius (px),
    ``rms`` the fit's residual over its contrast (0 perfect)."""

    sigma_px: float
    radius_px: float
    rms: float


def blurred_chord(t: np.ndarray, radius_px: float, sigma_px: float) -> np.ndarray:
    """Chord length (px) of a round lumen of ``radius_px`` at offsets ``t`` (px) from its
    centre, blurred by a Gaussian of ``sigma_px``: the shape of (1) with ``a`` = 1."""
    t = np.asarray(t, float)
    reach = float(np.abs(t).max(initial=0.0)) + radius_px + 5.0 * sigma_px + 1.0
    grid = np.arange(-reach, reach + GRID_STEP_PX / 2, GRID_STEP_PX)
    chord = 2.0 * np.sqrt(np.clip(radius_px**2 - grid**2, 0.0, None))
    if sigma_px > 0:
        chord = ndimage.gaussian_filter1d(chord, sigma_px / GRID_STEP_PX, mode="constant")
    return np.interp(t, grid, chord)


def _median_reference_profile(profiles: np.ndarray, offsets: np.ndarray, left_px: np.ndarray,
                              right_px: np.ndarray, lumen: np.ndarray) -> tuple[np.ndarray, float]:
    """(median profile (M,) of the healthy rows, each centred on its lumen; their median
    diameter (px)); the median ignores a crossing vessel in a few rows."""
    diameter = left_px + right_px
    usable = lumen & np.isfinite(diameter)
    if usable.sum() < MIN_REFERENCE_ROWS:
        return np.empty(0), 0.0
    healthy = usable & (diameter >= np.percentile(diameter[usable], REFERENCE_PERCENTILE))
    middle = 0.5 * (right_px - left_px)
    aligned = np.array([np.interp(offsets + shift, offsets, row)
                        for shift, row in zip(middle[healthy], profiles[healthy],
                                              strict=True)])
    return np.median(aligned, axis=0), float(np.median(diameter[healthy]))


def fit_blur(profiles: np.ndarray, offsets: np.ndarray, left_px: np.ndarray,
             right_px: np.ndarray, lumen: np.ndarray) -> LumenFit | None:
    """Fit (1) to the healthy cross-sections of one vessel; None where fewer than
    ``MIN_REFERENCE_ROWS`` rows have a lumen or the fit does not converge.

    ``profiles`` (N, M) at ``offsets`` (M,) px, the lumen dark; ``left_px``/``right_px`` (N,) the
    detected borders; ``lumen`` (N,) bool where a lumen was found.
    """
    median, diameter = _median_reference_profile(profiles, offsets, left_px, right_px, lumen)
    if not len(median) or diameter <= 0:
        return None
    radius0 = 0.5 * diameter
    near = np.abs(offsets) <= 1.5 * radius0 + FIT_MARGIN_PX
    t, v = offsets[near], median[near]
    rim = np.abs(t) >= radius0 + 1.0
    base0 = float(np.median(v[rim])) if rim.any() else float(v.max())
    depth0 = max(base0 - float(v.min()), 1e-6) / (2.0 * radius0)

    def residual(p: np.ndarray) -> np.ndarray:
        base, slope, depth, centre, radius, sigma = p
        return base + slope * t - depth * blurred_chord(t - centre, radius, sigma) - v

    start = np.array([base0, 0.0, depth0, 0.0, radius0, 0.8])
    low = [-np.inf, -np.inf, 0.0, -2.0, 0.25, SIGMA_BOUNDS_PX[0]]
    high = [np.inf, np.inf, np.inf, 2.0, 3.0 * radius0 + 1.0, SIGMA_BOUNDS_PX[1]]
    try:
        fit = optimize.least_squares(residual, start, bounds=(low, high), x_scale="jac",
                                      diff_step=1e-3)
    except ValueError:  # a non-finite profile (the lumen ran off the image)
        return None
    if not fit.success:
        return None
    contrast = max(float(fit.x[2]) * 2.0 * float(fit.x[4]), 1e-12)
    rms = float(np.sqrt(np.mean(fit.fun**2))) / contrast
    return LumenFit(sigma_px=float(fit.x[5]), radius_px=float(fit.x[4]), rms=rms)


def frame_blur_px(fits) -> float | None:
    """The frame's blur (Gaussian σ, px): the median over its vessels' fits (an iterable of
    :class:`LumenFit` or None) that fit the model within ``MAX_FIT_RMS`` with a radius of at
    least ``MIN_RADIUS_SIGMAS`` σ; None without one."""
    sigmas = [f.sigma_px for f in fits if f is not None and f.rms <= MAX_FIT_RMS
              and f.radius_px >= MIN_RADIUS_SIGMAS * f.sigma_px]
    return float(np.median(sigmas)) if sigmas else None
