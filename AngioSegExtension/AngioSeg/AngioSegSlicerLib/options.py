"""The panel's values → ``AngioSegLib.pipeline.PipelineOptions``, in one testable function.

The widget binds its controls to the parameter node; :func:`pipelineOptions` reads the values
by name (from the parameter node, or from a :class:`PanelValues` in scripts and tests) and
composes the stage options: inference (device, precision, scale, field of view), temporal
filter (K, motion compensation, weights, optical-flow preset, threshold), catheter calibration
and QCA (MLD method, and the user's analysis frame and segment when given). The choices offered
by the combo boxes are listed here, not imported from AngioSegLib, so that the panel is built
before AngioSegLib is installed (a test keeps them equal).
"""

from __future__ import annotations

from dataclasses import dataclass

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")
PRECISION_CHOICES = ("auto", "fp32", "bf16", "fp16", "int8")
TEMPORAL_WEIGHT_CHOICES = ("reliability", "uniform", "gaussian")
FLOW_PRESET_CHOICES = ("medium", "fast", "ultrafast")

Point = tuple[float, float]


@dataclass(frozen=True)
class PanelValues:
    """What the panel holds, named as the parameter node names it (defaults: the library's).

    ``catheterFrench`` 0 = no catheter calibration; ``model`` "" = the shipped default model.
    """

    model: str = ""
    device: str = "auto"
    precision: str = "auto"
    scale: float = 1.0
    fieldOfView: bool = True
    clearCatheters: bool = True
    temporalK: int = 2
    motionCompensation: bool = True
    temporalWeights: str = "reliability"
    flowPreset: str = "medium"
    threshold: float = 0.5
    densitometricMld: bool = True
    catheterFrench: float = 0.0


def pipelineOptions(values, catheterPoints: tuple[Point, Point] | None = None,
                    catheterFrame: int = 0, qcaFrame: int | None = None,
                    segmentPoints: tuple[Point, Point] | None = None):
    """The PipelineOptions of ``values`` (a :class:`PanelValues` or the parameter node).

    ``catheterPoints`` are the two (row, col) pixels of the line drawn across the catheter on
    frame ``catheterFrame``; they are needed when ``values.catheterFrench`` > 0. ``qcaFrame`` is
    the frame QCA measures (None: chosen from the filling curve) and ``segmentPoints`` the
    (row, col) pixels of the analysis segment's start and end, proximal first, kept in that
    order (None: every vessel). Invalid values raise AngioSegLib's InputError with the stage's
    own message.
    """
    from AngioSegLib.errors import InputError
    from AngioSegLib.pipeline import CatheterCalibration, PipelineOptions
    from AngioSegLib.qca.options import QcaOptions
    from AngioSegLib.segment.options import InferenceOptions
    from AngioSegLib.temporal.options import TemporalOptions

    catheter = None
    if values.catheterFrench > 0:
        if catheterPoints is None:
            raise InputError(
                "catheter calibration needs a line with two points across the catheter"
            )
        catheter = CatheterCalibration(
            french=float(values.catheterFrench), points=tuple(catheterPoints),
            frame=int(catheterFrame),
        )
    return PipelineOptions(
        model=values.model or None,
        inference=InferenceOptions(
            device=values.device, precision=values.precision, scale=float(values.scale),
            field_of_view=bool(values.fieldOfView),
            clear_catheters=bool(values.clearCatheters),
        ),
        temporal=TemporalOptions(
            k=int(values.temporalK), motion_compensation=bool(values.motionCompensation),
            weights=values.temporalWeights, flow_preset=values.flowPreset,
            threshold=float(values.threshold),
        ),
        catheter=catheter,
        qca=QcaOptions(
            mld_method="densitometric" if values.densitometricMld else "edge",
            analysis_frame=None if qcaFrame is None else int(qcaFrame),
            segment_points=None if segmentPoints is None else tuple(
                tuple(float(v) for v in point) for point in segmentPoints),
        ),
    )
