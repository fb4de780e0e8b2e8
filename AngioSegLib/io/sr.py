"""DICOM SR Measurement Report (TID 1500) of a run's QCA, built with highdicom; write it.

``measurements.dcm`` is a Comprehensive SR in the SEG's study, in a new series, that holds one
measurement group (TID 1501) per analysis segment (vessel) of the analysis frame and one per
listed stenosis, in the order of ``qca.json``. Each group references

- its sources, as "Source of Measurement" (DCM 121112): the SEG's vessel segment (Referenced
  Segment Number 1; the standard allows no frame number beside it, and the SEG frame follows
  from the XA frame, which each SEG frame references) and the XA frame measured (SOP instance
  and, for a multi-frame XA, Referenced Frame Number);
- for the MLD, its location as a SCOORD POINT on that XA frame, and for a vessel's length its
  centerline as a SCOORD POLYLINE (TID 320, INFERRED FROM). SCOORD pixel coordinates are
  (column, row) with 0\\0 the top left corner of the top left pixel, so the centre of 0-based
  pixel (r, c) is (c + 0.5, r + 0.5).

Concept names (PS3.16). The standard's Quantitative Arteriography (QA) context groups give the
reference method (CID 3465), calibration method and object (CID 3452, 3451) and the luminal
segment concepts (DCM 1225xx), used as they are; it has no concept of its own for MLD or RVD, so
diameters take the SNOMED "Vessel lumen diameter" that the IVUS and vascular ultrasound groups
use (CID 3481, 12119), told apart by the standard's modifiers (Derivation, Measurement Method):

=========================  ==================================================================
MLD                        SCT 397413000 "Vessel lumen diameter", Derivation (DCM 121401)
                           SCT 255605001 "Minimum", Measurement Method (SCT 370129005)
                           DCM 122474 "Densitometric method" (CID 3470) or DCM 123103 "Edge
                           Detection"; with a densitometric MLD the edge MLD follows too
mean diameter (vessel)     SCT 397413000, Derivation SCT 373098007 "Mean"
RVD                        SCT 397413000, Measurement Method from CID 3465 "QA Reference
                           Method": DCM 122490 "Interpolated Local Reference" (healthy vessel
                           both sides), DCM 122489 "Curve Fitted Reference" (one side only:
                           a line or a constant fitted to it)
%DS                        SCT 408715008 "Lumen Diameter Stenosis", UCUM "%"
%AS                        SCT 408714007 "Lumen Area Stenosis", UCUM "%"
lesion length              SCT 408716009 "Stenotic Lesion Length" (CID 3483)
lesion start / end         DCM 122528 / 122529 "Position of Proximal / Distal Border" (QA;
                           arc length from the segment's proximal end)
segment length             DCM 122510 "Length Luminal Segment" (QA)
calibration factor         DCM 122322 "Calibration Factor", UCUM "mm/{pixel}"
calibration method         qualitative evaluation DCM 122422 "Calibration Method" with CID
                           3452: DCM 122486 "Geometric Isocenter" (ImagerPixelSpacing
                           corrected for magnification, PixelSpacing), DCM 122487 "Geometric
                           Non-Isocenter" (detector plane), DCM 122488 "Calibration Object
                           Used" plus DCM 122421 "Calibration Object" = SCT 19923001
                           "Catheter" (catheter calibration)
finding type               SCT 41801008 "Coronary artery" (vessel), SCT 415582006 "Stenosis";
                           finding site SCT 41801008 "Coronary artery"
procedure reported         SCT 33367005 "Coronary Arteriography"
=========================  ==================================================================

A run in which no vessel was measured gets no report (TID 1500 needs one measurement at least).
Lengths carry UCUM "mm"; an uncalibrated run's lengths carry UCUM "{pixel}" (never "mm") and
have no calibration factor or method. Values missing from ``qca.json`` (None) are left out.
Every value is stored as FloatingPointValue too, so it reads back equal to ``qca.json``. The
algorithm (TID 4019) names the model and version and lists the AngioSeg version, the MLD method,
the analysis frame's rule and the calibration source as parameters.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import highdicom as hd
import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code
from pydicom.uid import generate_uid

from AngioSegLib.cine import CalibrationSource, CineRun, FrameReference
from AngioSegLib.errors import InputError
from AngioSegLib.io.atomic import atomic_write
from AngioSegLib.io.seg import read_source_header
from AngioSegLib.qca.analysis import INTERPOLATED, SegmentMeasures, Stenosis

if TYPE_CHECKING:
    from AngioSegLib.qca.measures import RunAnalysis

__all__ = ["CONCEPTS", "SrAlgorithm", "build_measurement_report", "write_sr"]

_SCT, _DCM, _UCUM = "SCT", "DCM", "UCUM"
CONCEPTS = {
    "diameter": Code("397413000", _SCT, "Vessel lumen diameter"),
    "percent_diameter_stenosis": Code("408715008", _SCT, "Lumen Diameter Stenosis"),
    "percent_area_stenosis": Code("408714007", _SCT, "Lumen Area Stenosis"),
    "lesion_length": Code("408716009", _SCT, "Stenotic Lesion Length"),
    "lesion_start": Code("122528", _DCM, "Position of Proximal Border"),
    "lesion_end": Code("122529", _DCM, "Position of Distal Border"),
    "length": Code("122510", _DCM, "Length Luminal Segment"),
    "calibration_factor": Code("122322", _DCM, "Calibration Factor"),
    "calibration_method": Code("122422", _DCM, "Calibration Method"),
    "calibration_object": Code("122421", _DCM, "Calibration Object"),
    "minimum": Code("255605001", _SCT, "Minimum"),
    "mean": Code("373098007", _SCT, "Mean"),
    "densitometric": Code("122474", _DCM, "Densitometric method"),
    "edge": Code("123103", _DCM, "Edge Detection"),
    "interpolated_reference": Code("122490", _DCM, "Interpolated Local Reference"),
    "fitted_reference": Code("122489", _DCM, "Curve Fitted Reference"),
    "coronary_artery": Code("41801008", _SCT, "Coronary artery"),
    "stenosis": Code("415582006", _SCT, "Stenosis"),
    "procedure": Code("33367005", _SCT, "Coronary Arteriography"),
    "catheter": Code("19923001", _SCT, "Catheter"),
}
"""Every concept the report uses, by the ``qca.json`` field (or role) it names."""

_UNITS = {
    "mm": Code("mm", _UCUM, "millimeter"),
    "px": Code("{pixel}", _UCUM, "pixel"),
    "%": Code("%", _UCUM, "percent"),
    "mm/px": Code("mm/{pixel}", _UCUM, "millimeter per pixel"),
}
_CALIBRATION_METHODS = {
    CalibrationSource.IMAGER_PIXEL_SPACING_MAGNIFICATION: Code("122486", _DCM,
                                                               "Geometric Isocenter"),
    CalibrationSource.IMAGER_PIXEL_SPACING_GEOMETRY: Code("122486", _DCM, "Geometric Isocenter"),
    CalibrationSource.PIXEL_SPACING: Code("122486", _DCM, "Geometric Isocenter"),
    CalibrationSource.IMAGER_PIXEL_SPACING: Code("122487", _DCM, "Geometric Non-Isocenter"),
    CalibrationSource.CATHETER: Code("122488", _DCM, "Calibration Object Used"),
}
_Group = hd.sr.MeasurementsAndQualitativeEvaluations  # TID 1501
_SEGMENT_NUMBER = 1  # the SEG's one segment, "Coronary artery" (see io.seg)
_SERIES_OFFSET = 2000  # SR series number = 2000 + the XA's (the SEG's is 1000 + it)


@dataclass(frozen=True)
class SrAlgorithm:
    """Who measured: the model's ``name`` and ``version`` (TID 4019), AngioSeg's version."""

    name: str
    version: str
    software_version: str


def _length_unit(unit: str) -> Code:
    if unit not in ("mm", "px"):
        raise InputError(f"QCA lengths must be in mm or px, found {unit!r}")
    return _UNITS[unit]


def _center(r: float, c: float) -> list[float]:
    """SCOORD (column, row) of the centre of 0-based pixel (r, c)."""
    return [float(c) + 0.5, float(r) + 0.5]


@dataclass(frozen=True)
class _Frame:
    """The analysis frame as SR references it: the XA frame and the SEG that covers it."""

    xa: FrameReference
    seg_class_uid: str
    seg_instance_uid: str

    @property
    def xa_frames(self) -> list[int] | None:
        return None if self.xa.frame_number is None else [self.xa.frame_number]

    def source_images(self) -> list[hd.sr.SourceImageForMeasurementGroup]:
        seg = hd.sr.SourceImageForMeasurementGroup(self.seg_class_uid, self.seg_instance_uid)
        seg.ReferencedSOPSequence[0].ReferencedSegmentNumber = _SEGMENT_NUMBER
        xa = hd.sr.SourceImageForMeasurementGroup(self.xa.sop_class_uid,
                                                  self.xa.sop_instance_uid, self.xa_frames)
        return [seg, xa]

    def coordinates(self, graphic_type: str, points: Sequence[list[float]]
                    ) -> list[hd.sr.CoordinatesForMeasurement]:
        region = hd.sr.SourceImageForRegion(self.xa.sop_class_uid, self.xa.sop_instance_uid,
                                            self.xa_frames)
        return [hd.sr.CoordinatesForMeasurement(graphic_type, np.asarray(points, np.float32),
                                                region)]


def _check_seg_covers(seg: Dataset, frame: int) -> None:
    """Check that ``seg`` holds cine frame ``frame`` (0-based): that it is this run's SEG."""
    for groups in seg.PerFrameFunctionalGroupsSequence:
        content = groups.FrameContentSequence[0]
        if int(content.get("TemporalPositionIndex", 0)) == frame + 1:
            return
    raise InputError(
        f"the SEG {seg.SOPInstanceUID} holds no frame for cine frame {frame + 1}; write the SR "
        "from the SEG of the same run"
    )


