"""QCA of one frame: per-segment diameter profiles, MLD, interpolated reference, %DS, lesion length.

Vocabulary as in CAAS QCA / QAngio XA. For each centerline segment (see :mod:`.centerline`):

* the diameter profile ``D(s)`` (``s`` arc length from the segment start) is measured on the
  probability map with :func:`.diameter.profile_widths` and smoothed along ``s`` with a Gaussian of
  ``profile_sigma_mm``; the segment is oriented so that it starts at its wider end (taken as
  proximal); excluded, as not a lumen cross-section: ``end_trim_diameters`` × the median
  diameter at both ends (bifurcation, vessel tip), ``junction_trim_diameters`` × it about each
  side-branch origin the segment crosses (0 by default: a lesion at a side-branch origin stays
  measurable), and bulges above 1.25 × the local upper level (the bifurcation's flare);
* MLD = min D within the lesion, at ``mld_position`` (from the segment start);
* the lesion is where D is narrowest relative to its local upper level (running 75th percentile
  over ``2 · reference_window_diameters`` median diameters), so neither a vessel's taper, nor
  the step down at a side-branch origin, nor a bulge at a bifurcation makes a lesion;
* the *interpolated reference* ``R(s)``: a least-squares line through the healthy profile within
  ``reference_window_diameters`` × RVD of the lesion, fitted three times (starting from the
  local upper level), each time excluding
  the lesion (``D < (1 − t/2)·R`` around it, ``t`` = ``lesion_threshold``, widened by half a
  reference diameter each side) and bulges (``D > 1.2·R``, side-branch origins). With healthy
  vessel on only one side the reference is that side's line (when it spans ≥ 3 × the needed
  length) or median (``reference_method`` says which side);
* RVD = R(mld_position); %DS = (1 − MLD/RVD)·100; %AS = (1 − (MLD/RVD)²)·100;
* with the frame's image at hand (``mld_method="densitometric"``, the default) the MLD is then
  read from the image instead (:mod:`.densitometry`): the diameter of the circle holding each
  cross-section's contrast, calibrated on the healthy stretch the reference was fitted to,
  smoothed along the vessel with a Gaussian of ``densitometry_sigma_mm`` (the background bands
  over ``densitometry_background_mm``), its minimum over the lesion stretch.
  Edges of a segmentation widen lumens of a few pixels; contrast does not. Without the image, or
  when the vessel does not stand out of the noise on its healthy stretch, the edge MLD stays
  (``mld_method`` says which);
* lesion length: the stretch around the MLD where ``D < (1 − t)·R`` (t = 0.2: narrower than 80 %
  of the reference), edges interpolated between samples. For a raised-cosine narrowing of length
  L and fraction p this is ``L·acos(2t/p − 1)/π`` (0.56 L at 50 %, 0.64 L at 70 %);
* tortuosity = arc length / chord.

A segment has a reference when at least ``min_reference_diameters`` × RVD of healthy vessel lies
on one side of the lesion; stenoses are listed when %DS ≥ ``min_stenosis_percent`` and the
reference is interpolated, or one-sided because a bifurcation ends the segment on the other
side (an ostial lesion; see :func:`list_stenoses`). A long segment may hold several lesions:
:func:`analyze_lesions` looks for up to ``max_lesions``, each outside the stretches of those
already found; the segment's own MLD, RVD and %DS are the first's.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from scipy import ndimage

from AngioSegLib.centerline import CenterlineSegment, extract_centerlines, link_vessels
from AngioSegLib.densitometry import (
    area_profile,
    calibrate,
    densitometric_diameter,
    depth_floor,
)
from AngioSegLib.diameter import DIAMETER_METHODS, leaves_image, profile_widths, sample_profiles
from AngioSegLib.errors import InputError

__all__ = [
    "DEFAULT_OPTIONS",
    "MLD_METHODS",
    "ProfileAnalysis",
    "QcaOptions",
    "SegmentMeasures",
    "Stenosis",
    "analyze_lesions",
    "analyze_profile",
    "list_stenoses",
    "measure_segments",
]

INTERPOLATED = "interpolated (proximal and distal)"
MLD_METHODS = ("densitometric", "edge")


@dataclass(frozen=True)
class QcaOptions:
    """How to measure. Lengths in mm, fractions 0–1. On an uncalibrated run (results in px) the
    lengths are taken at ``uncalibrated_mm_per_pixel``, a typical 512² angiogram's pixel."""

    diameter_method: str = "integral"
    mld_method: str = "densitometric"
    level: float = 0.5
    profile_sigma_mm: float = 0.15
    spur_factor: float = 1.5
    min_branch_mm: float = 1.0
    end_trim_diameters: float = 1.0
    junction_trim_diameters: float = 0.0
    lesion_threshold: float = 0.2
    min_stenosis_percent: float = 20.0
    max_lesions: int = 3
    min_reference_diameters: float = 1.0
    reference_window_diameters: float = 4.0
    densitometry_sigma_mm: float = 0.25
    densitometry_background_mm: float = 2.0
    uncalibrated_mm_per_pixel: float = 0.25

    def __post_init__(self) -> None:
        if self.diameter_method not in DIAMETER_METHODS:
            raise InputError(
                f"diameter method must be one of {', '.join(DIAMETER_METHODS)}, "
                f"found {self.diameter_method!r}"
            )
        if self.mld_method not in MLD_METHODS:
            raise InputError(
                f"MLD method must be one of {', '.join(MLD_METHODS)}, found {self.mld_method!r}"
            )
        if not 0.0 < self.level < 1.0 or not 0.0 < self.lesion_threshold < 1.0:
            raise InputError(
                "level and lesion_threshold must be between 0 and 1, found "
                f"{self.level} and {self.lesion_threshold}"
            )
        if self.max_lesions < 1:
            raise InputError(f"max_lesions must be 1 or more, found {self.max_lesions}")
        if min(self.profile_sigma_mm, self.spur_factor, self.min_branch_mm,
               self.end_trim_diameters, self.junction_trim_diameters,
               self.min_reference_diameters, self.densitometry_sigma_mm,
               self.densitometry_background_mm) < 0:
            raise InputError("QCA lengths and factors must be 0 or more")
        if self.uncalibrated_mm_per_pixel <= 0:
            raise InputError("uncalibrated_mm_per_pixel must be more than 0, found "
                             f"{self.uncalibrated_mm_per_pixel}")

    def in_pixels(self) -> QcaOptions:
        """These options with their lengths in pixels of ``uncalibrated_mm_per_pixel``."""
        px = 1.0 / self.uncalibrated_mm_per_pixel
        return replace(self, profile_sigma_mm=self.profile_sigma_mm * px,
                       min_branch_mm=self.min_branch_mm * px,
                       densitometry_sigma_mm=self.densitometry_sigma_mm * px,
                       densitometry_background_mm=self.densitometry_background_mm * px)


