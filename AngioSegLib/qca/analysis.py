"""QCA of one frame: per-segment diameter profiles, MLD, interpolated reference, %DS, lesion length.

Vocabulary as in CAAS QCA / QAngio XA. For each centerline segment (see :mod:`.centerline`):

* where the segmentation broke at a tight lesion, the break is first bridged along a minimum-cost
  path on the image (:mod:`.lesion_path`, ``bridge_gaps``), so a segment runs through every lesion;
  a user's ``segment_points`` replace the segments by one traced between them;
* the diameter profile ``D(s)`` (``s`` arc length from the segment start; :mod:`.segment_profile`)
  is measured between the lumen borders detected on the frame (:mod:`.lumen_edges`,
  ``border_method="image"``, the default: sub-pixel, weighted first and second derivative,
  minimum-cost border path along the straightened vessel; 0 where the lumen vanished), or without
  the frame on the probability map (:func:`.diameter.profile_widths` across ±
  ``PROFILE_HALF_WIDTH_RADII`` × the largest radius + ``PROFILE_HALF_WIDTH_MARGIN_PX``,
  ``border_method="probability"``), and smoothed along ``s`` with a Gaussian of
  ``profile_sigma_mm``; the segment is oriented so that it starts at its wider end (the median
  diameter of its first and last ``1/ORIENTATION_PARTS`` compared; taken as proximal); excluded, as
  not a lumen cross-section: ``end_trim_diameters`` × the median diameter at both ends
  (bifurcation, vessel tip), and at an end in a bifurcation at least the parent vessel's radius
  there (the centerline runs that far inside the parent), ``junction_trim_diameters`` × it about
  each side-branch origin the segment crosses (0 by default: a lesion at a side-branch origin
  stays measurable), bulges above ``FLARE_LIMIT`` × the local upper level (the bifurcation's
  flare) and, with ``exclude_overlap``, cross-sections where another vessel crosses or overlaps
  (:mod:`.overlap`; listed as ``overlap_stretches``);
* MLD = min D within the lesion, at ``mld_position`` (from the segment start);
* the lesion is where D is narrowest relative to its local upper level (running
  ``UPPER_LEVEL_PERCENTILE`` percentile over ``2 · reference_window_diameters`` median diameters),
  so neither a vessel's taper, nor the step down at a side-branch origin, nor a bulge at a
  bifurcation makes a lesion (:mod:`.profile_analysis`);
* the *interpolated reference* ``R(s)``: a least-squares line through the healthy profile within
  ``reference_window_diameters`` × RVD of the lesion, fitted ``REFERENCE_FIT_ITERATIONS`` times
  (starting from the local upper level), each time excluding the lesion (``D < (1 − t/2)·R`` around
  it, ``t`` = ``lesion_threshold``, widened by ``LESION_MARGIN_RVD`` × RVD each side) and bulges
  (``D > BULGE_LIMIT·R``, side-branch origins). With healthy vessel on only one side the reference
  is that side's line (when it spans ≥ ``TAPER_SPAN_FACTOR`` × the needed length) or median
  (``reference_method`` says which side);
* RVD = R(mld_position); %DS = (1 − MLD/RVD)·100; %AS = (1 − (MLD/RVD)²)·100;
* the densitometric MLD (:mod:`.densitometric_mld`), where the file's Pixel Intensity Relationship
  makes densitometry valid (``LOG``, ``LIN`` after the log), is measured beside the border MLD; with
  ``mld_method="densitometric"`` (the default) it is the MLD there, and the border MLD elsewhere
  (``mld_method`` of each lesion says which). Chosen on ``benchmarks/bench_qca_classes.py``: on LOG
  and LIN files of the second phantom set the densitometric MLD has the smaller spread (%DS SD 8 vs
  9 points) and far fewer false lesions (a noise dip of the borders is re-read by the contrast),
  and it does not depend on how the borders of a lumen of a few pixels are blurred;
* lesion length: the stretch around the MLD where ``D < (1 − t)·R`` (t = ``lesion_threshold``,
  0.2: narrower than 80 % of the reference), edges interpolated between samples. For a
  raised-cosine narrowing of length L and fraction p this is ``L·acos(2t/p − 1)/π`` (0.56 L at
  50 %, 0.64 L at 70 %);
* tortuosity = arc length / chord.

A segment has a reference when at least ``min_reference_diameters`` × RVD of healthy vessel lies on
one side of the lesion; stenoses are listed (:mod:`.stenosis_list`) when %DS ≥
``min_stenosis_percent`` and the reference is interpolated, or one-sided because a bifurcation ends
the segment on the other side (an ostial lesion; see :func:`list_stenoses`), and, with the frame at
hand, the vessel's healthy stretch stands out of the background noise by ``min_vessel_snr`` (a
lesion lies on a vessel, not on background anatomy), and the narrowing (RVD − MLD) is at least
``MIN_NARROWING_SNR`` × the diameter profile's noise on the healthy stretch (not a noise dip). A
long segment may hold several lesions: :func:`analyze_lesions` looks for up to ``max_lesions``,
each outside the zone (its stretch ± ``ZONE_MARGIN_RVD`` × RVD) of those already found; the
segment's own MLD, RVD and %DS are the first *listed* one's (else the first's), so that tables,
plots and the stenosis list show the same numbers. Segments are returned widest first (mean
diameter × length^``WIDTH_ORDER_EXPONENT``). The results (:mod:`.results`) carry their unit
(:mod:`.units`).

Names in capitals are module constants: ``PROFILE_HALF_WIDTH_*`` of :mod:`.segment_profile`,
``FLARE_LIMIT``, ``UPPER_LEVEL_PERCENTILE``, ``REFERENCE_FIT_ITERATIONS``, ``LESION_MARGIN_RVD``,
``BULGE_LIMIT``, ``TAPER_SPAN_FACTOR`` and ``ZONE_MARGIN_RVD`` of :mod:`.profile_analysis`,
``MIN_NARROWING_SNR`` of :mod:`.stenosis_list`, the others of this module; names in lower case
are :class:`QcaOptions` fields.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from scipy import ndimage

from AngioSegLib.errors import InputError
from AngioSegLib.qca.centerline import (
    CenterlineSegment,
    extract_centerlines,
    link_vessels,
    smooth_path,
)
from AngioSegLib.qca.densitometric_mld import (
    densitometric_curve,
    densitometric_lesion,
    distinct_lesions,
)
from AngioSegLib.qca.lesion_path import bridge_gaps, trace_between
from AngioSegLib.qca.lumen_edges import LumenBorders
from AngioSegLib.qca.lumen_model import frame_blur_px
from AngioSegLib.qca.options import BORDER_METHODS, DEFAULT_OPTIONS, MLD_METHODS, QcaOptions
from AngioSegLib.qca.overlap import (
    background_edge_flags,
    crossing_flags,
    depth_jump_flags,
    stretches,
)
from AngioSegLib.qca.profile_analysis import (
    INTERPOLATED,
    ProfileAnalysis,
    analyze_lesions,
    analyze_profile,
)
from AngioSegLib.qca.results import SegmentMeasures, Stenosis
from AngioSegLib.qca.segment_profile import (
    FrameData,
    bridged_points,
    detect_borders,
    image_profile,
    probability_profile,
    rough_radius_px,
)
from AngioSegLib.qca.stenosis_list import MIN_NARROWING_SNR, is_listable, list_stenoses, vessel_snr

__all__ = [
    "BORDER_METHODS",
    "DEFAULT_OPTIONS",
    "INTERPOLATED",
    "MIN_NARROWING_SNR",
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

ORIENTATION_PARTS = 3  # a segment's first and last third are compared to find its wider end
WIDTH_ORDER_EXPONENT = 0.25  # segments are listed by mean diameter × length^this


def _median(values: np.ndarray) -> float:
    """Median of the finite values (−inf when there are none)."""
    finite = values[np.isfinite(values)]
    return float(np.median(finite)) if len(finite) else -np.inf


def _overlap(data: FrameData, centerline: CenterlineSegment, borders: LumenBorders | None,
             typical_px: float) -> np.ndarray:
    """(N,) cross-sections another vessel crosses or overlaps (see :mod:`.overlap`)."""
    flags = crossing_flags(centerline, data.vessels, data.diameter_px)
    if borders is not None:
        step = float(centerline.arc_px[1] - centerline.arc_px[0])
        flags |= depth_jump_flags(borders.depth, step, typical_px, borders.noise)
        if borders.background_step is not None:
            flags |= background_edge_flags(borders.background_step, borders.depth, step,
                                           typical_px, borders.noise)
    return flags


def _measure_segment(data: FrameData, centerline: CenterlineSegment,
                     borders: LumenBorders | None, user_defined: bool = False) -> SegmentMeasures:
    options, scale = data.options, data.scale
    if borders is not None:
        diameter = image_profile(data, centerline, borders)
    else:
        diameter = probability_profile(data.probability, centerline, scale, options)
    third = max(len(diameter) // ORIENTATION_PARTS, 1)
    if not user_defined and _median(diameter[-third:]) > _median(diameter[:third]):
        centerline, diameter = centerline.reversed(), diameter[::-1].copy()
        if borders is not None:
            borders = LumenBorders(borders.right_px[::-1], borders.left_px[::-1],
                                   borders.lumen[::-1], borders.depth[::-1], borders.noise,
                                   borders.fit, None if borders.background_step is None
                                   else -borders.background_step[::-1])
    distance = centerline.arc_px * scale
    typical = _median(diameter) if np.isfinite(diameter).any() else 0.0
    trim = options.end_trim_diameters * typical
    # an end in a bifurcation lies on the parent's axis: the branch's lumen begins a parent
    # radius (the segmentation's radius there) away
    rough = rough_radius_px(data, centerline)
    radius = rough * scale
    start_trim = max(trim, radius[0]) if centerline.start_is_junction else trim
    end_trim = max(trim, radius[-1]) if centerline.end_is_junction else trim
    valid = (distance >= start_trim) & (distance <= distance[-1] - end_trim)
    for junction_px in centerline.junction_arc_px:
        valid &= np.abs(distance - junction_px * scale) >= (
            options.junction_trim_diameters * typical)
    overlap = np.zeros(len(distance), bool)
    if options.exclude_overlap:
        overlap = _overlap(data, centerline, borders, max(typical / scale, 1.0))
        valid &= ~overlap
    lesions = analyze_lesions(distance, diameter, valid, options)
    if data.image is not None and data.densitometry:
        use = options.mld_method == "densitometric"
        # the contrast is summed over the wider of the borders and the segmentation (blur
        # spreads a tight lumen's contrast beyond its borders)
        window = np.fmax(diameter, 2.0 * radius)
        lesions = distinct_lesions(tuple(
            densitometric_lesion(lesion, data.image, data.mask, centerline, distance, window,
                                 scale, options, use) for lesion in lesions), distance)
    snr = vessel_snr(borders, lesions[0].healthy)
    on_vessel = snr is None or snr >= options.min_vessel_snr
    lesions = tuple(replace(lesion, listed=is_listable(lesion, centerline, options, on_vessel,
                                                       diameter, rough, borders))
                    for lesion in lesions)
    lesions = tuple(sorted(lesions, key=lambda lesion: not lesion.listed))  # stable
    profile = lesions[0]
    pos = float(distance[profile.mld_index]) if profile.mld_index is not None else None
    bridged = bridged_points(data, centerline)
    step = float(distance[1] - distance[0]) if len(distance) > 1 else 0.0
    return SegmentMeasures(
        segment_id=centerline.index,
        segment_label="",
        frame=data.frame,
        unit=data.unit,
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
        densitometric_diameter=densitometric_curve(lesions, len(distance)),
        points_rc=centerline.points_rc,
        lesions=lesions,
        border_method="image" if borders is not None else "probability",
        bridged_length=float(bridged.sum()) * step,
        overlap_length=float(overlap.sum()) * step,
        overlap_stretches=tuple(f"{a:.2f}-{b:.2f}" for a, b in stretches(overlap, distance)),
        vessel_snr=snr,
        user_defined=user_defined,
        n_stenoses=sum(lesion.listed for lesion in lesions),
        overlap=overlap,
        bridged=bridged,
    )


def _user_centerline(data: FrameData) -> CenterlineSegment:
    """The analysis segment traced between the user's two points (minimum-cost path on the
    frame, or on the inverted probability map without it), proximal first."""
    start, end = data.options.segment_points
    surface = data.image if data.image is not None else 1.0 - data.probability
    pixels = trace_between(surface, start, end)
    points, arc, normals = smooth_path(pixels)
    return CenterlineSegment(0, points, arc, normals, -1, -2, False, False, (0,))


def _check_image(image, shape) -> np.ndarray | None:
    if image is None:
        return None
    image = np.asarray(image, np.float32)
    if image.shape != shape:
        raise InputError(f"image must match the probability map's shape {shape}, "
                         f"found {image.shape}")
    return image


def measure_segments(probability: np.ndarray, mask: np.ndarray, scale: float, unit: str,
                     frame: int = 0, options: QcaOptions = DEFAULT_OPTIONS,
                     image: np.ndarray | None = None,
                     densitometry: bool = True) -> tuple[SegmentMeasures, ...]:
    """Measures of every analysis segment (vessel) of one frame, widest first, labelled "S1", ...

    ``probability`` (H, W) float in [0, 1] (a mask works too), ``mask`` (H, W) {0, 1}, ``scale``
    the length of one pixel in ``unit`` ("mm", or "px" for an uncalibrated run: see
    :class:`QcaOptions`); ``image`` (H, W) the frame itself (vessels dark, linear in the
    attenuation: :func:`.densitometry.attenuation_image`), for the image borders, the bridges
    and the densitometric MLD (without it, borders and MLD come from the probability map);
    ``densitometry`` False where the file's Pixel Intensity Relationship makes it invalid.
    With ``options.segment_points`` the one segment traced between them is measured.
    """
    probability = np.asarray(probability, np.float32)
    mm_per_pixel = scale if unit == "mm" else options.uncalibrated_mm_per_pixel
    max_gap_mm = options.max_gap_mm
    if unit == "px":
        options = options.in_pixels()
    image = _check_image(image, probability.shape)
    segmented = np.asarray(mask).astype(np.uint8)
    bridged = segmented
    if image is not None and options.bridge_gaps and segmented.any():
        bridged, _ = bridge_gaps(segmented, image, mm_per_pixel, max_gap_mm,
                                 options.min_branch_mm / scale)
    vessels = link_vessels(
        extract_centerlines(bridged, options.spur_factor, options.min_branch_mm / scale), bridged
    )
    data = FrameData(probability, bridged, segmented,
                     ndimage.binary_dilation(segmented).astype(np.uint8), image, densitometry,
                     2.0 * ndimage.distance_transform_edt(bridged), vessels, frame, scale, unit,
                     options)
    user = options.segment_points is not None
    centerlines = [_user_centerline(data)] if user else [c for c in vessels if len(c.arc_px) >= 2]
    borders = [detect_borders(data, c) if data.image is not None
               and options.border_method == "image" else None for c in centerlines]
    data = replace(data, blur_px=frame_blur_px(b.fit for b in borders if b is not None))
    measured = [_measure_segment(data, c, b, user) for c, b in zip(centerlines, borders,
                                                                    strict=True)]
    if user:
        return (replace(measured[0], segment_label="S1"),)
    measured.sort(key=lambda m: -(m.mean_diameter or 0.0) * m.length ** WIDTH_ORDER_EXPONENT)
    return tuple(replace(m, segment_label=f"S{i + 1}") for i, m in enumerate(measured))
