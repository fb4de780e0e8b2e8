"""Lumen borders detected on the frame's intensity, as core-lab QCA does (CAAS, QAngio XA).

The segmentation only says *where* the vessel runs (its centerline) and roughly how wide it is;
the borders themselves are found on the image, so the network's width bias does not enter the
diameters:

1. **Straighten.** The image (vessels dark, as :func:`.densitometry.attenuation_image` gives it;
   the polarity is checked against the vessel's own surroundings, :func:`vessel_is_bright`,
   and flipped if needed) is sampled along the normal of every
   centerline point, ``t`` every ``SAMPLE_STEP_PX`` in ``[−T, T]``: an (N, M) image of the
   straightened vessel, row ``s`` along the vessel, column ``t`` across it.
2. **Edge response** of each half (``t > 0`` right, ``t < 0`` left, both read outwards)::

       E(s, t) = ∂v/∂t − w · ∂²v/∂t²

   Gaussian derivatives (σ ``DERIVATIVE_SIGMA_PX`` across, ``ALONG_SIGMA_PX`` along the vessel).
   The first derivative peaks where the dark lumen turns into bright background; blur and the
   round (chord-length) lumen profile put that peak inside the true border, and the second
   derivative, negative just outside it, moves the optimum outwards (``w`` =
   ``SECOND_DERIVATIVE_WEIGHT_PX``, tuned on the project's phantoms; see
   ``benchmarks/bench_qca_classes.py``).
3. **Smooth border by minimum-cost path.** The cost ``1 − E/max(E_row, f·E₉₅)`` (``E_row`` the
   row's best response, ``E₉₅`` the 95th percentile of those, ``f`` = ``ROW_FLOOR``: a faint
   lumen's border weighs as much as a healthy one's) is searched for the cheapest path from the
   first row to the last by dynamic programming, one column per row, moving at most
   ``MAX_STEP_COLUMNS`` columns between rows (a border slope of at most ``MAX_STEP_COLUMNS ·
   SAMPLE_STEP_PX`` px per centerline step), each column of step costing ``STEP_PENALTY``: the
   border stays smooth along the vessel and is carried through a stretch where one
   cross-section alone is ambiguous. The search band is
   ``[MIN_RADIUS_PX, SEARCH_FACTOR · r_ref(s) + SEARCH_MARGIN_PX]``, ``r_ref`` the running
   maximum of the rough radius over ``REFERENCE_WINDOW_PX`` (so the band stays open through a
   lesion where the segmentation narrowed or broke).
4. **Sub-pixel** position: a parabola through the response at the path's column and its two
   neighbours.
5. **Blur.** The blur of the imaging chain is fitted on the vessel's healthy cross-sections
   (:func:`.lumen_model.fit_blur`) and kept with the borders: a lumen narrower than about
   3 σ reads too wide between its borders, and :mod:`.blur_correction` undoes that.
6. **Vanished lumen.** Where the cross-section between its borders (smoothed along the vessel)
   is no darker than its background bands by ``MIN_LUMEN_SNR`` × the noise of that depth (its
   spread about a running median along the vessel), there is no lumen to measure: the diameter
   is 0 (a total occlusion reads 100 %DS). The bands leave out the segmentation's pixels: at a
   bifurcation or beside another vessel one band would lie on that vessel's contrast.

Lengths in px; arrays (N,) along the centerline.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.stats import median_abs_deviation

from AngioSegLib.qca.diameter import sample_profiles
from AngioSegLib.qca.lumen_model import LumenFit, fit_blur

__all__ = ["LumenBorders", "borders_on_profiles", "detect_lumen_borders"]

SAMPLE_STEP_PX = 0.25  # across the vessel
DERIVATIVE_SIGMA_PX = 0.5  # Gaussian derivative across the vessel: noise against resolution
ALONG_SIGMA_PX = 1.5  # smoothing along the vessel before the derivative
SECOND_DERIVATIVE_WEIGHT_PX = 0.75  # w in E = v' − w·v''; moves the blurred border outwards
MAX_STEP_COLUMNS = 4  # border slope ≤ 4 × 0.25 px per 0.5 px step (a steep eccentric wall)
MIN_RADIUS_PX = 0.25  # innermost border position searched
ROW_FLOOR = 0.15  # a row's edges are weighed against max(its best, 0.15 × E₉₅)
STEP_PENALTY = 0.25  # cost of moving the border one column (0.25 px) between rows
BAND_COST = 1e3  # outside the search band
SEARCH_FACTOR = 1.6  # outermost: 1.6 × the local reference radius ...
SEARCH_MARGIN_PX = 3.0  # ... + 3 px (blur, a segmentation off-centre)
REFERENCE_WINDOW_PX = 40.0  # running maximum of the rough radius: wider than a lesion
BACKGROUND_GAP_PX = 1.5  # background band starts this far outside a border ...
BACKGROUND_BAND_PX = 3.0  # ... and is this wide
MIN_LUMEN_SNR = 2.0  # centre depth below background, in its noise SDs, of a lumen
NOISE_WINDOW_SAMPLES = 9  # running median the depth's noise is measured about
LUMEN_SMOOTH_SAMPLES = 2.0  # Gaussian σ (centerline samples) of the depth tested for a lumen


@dataclass(frozen=True, eq=False)
class LumenBorders:
    """Borders of one vessel: distance (px) from the centerline to the left (−normal) and right
    (+normal) border, (N,) each; ``lumen`` (N,) False where the lumen vanished (diameter 0);
    ``depth`` (N,) the centre's depth below the background (image units, vessels positive);
    ``noise`` that depth's noise SD (image units); ``fit`` the blur fitted on the healthy
    cross-sections (None where too few); ``background_step`` (N,) the background beside the right
    border less that beside the left (image units, :func:`_background_step`)."""

    left_px: np.ndarray
    right_px: np.ndarray
    lumen: np.ndarray
    depth: np.ndarray
    noise: float
    fit: LumenFit | None = None
    background_step: np.ndarray | None = None

    @property
    def diameter_px(self) -> np.ndarray:
        """(N,) border-to-border diameter (px), 0 where the lumen vanished."""
        return np.where(self.lumen, self.left_px + self.right_px, 0.0)

    @property
    def centre_offset_px(self) -> np.ndarray:
        """(N,) where the lumen's middle lies along the normal, relative to the centerline."""
        return 0.5 * (self.right_px - self.left_px)


