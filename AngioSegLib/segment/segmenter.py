"""`Segmenter`: vessel probabilities for every frame of a cine, on the fastest device at hand.

The network sees each frame at the scale it was trained at. When the model declares an input pixel
spacing (mm) and the cine is calibrated, frames are resized to that spacing. The shipped models
declare none (their training angiograms, ARCADE's and XCA's 300–512 px frames, carry no spacing;
scale augmentation of 0.6–1.6× taught them vessels of about 2–30 px), and the *inference-scale
policy* (:func:`plan_size`) keeps frames near that scale: a calibrated frame whose pixel is finer
than ``FINEST_MM_PER_PIXEL`` is brought to it, an uncalibrated frame longer than
``NATIVE_LONG_SIDE_PX`` to ``TRAINED_LONG_SIDE_PX``; never by less than ``MIN_AUTO_FACTOR``, never
enlarged. Other frames run at native size. ``auto_scale=False`` turns the policy off, ``max_size``
caps the longer side, ``scale`` shrinks further where the vessels stay wide enough. The resized
frame is padded to a multiple of 32 px, the logits are cropped, resized back to the frame and
passed through a sigmoid, so the output has the input's (T, H, W).

A model with a coronary-segment head (:mod:`AngioSegLib.anatomy.segments`) also gives, with
:meth:`Segmenter.segment_run`, each pixel's most likely segment class, taken on the network's
1/4-resolution grid and carried to the frame by nearest neighbour.

Frames are decoded, run and released one batch at a time (a lazy 200-frame run never sits in
memory whole). Device choice: CUDA, then MPS, then CPU for ``"auto"``; an explicit device that is
missing raises :class:`~AngioSegLib.errors.DeviceError` (never a silent fallback). On the CPU the
network runs through ONNX Runtime (fp32, or int8 QDQ on request); on a GPU through PyTorch with
bf16/fp16 autocast and channels-last memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, fields, replace
from pathlib import Path

import cv2
import numpy as np
from scipy.special import expit

from AngioSegLib.choices import parse_choice, unknown_choice_error
from AngioSegLib.cine import CineRun
from AngioSegLib.errors import DeviceError, InputError
from AngioSegLib.model.bundle import DEFAULT_MODEL, BundleInfo, LoadedModel, read_bundle
from AngioSegLib.model.normalise import check_normalisation, normalise_frame
from AngioSegLib.progress import Progress, ProgressCallback, no_progress
from AngioSegLib.segment.catheter import catheter_pixels
from AngioSegLib.segment.field_of_view import edge_strips, field_of_view
from AngioSegLib.segment.flips import flip_averaged
from AngioSegLib.segment.options import (
    PAD_MULTIPLE,
    Backend,
    DeviceKind,
    InferenceOptions,
    Precision,
)

GPU_BATCH = 8
CPU_BATCH = 1
FINEST_MM_PER_PIXEL = 0.15  # a 4.5 mm proximal vessel is 30 px across here: the trained limit
NATIVE_LONG_SIDE_PX = 640  # uncalibrated frames up to this size run as they are
TRAINED_LONG_SIDE_PX = 512  # larger uncalibrated frames (1024²) are brought to this (px)
MIN_AUTO_FACTOR = 0.5  # the policy never shrinks a frame more than this

CalibrationFrames = Callable[[], Iterable[np.ndarray]]
"""A callable giving raw (H, W) grey frames (any numeric dtype), to calibrate int8 ranges."""


def _mps_available() -> bool:
    import torch

    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


def resolve_device(requested: str = "auto") -> str:
    """The torch device string to use: CUDA, then MPS, then CPU for "auto"; errors if missing.
    Device "cpu" does not import torch."""
    name, _, index = str(requested).strip().lower().partition(":")
    name = parse_choice(name, DeviceKind, "device").value
    if name == "cpu":
        return name
    import torch

    if name == "auto":
        if torch.cuda.is_available():
            return "cuda"
        return "mps" if _mps_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            why = "was built without CUDA" if torch.version.cuda is None else "found no CUDA GPU"
            raise DeviceError(
                f"device 'cuda' was requested but PyTorch {torch.__version__} {why}; install a "
                "CUDA build of PyTorch (README, section GPU) or choose device 'cpu' or 'auto'"
            )
        if index and not (index.isdigit() and int(index) < torch.cuda.device_count()):
            raise DeviceError(
                f"device {requested!r} does not exist: this machine has "
                f"{torch.cuda.device_count()} CUDA GPU(s), numbered from cuda:0"
            )
        return f"cuda:{index}" if index else "cuda"
    if name == "mps" and not _mps_available():
        raise DeviceError(
            "device 'mps' was requested but Apple's Metal backend is not available on this "
            "machine; choose device 'cpu' or 'auto'"
        )
    return name


def _device_name(device: str) -> str:
    """``device`` with the GPU's model for CUDA, e.g. "cuda NVIDIA H200"."""
    if not device.startswith("cuda"):
        return device
    import torch

    return f"{device} {torch.cuda.get_device_name(torch.device(device))}"