DEFAULT_OPTIONS = QcaOptions()


@dataclass(frozen=True, eq=False)
class ProfileAnalysis:
    """Result of :func:`analyze_profile`; lengths in the profile's unit, None where undefined."""

    reference: np.ndarray  # (N,) interpolated reference diameter, NaN outside the analysed part
    mld: float | None
    mld_index: int | None
    rvd: float | None
    lesion_start: float | None
    lesion_end: float | None
    reference_method: str
    healthy: np.ndarray | None = None  # (N,) bool: the stretch the reference was fitted to
    mld_method: str = "edge"
    edge_mld: float | None = None  # the segmentation's MLD when ``mld`` is densitometric
    densitometric_diameter: np.ndarray | None = None  # (N,) about the lesion, NaN elsewhere

    @property
    def percent_diameter_stenosis(self) -> float | None:
        if self.mld is None or self.rvd is None:
            return None
        return float(max(0.0, (1.0 - self.mld / self.rvd) * 100.0))

    @property
    def percent_area_stenosis(self) -> float | None:
        if self.mld is None or self.rvd is None:
            return None
        return float(max(0.0, (1.0 - (self.mld / self.rvd) ** 2) * 100.0))

    @property
    def lesion_length(self) -> float | None:
        if self.lesion_start is None or self.lesion_end is None:
            return None
        return float(self.lesion_end - self.lesion_start)

    def measures(self) -> dict:
        """The lesion's scalar measures, by the field names that segments and stenoses share."""
        return {"mld": self.mld, "rvd": self.rvd,
                "percent_diameter_stenosis": self.percent_diameter_stenosis,
                "percent_area_stenosis": self.percent_area_stenosis,
                "lesion_length": self.lesion_length, "reference_method": self.reference_method,
                "mld_method": self.mld_method,
                "edge_mld": self.mld if self.edge_mld is None else self.edge_mld}