def _reference_radius(rough_radius_px: np.ndarray, step_px: float) -> np.ndarray:
    """Running maximum of the rough radius over ``REFERENCE_WINDOW_PX`` (NaN read as 0)."""
    size = max(int(REFERENCE_WINDOW_PX / max(step_px, 1e-6)) | 1, 3)
    return ndimage.maximum_filter1d(np.nan_to_num(rough_radius_px), size, mode="nearest")


def _response(half: np.ndarray, along_sigma: float) -> np.ndarray:
    """Edge response E (N, K) of one half profile read outwards (dark lumen → bright outside)."""
    sigma = (along_sigma, DERIVATIVE_SIGMA_PX / SAMPLE_STEP_PX)
    first = ndimage.gaussian_filter(half, sigma, order=(0, 1), mode="nearest") / SAMPLE_STEP_PX
    second = ndimage.gaussian_filter(half, sigma, order=(0, 2), mode="nearest") / SAMPLE_STEP_PX**2
    return first - SECOND_DERIVATIVE_WEIGHT_PX * second


def _smooth_path(cost: np.ndarray) -> np.ndarray:
    """(N,) column of the cheapest path down the rows of ``cost`` (N, K): one column per row,
    at most ``MAX_STEP_COLUMNS`` columns between rows, each column of step costing
    ``STEP_PENALTY`` (dynamic programming; :class:`skimage.graph.MCP` walks the same graph but
    cannot price a step, which is what keeps the border smooth in noise)."""
    n, k = cost.shape
    m = MAX_STEP_COLUMNS
    steps = np.arange(-m, m + 1)
    penalty = STEP_PENALTY * np.abs(steps)
    total = cost[0].copy()
    back = np.zeros((n, k), np.int16)
    padded = np.full(k + 2 * m, np.inf)
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * m + 1)  # (k, 2m + 1) view
    columns = np.arange(k)
    for i in range(1, n):
        padded[m:m + k] = total
        options = windows + penalty
        best = np.argmin(options, axis=1)
        back[i] = steps[best]
        total = cost[i] + options[columns, best]
    column = np.empty(n, int)
    column[-1] = int(np.argmin(total))
    for i in range(n - 1, 0, -1):
        column[i - 1] = column[i] + back[i, column[i]]
    return column