class _Builder:
    """Measurements of one group, with the run's units, calibration and references."""

    def __init__(self, cine: CineRun, frame: _Frame, algorithm: hd.sr.AlgorithmIdentification):
        self.cine, self.frame, self.algorithm = cine, frame, algorithm
        self.unit = _length_unit(cine.calibration.unit)

    def measurement(self, field: str, value: float | None, unit: Code, **modifiers
                    ) -> list[hd.sr.Measurement]:
        if value is None or not np.isfinite(value):
            return []
        name = CONCEPTS["diameter" if field in ("mld", "edge_mld", "rvd", "mean_diameter")
                        else field]
        return [hd.sr.Measurement(name=name, value=float(value), unit=unit, **modifiers)]

    def diameters(self, item: SegmentMeasures | Stenosis, mld_rc) -> list[hd.sr.Measurement]:
        where = ({} if mld_rc is None
                 else {"referenced_coordinates": self.frame.coordinates("POINT",
                                                                          [_center(*mld_rc)])})
        out = self.measurement("mld", item.mld, self.unit, derivation=CONCEPTS["minimum"],
                               method=CONCEPTS[item.mld_method], **where)
        if item.mld_method != "edge":
            out += self.measurement("edge_mld", item.edge_mld, self.unit,
                                    derivation=CONCEPTS["minimum"], method=CONCEPTS["edge"])
        if item.reference_method != "none":
            method = CONCEPTS["interpolated_reference" if item.reference_method == INTERPOLATED
                              else "fitted_reference"]
            out += self.measurement("rvd", item.rvd, self.unit, method=method)
        out += self.measurement("percent_diameter_stenosis", item.percent_diameter_stenosis,
                                _UNITS["%"])
        out += self.measurement("percent_area_stenosis", item.percent_area_stenosis,
                                _UNITS["%"])
        out += self.measurement("lesion_length", item.lesion_length, self.unit)
        return out

    def calibration(self) -> tuple[list[hd.sr.Measurement], list[hd.sr.QualitativeEvaluation]]:
        calibration = self.cine.calibration
        if not calibration.is_calibrated:
            return [], []
        factor = self.measurement("calibration_factor", calibration.mm_per_pixel,
                                  _UNITS["mm/px"])
        method = _CALIBRATION_METHODS.get(calibration.source)
        evaluations = []
        if method is not None:
            evaluations.append(hd.sr.QualitativeEvaluation(CONCEPTS["calibration_method"],
                                                           method))
        if calibration.source == CalibrationSource.CATHETER:
            evaluations.append(hd.sr.QualitativeEvaluation(CONCEPTS["calibration_object"],
                                                           CONCEPTS["catheter"]))
        return factor, evaluations

    def group(self, identifier: str, finding: Code, measurements: list[hd.sr.Measurement]
              ) -> _Group:
        factor, evaluations = self.calibration()
        return _Group(
            tracking_identifier=hd.sr.TrackingIdentifier(uid=generate_uid(),
                                                         identifier=identifier),
            finding_type=finding,
            finding_sites=[hd.sr.FindingSite(CONCEPTS["coronary_artery"])],
            algorithm_id=self.algorithm,
            measurements=measurements + factor,
            qualitative_evaluations=evaluations or None,
            source_images=self.frame.source_images(),
        )

    def segment_group(self, segment: SegmentMeasures) -> _Group:
        path = [_center(r, c) for r, c in np.asarray(segment.points_rc, float)]
        measurements = self.measurement(
            "length", segment.length, self.unit,
            referenced_coordinates=self.frame.coordinates("POLYLINE", path) if len(path) > 1
            else None)
        measurements += self.measurement("mean_diameter", segment.mean_diameter, self.unit,
                                         derivation=CONCEPTS["mean"])
        measurements += self.diameters(segment, segment.mld_rc)
        measurements += self.measurement("lesion_start", segment.lesion_start, self.unit)
        measurements += self.measurement("lesion_end", segment.lesion_end, self.unit)
        return self.group(segment.segment_label, CONCEPTS["coronary_artery"], measurements)

    def stenosis_group(self, stenosis: Stenosis, number: int) -> _Group:
        return self.group(f"{stenosis.segment_label} stenosis {number}", CONCEPTS["stenosis"],
                          self.diameters(stenosis, stenosis.position_rc))


