"""Densitometric lumen size: how much contrast a cross-section holds, read from the image.

XA systems store the logarithm of the transmitted intensity (up to a display gain and offset), so
inside an opacified vessel a pixel's depth below its local background is proportional to the
iodine path length through the lumen (Beer–Lambert). Summed across a profile perpendicular to
the centerline it is proportional to the lumen's cross-sectional area, whatever the lumen's
shape and whatever the detector blur (blur moves signal sideways, it does not remove it)::

    A(s) = Σ_t (b(s, t) − v(s, t)) · Δt        over |t| ≤ w_in(s)

``v`` the image sampled along the normal at arc position ``s``; ``b`` the background, a line
across the profile between the medians of two bands just outside the reference lumen
(``|t|`` in ``[w_out, w_out + BAND_PX]``, ``w_out`` = reference radius + ``MARGIN_PX``), each
band's level smoothed along the vessel (median, then Gaussian) so that its noise does not enter
``A``, band samples on a vessel (another branch, a crossing) left out; ``w_in`` = the measured
(edge) radius + ``MARGIN_PX``, which at a lesion keeps the noise of the empty reference width
out of the sum.

The unknown densitometric constant (iodine concentration × display gain, its sign the display
polarity) is fitted on the vessel's healthy stretch, where the lumen has its reference diameter
``R``: ``k = median(A / R²)`` (:func:`fit_densitometric_constant`). Elsewhere
``D(s) = sqrt(A(s) / k)``: the diameter of the circle with the
cross-section's area, in the reference's unit. Edge detection on a segmentation
widens lumens narrower than a few pixels (the network and the detector blur round them off);
the densitometric diameter does not, at the price of image noise (see ``benchmarks/bench_qca.py``).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy.stats import median_abs_deviation

from AngioSegLib.qca.diameter import leaves_image, sample_profiles

__all__ = ["DENSITOMETRIC_RELATIONSHIPS", "area_profile", "attenuation_image",
           "densitometric_diameter", "densitometry_is_valid", "depth_floor",
           "fit_densitometric_constant"]

MARGIN_PX = 1.5  # beyond the lumen edge: > 2 σ of a typical detector blur (0.5–0.7 px)
BAND_PX = 2.0  # width of each background band
MIN_HEALTHY = 5  # healthy cross-sections needed to fit the densitometric constant
MIN_CONSTANT_SNR = 3.0  # median(A/R²) over its robust spread on the healthy stretch
MIN_DEPTH_FRACTION = 1e-3  # of the image's grey range: a lumen shallower than this holds no signal
ROUNDING_DEPTH = 64 * float(np.finfo(np.float32).eps)  # × the image's largest |value|
# Pixel Intensity Relationships under which values are (after attenuation_image) linear in the
# attenuation line integral. "DISP" (display-processed: unsharp masking, gamma, LUTs) and an
# untagged file are not: there the second, densitometric MLD is not reported.
DENSITOMETRIC_RELATIONSHIPS = ("LOG", "LIN")


def densitometry_is_valid(pixel_intensity_relationship: str | None) -> bool:
    """Whether the densitometric MLD may be read from a file with this Pixel Intensity
    Relationship (see :data:`DENSITOMETRIC_RELATIONSHIPS`)."""
    return pixel_intensity_relationship in DENSITOMETRIC_RELATIONSHIPS


def attenuation_image(frame: np.ndarray, pixel_intensity_relationship: str | None) -> np.ndarray:
    """``frame`` on a scale linear in the attenuation line integral, as densitometry needs:
    ``log(v + 1)`` when the file stores values proportional to the X-ray intensity ("LIN"), the
    values as they are otherwise ("LOG", "DISP": XA systems log-process what they store)."""
    frame = np.asarray(frame, np.float32)
    if pixel_intensity_relationship == "LIN":
        return np.log1p(np.maximum(frame, 0.0))
    return frame


def _fill(values: np.ndarray) -> np.ndarray:
    """``values`` with NaNs replaced by linear interpolation (constant beyond the ends); all NaN
    stays all NaN."""
    finite = np.flatnonzero(np.isfinite(values))
    if len(finite) == 0:
        return values.copy()
    return np.interp(np.arange(len(values)), finite, values[finite])


def _band_levels(offsets: np.ndarray, profiles: np.ndarray, off_vessel: np.ndarray,
                 outer_px: np.ndarray, sign: int) -> np.ndarray:
    """(N,) median of each profile over the band ``sign·t`` in [outer, outer + BAND_PX], samples
    not ``off_vessel`` left out (NaN where none is left)."""
    t = sign * offsets[None, :]
    band = (t >= outer_px[:, None]) & (t <= outer_px[:, None] + BAND_PX) & off_vessel
    levels = np.where(band, profiles, np.nan)
    with np.errstate(all="ignore"):
        empty = ~band.any(axis=1)
        levels[empty] = 0.0
        out = np.nanmedian(levels, axis=1)
    out[empty] = np.nan
    return out


def _smooth_along(levels: np.ndarray, window_samples: float) -> np.ndarray:
    """Median then Gaussian filter along the vessel (robust to a crossing vessel in a band)."""
    size = max(3, int(window_samples) | 1)
    filtered = ndimage.median_filter(_fill(levels), size=size, mode="nearest")
    return ndimage.gaussian_filter1d(filtered, window_samples / 4.0, mode="nearest")


def area_profile(image: np.ndarray, points_rc: np.ndarray, normals_rc: np.ndarray,
                 inner_px: np.ndarray, outer_px: np.ndarray, background_samples: float,
                 vessel: np.ndarray | None = None, step_px: float = 0.25) -> np.ndarray:
    """(N,) densitometric cross-section area (image value × px) at each centerline point.

    ``inner_px`` / ``outer_px`` (N,) the measured and the reference lumen radius (px), ``MARGIN_PX``
    is added to both; ``background_samples`` the length (in centerline samples) over which the
    background bands are smoothed; ``vessel`` (H, W) the vessel mask, whose pixels the bands skip.
    NaN where a radius is unknown or a band leaves the image.
    """
    inner = np.asarray(inner_px, float) + MARGIN_PX
    outer = np.asarray(outer_px, float) + MARGIN_PX
    known = np.isfinite(inner) & np.isfinite(outer)
    area = np.full(len(points_rc), np.nan)
    if known.sum() < 2:
        return area
    inner, outer = np.where(known, np.minimum(inner, outer), 0.0), np.where(known, outer, 0.0)
    reach = float(outer.max()) + BAND_PX
    offsets, profiles = sample_profiles(image, points_rc, normals_rc, reach, step_px,
                                        outside="nearest")
    known &= ~leaves_image(points_rc, normals_rc, outer + BAND_PX, image.shape)
    if known.sum() < 2:
        return area
    if vessel is None:
        off_vessel = np.ones(profiles.shape, bool)
    else:
        off_vessel = sample_profiles(vessel, points_rc, normals_rc, reach, step_px)[1] < 0.5
    left = _band_levels(offsets, profiles, off_vessel, outer, -1)
    right = _band_levels(offsets, profiles, off_vessel, outer, +1)
    left[~known], right[~known] = np.nan, np.nan
    left, right = _smooth_along(left, background_samples), _smooth_along(right, background_samples)
    fraction = (offsets[None, :] + outer[:, None]) / (2.0 * np.maximum(outer[:, None], 1e-9))
    background = left[:, None] + (right - left)[:, None] * fraction
    within = np.abs(offsets[None, :]) <= inner[:, None]
    area = ((background - profiles) * within).sum(axis=1) * step_px
    return np.where(known, area, np.nan)


def depth_floor(image: np.ndarray) -> float:
    """The smallest mean depth (image value) of a lumen below its background that is signal: a
    ``MIN_DEPTH_FRACTION`` of the grey range (1st–99th percentile), and never less than float32
    rounding of the image's values (a flat image's "contrast" is rounding noise of either sign)."""
    values = np.asarray(image, np.float32)
    low, high = np.percentile(values, (1.0, 99.0))
    return max(MIN_DEPTH_FRACTION * float(high - low),
               ROUNDING_DEPTH * float(np.abs(values).max(initial=0.0)))


def fit_densitometric_constant(area: np.ndarray, reference: np.ndarray, healthy: np.ndarray,
                               min_area: float = 0.0) -> float | None:
    """The densitometric constant ``k`` = median(A / R²) over the ``healthy`` (N,) stretch
    (``area`` (N,) in image value × px, ``reference`` (N,) the reference diameter R in any
    length unit; ``k`` in image value × px per that unit²), or None when the stretch is shorter
    than ``MIN_HEALTHY`` cross-sections, ``k`` is under ``MIN_CONSTANT_SNR`` × its robust spread
    (the vessel does not stand out of the noise), or the healthy cross-section holds no more
    than ``min_area`` (image value × px; see :func:`depth_floor`)."""
    use = healthy & np.isfinite(area) & np.isfinite(reference) & (reference > 0)
    if use.sum() < MIN_HEALTHY:
        return None
    density = area[use] / reference[use] ** 2
    k = float(np.median(density))
    spread = float(median_abs_deviation(density, scale="normal"))
    if abs(k) * float(np.median(reference[use] ** 2)) <= min_area:
        return None
    if k == 0.0 or abs(k) < MIN_CONSTANT_SNR * spread:
        return None
    return k


def densitometric_diameter(area: np.ndarray, k: float, sigma_samples: float) -> np.ndarray:
    """(N,) diameter of the circle holding each cross-section's contrast, in the reference's
    unit; ``area`` smoothed along the vessel with a Gaussian of ``sigma_samples`` first."""
    finite = np.isfinite(area)
    if finite.sum() < 2:
        return np.full(len(area), np.nan)
    smooth = ndimage.gaussian_filter1d(_fill(area), sigma_samples, mode="nearest")
    return np.where(finite, np.sqrt(np.clip(smooth / k, 0.0, None)), np.nan)
