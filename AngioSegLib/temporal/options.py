"""Options of the temporal filter: :class:`TemporalOptions` and its choices (weights, optical flow
preset). No heavy imports, so the CLI can show the choices in ``--help``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from AngioSegLib.choices import Choice, parse_choice
from AngioSegLib.errors import InputError


class FlowPreset(Choice):
    """Speed/accuracy preset of DIS optical flow."""

    ULTRAFAST = "ultrafast"
    FAST = "fast"
    MEDIUM = "medium"


class TemporalWeights(Choice):
    """How neighbour frames are weighted, h(l) of Eq. 1."""

    UNIFORM = "uniform"
    GAUSSIAN = "gaussian"
    RELIABILITY = "reliability"


@dataclass(frozen=True)
class TemporalOptions:
    """Options of :func:`filter_probabilities`.

    ``k``: neighbours on each side (frames). ``weights``: "reliability" (default: uniform in l,
    lowered per pixel where the warp does not match), "uniform" (the paper) or "gaussian".
    ``sigma_frames``: width of the Gaussian weights (frames). ``reliability_grey``: warp residual,
    in grey levels of the 0–255 normalised frames (after a 3×3 mean), at which a neighbour's
    weight falls to e^−½. ``flow_preset``: DIS preset. ``flow_scale``: the flow is estimated on
    frames reduced to this fraction of their size (None: shorter side 256 px). ``clahe``:
    equalise frames before the flow. ``threshold``: mask = probability ≥ threshold (the
    pipeline's only threshold).
    """

    k: int = 2
    motion_compensation: bool = True
    weights: TemporalWeights | str = TemporalWeights.RELIABILITY
    sigma_frames: float = 1.0
    reliability_grey: float = 16.0
    flow_preset: FlowPreset | str = FlowPreset.MEDIUM
    flow_scale: float | None = None
    clahe: bool = False
    threshold: float = 0.5

    def __post_init__(self) -> None:
        if isinstance(self.k, bool) or int(self.k) != self.k or self.k < 0:
            raise InputError(f"temporal K must be a whole number of frames ≥ 0, found {self.k}")
        object.__setattr__(self, "weights",
                           parse_choice(self.weights, TemporalWeights, "temporal weights"))
        object.__setattr__(self, "flow_preset",
                           parse_choice(self.flow_preset, FlowPreset, "optical flow preset"))
        if not self.sigma_frames > 0:
            raise InputError(f"sigma_frames must be > 0 frames, found {self.sigma_frames}")
        if not self.reliability_grey > 0:
            raise InputError(f"reliability_grey must be > 0, found {self.reliability_grey}")
        if self.flow_scale is not None and not 0.0 < self.flow_scale <= 1.0:
            raise InputError(f"flow scale must be in (0, 1], found {self.flow_scale}")
        if not 0.0 < self.threshold < 1.0:
            raise InputError(f"threshold must be between 0 and 1, found {self.threshold}")

    def frame_weight(self, lag: int) -> float:
        """h(l) before renormalisation: 1 (uniform, reliability) or exp(−l²/2σ²) (Gaussian)."""
        if self.weights is TemporalWeights.GAUSSIAN:
            return float(np.exp(-0.5 * (lag / self.sigma_frames) ** 2))
        return 1.0