def _crossing(s: np.ndarray, ratio: np.ndarray, i: int, step: int, limit: float) -> float:
    """Arc position where ``ratio`` rises back above ``limit`` walking from ``i`` by ``step``."""
    j = i
    while 0 <= j + step < len(ratio) and ratio[j + step] < limit:
        j += step
    if not 0 <= j + step < len(ratio):
        return float(s[j])
    a, b = ratio[j], ratio[j + step]
    fraction = (limit - a) / (b - a) if b != a else 0.0
    return float(s[j] + fraction * (s[j + step] - s[j]))


def _run_around(mask: np.ndarray, i: int) -> tuple[int, int]:
    """First and last index of the run of True in ``mask`` that contains ``i``."""
    lo, hi = i, i
    while lo > 0 and mask[lo - 1]:
        lo -= 1
    while hi < len(mask) - 1 and mask[hi + 1]:
        hi += 1
    return lo, hi


def _fit_reference(s, d, envelope, i_min, options) -> tuple[np.ndarray, str, np.ndarray]:
    """(reference at s, method, the healthy samples it was fitted to) around the lesion at
    ``i_min``, starting from the local upper level ``envelope`` — see the module docstring."""
    reference, method, used = envelope, "none", np.zeros(len(s), bool)
    for _ in range(3):
        narrow = d < (1.0 - options.lesion_threshold / 2.0) * reference
        narrow[i_min] = True
        lo, hi = _run_around(narrow, i_min)
        rvd = max(float(reference[i_min]), 1e-9)
        margin = 0.5 * rvd
        window = options.reference_window_diameters * rvd
        near = (s >= s[lo] - margin - window) & (s <= s[hi] + margin + window)
        lesion = (s >= s[lo] - margin) & (s <= s[hi] + margin)
        healthy = near & ~lesion & (d <= 1.2 * reference)
        proximal, distal = healthy & (s < s[i_min]), healthy & (s > s[i_min])
        need = options.min_reference_diameters * rvd
        span = [np.ptp(s[side]) if side.sum() > 1 else 0.0 for side in (proximal, distal)]
        if min(span) >= need:
            slope, intercept = np.polyfit(s[healthy], d[healthy], 1)
            reference, method, used = intercept + slope * s, INTERPOLATED, healthy
        elif max(span) >= need:
            side = proximal if span[0] >= span[1] else distal
            method = "proximal only" if side is proximal else "distal only"
            used = side
            if max(span) >= 3.0 * need:  # long enough to follow its taper
                slope, intercept = np.polyfit(s[side], d[side], 1)
                reference = intercept + slope * s
            else:
                reference = np.full(len(s), float(np.median(d[side])))
        else:
            return reference, "none", used
    return reference, method, used


