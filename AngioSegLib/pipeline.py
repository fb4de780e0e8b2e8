"""`run(cine, options, progress) -> Result`: the one entry every front door (CLI, Slicer) calls."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from AngioSegLib.cine import CineRun


@dataclass(frozen=True)
class PipelineOptions:
    """What to run: model name, device, temporal filter and mask threshold."""

    model: str = "cenet-r34"
    device: str = "auto"
    temporal_k: int = 2
    motion_compensation: bool = True
    threshold: float = 0.5
    catheter_french: float | None = None


@dataclass(frozen=True)
class Result:
    """Everything a run produced. Probabilities float32 (T,H,W) in [0,1]; masks uint8 {0,1}."""

    cine: CineRun
    options: PipelineOptions
    probabilities: np.ndarray
    masks: np.ndarray
    raw_probabilities: np.ndarray | None = None
    analysis: Any = None  # AngioSegLib.quantify.RunAnalysis
    model_name: str = ""
    model_version: str = ""
    timings_s: dict[str, float] = field(default_factory=dict)
