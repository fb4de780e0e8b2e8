"""The densitometric MLD of a lesion: the second MLD, read from the image's contrast.

For each lesion with a reference, the cross-section areas of :func:`.densitometry.area_profile`
are scaled by the densitometric constant fitted on the healthy stretch the reference was fitted
to (:func:`.densitometry.fit_densitometric_constant`, ``k = median(A / R²)``) and turned into
the diameter of the circle holding that contrast, smoothed along the vessel with a Gaussian of
``densitometry_sigma_mm``; its minimum over the lesion stretch is the densitometric MLD. It is
valid only where the Pixel Intensity Relationship makes pixel values linear in the
attenuation line integral (``LOG``, or ``LIN`` after :func:`.densitometry.attenuation_image`).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from AngioSegLib.qca.centerline import CenterlineSegment
from AngioSegLib.qca.densitometry import (
    area_profile,
    densitometric_diameter,
    depth_floor,
    fit_densitometric_constant,
)
from AngioSegLib.qca.options import QcaOptions
from AngioSegLib.qca.profile_analysis import ProfileAnalysis, zone

__all__ = ["densitometric_curve", "densitometric_lesion", "distinct_lesions"]


def densitometric_lesion(lesion: ProfileAnalysis, image: np.ndarray, mask: np.ndarray,
                         centerline: CenterlineSegment, distance: np.ndarray,
                         diameter: np.ndarray, scale: float, options: QcaOptions,
                         use_as_mld: bool) -> ProfileAnalysis:
    """``lesion`` with its densitometric MLD (``densitometric_mld``; also its ``mld`` when
    ``use_as_mld``), or unchanged when it has no reference or no densitometric constant can be
    fitted on its healthy stretch. ``distance``/``diameter`` (N,) in the unit, ``scale`` unit
    per px."""
    if lesion.rvd is None or lesion.mld_index is None or lesion.healthy is None:
        return lesion
    step = float(distance[1] - distance[0])
    area = area_profile(image, centerline.points_rc, centerline.normals_rc,
                        diameter / scale / 2.0, lesion.reference / scale / 2.0,
                        options.densitometry_background_mm / step, mask)
    healthy_px = (lesion.reference / scale)[lesion.healthy & np.isfinite(lesion.reference)]
    min_area = depth_floor(image) * float(np.median(healthy_px)) if len(healthy_px) else 0.0
    k = fit_densitometric_constant(area, lesion.reference, lesion.healthy, min_area)
    if k is None:
        return lesion
    if lesion.lesion_start is not None:
        lo, hi = lesion.lesion_start, lesion.lesion_end
    else:
        at = float(distance[lesion.mld_index])
        lo, hi = at - 0.5 * lesion.rvd, at + 0.5 * lesion.rvd
    dens = densitometric_diameter(area, k, options.densitometry_sigma_mm / step)
    stretch = np.flatnonzero((distance >= lo) & (distance <= hi) & np.isfinite(dens))
    if len(stretch) == 0:
        return lesion
    i = int(stretch[np.argmin(dens[stretch])])
    near = (distance >= lo - lesion.rvd) & (distance <= hi + lesion.rvd)
    curve = np.where(near, dens, np.nan)
    if not use_as_mld:
        return replace(lesion, densitometric_mld=float(dens[i]), densitometric_diameter=curve)
    return replace(lesion, mld=float(dens[i]), mld_index=i, rvd=float(lesion.reference[i]),
                   mld_method="densitometric", edge_mld=lesion.mld,
                   densitometric_mld=float(dens[i]), densitometric_diameter=curve)


def distinct_lesions(lesions: tuple[ProfileAnalysis, ...], distance: np.ndarray
                     ) -> tuple[ProfileAnalysis, ...]:
    """``lesions`` less those whose MLD moved into an earlier one's zone (two stretches that
    meet share one narrowing: the densitometric minimum of both can land on it)."""
    kept = list(lesions[:1])
    for lesion in lesions[1:]:
        at = float(distance[lesion.mld_index])
        if not any(lo <= at <= hi for lo, hi in (zone(k, distance) for k in kept
                                                  if k.rvd is not None)):
            kept.append(lesion)
    return tuple(kept)


def densitometric_curve(lesions: tuple[ProfileAnalysis, ...], n: int) -> np.ndarray:
    """(n,) the densitometric diameter about each lesion that has one (the first lesion's where
    two overlap), NaN elsewhere."""
    curve = np.full(n, np.nan)
    for lesion in lesions:
        if lesion.densitometric_diameter is not None:
            curve = np.where(np.isnan(curve), lesion.densitometric_diameter, curve)
    return curve