def analyze_profile(distance: np.ndarray, diameter: np.ndarray, valid: np.ndarray,
                    options: QcaOptions = DEFAULT_OPTIONS,
                    exclude: np.ndarray | None = None) -> ProfileAnalysis:
    """MLD, interpolated reference, RVD and lesion of one smoothed diameter profile.

    ``distance`` (N,) arc positions, ``diameter`` (N,) the profile, ``valid`` (N,) where it may be
    analysed (ends trimmed, finite). Same unit in and out. The lesion is where the profile is
    narrowest relative to its local upper envelope (see the module docstring), outside
    ``exclude`` (N,) (lesions already found; they still count for the envelope and reference).
    """
    reference = np.full(len(distance), np.nan)
    index = np.flatnonzero(valid & np.isfinite(diameter))
    if len(index) < 5:
        return ProfileAnalysis(reference, None, None, None, None, None, "none")
    s, d = distance[index], diameter[index]
    window = 2.0 * options.reference_window_diameters * float(np.median(d))
    size = max(int(window / max(float(np.median(np.diff(s))), 1e-9)), 3) if len(s) > 1 else 3
    envelope = ndimage.percentile_filter(d, 75, size=size, mode="nearest")
    flat = d <= 1.25 * envelope  # bulges at bifurcations are not lumen
    index, s, d, envelope = index[flat], s[flat], d[flat], envelope[flat]
    if len(index) < 5:
        return ProfileAnalysis(reference, None, None, None, None, None, "none")
    ratio_to_envelope = d / np.maximum(envelope, 1e-9)
    if exclude is not None:
        ratio_to_envelope[exclude[index]] = np.inf
        if not np.isfinite(ratio_to_envelope).any():
            return ProfileAnalysis(reference, None, None, None, None, None, "none")
    i_min = int(np.argmin(ratio_to_envelope))
    fit, method, used = _fit_reference(s, d, envelope, i_min, options)
    reference[index] = fit
    healthy = np.zeros(len(distance), bool)
    healthy[index[used]] = True
    limit = 1.0 - options.lesion_threshold
    lo, hi = _run_around(d < limit * fit, i_min) if d[i_min] < limit * fit[i_min] else (i_min,
                                                                                         i_min)
    i_min = lo + int(np.argmin(d[lo:hi + 1]))
    mld = float(d[i_min])
    if method == "none" or fit[i_min] <= 0:
        return ProfileAnalysis(reference, mld, int(index[i_min]), None, None, None, "none")
    rvd = float(fit[i_min])
    ratio = d / fit
    start = end = None
    if ratio[i_min] < limit:
        start = _crossing(s, ratio, i_min, -1, limit)
        end = _crossing(s, ratio, i_min, +1, limit)
    return ProfileAnalysis(reference, mld, int(index[i_min]), rvd, start, end, method, healthy)


def _zone(lesion: ProfileAnalysis, distance: np.ndarray) -> tuple[float, float]:
    """(start, end) arc positions a lesion claims: its stretch ± half its RVD, or ± one RVD
    around a point MLD."""
    if lesion.lesion_start is not None:
        return lesion.lesion_start - 0.5 * lesion.rvd, lesion.lesion_end + 0.5 * lesion.rvd
    centre = float(distance[lesion.mld_index])
    return centre - lesion.rvd, centre + lesion.rvd


def analyze_lesions(distance: np.ndarray, diameter: np.ndarray, valid: np.ndarray,
                    options: QcaOptions = DEFAULT_OPTIONS) -> tuple[ProfileAnalysis, ...]:
    """Up to ``max_lesions`` lesions of one profile, the narrowest (relative to the envelope)
    first: after each, its stretch (± half its RVD, or ± one RVD around a point MLD) is excluded
    and the next narrowing of at least ``min_stenosis_percent`` %DS is sought. The first is
    always returned, even when it is no stenosis (it carries the segment's MLD)."""
    found = [analyze_profile(distance, diameter, valid, options)]
    exclude = np.zeros(len(distance), bool)
    while len(found) < options.max_lesions:
        last = found[-1]
        if last.mld_index is None or last.rvd is None:
            break
        lo, hi = _zone(last, distance)
        exclude |= (distance >= lo) & (distance <= hi)
        candidate = analyze_profile(distance, diameter, valid, options, exclude)
        severity = candidate.percent_diameter_stenosis
        if severity is None or severity < options.min_stenosis_percent:
            break
        found.append(candidate)
    return tuple(found)


