"""Which lesions are stenoses: the listing rules, and the stenosis list of a frame.

A lesion is listed when %DS ≥ ``min_stenosis_percent`` and its reference is interpolated, or
one-sided because a bifurcation ends the segment on the other side (an ostial lesion,
:func:`is_ostial`); its reference diameter (RVD) is at least ``min_rvd_mm`` (no lesion is
graded on a distal twig); the vessel's healthy stretch stands out of the background noise by
``min_vessel_snr`` (:func:`vessel_snr`); the narrowing (RVD − MLD) is at least
:data:`MIN_NARROWING_SNR` × the diameter profile's own noise (:func:`stands_out`); and an ostial
lesion's segmentation and the lumen's contrast narrow with it (:func:`segmentation_narrows`,
:func:`contrast_narrows`), as must a two-sided lesion's contrast near a junction
(:func:`junction_contrast_narrows`). The decision
is made once, when a segment is measured (``ProfileAnalysis.listed``); every output (console,
tables, plots, SR) shows the lesions :func:`list_stenoses` gives.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import median_abs_deviation

from AngioSegLib.qca.centerline import CenterlineSegment
from AngioSegLib.qca.lumen_edges import LumenBorders
from AngioSegLib.qca.options import DEFAULT_OPTIONS, QcaOptions
from AngioSegLib.qca.profile_analysis import INTERPOLATED, ProfileAnalysis
from AngioSegLib.qca.results import SegmentMeasures, Stenosis
from AngioSegLib.qca.segment_profile import near_junction

__all__ = ["JUNCTION_REACH_DIAMETERS", "MIN_NARROWING_SNR", "MIN_NOISE_SAMPLES", "OSTIAL_LUMEN_SNR",
           "OSTIAL_NARROWING_SHARE", "contrast_narrows", "is_listable", "is_ostial",
           "junction_contrast_narrows", "list_stenoses", "segmentation_narrows", "stands_out",
           "vessel_snr"]

MIN_NARROWING_SNR = 4.0  # a listed lesion's RVD − MLD over the diameter profile's noise SD
MIN_NOISE_SAMPLES = 5  # healthy cross-sections needed to estimate that noise (else: listed)
# An ostial lesion's segmentation radius at the MLD is at most 1 − OSTIAL_NARROWING_SHARE × %DS/100
# of its radius over the healthy stretch: on real angiograms most one-sided lesions at a branch's
# origin were the borders locking onto the parent or a crossing where the segmentation ran wide.
OSTIAL_NARROWING_SHARE = 0.25
# An ostial lesion's lumen stays visible at the MLD: its centre depth at least OSTIAL_LUMEN_SNR
# background noise SDs. Without a proximal reference an ostium whose lumen vanished cannot be
# told from a segmentation bridge across the background between two vessels (on real
# angiograms nearly every one-sided lesion of ≥ 80 %DS was such a bridge).
OSTIAL_LUMEN_SNR = 3.0
# A two-sided lesion whose MLD lies within JUNCTION_REACH_DIAMETERS healthy segmentation diameters
# of a junction must narrow the lumen's contrast as an ostial one does (:func:`_narrows_with`): on
# real angiograms most two-sided lesions listed at a bifurcation or crossing were borders locking
# onto the other vessel, where the lumen between them keeps (or exceeds) its healthy depth.
JUNCTION_REACH_DIAMETERS = 2.0


def is_ostial(start_is_junction: bool, end_is_junction: bool, lesion: ProfileAnalysis) -> bool:
    """Whether a one-sided ``lesion`` lies at a branch's ostium: the segment leaves a bifurcation
    at the side the lesion misses and ends free at the other (a branch's origin is its one
    junction end)."""
    if start_is_junction == end_is_junction:
        return False
    missing_start = lesion.reference_method == "distal only"
    missing_end = lesion.reference_method == "proximal only"
    return (missing_start and start_is_junction) or (missing_end and end_is_junction)


def stands_out(lesion: ProfileAnalysis, diameter: np.ndarray) -> bool:
    """Whether the narrowing (RVD − MLD) exceeds ``MIN_NARROWING_SNR`` × the profile's own noise
    (robust SD of D − R over the healthy stretch the reference was fitted to); ``diameter`` (N,)
    in the lesion's unit."""
    if lesion.healthy is None or lesion.rvd is None or lesion.mld is None:
        return True
    residual = (diameter - lesion.reference)[lesion.healthy & np.isfinite(diameter)]
    if len(residual) < MIN_NOISE_SAMPLES:
        return True
    noise = float(median_abs_deviation(residual, scale="normal"))
    return lesion.rvd - lesion.mld >= MIN_NARROWING_SNR * noise


def vessel_snr(borders: LumenBorders | None, healthy: np.ndarray | None) -> float | None:
    """Median centre depth over the ``healthy`` (N,) stretch, in background noise SDs (None
    without borders detected on the frame)."""
    if borders is None or healthy is None or not healthy.any():
        return None
    return float(np.median(borders.depth[healthy]) / borders.noise)


def _narrows_with(lesion: ProfileAnalysis, profile: np.ndarray) -> bool:
    """Whether ``profile`` (N,) at the lesion's MLD is at most ``1 − OSTIAL_NARROWING_SHARE ×
    %DS/100`` of its median over the healthy stretch (True where either is unknown or that
    median is not positive)."""
    severity = lesion.percent_diameter_stenosis
    if lesion.mld_index is None or lesion.healthy is None or not lesion.healthy.any() \
            or severity is None:
        return True
    healthy = float(np.median(profile[lesion.healthy]))
    if healthy <= 0:
        return True
    return float(profile[lesion.mld_index]) <= (
        1.0 - OSTIAL_NARROWING_SHARE * severity / 100.0) * healthy


