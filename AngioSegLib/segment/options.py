"""How to run the segmentation network: :class:`InferenceOptions` and its choices (device kind,
backend, precision). No heavy imports, so the CLI can show the choices in ``--help``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from AngioSegLib.choices import Choice, parse_choice
from AngioSegLib.errors import InputError

PAD_MULTIPLE = 32  # px: network inputs are padded to a multiple of this


class DeviceKind(Choice):
    """Kind of compute device; a device string may add an index ("cuda:1")."""

    AUTO = "auto"  # CUDA, then MPS, then the CPU
    CPU = "cpu"
    CUDA = "cuda"
    MPS = "mps"


class Backend(Choice):
    """What runs the network: ONNX Runtime on the CPU and PyTorch on a GPU for "auto"."""

    AUTO = "auto"
    TORCH = "torch"
    ONNX = "onnx"


class Precision(Choice):
    """Arithmetic of the network: bf16/fp16 autocast (torch, GPU), int8 QDQ (ONNX, CPU)."""

    AUTO = "auto"  # bf16 (else fp16) on CUDA, fp32 elsewhere
    FP32 = "fp32"
    BF16 = "bf16"
    FP16 = "fp16"
    INT8 = "int8"


@dataclass(frozen=True)
class InferenceOptions:
    """How to run the network. ``device``: a :class:`DeviceKind`, with an index for CUDA
    ("cuda:1"). ``batch_size``: frames per network call. ``scale`` < 1 runs at a reduced internal
    resolution (fewer FLOPs); ``max_size`` caps the longer side of the network input (px);
    ``threads`` = CPU threads; ``field_of_view`` clears vessel probabilities outside the exposed
    field (:func:`~.field_of_view.field_of_view`), where shutter edges mimic vessels, and
    predictions running along the image border (:func:`~.field_of_view.edge_strips`); with it,
    ``clear_catheters`` clears the guiding catheter (:func:`~.catheter.catheter_pixels`).
    ``flip_average`` averages the vessel logits over the frame and its left-right and up-down
    mirror images (:mod:`~.flips`; three network passes a frame)."""

    device: str = "auto"
    backend: Backend | str = Backend.AUTO
    precision: Precision | str = Precision.AUTO
    batch_size: int | None = None  # None: GPU_BATCH on a GPU, CPU_BATCH on the CPU
    scale: float = 1.0
    max_size: int | None = None
    threads: int | None = None
    cache_dir: Path | None = None  # ONNX cache (None: ~/.cache/angioseg/onnx)
    field_of_view: bool = True  # clear probabilities outside the exposed field (shutters)
    clear_catheters: bool = True  # clear the catheter entering the field from the top
    auto_scale: bool = True  # the inference-scale policy of models without an input spacing
    flip_average: bool = False  # average the vessel logits over the frame and its mirror images

    def __post_init__(self) -> None:
        object.__setattr__(self, "backend", parse_choice(self.backend, Backend, "backend"))
        object.__setattr__(self, "precision",
                           parse_choice(self.precision, Precision, "precision"))
        object.__setattr__(self, "device", str(self.device).strip().lower())
        parse_choice(self.device.partition(":")[0], DeviceKind, "device")
        if self.batch_size is not None and self.batch_size < 1:
            raise InputError(f"batch size must be 1 or more frames, found {self.batch_size}")
        if not 0.1 <= self.scale <= 2.0:
            raise InputError(f"scale must be between 0.1 and 2, found {self.scale}")
        if self.max_size is not None and self.max_size < PAD_MULTIPLE:
            raise InputError(f"max size must be at least {PAD_MULTIPLE} px, found {self.max_size}")
        if self.threads is not None and self.threads < 1:
            raise InputError(f"threads must be 1 or more, found {self.threads}")