@dataclass(frozen=True, eq=False)
class SegmentMeasures:
    """One analysis segment (a vessel: centerline segments linked through ``n_bifurcations``
    side-branch origins) of one frame. Lengths in ``unit`` ("mm" or "px"); positions from the
    segment start (its wider end, taken as proximal); arrays sampled along the centerline."""

    segment_id: int
    segment_label: str
    frame: int
    unit: str
    n_bifurcations: int
    length: float
    mean_diameter: float | None
    mld: float | None
    mld_position: float | None
    rvd: float | None
    percent_diameter_stenosis: float | None
    percent_area_stenosis: float | None
    lesion_length: float | None
    lesion_start: float | None
    lesion_end: float | None
    tortuosity: float
    reference_method: str
    mld_method: str
    edge_mld: float | None
    start_is_junction: bool
    end_is_junction: bool
    distance: np.ndarray  # (N,) arc position
    diameter: np.ndarray  # (N,) smoothed (edge) diameter, NaN where not measurable
    reference_diameter: np.ndarray  # (N,) interpolated reference, NaN outside the analysed part
    densitometric_diameter: np.ndarray  # (N,) about each densitometric lesion, NaN elsewhere
    points_rc: np.ndarray  # (N, 2) centerline in pixels
    # every lesion found, the one above first; not exported (the stenosis list carries them)
    lesions: tuple[ProfileAnalysis, ...] = field(default=(), metadata={"export": False})

    @property
    def has_reference(self) -> bool:
        return self.rvd is not None

    @property
    def mld_rc(self) -> tuple[float, float] | None:
        """(row, col) pixel of the MLD."""
        if self.mld_position is None:
            return None
        i = int(np.argmin(np.abs(self.distance - self.mld_position)))
        return float(self.points_rc[i, 0]), float(self.points_rc[i, 1])


@dataclass(frozen=True)
class Stenosis:
    """A listed lesion (QCA vocabulary). Lengths in ``unit``; ``mld_position`` from the segment
    start; ``position_rc`` the MLD's (row, col) pixel in ``frame``; ``mld`` measured as
    ``mld_method`` says, ``edge_mld`` the segmentation edges' (the same when that is "edge")."""

    segment_id: int
    segment_label: str
    frame: int
    percent_diameter_stenosis: float
    percent_area_stenosis: float
    mld: float
    rvd: float
    lesion_length: float | None
    mld_position: float
    position_rc: tuple[float, float]
    reference_method: str
    mld_method: str
    edge_mld: float
    unit: str


def _diameter_profile(probability, centerline, scale, options) -> np.ndarray:
    """Smoothed diameter (unit) along ``centerline`` measured on ``probability``."""
    mask = probability >= options.level
    radius = ndimage.distance_transform_edt(mask)
    r, c = np.clip(np.round(centerline.points_rc).astype(int), 0,
                   np.array(mask.shape) - 1).T
    half_width = 2.5 * float(radius[r, c].max()) + 3.0
    offsets, values = sample_profiles(probability, centerline.points_rc, centerline.normals_rc,
                                      half_width)
    widths = profile_widths(offsets, values, options.diameter_method, options.level)
    # a lumen (± half its width + 1 px) that runs off the image: a vessel cut by the frame edge
    # would read as a narrowing
    widths[leaves_image(centerline.points_rc, centerline.normals_rc,
                        0.5 * np.nan_to_num(widths) + 1.0, probability.shape)] = np.nan
    step = float(centerline.arc_px[1] - centerline.arc_px[0])
    sigma = options.profile_sigma_mm / scale / step
    finite = np.isfinite(widths)
    if sigma > 0 and finite.sum() > 1:
        filled = np.interp(np.arange(len(widths)), np.flatnonzero(finite), widths[finite])
        widths = np.where(finite, ndimage.gaussian_filter1d(filled, sigma, mode="nearest"), np.nan)
    return widths * scale


def _median(values: np.ndarray) -> float:
    """Median of the finite values (−inf when there are none)."""
    finite = values[np.isfinite(values)]
    return float(np.median(finite)) if len(finite) else -np.inf


