"""The stage options that `angioseg segment` and `angioseg batch` share, one flag per field.

Each flag maps onto one field of :class:`~AngioSegLib.segment.options.InferenceOptions`,
:class:`~AngioSegLib.temporal.options.TemporalOptions` or
:class:`~AngioSegLib.qca.options.QcaOptions`, whose defaults they repeat; those dataclasses check
the values (one line and exit code 2 for a bad one, with "did you mean" for a mistyped choice).
Choices are listed in ``--help`` from the enums themselves. Only the option modules (no numpy
stage code) are imported here, so ``angioseg --help`` stays fast.
"""

from __future__ import annotations

from enum import Enum

import typer

from AngioSegLib.qca.options import BorderMethod, DiameterMethod, MldMethod
from AngioSegLib.segment.options import Backend, DeviceKind, InferenceOptions, Precision
from AngioSegLib.temporal.options import FlowPreset, TemporalOptions, TemporalWeights


def one_of(kind: type[Enum]) -> str:
    """The values of ``kind`` as help text lists them: "a, b or c"."""
    values = [str(member.value) for member in kind]
    return f"{', '.join(values[:-1])} or {values[-1]}" if len(values) > 1 else values[0]


MODEL = typer.Option(None, help="Model name or bundle folder (default: shipped model).")

# --- inference (InferenceOptions) ---
DEVICE = typer.Option("auto", help=f"{one_of(DeviceKind)}; cuda:N picks one GPU.")
BACKEND = typer.Option(
    "auto", help=f"{one_of(Backend)} (auto: ONNX Runtime on the CPU, PyTorch on a GPU)."
)
PRECISION = typer.Option(
    "auto", help=f"{one_of(Precision)}: int8 on the CPU (ONNX, faster), bf16/fp16 on a GPU."
)
BATCH_SIZE = typer.Option(None, help="Frames per network call (default: 1 on CPU, 8 on GPU).")
SCALE = typer.Option(1.0, help="Internal resolution factor, 0.1–2 (fewer FLOPs below 1).")
MAX_SIZE = typer.Option(None, help="Longest side of the network input (px, at least 32).")
THREADS = typer.Option(None, help="CPU threads of the network (default: the library's).")
FIELD_OF_VIEW = typer.Option(
    True, "--field-of-view/--no-field-of-view",
    help="Clear vessel probabilities outside the exposed field (collimator shutters).",
)
CATHETERS = typer.Option(
    True, "--clear-catheters/--keep-catheters",
    help="Clear the guiding catheter from the vessel mask (a tube of even width entering the "
    "field from the top or an upper side, up to the ostium).",
)
FLIP_AVERAGE = typer.Option(
    False, "--flip-average/--no-flip-average",
    help="Average the network over each frame and its mirror images (3 passes a frame: "
    "about 3x the network time, slightly more vessel found; see the model card).",
)
AUTO_SCALE = typer.Option(
    True, "--auto-scale/--no-auto-scale",
    help="Bring frames to the scale the model was trained at (models without a spacing).",
)

# --- temporal filter (TemporalOptions) ---
TEMPORAL_K = typer.Option(2, "--temporal-k", help="Temporal filter half-width K (frames); 0 = off.")
NO_MOTION_COMPENSATION = typer.Option(
    False, "--no-motion-compensation", help="Plain temporal average (no optical flow)."
)
TEMPORAL_WEIGHTS = typer.Option(
    "reliability", "--temporal-weights",
    help=f"Neighbour frame weights: {one_of(TemporalWeights)}.",
)
TEMPORAL_SIGMA = typer.Option(
    1.0, "--temporal-sigma", help="Width of the gaussian weights (frames)."
)
RELIABILITY_GREY = typer.Option(
    16.0, "--reliability-grey",
    help="Warp residual (grey levels of 0–255) at which a neighbour's weight falls to e^-1/2.",
)
FLOW_PRESET = typer.Option(
    "medium", "--flow-preset", help=f"Optical flow (DIS) preset: {one_of(FlowPreset)}."
)
FLOW_SCALE = typer.Option(
    None, "--flow-scale", help="Flow on frames reduced to this fraction, (0, 1] "
    "(default: shorter side 256 px)."
)
CLAHE = typer.Option(False, "--clahe", help="Equalise frames (CLAHE) before the optical flow.")
THRESHOLD = typer.Option(0.5, help="Vessel probability threshold for the masks.")

# --- QCA (QcaOptions) ---
MLD_METHOD = typer.Option(
    "densitometric", help=f"{one_of(MldMethod)}: MLD from the frame's contrast or the edges."
)
DIAMETER_METHOD = typer.Option(
    "integral", help=f"{one_of(DiameterMethod)}: diameter profile estimator."
)
BORDER_METHOD = typer.Option(
    "image", help=f"{one_of(BorderMethod)}: lumen borders on the frame or the probabilities."
)


def inference_options(device: str, backend: str, precision: str, batch_size: int | None,
                      scale: float, max_size: int | None, threads: int | None,
                      field_of_view: bool, auto_scale: bool,
                      clear_catheters: bool, flip_average: bool) -> InferenceOptions:
    """The inference flags as :class:`InferenceOptions` (checked there)."""
    return InferenceOptions(device=device, backend=backend, precision=precision,
                            batch_size=batch_size, scale=scale, max_size=max_size,
                            threads=threads, field_of_view=field_of_view, auto_scale=auto_scale,
                            clear_catheters=clear_catheters, flip_average=flip_average)


def temporal_options(k: int, no_motion_compensation: bool, weights: str, sigma_frames: float,
                     reliability_grey: float, flow_preset: str, flow_scale: float | None,
                     clahe: bool, threshold: float) -> TemporalOptions:
    """The temporal flags as :class:`TemporalOptions` (checked there)."""
    return TemporalOptions(k=k, motion_compensation=not no_motion_compensation, weights=weights,
                           sigma_frames=sigma_frames, reliability_grey=reliability_grey,
                           flow_preset=flow_preset, flow_scale=flow_scale, clahe=clahe,
                           threshold=threshold)
