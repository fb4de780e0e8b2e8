"""QCA of one frame: per-segment diameter profiles, MLD, interpolated reference, %DS, lesion length.

Vocabulary as in CAAS QCA / QAngio XA. For each centerline segment (see :mod:`.centerline`):

* where the segmentation broke at a tight lesion, the break is first bridged along a minimum-cost
  path on the image (:mod:`.lesion_path`, ``bridge_gaps``), so a segment runs through every lesion;
  a user's ``segment_points`` replace the segments by one traced between them;
* the diameter profile ``D(s)`` (``s`` arc length from the segment start) is measured between the
  lumen borders detected on the frame (:mod:`.lumen_edges`, ``border_method="image"``, the default:
  sub-pixel, weighted first and second derivative, minimum-cost border path along the straightened
  vessel; 0 where the lumen vanished), or without the frame on the probability map
  (:func:`.diameter.profile_widths`, ``border_method="probability"``), and smoothed along ``s`` with
  a Gaussian of ``profile_sigma_mm``; the segment is oriented so that it starts at its wider end
  (taken as proximal); excluded, as not a lumen cross-section: ``end_trim_diameters`` × the median
  diameter at both ends (bifurcation, vessel tip), ``junction_trim_diameters`` × it about each
  side-branch origin the segment crosses (0 by default: a lesion at a side-branch origin stays
  measurable), bulges above 1.25 × the local upper level (the bifurcation's flare) and, with
  ``exclude_overlap``, cross-sections where another vessel crosses or overlaps (:mod:`.overlap`;
  listed as ``overlap_stretches``);
* MLD = min D within the lesion, at ``mld_position`` (from the segment start);
* the lesion is where D is narrowest relative to its local upper level (running 75th percentile over
  ``2 · reference_window_diameters`` median diameters), so neither a vessel's taper, nor the step
  down at a side-branch origin, nor a bulge at a bifurcation makes a lesion;
* the *interpolated reference* ``R(s)``: a least-squares line through the healthy profile within
  ``reference_window_diameters`` × RVD of the lesion, fitted three times (starting from the local
  upper level), each time excluding the lesion (``D < (1 − t/2)·R`` around it, ``t`` =
  ``lesion_threshold``, widened by half a reference diameter each side) and bulges (``D > 1.2·R``,
  side-branch origins). With healthy vessel on only one side the reference is that side's line (when
  it spans ≥ 3 × the needed length) or median (``reference_method`` says which side);
* RVD = R(mld_position); %DS = (1 − MLD/RVD)·100; %AS = (1 − (MLD/RVD)²)·100;
* the densitometric MLD (:mod:`.densitometric_mld`), where the file's Pixel Intensity Relationship
  makes densitometry valid (``LOG``, ``LIN`` after the log), is measured beside the border MLD; with
  ``mld_method="densitometric"`` (the default) it is the MLD there, and the border MLD elsewhere
  (``mld_method`` of each lesion says which). Chosen on ``benchmarks/bench_qca_classes.py``: on LOG
  and LIN files of the second phantom set the densitometric MLD has the smaller spread (%DS SD 8 vs
  9 points) and far fewer false lesions (a noise dip of the borders is re-read by the contrast),
  and it does not depend on how the borders of a lumen of a few pixels are blurred;
* lesion length: the stretch around the MLD where ``D < (1 − t)·R`` (t = 0.2: narrower than 80 % of
  the reference), edges interpolated between samples. For a raised-cosine narrowing of length L and
  fraction p this is ``L·acos(2t/p − 1)/π`` (0.56 L at 50 %, 0.64 L at 70 %);
* tortuosity = arc length / chord.

A segment has a reference when at least ``min_reference_diameters`` × RVD of healthy vessel lies on
one side of the lesion; stenoses are listed when %DS ≥ ``min_stenosis_percent`` and the reference is
interpolated, or one-sided because a bifurcation ends the segment on the other side (an ostial
lesion; see :func:`list_stenoses`), and, with the frame at hand, the vessel's healthy stretch stands
out of the background noise by ``min_vessel_snr`` (a lesion lies on a vessel, not on background
anatomy), and the narrowing (RVD − MLD) is at least ``MIN_NARROWING_SNR`` × the diameter profile's
noise on the healthy stretch (not a noise dip). A long segment may hold several lesions:
:func:`analyze_lesions` looks for up to ``max_lesions``, each outside the stretches of those already
found; the segment's own MLD, RVD and %DS are the first *listed* one's (else the first's), so that
tables, plots and the stenosis list show the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from scipy import ndimage
from scipy.stats import median_abs_deviation

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
from AngioSegLib.qca.diameter import leaves_image, profile_widths, sample_profiles
from AngioSegLib.qca.lesion_path import bridge_gaps, trace_between
from AngioSegLib.qca.lumen_edges import REFERENCE_WINDOW_PX, LumenBorders, detect_lumen_borders
from AngioSegLib.qca.options import BORDER_METHODS, DEFAULT_OPTIONS, MLD_METHODS, QcaOptions
from AngioSegLib.qca.overlap import crossing_flags, depth_jump_flags, stretches
from AngioSegLib.qca.profile_analysis import (
    INTERPOLATED,
    ProfileAnalysis,
    analyze_lesions,
    analyze_profile,
)

__all__ = [
    "BORDER_METHODS",
    "DEFAULT_OPTIONS",
    "INTERPOLATED",
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

_distinct = distinct_lesions  # the name the tests know
MIN_NARROWING_SNR = 4.0  # a listed lesion's RVD − MLD over the diameter profile's noise SD


@dataclass(frozen=True, eq=False)
class SegmentMeasures:
    """One analysis segment (a vessel: centerline segments linked through ``n_bifurcations``
    side-branch origins) of one frame. Lengths in ``unit`` ("mm" or "px"); positions from the
    segment start (its wider end, taken as proximal); arrays sampled along the centerline.

    ``border_method`` says what the diameters were measured on ("image" or "probability");
    ``bridged_length`` how much of the segment runs where the segmentation had broken
    (:mod:`.lesion_path`); ``overlap_length`` and ``overlap_stretches`` ("start–end" arc
    positions) what was left out of the reference and lesion search as overlapped;
    ``vessel_snr`` the healthy lumen's contrast over the background noise."""

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
    # every lesion found, the listed ones first; not exported (the stenosis list carries them)
    lesions: tuple[ProfileAnalysis, ...] = field(default=(), metadata={"export": False})
    densitometric_mld: float | None = None
    border_method: str = "probability"
    bridged_length: float = 0.0
    overlap_length: float = 0.0
    overlap_stretches: tuple[str, ...] = ()
    vessel_snr: float | None = None
    user_defined: bool = False
    n_stenoses: int = 0  # lesions of this segment in the stenosis list
    syntax_segment: str | None = None  # SYNTAX segment most of the centerline runs in, e.g. "6"
    segment_name: str | None = None  # its name, e.g. "LAD proximal"
    # (N,) bool: cross-sections left out as overlapped / on a bridged break
    overlap: np.ndarray | None = field(default=None, metadata={"export": False})
    bridged: np.ndarray | None = field(default=None, metadata={"export": False})

    @property
    def has_reference(self) -> bool:
        return self.rvd is not None

    @property
    def listed_lesions(self) -> tuple[ProfileAnalysis, ...]:
        """The lesions the stenosis list holds, in the segment's order."""
        return tuple(lesion for lesion in self.lesions if lesion.listed)

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
    ``mld_method`` says, ``edge_mld`` the borders' (the same when that is "edge"),
    ``densitometric_mld`` the image contrast's (None where densitometry is not valid);
    ``through_bridge`` whether the MLD lies where the segmentation had broken."""

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
    densitometric_mld: float | None = None
    border_method: str = "probability"
    through_bridge: bool = False
    syntax_segment: str | None = None  # the SYNTAX coronary segment at the MLD, e.g. "7"
    segment_name: str | None = None  # its name, e.g. "LAD mid" (None: no named segment there)


@dataclass(frozen=True, eq=False)
class _FrameData:
    """What every segment of one frame is measured with (arrays (H, W))."""

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


def _smooth(widths: np.ndarray, sigma_samples: float) -> np.ndarray:
    """Gaussian along the vessel over the finite samples (NaN stay NaN)."""
    finite = np.isfinite(widths)
    if sigma_samples <= 0 or finite.sum() < 2:
        return widths
    filled = np.interp(np.arange(len(widths)), np.flatnonzero(finite), widths[finite])
    return np.where(finite, ndimage.gaussian_filter1d(filled, sigma_samples, mode="nearest"),
                    np.nan)


def _rough_radius(data: _FrameData, centerline: CenterlineSegment) -> np.ndarray:
    r, c = np.clip(np.round(centerline.points_rc).astype(int), 0,
                   np.array(data.mask.shape) - 1).T
    return 0.5 * data.diameter_px[r, c]


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
    return _smooth(widths, options.profile_sigma_mm / scale / step) * scale


def _image_profile(data: _FrameData, centerline: CenterlineSegment
                   ) -> tuple[np.ndarray, LumenBorders]:
    """(smoothed diameter (unit), the borders) along ``centerline`` detected on the frame."""
    rough = _rough_radius(data, centerline)
    borders = detect_lumen_borders(data.image, centerline.points_rc, centerline.normals_rc,
                                   rough)
    # a vanished lumen is believed where the segmentation lost or halved the vessel too (a
    # bridged break, a rough radius under half its running maximum), not on a contrast dip alone
    step_px = float(centerline.arc_px[1] - centerline.arc_px[0])
    window = max(int(REFERENCE_WINDOW_PX / max(step_px, 1e-6)) | 1, 3)
    weak = rough < 0.5 * ndimage.maximum_filter1d(rough, window, mode="nearest")
    gone = ~borders.lumen & (weak | _bridged(data, centerline))
    widths = np.where(gone, 0.0, borders.left_px + borders.right_px)
    reach = np.maximum(borders.left_px, borders.right_px) + 1.0
    widths[leaves_image(centerline.points_rc, centerline.normals_rc, reach,
                        data.image.shape)] = np.nan
    step = float(centerline.arc_px[1] - centerline.arc_px[0])
    return _smooth(widths, data.options.profile_sigma_mm / data.scale / step) * data.scale, borders


def _median(values: np.ndarray) -> float:
    """Median of the finite values (−inf when there are none)."""
    finite = values[np.isfinite(values)]
    return float(np.median(finite)) if len(finite) else -np.inf


def _is_ostial(start_is_junction: bool, end_is_junction: bool, lesion: ProfileAnalysis) -> bool:
    """Whether a one-sided ``lesion`` lies at a branch's ostium: the segment leaves a bifurcation
    at the side the lesion misses and ends free at the other (a branch's origin is its one
    junction end)."""
    if start_is_junction == end_is_junction:
        return False
    missing_start = lesion.reference_method == "distal only"
    missing_end = lesion.reference_method == "proximal only"
    return (missing_start and start_is_junction) or (missing_end and end_is_junction)


def _stands_out(lesion: ProfileAnalysis, diameter: np.ndarray) -> bool:
    """Whether the narrowing (RVD − MLD) exceeds ``MIN_NARROWING_SNR`` × the profile's own noise
    (robust SD of D − R over the healthy stretch the reference was fitted to)."""
    if lesion.healthy is None or lesion.rvd is None or lesion.mld is None:
        return True
    residual = (diameter - lesion.reference)[lesion.healthy & np.isfinite(diameter)]
    if len(residual) < 5:
        return True
    noise = float(median_abs_deviation(residual, scale="normal"))
    return lesion.rvd - lesion.mld >= MIN_NARROWING_SNR * noise


def _listable(lesion: ProfileAnalysis, centerline: CenterlineSegment, options: QcaOptions,
              on_vessel: bool, diameter: np.ndarray) -> bool:
    """Whether the stenosis list holds ``lesion`` (see :func:`list_stenoses`)."""
    severity = lesion.percent_diameter_stenosis
    return (on_vessel and severity is not None and severity >= options.min_stenosis_percent
            and _stands_out(lesion, diameter)
            and (lesion.reference_method == INTERPOLATED
                 or _is_ostial(centerline.start_is_junction, centerline.end_is_junction,
                               lesion)))


def _overlap(data: _FrameData, centerline: CenterlineSegment, borders: LumenBorders | None,
             typical_px: float) -> np.ndarray:
    """(N,) cross-sections another vessel crosses or overlaps (see :mod:`.overlap`)."""
    flags = crossing_flags(centerline, data.vessels, data.diameter_px)
    if borders is not None:
        step = float(centerline.arc_px[1] - centerline.arc_px[0])
        flags |= depth_jump_flags(borders.depth, step, typical_px, borders.noise)
    return flags


def _bridged(data: _FrameData, centerline: CenterlineSegment) -> np.ndarray:
    """(N,) centerline points off the given segmentation but on the bridged mask."""
    r, c = np.clip(np.round(centerline.points_rc).astype(int), 0,
                   np.array(data.mask.shape) - 1).T
    return (data.near_segmented[r, c] == 0) & (data.mask[r, c] > 0)


def _vessel_snr(borders: LumenBorders | None, healthy: np.ndarray | None) -> float | None:
    """Median centre depth over the healthy stretch, in background noise SDs."""
    if borders is None or healthy is None or not healthy.any():
        return None
    return float(np.median(borders.depth[healthy]) / borders.noise)


def _measure_segment(data: _FrameData, centerline: CenterlineSegment,
                     user_defined: bool = False) -> SegmentMeasures:
    options, scale = data.options, data.scale
    borders = None
    if data.image is not None and options.border_method == "image":
        diameter, borders = _image_profile(data, centerline)
    else:
        diameter = _diameter_profile(data.probability, centerline, scale, options)
    third = max(len(diameter) // 3, 1)
    if not user_defined and _median(diameter[-third:]) > _median(diameter[:third]):
        centerline, diameter = centerline.reversed(), diameter[::-1].copy()
        if borders is not None:
            borders = LumenBorders(borders.right_px[::-1], borders.left_px[::-1],
                                   borders.lumen[::-1], borders.depth[::-1], borders.noise)
    distance = centerline.arc_px * scale
    typical = _median(diameter) if np.isfinite(diameter).any() else 0.0
    trim = options.end_trim_diameters * typical
    valid = (distance >= trim) & (distance <= distance[-1] - trim)
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
        window = np.fmax(diameter, 2.0 * _rough_radius(data, centerline) * scale)
        lesions = distinct_lesions(tuple(
            densitometric_lesion(lesion, data.image, data.mask, centerline, distance, window,
                                 scale, options, use) for lesion in lesions), distance)
    snr = _vessel_snr(borders, lesions[0].healthy)
    on_vessel = snr is None or snr >= options.min_vessel_snr
    lesions = tuple(replace(lesion, listed=_listable(lesion, centerline, options, on_vessel,
                                                     diameter)) for lesion in lesions)
    lesions = tuple(sorted(lesions, key=lambda lesion: not lesion.listed))  # stable
    profile = lesions[0]
    pos = float(distance[profile.mld_index]) if profile.mld_index is not None else None
    bridged = _bridged(data, centerline)
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


def _user_centerline(data: _FrameData) -> CenterlineSegment:
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
    data = _FrameData(probability, bridged, segmented,
                      ndimage.binary_dilation(segmented).astype(np.uint8), image, densitometry,
                      2.0 * ndimage.distance_transform_edt(bridged), vessels, frame, scale, unit,
                      options)
    if options.segment_points is not None:
        return (replace(_measure_segment(data, _user_centerline(data), user_defined=True),
                        segment_label="S1"),)
    measured = [_measure_segment(data, c) for c in vessels if len(c.arc_px) >= 2]
    measured.sort(key=lambda m: -(m.mean_diameter or 0.0) * m.length ** 0.25)
    return tuple(replace(m, segment_label=f"S{i + 1}") for i, m in enumerate(measured))


def list_stenoses(segments: tuple[SegmentMeasures, ...], options: QcaOptions = DEFAULT_OPTIONS
                  ) -> tuple[Stenosis, ...]:
    """Lesions (up to ``max_lesions`` per segment) with %DS ≥ ``min_stenosis_percent``, most
    severe first: those with a proximal and a distal reference, and ostial ones (one side only,
    the branch leaving a bifurcation on the other; see :func:`_is_ostial`), on a vessel that
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
