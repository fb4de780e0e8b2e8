"""A centerline's diameter profile ``D(s)``: between the lumen borders detected on the frame
(:func:`image_profile`) or across the probability map (:func:`probability_profile`), smoothed
along the vessel with a Gaussian of ``profile_sigma_mm`` (see :mod:`.analysis` for the method).

Diameters are in the frame's unit (mm, or px on an uncalibrated run); NaN where a cross-section
is not measurable (the lumen runs off the image), 0 where the lumen vanished.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from AngioSegLib.qca.blur_correction import correct_diameters
from AngioSegLib.qca.centerline import CenterlineSegment
from AngioSegLib.qca.diameter import leaves_image, profile_widths, sample_profiles
from AngioSegLib.qca.lumen_edges import REFERENCE_WINDOW_PX, LumenBorders, detect_lumen_borders
from AngioSegLib.qca.options import QcaOptions

__all__ = ["CONTRAST_FRACTION", "EDGE_MARGIN_PX", "JUNCTION_DIAMETERS", "NARROWED_RADIUS_FRACTION",
           "PROFILE_HALF_WIDTH_MARGIN_PX", "PROFILE_HALF_WIDTH_RADII", "WEAK_LEVEL_PERCENTILE",
           "WEAK_RADIUS_FRACTION", "FrameData", "bridged_points", "contrast_diameter_px",
           "detect_borders", "image_profile", "near_junction", "probability_profile",
           "rough_radius_px", "smooth_profile"]

# Probability profiles are sampled across ± (PROFILE_HALF_WIDTH_RADII × the segment's largest
# radius + PROFILE_HALF_WIDTH_MARGIN_PX) px: the whole lumen and its background on both sides.
PROFILE_HALF_WIDTH_RADII = 2.5
PROFILE_HALF_WIDTH_MARGIN_PX = 3.0
EDGE_MARGIN_PX = 1.0  # beyond a border: a lumen reaching within this of the frame edge is cut
# A vanished lumen is believed where the segmentation's radius is under WEAK_RADIUS_FRACTION of
# its running WEAK_LEVEL_PERCENTILE (%) over REFERENCE_WINDOW_PX, or on a bridged break; not
# its running maximum, which beside a bifurcation is the parent vessel's radius.
WEAK_RADIUS_FRACTION = 0.5
WEAK_LEVEL_PERCENTILE = 75
# A lumen fainter than its borders say: where the contrast between the borders holds the round
# lumen of less than CONTRAST_FRACTION × the border diameter (:func:`contrast_diameter_px`) and
# the segmentation narrowed there too (its radius under NARROWED_RADIUS_FRACTION × its running
# WEAK_LEVEL_PERCENTILE), the edges were carried through a residual lumen too faint to show
# them (a tight lesion under unsharp masking, an eccentric sliver): its contrast gives the
# diameter. The segmentation's narrowing keeps a contrast dip alone (inflow, a band on another
# vessel) from making a lesion; within JUNCTION_DIAMETERS local diameters of a junction (a
# branch's origin, where the segmentation narrows and the bands lie on the parent) the
# borders stay.
CONTRAST_FRACTION = 0.8
NARROWED_RADIUS_FRACTION = 0.65
JUNCTION_DIAMETERS = 2.0


@dataclass(frozen=True, eq=False)
class FrameData:
    """What every segment of one frame is measured with (arrays (H, W)); ``scale`` the length
    of one pixel in ``unit`` ("mm" or "px")."""

    probability: np.ndarray
    mask: np.ndarray  # the segmentation, bridges drawn in
    segmented: np.ndarray  # the segmentation as given
    near_segmented: np.ndarray  # ... grown by one pixel (a smoothed centerline may graze out)
    image: np.ndarray | None
    densitometry: bool
    diameter_px: np.ndarray  # 2 × distance transform of ``mask``
    vessels: tuple[CenterlineSegment, ...]
    frame: int
    scale: float
    unit: str
    options: QcaOptions
    blur_px: float | None = None  # the frame's blur (Gaussian σ, px; :func:`.frame_blur_px`)


def smooth_profile(widths: np.ndarray, sigma_samples: float) -> np.ndarray:
    """Gaussian along the vessel over the finite samples (NaN stay NaN)."""
    finite = np.isfinite(widths)
    if sigma_samples <= 0 or finite.sum() < 2:
        return widths
    filled = np.interp(np.arange(len(widths)), np.flatnonzero(finite), widths[finite])
    return np.where(finite, ndimage.gaussian_filter1d(filled, sigma_samples, mode="nearest"),
                    np.nan)


def _pixels(points_rc: np.ndarray, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) of the pixels nearest ``points_rc`` (N, 2), clipped to ``shape``."""
    r, c = np.clip(np.round(points_rc).astype(int), 0, np.array(shape) - 1).T
    return r, c


def rough_radius_px(data: FrameData, centerline: CenterlineSegment) -> np.ndarray:
    """(N,) the segmentation's radius (px, from its distance transform) along ``centerline``."""
    r, c = _pixels(centerline.points_rc, data.mask.shape)
    return 0.5 * data.diameter_px[r, c]


def bridged_points(data: FrameData, centerline: CenterlineSegment) -> np.ndarray:
    """(N,) centerline points off the given segmentation but on the bridged mask."""
    r, c = _pixels(centerline.points_rc, data.mask.shape)
    return (data.near_segmented[r, c] == 0) & (data.mask[r, c] > 0)


