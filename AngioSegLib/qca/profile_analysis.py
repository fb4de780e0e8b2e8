"""One diameter profile's lesions: MLD, interpolated reference, RVD, %DS and lesion length.

See :mod:`.analysis` for the method (the rules are stated there, with the vocabulary of CAAS QCA and
QAngio XA); this module holds the 1-D analysis of a profile ``D(s)``, whatever measured it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from AngioSegLib.choices import Choice
from AngioSegLib.qca.options import DEFAULT_OPTIONS, QcaOptions

__all__ = ["BULGE_LIMIT", "CANDIDATES_PER_LESION", "FLARE_LIMIT", "INTERPOLATED",
           "LESION_MARGIN_RVD", "MIN_PROFILE_SAMPLES", "POINT_ZONE_RVD",
           "REFERENCE_FIT_ITERATIONS", "TAPER_SPAN_FACTOR",
           "UPPER_LEVEL_PERCENTILE", "ZONE_MARGIN_RVD", "ProfileAnalysis", "ReferenceMethod",
           "analyze_lesions", "analyze_profile", "zone"]

# The local upper level of a profile: its running UPPER_LEVEL_PERCENTILE (%) over
# 2 · reference_window_diameters median diameters; samples above FLARE_LIMIT × it are a
# bifurcation's flare, not lumen, and are left out.
UPPER_LEVEL_PERCENTILE = 75
FLARE_LIMIT = 1.25
MIN_PROFILE_SAMPLES = 5  # valid samples a profile needs to be analysed
# The reference line is fitted REFERENCE_FIT_ITERATIONS times, each time leaving out the lesion
# (widened by LESION_MARGIN_RVD × RVD each side) and bulges above BULGE_LIMIT × the reference.
REFERENCE_FIT_ITERATIONS = 3
LESION_MARGIN_RVD = 0.5
BULGE_LIMIT = 1.2
# A one-sided reference follows its side's taper (a line) when that side spans at least
# TAPER_SPAN_FACTOR × min_reference_diameters × RVD; a shorter side gives its median.
TAPER_SPAN_FACTOR = 3.0
# The zone a lesion claims (no second lesion is sought in it): its stretch ± ZONE_MARGIN_RVD × RVD,
# or ± POINT_ZONE_RVD × RVD around a point MLD (a lesion without a stretch).
ZONE_MARGIN_RVD = 0.5
POINT_ZONE_RVD = 1.0
CANDIDATES_PER_LESION = 3  # narrowings examined per lesion sought (some have no reference)


class ReferenceMethod(Choice):
    """Which healthy stretches a lesion's reference diameter was fitted to."""

    INTERPOLATED = "interpolated (proximal and distal)"
    PROXIMAL_ONLY = "proximal only"
    DISTAL_ONLY = "distal only"
    NONE = "none"  # no healthy stretch long enough: no reference, no lesion


INTERPOLATED = ReferenceMethod.INTERPOLATED


@dataclass(frozen=True, eq=False)
class ProfileAnalysis:
    """Result of :func:`analyze_profile`. ``mld``, ``rvd``, ``edge_mld``, ``densitometric_mld``,
    ``lesion_start`` / ``lesion_end`` (arc positions) and the (N,) arrays are in the profile's
    unit (mm, or px on an uncalibrated run); %DS and %AS in % (0–100); None where undefined;
    ``mld_index`` indexes the profile's samples."""

    reference: np.ndarray  # (N,) interpolated reference diameter, NaN outside the analysed part
    mld: float | None
    mld_index: int | None
    rvd: float | None
    lesion_start: float | None
    lesion_end: float | None
    reference_method: ReferenceMethod
    healthy: np.ndarray | None = None  # (N,) bool: the stretch the reference was fitted to
    mld_method: str = "edge"
    edge_mld: float | None = None  # the border (edge) MLD when ``mld`` is densitometric
    densitometric_diameter: np.ndarray | None = None  # (N,) about the lesion, NaN elsewhere
    densitometric_mld: float | None = None  # the second MLD, from the image's contrast
    listed: bool = False  # whether the stenosis list holds it (see qca.list_stenoses)

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
                "edge_mld": self.mld if self.edge_mld is None else self.edge_mld,
                "densitometric_mld": self.densitometric_mld}


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