def _densitometric(lesion: ProfileAnalysis, image: np.ndarray, mask: np.ndarray,
                   centerline: CenterlineSegment, distance: np.ndarray, diameter: np.ndarray,
                   scale: float, options: QcaOptions) -> ProfileAnalysis:
    """``lesion`` with its MLD read from ``image`` (see :mod:`.densitometry`), or unchanged when
    it has no reference or the calibration on its healthy stretch fails."""
    if lesion.rvd is None or lesion.mld_index is None or lesion.healthy is None:
        return lesion
    step = float(distance[1] - distance[0])
    area = area_profile(image, centerline.points_rc, centerline.normals_rc,
                        diameter / scale / 2.0, lesion.reference / scale / 2.0,
                        options.densitometry_background_mm / step, mask)
    healthy_px = (lesion.reference / scale)[lesion.healthy & np.isfinite(lesion.reference)]
    min_area = depth_floor(image) * float(np.median(healthy_px)) if len(healthy_px) else 0.0
    k = calibrate(area, lesion.reference, lesion.healthy, min_area)
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
    return replace(lesion, mld=float(dens[i]), mld_index=i, rvd=float(lesion.reference[i]),
                   mld_method="densitometric", edge_mld=lesion.mld,
                   densitometric_diameter=np.where(near, dens, np.nan))


def _distinct(lesions: tuple[ProfileAnalysis, ...], distance: np.ndarray
              ) -> tuple[ProfileAnalysis, ...]:
    """``lesions`` less those whose MLD moved into an earlier one's zone (two stretches that
    meet share one narrowing: the densitometric minimum of both can land on it)."""
    kept = list(lesions[:1])
    for lesion in lesions[1:]:
        at = float(distance[lesion.mld_index])
        if not any(lo <= at <= hi for lo, hi in (_zone(k, distance) for k in kept
                                                  if k.rvd is not None)):
            kept.append(lesion)
    return tuple(kept)


