"""Undo the border detector's blur bias on narrow lumens, from the frame's fitted blur.

Between its two borders (:mod:`.lumen_edges`) a lumen of diameter ``D`` reads ``D̂ = f_σ(D)``:
``f_σ(D) ≈ D`` for ``D ≫ σ``, but once the blur ``σ`` hides the edges a narrow lumen reads as
wide as the blur itself (``σ`` = 0.8 px: 1, 1.5 and 2 px lumens all read about 3.1 px), and a
wide one a little narrow under heavy blur. This is the bias core-lab QCA calibrates away on
drilled phantoms; here ``f_σ`` is computed by running the same detector on noise-free model
profiles (:func:`.lumen_model.blurred_chord`) of the frame's blur (the median of the blurs
fitted on its vessels, :func:`.lumen_model.frame_blur_px`: one imaging chain, and one vessel's
fit may read a bifurcation or a catheter as blur), and each measured diameter is mapped back
through its inverse.

Below the smallest ``D̂`` the detector can produce, a diameter maps to the smallest lumen on the
curve (``CURVE_RADII_PX[0]``); where ``f_σ`` is flat the inverse uses its rising points only.
The curve's search band is sized for the vessel's healthy radius, as the detector's was.
Measured on both phantom sets (``benchmarks/bench_qca.py``, ``bench_qca_classes.py``): a
vessel's own fit alone moved the reference of vessels with a bifurcation in their widest rows,
hence the frame's median. Diameters in px.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from AngioSegLib.qca.lumen_edges import (
    SAMPLE_STEP_PX,
    SEARCH_FACTOR,
    SEARCH_MARGIN_PX,
    borders_on_profiles,
)
from AngioSegLib.qca.lumen_model import blurred_chord

__all__ = ["CURVE_RADII_PX", "correct_diameters", "detector_curve"]

CURVE_RADII_PX = np.concatenate([np.arange(0.25, 4.0, 0.25), np.arange(4.0, 10.0, 0.5),
                                 np.arange(10.0, 24.1, 2.0)])
CURVE_ROWS = 8  # rows of the constant model vessel the detector runs on
SIGMA_QUANTUM_PX = 0.05  # curves are cached on σ and the reference radius rounded to these
RADIUS_QUANTUM_PX = 0.5


@lru_cache(maxsize=128)
def _cached_curve(sigma_px: float, reference_radius_px: float) -> tuple[np.ndarray, np.ndarray]:
    true_d, read_d = [], []
    outer = SEARCH_FACTOR * reference_radius_px + SEARCH_MARGIN_PX
    m = int(np.ceil((outer + 2.0) / SAMPLE_STEP_PX))
    offsets = np.arange(-m, m + 1) * SAMPLE_STEP_PX
    for radius in CURVE_RADII_PX[CURVE_RADII_PX <= 1.5 * reference_radius_px + 1.0]:
        row = -blurred_chord(offsets, float(radius), sigma_px)
        profiles = np.tile(row, (CURVE_ROWS, 1))
        left, right = borders_on_profiles(profiles, offsets, 1.0, np.full(CURVE_ROWS, outer))
        true_d.append(2.0 * radius)
        read_d.append(float(np.median(left + right)))
    return np.asarray(true_d), np.asarray(read_d)


def detector_curve(sigma_px: float, reference_radius_px: float) -> tuple[np.ndarray, np.ndarray]:
    """(true diameters (K,), the diameters the detector reads for them (K,)) px, for a blur of
    ``sigma_px`` and a search band sized for a vessel of ``reference_radius_px``."""
    sigma = max(round(sigma_px / SIGMA_QUANTUM_PX) * SIGMA_QUANTUM_PX, SIGMA_QUANTUM_PX)
    radius = max(round(reference_radius_px / RADIUS_QUANTUM_PX) * RADIUS_QUANTUM_PX, 1.0)
    return _cached_curve(float(sigma), float(radius))


def correct_diameters(diameters_px: np.ndarray, blur_px: float,
                      healthy_radius_px: float) -> np.ndarray:
    """``diameters_px`` (N,) read between the borders, mapped to the lumen diameters (px) that
    read so under a blur of ``blur_px`` (Gaussian σ), the detector's band sized for a healthy
    radius of ``healthy_radius_px``. 0 (no lumen) and NaN stay."""
    diameters = np.asarray(diameters_px, float)
    true_d, read_d = detector_curve(blur_px, healthy_radius_px)
    rising = read_d > np.maximum.accumulate(np.r_[-np.inf, read_d[:-1]])
    true_d, read_d = true_d[rising], read_d[rising]

    mapped = np.interp(diameters, read_d, true_d)
    beyond = diameters > read_d[-1]  # wider than the curve: its last offset
    mapped[beyond] = diameters[beyond] + (true_d[-1] - read_d[-1])
    keep = ~np.isfinite(diameters) | (diameters <= 0)
    return np.where(keep, diameters, mapped)