def _min_cost_border(response: np.ndarray, t: np.ndarray, outer_px: np.ndarray) -> np.ndarray:
    """(N,) sub-pixel border position (px) of one half: the minimum-cost path of
    ``1 − E/max(E_row, ROW_FLOOR·E₉₅)`` over the band ``[MIN_RADIUS_PX, outer_px]`` (see the
    module docstring)."""
    band = (t[None, :] >= MIN_RADIUS_PX) & (t[None, :] <= outer_px[:, None])
    best = np.where(band, response, -np.inf).max(axis=1)
    top = float(np.percentile(best[np.isfinite(best)], 95)) if np.isfinite(best).any() else 1.0
    top = top if top > 0 else 1.0
    # each row against its own best edge, so that a faint (tight, low-contrast) lumen's border
    # weighs as much as a healthy one's; rows with no edge above ROW_FLOOR × E₉₅ (no lumen)
    # against that floor, where the smoothness alone carries the border
    scale = np.maximum(np.nan_to_num(best, neginf=0.0), ROW_FLOOR * top)[:, None]
    cost = np.clip(1.0 - response / scale, 0.0, 2.0)
    cost[~band] = BAND_COST
    n, k = cost.shape
    column = _smooth_path(cost)
    rows = np.arange(n)
    left = np.clip(column - 1, 0, k - 1)
    right = np.clip(column + 1, 0, k - 1)
    a, b, c = response[rows, left], response[rows, column], response[rows, right]
    denominator = a - 2.0 * b + c
    safe = np.where(np.abs(denominator) > 1e-12, denominator, 1.0)
    shift = np.where(np.abs(denominator) > 1e-12, 0.5 * (a - c) / safe, 0.0)
    return t[column] + np.clip(shift, -0.5, 0.5) * SAMPLE_STEP_PX


def _band_median(half: np.ndarray, t: np.ndarray, border_px: np.ndarray,
                 on_vessel: np.ndarray | None = None) -> np.ndarray:
    """(N,) median of one half profile over its background band beyond ``border_px``, leaving
    out the samples ``on_vessel`` (same shape as ``half``) marks; NaN where none is left."""
    lo = border_px[:, None] + BACKGROUND_GAP_PX
    inside = (t[None, :] >= lo) & (t[None, :] <= lo + BACKGROUND_BAND_PX)
    if on_vessel is not None:
        inside &= ~on_vessel
    values = np.where(inside, half, np.nan)
    with np.errstate(all="ignore"):
        out = np.nanmedian(np.where(inside.any(axis=1, keepdims=True), values, 0.0), axis=1)
    return np.where(inside.any(axis=1), out, np.nan)


def _side_levels(profiles: np.ndarray, offsets: np.ndarray, left: np.ndarray, right: np.ndarray,
                 on_vessel: np.ndarray | None) -> np.ndarray:
    """(2, N) the background level on the right and the left of each cross-section: each side's
    band median without the samples on a vessel (``on_vessel`` (N, M), the segmentation
    straightened); NaN for a side whose band lies wholly on a vessel, and where both do, the
    bands read whole."""
    c = profiles.shape[1] // 2
    t = offsets[c:]
    halves = (profiles[:, c:], right), (profiles[:, c::-1], left)
    if on_vessel is None:
        return np.stack([_band_median(half, t, border) for half, border in halves])
    marks = on_vessel[:, c:], on_vessel[:, c::-1]
    sides = np.stack([_band_median(half, t, border, mark)
                      for (half, border), mark in zip(halves, marks, strict=True)])
    lost = ~np.isfinite(sides).any(axis=0)
    if lost.any():
        sides[:, lost] = _side_levels(profiles[lost], offsets, left[lost], right[lost], None)
    return sides


def _background(sides: np.ndarray) -> np.ndarray:
    """(N,) the background level beside each cross-section: the mean of the finite ``sides``
    (2, N) (:func:`_side_levels`)."""
    n = np.isfinite(sides).sum(axis=0)
    return np.nansum(sides, axis=0) / np.maximum(n, 1)


def _background_step(sides: np.ndarray) -> np.ndarray:
    """(N,) the background level on the right less that on the left (image units; 0 where one
    side is unknown): large where the vessel crosses an edge of the background (the
    diaphragm, the heart's border, a shutter), where the borders cannot be trusted."""
    step = sides[0] - sides[1]
    return np.where(np.isfinite(step), step, 0.0)