def _measure_segment(probability, mask, centerline: CenterlineSegment, frame: int, scale: float,
                     unit: str, options: QcaOptions,
                     image: np.ndarray | None) -> SegmentMeasures:
    diameter = _diameter_profile(probability, centerline, scale, options)
    third = max(len(diameter) // 3, 1)
    if _median(diameter[-third:]) > _median(diameter[:third]):
        centerline, diameter = centerline.reversed(), diameter[::-1].copy()
    distance = centerline.arc_px * scale
    typical = _median(diameter) if np.isfinite(diameter).any() else 0.0
    trim = options.end_trim_diameters * typical
    valid = (distance >= trim) & (distance <= distance[-1] - trim)
    for junction_px in centerline.junction_arc_px:
        valid &= np.abs(distance - junction_px * scale) >= (
            options.junction_trim_diameters * typical)
    lesions = analyze_lesions(distance, diameter, valid, options)
    if image is not None and options.mld_method == "densitometric":
        lesions = _distinct(tuple(_densitometric(lesion, image, mask, centerline, distance,
                                                 diameter, scale, options) for lesion in lesions),
                            distance)
    profile = lesions[0]
    pos = float(distance[profile.mld_index]) if profile.mld_index is not None else None
    return SegmentMeasures(
        segment_id=centerline.index,
        segment_label="",
        frame=frame,
        unit=unit,
        n_bifurcations=len(centerline.junction_arc_px),
        length=float(distance[-1]),
        mean_diameter=float(np.nanmean(diameter[valid])) if np.isfinite(diameter[valid]).any()
        else None,
        mld_position=pos,
        lesion_start=profile.lesion_start,
        lesion_end=profile.lesion_end,
        tortuosity=float(centerline.length_px / max(centerline.chord_px, 1e-9)),
        **profile.measures(),
        start_is_junction=centerline.start_is_junction,
        end_is_junction=centerline.end_is_junction,
        distance=distance,
        diameter=diameter,
        reference_diameter=profile.reference,
        densitometric_diameter=_densitometric_curve(lesions, len(distance)),
        points_rc=centerline.points_rc,
        lesions=lesions,
    )


def _densitometric_curve(lesions: tuple[ProfileAnalysis, ...], n: int) -> np.ndarray:
    """(n,) the densitometric diameter about each lesion that has one (the first lesion's where
    two overlap), NaN elsewhere."""
    curve = np.full(n, np.nan)
    for lesion in lesions:
        if lesion.densitometric_diameter is not None:
            curve = np.where(np.isnan(curve), lesion.densitometric_diameter, curve)
    return curve


def measure_segments(probability: np.ndarray, mask: np.ndarray, scale: float, unit: str,
                     frame: int = 0, options: QcaOptions = DEFAULT_OPTIONS,
                     image: np.ndarray | None = None) -> tuple[SegmentMeasures, ...]:
    """Measures of every analysis segment (vessel) of one frame, widest first, labelled "S1", ...

    ``probability`` (H, W) float in [0, 1] (a mask works too), ``mask`` (H, W) {0, 1}, ``scale``
    the length of one pixel in ``unit`` ("mm", or "px" for an uncalibrated run: see
    :class:`QcaOptions`); ``image`` (H, W) the frame itself, for the densitometric MLD (without
    it the MLD is the edge one).
    """
    probability = np.asarray(probability, np.float32)
    if unit == "px":
        options = options.in_pixels()
    if image is not None:
        image = np.asarray(image, np.float32)
        if image.shape != probability.shape:
            raise InputError(f"image must match the probability map's shape "
                             f"{probability.shape}, found {image.shape}")
    centerlines = link_vessels(
        extract_centerlines(mask, options.spur_factor, options.min_branch_mm / scale), mask
    )
    measured = [_measure_segment(probability, mask, c, frame, scale, unit, options, image)
                for c in centerlines if len(c.arc_px) >= 2]
    measured.sort(key=lambda m: -(m.mean_diameter or 0.0) * m.length ** 0.25)
    return tuple(replace(m, segment_label=f"S{i + 1}") for i, m in enumerate(measured))


def _is_ostial(segment: SegmentMeasures, lesion: ProfileAnalysis) -> bool:
    """Whether a one-sided ``lesion`` lies at a branch's ostium: the segment leaves a bifurcation
    at the side the lesion misses and ends free at the other (a branch's origin is its one
    junction end)."""
    if segment.start_is_junction == segment.end_is_junction:
        return False
    missing_start = lesion.reference_method == "distal only"
    missing_end = lesion.reference_method == "proximal only"
    return ((missing_start and segment.start_is_junction)
            or (missing_end and segment.end_is_junction))


def list_stenoses(segments: tuple[SegmentMeasures, ...], options: QcaOptions = DEFAULT_OPTIONS
                  ) -> tuple[Stenosis, ...]:
    """Lesions (up to ``max_lesions`` per segment) with %DS ≥ ``min_stenosis_percent``, most
    severe first: those with a proximal and a distal reference, and ostial ones (one side only,
    the branch leaving a bifurcation on the other; see :func:`_is_ostial`). Other one-sided
    lesions (at a vessel tip, the frame edge, between two junctions) are measured but not
    listed: there the narrowing cannot be told from taper or a vessel leaving the frame."""
    listed = [
        _stenosis(m, lesion)
        for m in segments
        for lesion in m.lesions
        if (lesion.reference_method == INTERPOLATED or _is_ostial(m, lesion))
        and lesion.percent_diameter_stenosis is not None
        and lesion.percent_diameter_stenosis >= options.min_stenosis_percent
    ]
    return tuple(sorted(listed, key=lambda s: -s.percent_diameter_stenosis))


def _stenosis(segment: SegmentMeasures, lesion: ProfileAnalysis) -> Stenosis:
    """The listed form of one ``lesion`` of ``segment``."""
    i = lesion.mld_index
    return Stenosis(
        segment_id=segment.segment_id,
        segment_label=segment.segment_label,
        frame=segment.frame,
        mld_position=float(segment.distance[i]),
        position_rc=(float(segment.points_rc[i, 0]), float(segment.points_rc[i, 1])),
        unit=segment.unit,
        **lesion.measures(),
    )
