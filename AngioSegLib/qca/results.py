"""What QCA of one frame gives: :class:`SegmentMeasures` per analysis segment and the listed
:class:`Stenosis` records, each field declared with its unit (:mod:`.units`).

Lengths are in the result's ``unit``: "mm", or "px" on an uncalibrated run; pixel coordinates
(``points_rc``, ``position_rc``, ``mld_rc``) are always (row, col) px of the frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from AngioSegLib.qca.profile_analysis import ProfileAnalysis
from AngioSegLib.qca.units import in_length_unit, in_percent

__all__ = ["SegmentMeasures", "Stenosis"]


@dataclass(frozen=True, eq=False)
class SegmentMeasures:
    """One analysis segment (a vessel: centerline segments linked through ``n_bifurcations``
    side-branch origins) of one frame; arrays (N,) sampled along its centerline.

    In ``unit`` ("mm" or "px"): ``length`` (arc length), ``mean_diameter``, ``mld``, ``edge_mld``
    (the borders' MLD), ``densitometric_mld`` (the contrast's; None where densitometry is not
    valid), ``rvd``, ``lesion_length``, and the arc positions from the segment start (its wider
    end, taken as proximal) ``mld_position``, ``lesion_start``, ``lesion_end``; also
    ``bridged_length`` (how much runs where the segmentation had broken, :mod:`.lesion_path`),
    ``overlap_length`` and ``overlap_stretches`` ("start-end" arc positions left out of the
    reference and lesion search as overlapped or on an edge of the background), and the
    arrays ``distance``, ``diameter``, ``reference_diameter``, ``densitometric_diameter``.
    In % (0–100): ``percent_diameter_stenosis``, ``percent_area_stenosis``. Without a unit:
    ``tortuosity`` (arc / chord), ``vessel_snr`` (the healthy lumen's contrast over the
    background noise SD), counts and labels. ``points_rc`` (N, 2) is in px.

    MLD, RVD, %DS, %AS and the lesion are the first *listed* lesion's (else the first found's),
    as the stenosis list shows them. ``border_method`` says what the diameters were measured on
    ("image" or "probability"), ``mld_method`` how the MLD was ("densitometric" or "edge")."""

    segment_id: int
    segment_label: str
    frame: int
    unit: str
    n_bifurcations: int
    length: float = in_length_unit()
    mean_diameter: float | None = in_length_unit()
    mld: float | None = in_length_unit()
    mld_position: float | None = in_length_unit()
    rvd: float | None = in_length_unit()
    percent_diameter_stenosis: float | None = in_percent()
    percent_area_stenosis: float | None = in_percent()
    lesion_length: float | None = in_length_unit()
    lesion_start: float | None = in_length_unit()
    lesion_end: float | None = in_length_unit()
    tortuosity: float
    reference_method: str
    mld_method: str
    edge_mld: float | None = in_length_unit()
    start_is_junction: bool
    end_is_junction: bool
    distance: np.ndarray = in_length_unit()  # (N,) arc position
    diameter: np.ndarray = in_length_unit()  # (N,) smoothed (edge) diameter, NaN: not measurable
    reference_diameter: np.ndarray = in_length_unit()  # (N,) NaN outside the analysed part
    densitometric_diameter: np.ndarray = in_length_unit()  # (N,) about each densitometric lesion
    points_rc: np.ndarray  # (N, 2) centerline, px
    # every lesion found, the listed ones first; not exported (the stenosis list carries them)
    lesions: tuple[ProfileAnalysis, ...] = field(default=(), metadata={"export": False})
    densitometric_mld: float | None = in_length_unit(None)
    border_method: str = "probability"
    bridged_length: float = in_length_unit(0.0)
    overlap_length: float = in_length_unit(0.0)
    overlap_stretches: tuple[str, ...] = ()  # "start-end" arc positions in ``unit``
    vessel_snr: float | None = None
    user_defined: bool = False
    n_stenoses: int = 0  # lesions of this segment in the stenosis list
    syntax_segment: str | None = None  # SYNTAX segment most of the centerline runs in, e.g. "6"
    segment_name: str | None = None  # its name, e.g. "LAD proximal"
    # (N,) bool: cross-sections left out as overlapped / on a bridged break
    overlap: np.ndarray | None = field(default=None, metadata={"export": False})
    bridged: np.ndarray | None = field(default=None, metadata={"export": False})

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
    """A listed lesion (QCA vocabulary) of segment ``segment_label`` on ``frame``.

    In ``unit`` ("mm" or "px"): ``mld`` (measured as ``mld_method`` says), ``edge_mld`` (the
    borders'; the same when ``mld_method`` is "edge"), ``densitometric_mld`` (the image
    contrast's; None where densitometry is not valid), ``rvd``, ``lesion_length`` and
    ``mld_position`` (arc position from the segment start). In % (0–100):
    ``percent_diameter_stenosis``, ``percent_area_stenosis``. ``position_rc`` is the MLD's
    (row, col) pixel in ``frame``; ``through_bridge`` whether the lesion lies where the
    segmentation had broken."""

    segment_id: int
    segment_label: str
    frame: int
    percent_diameter_stenosis: float = in_percent()
    percent_area_stenosis: float = in_percent()
    mld: float = in_length_unit()
    rvd: float = in_length_unit()
    lesion_length: float | None = in_length_unit()
    mld_position: float = in_length_unit()
    position_rc: tuple[float, float]  # px
    reference_method: str
    mld_method: str
    edge_mld: float = in_length_unit()
    unit: str
    densitometric_mld: float | None = in_length_unit(None)
    border_method: str = "probability"
    through_bridge: bool = False
    syntax_segment: str | None = None  # the SYNTAX coronary segment at the MLD, e.g. "7"
    segment_name: str | None = None  # its name, e.g. "LAD mid" (None: no named segment there)