def _lumen_present(profiles: np.ndarray, offsets: np.ndarray, left: np.ndarray,
                   right: np.ndarray, sides: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(lumen (N,) bool, depth (N,), noise SD): the centre's depth below the background bands
    ``sides`` (2, N) (:func:`_background`) against the depth's own noise (see the module
    docstring)."""
    background = _background(sides)
    # the mean between the borders (at least ±0.5 px): an eccentric residual lumen off the
    # centerline still counts; where no lumen is left the borders bracket background
    inside = (offsets[None, :] >= -np.maximum(left, 0.5)[:, None]) & (
        offsets[None, :] <= np.maximum(right, 0.5)[:, None])
    depth = background - (profiles * inside).sum(axis=1) / inside.sum(axis=1)
    filled = np.nan_to_num(depth)
    # the noise of the depth signal itself: its spread about a running median along the vessel
    residual = filled - ndimage.median_filter(filled, size=NOISE_WINDOW_SAMPLES, mode="nearest")
    noise = max(float(median_abs_deviation(residual, scale="normal")), 1e-9)
    smooth_depth = ndimage.gaussian_filter1d(filled, LUMEN_SMOOTH_SAMPLES, mode="nearest")
    return smooth_depth > MIN_LUMEN_SNR * noise, depth, noise


def borders_on_profiles(profiles: np.ndarray, offsets: np.ndarray, step_px: float,
                        outer_px: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(left (N,), right (N,)) border distances (px) on straightened ``profiles`` (N, M), the
    lumen dark, sampled at ``offsets`` (M,) (symmetric, ``SAMPLE_STEP_PX`` apart), rows
    ``step_px`` apart along the vessel; borders searched out to ``outer_px`` (N,)."""
    c = profiles.shape[1] // 2
    t = offsets[c:]
    along = ALONG_SIGMA_PX / max(step_px, 1e-6)
    right = _min_cost_border(_response(profiles[:, c:], along), t, outer_px)
    left = _min_cost_border(_response(profiles[:, c::-1], along), t, outer_px)
    return left, right


END_SAMPLES = 4  # the outermost 1 px of each side of a profile: the vessel's surroundings


def vessel_is_bright(profiles: np.ndarray) -> bool:
    """Whether the vessel of straightened ``profiles`` (N, M) is brighter than its surroundings:
    its centre brighter than both profile ends (median of the outermost ``END_SAMPLES``) on most
    cross-sections. Local, so that a frame mostly darker than its vessels (collimated corners, a
    dark heart shadow: most real cines) does not flip them; both ends, so that one end on a
    collimator or a neighbouring vessel does not; most cross-sections, so that a crossing
    does not."""
    c = profiles.shape[1] // 2
    left = np.median(profiles[:, :END_SAMPLES], axis=1)
    right = np.median(profiles[:, -END_SAMPLES:], axis=1)
    return bool(np.median(profiles[:, c] - np.maximum(left, right)) > 0)


def detect_lumen_borders(image: np.ndarray, points_rc: np.ndarray, normals_rc: np.ndarray,
                         rough_radius_px: np.ndarray, fit: bool = True,
                         vessel_mask: np.ndarray | None = None) -> LumenBorders:
    """Left and right lumen borders of one vessel on ``image`` (H, W).

    ``points_rc`` (N, 2) the centerline (px, about ``step`` apart), ``normals_rc`` (N, 2) its
    unit normals, ``rough_radius_px`` (N,) a rough lumen radius (the segmentation's), used only
    to size the search band; ``fit`` whether to fit the blur (step 5; it costs about as much as
    the borders); ``vessel_mask`` (H, W) the segmentation, whose pixels the background bands
    leave out (step 6: beside a bifurcation or a neighbouring vessel one band lies on the other
    vessel, and would read the lumen as vanished). See the module docstring for the method.
    """
    points_rc = np.asarray(points_rc, float)
    rough = np.asarray(rough_radius_px, float)
    step = float(np.median(np.linalg.norm(np.diff(points_rc, axis=0), axis=1))) \
        if len(points_rc) > 1 else 1.0
    reference = _reference_radius(rough, step)
    outer = SEARCH_FACTOR * reference + SEARCH_MARGIN_PX
    reach = float(outer.max()) + BACKGROUND_GAP_PX + BACKGROUND_BAND_PX + 1.0
    offsets, profiles = sample_profiles(image, points_rc, normals_rc, reach, SAMPLE_STEP_PX,
                                        outside="nearest")
    if vessel_is_bright(profiles):  # flip so that the lumen is dark
        profiles = -profiles
    left, right = borders_on_profiles(profiles, offsets, step, outer)
    on_vessel = None
    if vessel_mask is not None:
        _, sampled = sample_profiles(vessel_mask, points_rc, normals_rc, reach, SAMPLE_STEP_PX)
        on_vessel = sampled > 0.5
    sides = _side_levels(profiles, offsets, left, right, on_vessel)
    lumen, depth, noise = _lumen_present(profiles, offsets, left, right, sides)
    blur = fit_blur(profiles, offsets, left, right, lumen) if fit else None
    return LumenBorders(left, right, lumen, depth, noise, blur, _background_step(sides))