def _algorithm(algorithm: SrAlgorithm, analysis: RunAnalysis) -> hd.sr.AlgorithmIdentification:
    return hd.sr.AlgorithmIdentification(
        name=algorithm.name,
        version=algorithm.version or "0",
        family=codes.cid7162.ArtificialIntelligence,
        manufacturer="AngioSeg",
        parameters=[
            f"AngioSeg {algorithm.software_version}",
            f"MLD method: {analysis.options.mld_method}",
            f"analysis frame {analysis.analysis_frame + 1}: {analysis.analysis_rule}",
            f"calibration: {analysis.calibration.source.value}",
        ],
    )


def build_measurement_report(analysis: RunAnalysis, cine: CineRun, seg: Dataset,
                             algorithm: SrAlgorithm) -> hd.sr.ComprehensiveSR:
    """The TID 1500 report of ``analysis`` (a :class:`~AngioSegLib.qca.measures.RunAnalysis` of
    ``cine``) as a Comprehensive SR in ``seg``'s study (``seg``: the run's SEG dataset)."""
    if not cine.references:
        raise InputError(
            f"a DICOM SR references the source DICOM frames, but '{cine.name}' was not read from "
            "DICOM; segment a DICOM XA input to get measurements.dcm (qca.json works for any)"
        )
    t = analysis.analysis_frame
    xa = cine.references[t]
    hd_algorithm = _algorithm(algorithm, analysis)
    if not analysis.segments:
        raise InputError(
            f"no vessel was measured on frame {t + 1}, and a measurement report needs at least "
            "one measurement; check the segmentation (qca.json says what was found)"
        )
    _check_seg_covers(seg, t)
    frame = _Frame(xa, str(seg.SOPClassUID), str(seg.SOPInstanceUID))
    builder = _Builder(cine, frame, hd_algorithm)
    groups = [builder.segment_group(s) for s in analysis.segments]
    numbers: dict[str, int] = {}
    for stenosis in analysis.stenoses:
        numbers[stenosis.segment_label] = numbers.get(stenosis.segment_label, 0) + 1
        groups.append(builder.stenosis_group(stenosis, numbers[stenosis.segment_label]))
    observer = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=generate_uid(), name="AngioSeg", manufacturer_name="AngioSeg",
            model_name=algorithm.name),
    )
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=observer),
        procedure_reported=CONCEPTS["procedure"],
        imaging_measurements=groups,
    )
    xa_header = read_source_header(cine, xa, "the SR references it")
    sr = hd.sr.ComprehensiveSR(
        evidence=[seg, xa_header],
        content=report[0],
        series_instance_uid=generate_uid(),
        series_number=_SERIES_OFFSET + int(xa_header.get("SeriesNumber") or 0),
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer="AngioSeg",
        is_complete=True,
        series_description="AngioSeg QCA measurements",
    )
    now = datetime.datetime.now()
    sr.SeriesDate, sr.SeriesTime = now.strftime("%Y%m%d"), now.strftime("%H%M%S")
    sr.SoftwareVersions = algorithm.software_version
    return sr


def write_sr(analysis: RunAnalysis, cine: CineRun, seg_path: str | os.PathLike[str],
             path: str | os.PathLike[str], algorithm: SrAlgorithm, *, force: bool = False
             ) -> Path:
    """Write the measurement report of ``analysis`` beside the SEG at ``seg_path``; the path."""
    try:
        seg = pydicom.dcmread(seg_path, stop_before_pixels=True)
    except (OSError, pydicom.errors.InvalidDicomError) as error:
        raise InputError(f"cannot read the SEG {seg_path}: {error}") from error
    sr = build_measurement_report(analysis, cine, seg, algorithm)
    with atomic_write(path, force=force) as tmp:
        sr.save_as(tmp, enforce_file_format=True)
    return Path(path)