def segmentation_narrows(lesion: ProfileAnalysis, rough_radius_px: np.ndarray) -> bool:
    """Whether the segmentation's radius (``rough_radius_px`` (N,), px) narrows with the lesion
    (:func:`_narrows_with`)."""
    return _narrows_with(lesion, rough_radius_px)


def contrast_narrows(lesion: ProfileAnalysis, borders: LumenBorders | None) -> bool:
    """Whether the lumen's centre depth at the lesion's MLD is visible (≥ ``OSTIAL_LUMEN_SNR`` ×
    the background noise) and narrows with the lesion (:func:`_narrows_with`): a narrowed round
    lumen is shallower by its diameter's ratio, while a border that locks onto the parent vessel
    at a branch's origin narrows at full depth (True without borders detected on the frame)."""
    if borders is None or lesion.mld_index is None:
        return True
    visible = borders.depth[lesion.mld_index] >= OSTIAL_LUMEN_SNR * borders.noise
    return bool(visible) and _narrows_with(lesion, borders.depth)


def junction_contrast_narrows(lesion: ProfileAnalysis, centerline: CenterlineSegment,
                              rough_radius_px: np.ndarray, borders: LumenBorders | None) -> bool:
    """Whether a lesion away from junctions, or at one with the lumen's contrast narrowing with
    it, may be listed: its MLD more than ``JUNCTION_REACH_DIAMETERS`` healthy segmentation
    diameters (``rough_radius_px`` (N,), px) from a junction of ``centerline``, or the lumen's
    centre depth there narrowing with the lesion (True without borders detected)."""
    if borders is None or lesion.mld_index is None or lesion.healthy is None \
            or not lesion.healthy.any():
        return True
    reach = JUNCTION_REACH_DIAMETERS * 2.0 * float(np.median(rough_radius_px[lesion.healthy]))
    at_junction = near_junction(centerline, np.full(len(rough_radius_px), reach))
    return not at_junction[lesion.mld_index] or _narrows_with(lesion, borders.depth)


def is_listable(lesion: ProfileAnalysis, centerline: CenterlineSegment, options: QcaOptions,
                on_vessel: bool, diameter: np.ndarray, rough_radius_px: np.ndarray,
                borders: LumenBorders | None) -> bool:
    """Whether the stenosis list holds ``lesion`` (see the module docstring);
    ``rough_radius_px`` (N,) the segmentation's radius along the centerline, ``borders`` the
    lumen borders detected on the frame along it (None without)."""
    severity = lesion.percent_diameter_stenosis
    return (on_vessel and severity is not None and severity >= options.min_stenosis_percent
            and lesion.rvd is not None and lesion.rvd >= options.min_rvd_mm
            and stands_out(lesion, diameter)
            and ((lesion.reference_method == INTERPOLATED
                  and junction_contrast_narrows(lesion, centerline, rough_radius_px, borders))
                 or (is_ostial(centerline.start_is_junction, centerline.end_is_junction, lesion)
                     and segmentation_narrows(lesion, rough_radius_px)
                     and contrast_narrows(lesion, borders))))


def list_stenoses(segments: tuple[SegmentMeasures, ...], options: QcaOptions = DEFAULT_OPTIONS
                  ) -> tuple[Stenosis, ...]:
    """Lesions (up to ``max_lesions`` per segment) with %DS ≥ ``min_stenosis_percent``, most
    severe first: those with a proximal and a distal reference, and ostial ones (one side only,
    the branch leaving a bifurcation on the other; see :func:`is_ostial`), on a vessel that
    stands out of the background (``min_vessel_snr``). Other one-sided lesions (at a vessel tip,
    the frame edge, between two junctions) are measured but not listed: there the narrowing
    cannot be told from taper or a vessel leaving the frame. The segments' lesions carry the
    decision (``listed``, made with the options they were measured with); ``options`` may only
    raise ``min_stenosis_percent``."""
    listed = [
        _stenosis(m, lesion)
        for m in segments
        for lesion in m.listed_lesions
        if lesion.percent_diameter_stenosis >= options.min_stenosis_percent
    ]
    return tuple(sorted(listed, key=lambda s: -s.percent_diameter_stenosis))


def _stenosis(segment: SegmentMeasures, lesion: ProfileAnalysis) -> Stenosis:
    """The listed form of one ``lesion`` of ``segment``."""
    i = lesion.mld_index
    through = bool(segment.bridged[i]) if segment.bridged is not None else False
    if segment.bridged is not None and lesion.lesion_start is not None:
        stretch = (segment.distance >= lesion.lesion_start) & (
            segment.distance <= lesion.lesion_end)
        through = through or bool(segment.bridged[stretch].any())
    return Stenosis(
        segment_id=segment.segment_id,
        segment_label=segment.segment_label,
        frame=segment.frame,
        mld_position=float(segment.distance[i]),
        position_rc=(float(segment.points_rc[i, 0]), float(segment.points_rc[i, 1])),
        unit=segment.unit,
        **lesion.measures(),
        border_method=segment.border_method,
        through_bridge=through,
    )