def probability_profile(probability: np.ndarray, centerline: CenterlineSegment, scale: float,
                        options: QcaOptions) -> np.ndarray:
    """(N,) smoothed diameter (unit) along ``centerline`` measured on ``probability`` (H, W)."""
    mask = probability >= options.level
    radius = ndimage.distance_transform_edt(mask)
    r, c = _pixels(centerline.points_rc, mask.shape)
    half_width = (PROFILE_HALF_WIDTH_RADII * float(radius[r, c].max())
                  + PROFILE_HALF_WIDTH_MARGIN_PX)
    offsets, values = sample_profiles(probability, centerline.points_rc, centerline.normals_rc,
                                      half_width)
    widths = profile_widths(offsets, values, options.diameter_method, options.level)
    # a lumen that runs off the image: a vessel cut by the frame edge would read as a narrowing
    widths[leaves_image(centerline.points_rc, centerline.normals_rc,
                        0.5 * np.nan_to_num(widths) + EDGE_MARGIN_PX, probability.shape)] = np.nan
    step = float(centerline.arc_px[1] - centerline.arc_px[0])
    return smooth_profile(widths, options.profile_sigma_mm / scale / step) * scale


def detect_borders(data: FrameData, centerline: CenterlineSegment) -> LumenBorders:
    """The lumen borders along ``centerline`` detected on the frame (:mod:`.lumen_edges`), the
    blur fitted only where the options correct for it."""
    return detect_lumen_borders(data.image, centerline.points_rc, centerline.normals_rc,
                                rough_radius_px(data, centerline),
                                fit=data.options.blur_correction, vessel_mask=data.segmented)


def image_profile(data: FrameData, centerline: CenterlineSegment,
                  borders: LumenBorders) -> np.ndarray:
    """(N,) smoothed diameter (unit) along ``centerline`` between its ``borders``, corrected for
    the frame's blur (``data.blur_px``, :mod:`.blur_correction`) where the options ask, and
    from the lumen's contrast where it is much fainter than its borders say (see
    :data:`CONTRAST_FRACTION`)."""
    rough = rough_radius_px(data, centerline)
    # a vanished lumen is believed where the segmentation lost or halved the vessel too (a
    # bridged break, a weak rough radius), not on a contrast dip alone
    step_px = float(centerline.arc_px[1] - centerline.arc_px[0])
    window = max(int(REFERENCE_WINDOW_PX / max(step_px, 1e-6)) | 1, 3)
    level = ndimage.percentile_filter(rough, WEAK_LEVEL_PERCENTILE, size=window, mode="nearest")
    weak = rough < WEAK_RADIUS_FRACTION * level
    gone = ~borders.lumen & (weak | bridged_points(data, centerline))
    widths = np.where(gone, 0.0, borders.left_px + borders.right_px)
    reach = np.maximum(borders.left_px, borders.right_px) + EDGE_MARGIN_PX
    widths[leaves_image(centerline.points_rc, centerline.normals_rc, reach,
                        data.image.shape)] = np.nan
    sigma_samples = data.options.profile_sigma_mm / data.scale / step_px
    smoothed = smooth_profile(widths, sigma_samples)
    if data.options.blur_correction and data.blur_px is not None:
        healthy_px = borders.fit.radius_px if borders.fit is not None \
            else float(np.nanmedian(rough))
        smoothed = correct_diameters(smoothed, data.blur_px, healthy_px)
    narrowed = (rough < NARROWED_RADIUS_FRACTION * level) & ~near_junction(
        centerline, JUNCTION_DIAMETERS * 2.0 * level)
    if narrowed.any():
        contrast = contrast_diameter_px(borders, window, sigma_samples)
        smoothed = np.where(narrowed & (contrast < CONTRAST_FRACTION * smoothed), contrast,
                            smoothed)
    return smoothed * data.scale


def near_junction(centerline: CenterlineSegment, reach_px: np.ndarray) -> np.ndarray:
    """(N,) cross-sections within ``reach_px`` (N,) of arc length from a junction of
    ``centerline``: a junction end, or a bifurcation a linked vessel crosses."""
    arc = centerline.arc_px
    junctions = [*centerline.junction_arc_px,
                 *([0.0] if centerline.start_is_junction else []),
                 *([float(arc[-1])] if centerline.end_is_junction else [])]
    near = np.zeros(len(arc), bool)
    for at in junctions:
        near |= np.abs(arc - at) <= reach_px
    return near


def contrast_diameter_px(borders: LumenBorders, window_samples: int,
                         sigma_samples: float) -> np.ndarray:
    """(N,) the diameter (px) of the round lumen holding each cross-section's contrast, from
    the vessel's own borders nearby; inf where unknown.

    The contrast between the borders, ``depth × width`` (:attr:`.LumenBorders.depth` is the mean
    depth between them), is ``a · π/4 · D²`` for a round lumen of diameter ``D``, whatever the
    blur; ``a · π/4`` is read off the border diameters themselves, as the running median of
    ``contrast / (border diameter)²`` over ``window_samples`` (mostly healthy lumen, the lesion a
    minority of it). Smoothed along the vessel with a Gaussian of ``sigma_samples``."""
    width = np.maximum(borders.left_px, 0.5) + np.maximum(borders.right_px, 0.5)
    contrast = smooth_profile(borders.depth * width, sigma_samples)
    diameter = borders.left_px + borders.right_px
    known = borders.lumen & np.isfinite(contrast) & np.isfinite(diameter) & (diameter > 0)
    if not known.any():
        return np.full(len(diameter), np.inf)
    ratio = np.full(len(diameter), np.nan)
    ratio[known] = contrast[known] / diameter[known] ** 2
    ratio[~known] = np.median(ratio[known])
    scale = ndimage.median_filter(ratio, size=window_samples, mode="nearest")
    with np.errstate(all="ignore"):
        out = np.sqrt(np.clip(contrast / scale, 0.0, None))
    return np.where(known & (scale > 0), out, np.inf)