def _choose_backend(backend: Backend, device: str) -> Backend:
    if backend is not Backend.AUTO:
        if backend is Backend.ONNX and device == "mps":
            raise InputError("the ONNX backend does not run on 'mps'; use backend 'torch'")
        return backend
    return Backend.ONNX if device == "cpu" else Backend.TORCH


def _choose_precision(precision: Precision, device: str, backend: Backend) -> Precision:
    if precision is Precision.AUTO:
        if device.startswith("cuda"):
            import torch

            return Precision.BF16 if torch.cuda.is_bf16_supported() else Precision.FP16
        return Precision.FP32
    if precision is Precision.INT8 and (backend is not Backend.ONNX or device != "cpu"):
        raise InputError(
            "precision 'int8' runs through ONNX Runtime on the CPU; "
            "use backend 'onnx' (or 'auto') with device 'cpu'"
        )
    if precision in (Precision.BF16, Precision.FP16) and backend is Backend.ONNX:
        raise InputError(
            f"precision {precision!r} is for the torch backend; the ONNX backend runs fp32 or int8"
        )
    return precision


def padded_size(size: int) -> int:
    """``size`` rounded up to a multiple of :data:`PAD_MULTIPLE` (px)."""
    return -(-size // PAD_MULTIPLE) * PAD_MULTIPLE


def plan_size(
    shape: tuple[int, int],
    mm_per_pixel: float | None,
    input_spacing_mm: float | None,
    scale: float = 1.0,
    max_size: int | None = None,
    auto_scale: bool = True,
) -> tuple[int, int]:
    """(rows, cols) of the network input for a frame of ``shape`` before padding.

    Frames are brought to ``input_spacing_mm`` when both spacings are known; for a model without
    one, ``auto_scale`` applies the inference-scale policy of the module docstring. Then the
    size is multiplied by ``scale`` and shrunk so that the longer side is at most ``max_size``.
    """
    factor = scale
    if mm_per_pixel and input_spacing_mm:
        factor *= mm_per_pixel / input_spacing_mm
    elif auto_scale and input_spacing_mm is None:
        factor *= auto_scale_factor(shape, mm_per_pixel)
    longest = max(shape) * factor
    if max_size is not None and longest > max_size:
        factor *= max_size / longest
    return max(1, round(shape[0] * factor)), max(1, round(shape[1] * factor))


def auto_scale_factor(shape: tuple[int, int], mm_per_pixel: float | None) -> float:
    """The inference-scale policy's resize factor (≤ 1) for a frame of ``shape`` (px) and pixel
    size ``mm_per_pixel`` (None: uncalibrated)."""
    if mm_per_pixel:
        factor = mm_per_pixel / FINEST_MM_PER_PIXEL
    elif max(shape) > NATIVE_LONG_SIDE_PX:
        factor = TRAINED_LONG_SIDE_PX / max(shape)
    else:
        factor = 1.0
    return float(np.clip(factor, MIN_AUTO_FACTOR, 1.0))


@dataclass(frozen=True)
class Segmentation:
    """A run's vessel probabilities (T, H, W) float32 in [0, 1] and, for a model with a segment
    head, each pixel's most likely segment class (T, H, W) uint8
    (:mod:`AngioSegLib.anatomy.segments`; None otherwise)."""

    probabilities: np.ndarray
    classes: np.ndarray | None = None


@dataclass(frozen=True)
class SegmentedFrame:
    """One frame of :meth:`Segmenter.iter_run`: its ``index``, the ``frame`` (H, W) it was
    computed from, its vessel ``probability`` (H, W) float32 in [0, 1] and, for a model with a
    segment head, its segment ``classes`` (H, W) uint8 (None otherwise)."""

    index: int
    frame: np.ndarray
    probability: np.ndarray
    classes: np.ndarray | None = None


class TorchRunner:
    """Runs a torch network on ``device`` with autocast at ``precision`` (fp32 = no autocast);
    returns the vessel logits, or (vessel, segment) logits for a network with a segment head."""

    def __init__(
        self,
        network,
        device: str,
        precision: str,
        threads: int | None = None,
        channels_last: bool | None = None,
    ):
        import torch

        self.device = torch.device(device)
        self.dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
        self.channels_last = self.device.type != "mps" if channels_last is None else channels_last
        if threads:
            torch.set_num_threads(int(threads))
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # frames of one run share one size
        memory = torch.channels_last if self.channels_last else torch.contiguous_format
        self.network = network.eval().to(self.device, memory_format=memory)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        import torch

        x = torch.from_numpy(np.ascontiguousarray(batch, np.float32)).to(self.device)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with (
            torch.inference_mode(),
            torch.autocast(self.device.type, dtype=self.dtype, enabled=self.dtype is not None),
        ):
            output = self.network(x)
        if isinstance(output, tuple):
            return tuple(o.float().cpu().numpy() for o in output)
        return output.float().cpu().numpy()


def _frame_access(frames, mm_per_pixel: float | None):
    """(shape, get(i) -> (H, W) frame, mm_per_pixel) of a CineRun, array or FrameSource."""
    if isinstance(frames, CineRun):
        spacing = frames.calibration.mm_per_pixel if mm_per_pixel is None else mm_per_pixel
        return frames.shape, frames.frame, spacing
    shape = tuple(getattr(frames, "shape", ()))
    if len(shape) != 3 or not hasattr(frames, "__getitem__"):
        raise InputError(
            f"segmentation needs a CineRun or a (T, H, W) frame array, found shape {shape}; "
            "for one image pass image[None]"
        )
    if min(shape) == 0:
        raise InputError(f"there are no pixels to segment: frames have shape {shape}")
    return shape, lambda i: np.asarray(frames[i]), mm_per_pixel


class Segmenter:
    """A loaded model ready to segment cines: ``segment_frames(cine) -> (T, H, W) float32``.

    ``model``: a registered model name, a bundle folder, a loaded model, or None (the default
    model). Options are those of :class:`InferenceOptions`, as an object or as keywords. After
    construction ``device``, ``backend``, ``precision`` and ``device_label`` say what runs.

    Precision int8 calibrates its activation ranges, when it first quantises a model, on
    ``calibration_frames()``: raw (H, W) frames that the caller chooses (the pipeline gives
    phantom frames, :func:`AngioSegLib.pipeline.phantom_calibration_frames`).
    """

    def __init__(self, model=None, options: InferenceOptions | None = None, *,
                 calibration_frames: CalibrationFrames | None = None, **overrides):
        names = sorted(f.name for f in fields(InferenceOptions))
        for key in overrides:
            if key not in names:
                raise unknown_choice_error(key, names, "segmenter option")
        self.options = replace(options or InferenceOptions(), **overrides)
        self.calibration_frames = calibration_frames
        self.device = resolve_device(self.options.device)  # fail fast, before loading weights
        self.backend = _choose_backend(self.options.backend, self.device)
        self.precision = _choose_precision(self.options.precision, self.device, self.backend)
        if self.precision is Precision.INT8 and calibration_frames is None:
            raise InputError(
                "precision 'int8' needs calibration frames: pass calibration_frames (e.g. "
                "AngioSegLib.pipeline.phantom_calibration_frames), or choose precision 'fp32'"
            )
        on_cpu = self.device == "cpu"
        self.batch_size = self.options.batch_size or (CPU_BATCH if on_cpu else GPU_BATCH)
        self._model, self.info = _model_and_info(model)
        self.normalisation_name = self.info.normalisation_name
        check_normalisation(self.normalisation_name)
        self.model_name = self.info.name
        self.model_version = str(self.info.version)
        self.input_spacing_mm = self.info.input_spacing_mm
        self.segment_classes = self.info.segment_classes
        self.onnx_path: Path | None = None
        self._runner = self._make_runner()
        self.device_label = f"{_device_name(self.device)} ({self.backend} {self.precision})"

    @property
    def model(self):
        """The :class:`~AngioSegLib.model.LoadedModel` (torch network and metadata), loaded on
        first use: ONNX inference from a cached export does not need it."""
        if self._model is None:
            from AngioSegLib.model import load_bundle

            self._model = load_bundle(self.info)
        return self._model

    def _weights_digest(self) -> str:
        """The ONNX cache key of the weights: of the bundle's file, or of an in-memory network."""
        if isinstance(self.info, BundleInfo):
            return self.info.weights_digest()
        from AngioSegLib.model.onnx_backend import weights_digest

        return weights_digest(self.model.network)

    def _make_runner(self):
        if self.backend is Backend.TORCH:
            return TorchRunner(
                self.model.network, self.device, self.precision, self.options.threads
            )
        from AngioSegLib.model.onnx_backend import OnnxRunner, cached_onnx

        metadata = {
            "angioseg_model": self.model_name,
            "angioseg_model_version": self.model_version,
            "input": "image (B,1,H,W) float32 from AngioSegLib.model.normalise.normalise_frame "
            f"({self.normalisation_name}); H, W multiples of 32",
            "output": "logits (B,1,H,W); vessel probability = sigmoid(logits)"
            + ("; segments (B,S,H/4,W/4) coronary-segment logits" if self.segment_classes
               else ""),
            "input_spacing_mm": str(self.input_spacing_mm),
        }
        self.onnx_path = cached_onnx(
            lambda: self.model.network, self.model_name, self._weights_digest(),
            int8=self.precision is Precision.INT8,
            calibration=self._calibration_inputs, cache_dir=self.options.cache_dir,
            metadata=metadata,
        )
        return OnnxRunner(self.onnx_path, self.options.threads, self.device)

    def run_network(self, batch: np.ndarray) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Logits (B, 1, H, W) float32 of prepared inputs (B, 1, H, W), H and W multiples of 32;
        with a segment head the pair (those, segment logits (B, S, H/4, W/4)). With
        ``flip_average`` the vessel logits are averaged over mirror images (:mod:`.flips`)."""
        if self.options.flip_average:
            return flip_averaged(self._runner, batch)
        return self._runner(batch)

    def _calibration_inputs(self) -> Iterator[np.ndarray]:
        """(1, 1, H', W') network inputs of the calibration frames, at their own size."""
        for frame in self.calibration_frames():
            frame = np.asarray(frame)
            yield self.prepare(frame, frame.shape)[None]

    def plan_size(self, shape: tuple[int, int], mm_per_pixel: float | None) -> tuple[int, int]:
        """(rows, cols) the network sees for frames of ``shape`` (before padding)."""
        return plan_size(
            shape, mm_per_pixel, self.input_spacing_mm, self.options.scale,
            self.options.max_size, self.options.auto_scale,
        )

    def prepare(self, frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """(1, H', W') float32 network input: normalised, resized to ``size``, padded to 32."""
        image = normalise_frame(np.asarray(frame), self.normalisation_name)
        image = image.astype(np.float32, copy=False)
        if image.shape != size:
            shrink = size[0] < image.shape[0]
            interpolation = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
            image = cv2.resize(image, (size[1], size[0]), interpolation=interpolation)
        pad = [(0, padded_size(n) - n) for n in size]
        return np.pad(image, pad, mode="symmetric")[None]

    @staticmethod
    def restore(logits: np.ndarray, size: tuple[int, int], shape: tuple[int, int]) -> np.ndarray:
        """Probabilities (float32 in [0, 1]) of shape ``shape`` from padded (H', W') logits."""
        logits = np.asarray(logits[: size[0], : size[1]], dtype=np.float32)
        if size != shape:
            logits = cv2.resize(logits, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
        return expit(logits).astype(np.float32, copy=False)

    def segment_frames(
        self,
        frames,
        progress: ProgressCallback = no_progress,
        mm_per_pixel: float | None = None,
    ) -> np.ndarray:
        """Vessel probabilities (T, H, W) float32 in [0, 1] for a CineRun or (T, H, W) frames;
        0 outside each frame's exposed field of view (unless ``field_of_view`` is off).

        ``mm_per_pixel`` overrides the cine's calibration (arrays have none). Reports
        ("segment", k, T) after each frame; a callback raising CancelledError stops between frames.
        """
        return self.segment_run(frames, progress, mm_per_pixel, classes=False).probabilities

    def segment_run(
        self,
        frames,
        progress: ProgressCallback = no_progress,
        mm_per_pixel: float | None = None,
        classes: bool = True,
    ) -> Segmentation:
        """:meth:`segment_frames`'s probabilities and, for a model with a segment head (and
        ``classes``), each pixel's most likely segment class (T, H, W) uint8."""
        (n, rows, cols), _, _ = _frame_access(frames, mm_per_pixel)
        out = np.empty((n, rows, cols), dtype=np.float32)
        named = np.zeros((n, rows, cols), np.uint8) if classes and self.segment_classes else None
        for frame in self.iter_run(frames, progress, mm_per_pixel, classes):
            out[frame.index] = frame.probability
            if named is not None and frame.classes is not None:
                named[frame.index] = frame.classes
        return Segmentation(out, named)

    def iter_run(
        self,
        frames,
        progress: ProgressCallback = no_progress,
        mm_per_pixel: float | None = None,
        classes: bool = True,
    ) -> Iterator[SegmentedFrame]:
        """:meth:`segment_run` one frame at a time: yields a :class:`SegmentedFrame` per frame,
        in order, holding one batch of frames at most (a long run streams through)."""
        (n, rows, cols), frame_at, spacing = _frame_access(frames, mm_per_pixel)
        shape = (rows, cols)
        size = self.plan_size(shape, spacing)
        where = f"{self.device_label} at {size[1]}×{size[0]} px"
        progress(Progress("segment", 0, n, f"segmenting {n} frames on {where}"))
        want_classes = classes and self.segment_classes
        for start in range(0, n, self.batch_size):
            indices = range(start, min(start + self.batch_size, n))
            frames_in = [np.asarray(frame_at(i)) for i in indices]
            output = self.run_network(np.stack([self.prepare(f, size) for f in frames_in]))
            logits, segments = output if isinstance(output, tuple) else (output, None)
            for k, i in enumerate(indices):
                probability = self.restore(logits[k, 0], size, shape)
                if self.options.field_of_view:
                    field = field_of_view(frames_in[k])
                    probability[~field] = 0.0
                    probability[edge_strips(probability >= 0.5, frames_in[k])] = 0.0
                    if self.options.clear_catheters:
                        probability[catheter_pixels(probability >= 0.5, field)] = 0.0
                named = None
                if want_classes:
                    named = (self.restore_classes(segments[k], size, shape)
                             if segments is not None else np.zeros(shape, np.uint8))
                progress(Progress("segment", i + 1, n, f"frame {i + 1}/{n} on {where}"))
                yield SegmentedFrame(i, frames_in[k], probability, named)

    @staticmethod
    def restore_classes(logits: np.ndarray, size: tuple[int, int],
                        shape: tuple[int, int]) -> np.ndarray:
        """(rows, cols) uint8 most likely segment class of segment logits (S, h', w') on the
        padded 1/4 grid of a network input of ``size``, carried onto a frame of ``shape``."""
        from AngioSegLib.anatomy.segments import classes_from_logits, upsample_classes

        quarter = (-(-size[0] // 4), -(-size[1] // 4))
        classes = classes_from_logits(logits[:, : quarter[0], : quarter[1]])
        return upsample_classes(classes, shape)


def export_onnx_model(model, path: Path, int8: bool = False,
                      calibration_frames: CalibrationFrames | None = None,
                      force: bool = False) -> Path:
    """Write ``model`` (name, bundle folder or None) as ONNX to ``path``: fp32, or with ``int8``
    static int8 QDQ calibrated on ``calibration_frames()`` (raw (H, W) frames, required then)."""
    segmenter = Segmenter(
        model, device="cpu", backend=Backend.ONNX,
        precision=Precision.INT8 if int8 else Precision.FP32,
        calibration_frames=calibration_frames,
    )
    from AngioSegLib.model.onnx_backend import copy_file

    return copy_file(segmenter.onnx_path, path, force=force)


def _model_and_info(model) -> tuple[LoadedModel | None, BundleInfo | LoadedModel]:
    """(the loaded model or None, what its metadata says) from a name, a bundle folder, a
    loaded model or None (the default model). A bundle is only read, not loaded (no torch)."""
    if isinstance(model, LoadedModel):
        return model, model
    return None, read_bundle(DEFAULT_MODEL if model is None else model)