def _upper_level(d: np.ndarray, size: int) -> np.ndarray:
    """Running ``UPPER_LEVEL_PERCENTILE`` of ``d`` over ``size`` samples, each end padded with
    its last sample (as ``mode="nearest"``) unless that sample is a flare (over
    ``FLARE_LIMIT`` × the median of its half window: a bifurcation, the frame edge), then with
    that median: a flare repeated would fill half the window and hide a lesion near it."""
    half = max(size // 2, 1)

    def pad(end: float, window: np.ndarray) -> np.ndarray:
        median = float(np.median(window))
        return np.full(half, median if end > FLARE_LIMIT * median else end)

    padded = np.concatenate([pad(float(d[0]), d[:half]), d, pad(float(d[-1]), d[-half:])])
    level = ndimage.percentile_filter(padded, UPPER_LEVEL_PERCENTILE, size=size, mode="nearest")
    return level[half:half + len(d)]


def _fit_reference(s, d, envelope, i_min, options
                   ) -> tuple[np.ndarray, ReferenceMethod, np.ndarray]:
    """(reference at s, method, the healthy samples it was fitted to) around the lesion at
    ``i_min``, starting from the local upper level ``envelope`` — see the module docstring."""
    reference, method, used = envelope, ReferenceMethod.NONE, np.zeros(len(s), bool)
    for _ in range(REFERENCE_FIT_ITERATIONS):
        narrow = d < (1.0 - options.lesion_threshold / 2.0) * reference
        narrow[i_min] = True
        lo, hi = _run_around(narrow, i_min)
        rvd = max(float(reference[i_min]), 1e-9)
        margin = LESION_MARGIN_RVD * rvd
        window = options.reference_window_diameters * rvd
        near = (s >= s[lo] - margin - window) & (s <= s[hi] + margin + window)
        lesion = (s >= s[lo] - margin) & (s <= s[hi] + margin)
        healthy = near & ~lesion & (d <= BULGE_LIMIT * reference)
        proximal, distal = healthy & (s < s[i_min]), healthy & (s > s[i_min])
        need = options.min_reference_diameters * rvd
        span = [np.ptp(s[side]) if side.sum() > 1 else 0.0 for side in (proximal, distal)]
        if min(span) >= need:
            slope, intercept = np.polyfit(s[healthy], d[healthy], 1)
            reference, method, used = intercept + slope * s, INTERPOLATED, healthy
        elif max(span) >= need:
            side = proximal if span[0] >= span[1] else distal
            method = (ReferenceMethod.PROXIMAL_ONLY if side is proximal
                      else ReferenceMethod.DISTAL_ONLY)
            used = side
            if max(span) >= TAPER_SPAN_FACTOR * need:  # long enough to follow its taper
                slope, intercept = np.polyfit(s[side], d[side], 1)
                reference = intercept + slope * s
            else:
                reference = np.full(len(s), float(np.median(d[side])))
        else:
            return reference, ReferenceMethod.NONE, used
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
    if len(index) < MIN_PROFILE_SAMPLES:
        return ProfileAnalysis(reference, None, None, None, None, None, ReferenceMethod.NONE)
    s, d = distance[index], diameter[index]
    window = 2.0 * options.reference_window_diameters * float(np.median(d))
    size = max(int(window / max(float(np.median(np.diff(s))), 1e-9)), 3) if len(s) > 1 else 3
    envelope = _upper_level(d, size)
    flat = d <= FLARE_LIMIT * envelope  # bulges at bifurcations are not lumen
    index, s, d, envelope = index[flat], s[flat], d[flat], envelope[flat]
    if len(index) < MIN_PROFILE_SAMPLES:
        return ProfileAnalysis(reference, None, None, None, None, None, ReferenceMethod.NONE)
    ratio_to_envelope = d / np.maximum(envelope, 1e-9)
    if exclude is not None:
        ratio_to_envelope[exclude[index]] = np.inf
        if not np.isfinite(ratio_to_envelope).any():
            return ProfileAnalysis(reference, None, None, None, None, None, ReferenceMethod.NONE)
    i_min = int(np.argmin(ratio_to_envelope))
    fit, method, used = _fit_reference(s, d, envelope, i_min, options)
    reference[index] = fit
    healthy = np.zeros(len(distance), bool)
    healthy[index[used]] = True
    limit = 1.0 - options.lesion_threshold
    # the lesion ends, at the latest, on the healthy samples its reference was fitted to: a
    # one-sided taper line, extrapolated, must not make the whole vessel one lesion
    ratio = d / np.where(fit > 0, fit, np.inf)
    ratio[used] = np.maximum(ratio[used], limit)
    lo, hi = _run_around(ratio < limit, i_min) if ratio[i_min] < limit else (i_min, i_min)
    i_min = lo + int(np.argmin(d[lo:hi + 1]))
    mld = float(d[i_min])
    if method is ReferenceMethod.NONE or fit[i_min] <= 0:
        return ProfileAnalysis(reference, mld, int(index[i_min]), None, None, None,
                               ReferenceMethod.NONE)
    rvd = float(fit[i_min])
    start = end = None
    if ratio[i_min] < limit:
        start = _crossing(s, ratio, i_min, -1, limit)
        end = _crossing(s, ratio, i_min, +1, limit)
    return ProfileAnalysis(reference, mld, int(index[i_min]), rvd, start, end, method, healthy)


def zone(lesion: ProfileAnalysis, distance: np.ndarray) -> tuple[float, float]:
    """(start, end) arc positions a lesion claims: its stretch ± ``ZONE_MARGIN_RVD`` × its RVD,
    or ± ``POINT_ZONE_RVD`` × RVD around a point MLD."""
    if lesion.lesion_start is not None:
        margin = ZONE_MARGIN_RVD * lesion.rvd
        return lesion.lesion_start - margin, lesion.lesion_end + margin
    centre = float(distance[lesion.mld_index])
    return centre - POINT_ZONE_RVD * lesion.rvd, centre + POINT_ZONE_RVD * lesion.rvd


def analyze_lesions(distance: np.ndarray, diameter: np.ndarray, valid: np.ndarray,
                    options: QcaOptions = DEFAULT_OPTIONS) -> tuple[ProfileAnalysis, ...]:
    """Up to ``max_lesions`` lesions of one profile, the narrowest (relative to the envelope)
    first: after each, its zone (:func:`zone`) is excluded and the next narrowing of at least
    ``min_stenosis_percent`` %DS is sought, until a milder one with a reference on both sides
    turns up. A narrowing that cannot be a stenosis — no reference on both sides, or a
    reference under ``min_rvd_mm`` (a vessel's tip, where the profile fades to nothing and its
    reference with it) — is passed over: ± ``POINT_ZONE_RVD`` median diameters about it are
    excluded and the search goes on, over at most ``CANDIDATES_PER_LESION`` × ``max_lesions``
    narrowings. The first is always returned, even when it is no stenosis (it carries the
    segment's MLD)."""
    found = [analyze_profile(distance, diameter, valid, options)]
    exclude = np.zeros(len(distance), bool)
    finite = np.isfinite(diameter) & valid
    typical = float(np.median(diameter[finite])) if finite.any() else 0.0
    last, passed_over = found[0], False
    for _ in range(CANDIDATES_PER_LESION * options.max_lesions):
        if len(found) >= options.max_lesions or last.mld_index is None:
            break
        if passed_over or last.rvd is None:
            centre = float(distance[last.mld_index])
            exclude |= np.abs(distance - centre) <= POINT_ZONE_RVD * typical
        if last.rvd is not None:
            lo, hi = zone(last, distance)
            exclude |= (distance >= lo) & (distance <= hi)
        last = analyze_profile(distance, diameter, valid, options, exclude)
        severity = last.percent_diameter_stenosis
        gradable = severity is not None and last.rvd >= options.min_rvd_mm
        passed_over = False
        if gradable and severity >= options.min_stenosis_percent:
            found.append(last)
        elif gradable and last.reference_method is INTERPOLATED:
            break  # a mild narrowing between healthy stretches: the rest are milder still
        else:
            passed_over = True  # a tip or a stub: look further
    return tuple(found)
