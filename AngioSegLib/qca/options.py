"""How QCA measures: :class:`QcaOptions` (lengths in mm, fractions 0–1), shared by :mod:`.analysis`,
:mod:`.profile_analysis` and :mod:`.measures`."""

from __future__ import annotations

from dataclasses import dataclass, replace

from AngioSegLib.choices import Choice, parse_choice
from AngioSegLib.errors import InputError

__all__ = ["BORDER_METHODS", "DEFAULT_OPTIONS", "MLD_METHODS", "BorderMethod", "DiameterMethod",
           "MldMethod", "QcaOptions"]


class DiameterMethod(Choice):
    """The width estimator of a diameter profile (:mod:`.diameter`)."""

    INTEGRAL = "integral"
    ISO = "iso"


class MldMethod(Choice):
    """Where a lesion's MLD comes from: the frame's contrast, or the lumen edges."""

    DENSITOMETRIC = "densitometric"
    EDGE = "edge"


class BorderMethod(Choice):
    """What the lumen borders are found on: the frame, or the probability map (pre-0.4)."""

    IMAGE = "image"
    PROBABILITY = "probability"


MLD_METHODS = tuple(MldMethod)
BORDER_METHODS = tuple(BorderMethod)


@dataclass(frozen=True)
class QcaOptions:
    """How to measure. Lengths in mm, fractions 0–1. On an uncalibrated run (results in px) the
    lengths are taken at ``uncalibrated_mm_per_pixel``, a typical 512² angiogram's pixel.

    ``border_method``: "image" finds the lumen borders on the frame (:mod:`.lumen_edges`; needs
    the frame), "probability" on the segmentation's probability map (the pre-0.4 method).
    ``blur_correction``: map border diameters through the inverse of the detector's response
    to the vessel's fitted blur (:mod:`.blur_correction`; narrow lumens otherwise read wide).
    ``bridge_gaps``: join breaks of the segmentation at tight lesions along the image
    (:mod:`.lesion_path`, up to ``max_gap_mm``); ``exclude_overlap``: leave cross-sections where
    another vessel crosses or overlaps out of the reference fit and lesion search
    (:mod:`.overlap`); ``min_vessel_snr``: a lesion is listed only on a vessel whose healthy
    stretch stands out of the background noise by this much (not on background anatomy).
    ``min_rvd_mm``: a lesion is listed only where its reference diameter is at least this (the
    SYNTAX score grades lesions in vessels of 1.5 mm or more; 1.2 mm leaves room for the RVD's
    measurement error, so a lesion of a 1.5 mm vessel is never dropped).
    ``analysis_frame`` (None: chosen from the filling curve) and ``segment_points`` (two
    (row, col) pixels, proximal first; None: every vessel of the segmentation) let a user pick
    the frame and the analysis segment.
    """

    diameter_method: DiameterMethod | str = DiameterMethod.INTEGRAL
    mld_method: MldMethod | str = MldMethod.DENSITOMETRIC
    level: float = 0.5
    profile_sigma_mm: float = 0.15
    spur_factor: float = 1.5
    min_branch_mm: float = 1.0
    end_trim_diameters: float = 1.0
    junction_trim_diameters: float = 0.0
    lesion_threshold: float = 0.2
    min_stenosis_percent: float = 20.0
    min_rvd_mm: float = 1.2
    max_lesions: int = 3
    min_reference_diameters: float = 1.0
    reference_window_diameters: float = 4.0
    densitometry_sigma_mm: float = 0.25
    densitometry_background_mm: float = 2.0
    uncalibrated_mm_per_pixel: float = 0.25
    border_method: BorderMethod | str = BorderMethod.IMAGE
    blur_correction: bool = True
    bridge_gaps: bool = True
    max_gap_mm: float = 12.0
    exclude_overlap: bool = True
    min_vessel_snr: float = 3.0
    analysis_frame: int | None = None
    segment_points: tuple[tuple[float, float], tuple[float, float]] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "border_method",
                           parse_choice(self.border_method, BorderMethod, "border method"))
        object.__setattr__(self, "diameter_method",
                           parse_choice(self.diameter_method, DiameterMethod, "diameter method"))
        object.__setattr__(self, "mld_method",
                           parse_choice(self.mld_method, MldMethod, "MLD method"))
        if self.analysis_frame is not None and self.analysis_frame < 0:
            raise InputError(f"analysis frame must be 0 or more, found {self.analysis_frame}")
        if self.segment_points is not None and (
                len(self.segment_points) != 2
                or any(len(p) != 2 for p in self.segment_points)):
            raise InputError("segment_points must be two (row, col) pixels, proximal first, "
                             f"found {self.segment_points!r}")
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
               self.densitometry_background_mm, self.max_gap_mm, self.min_vessel_snr,
               self.min_rvd_mm) < 0:
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
                       densitometry_background_mm=self.densitometry_background_mm * px,
                       max_gap_mm=self.max_gap_mm * px, min_rvd_mm=self.min_rvd_mm * px)


DEFAULT_OPTIONS = QcaOptions()


