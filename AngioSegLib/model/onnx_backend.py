"""ONNX Runtime backend: export a network to ONNX (fp32 or int8 QDQ), cache it, run it on the CPU.

The exported graph takes ``image`` (B, 1, H, W) float32 and returns ``logits`` of the same shape,
with B, H and W dynamic (H and W multiples of 32); a network with a segment head returns
``segments`` (B, S, H/4, W/4) too. Exports are cached under
:func:`onnx_cache_dir`, keyed by a hash of the weights, so a model is exported once per machine.
"""

from __future__ import annotations

import copy
import hashlib
import os
import tempfile
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from AngioSegLib.errors import AngioSegError, DeviceError, ModelError
from AngioSegLib.io.atomic import atomic_write

OPSET = 17
INPUT_NAME = "image"
OUTPUT_NAME = "logits"
SEGMENTS_NAME = "segments"
# bump when the export recipe changes so stale cached files are not reused
EXPORT_RECIPE = "v1"


def onnx_cache_dir() -> Path:
    """``$ANGIOSEG_CACHE_DIR``, else ``$XDG_CACHE_HOME/angioseg``, else ``~/.cache/angioseg``."""
    if os.environ.get("ANGIOSEG_CACHE_DIR"):
        return Path(os.environ["ANGIOSEG_CACHE_DIR"]) / "onnx"
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "angioseg" / "onnx"


def weights_digest(network) -> str:
    """First 16 hex digits of the SHA-256 of the network's parameter names, shapes and values."""
    digest = hashlib.sha256()
    for name, tensor in sorted(network.state_dict().items()):
        array = tensor.detach().cpu().contiguous().numpy()
        digest.update(f"{name}:{array.dtype}:{array.shape};".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()[:16]


def _set_metadata(path: Path, metadata: dict[str, str]) -> None:
    import onnx

    model = onnx.load(str(path))
    onnx.helper.set_model_props(model, {str(k): str(v) for k, v in metadata.items()})
    onnx.save(model, str(path))


def export_onnx(
    network, path: Path, force: bool = False, metadata: dict[str, str] | None = None
) -> Path:
    """Write ``network`` as an fp32 ONNX graph with dynamic batch, height and width.

    ``metadata`` is stored in the file's ``metadata_props`` (model name, version, input contract).
    """
    path = Path(path)
    if any(p.device.type != "cpu" for p in network.parameters()):
        network = copy.deepcopy(network).cpu()  # leave the caller's (GPU) network where it is
    was_training = network.training
    network.eval()
    try:
        with atomic_write(path, force=force) as temp:
            _export(network, temp)
            if metadata:
                _set_metadata(temp, metadata)
    except AngioSegError:
        raise
    except Exception as error:
        raise ModelError(f"could not export the network to ONNX: {error}") from error
    finally:
        network.train(was_training)
    return path


def _export(network, path: Path) -> None:
    """torch.onnx.export with dynamic batch, height and width (fp32, opset OPSET)."""
    import torch

    dummy = torch.zeros(1, 1, 256, 256)
    axes = {0: "batch", 2: "height", 3: "width"}
    names, dynamic = [OUTPUT_NAME], {INPUT_NAME: axes, OUTPUT_NAME: axes}
    if getattr(network, "segment_classes", 0):
        names.append(SEGMENTS_NAME)
        dynamic[SEGMENTS_NAME] = {0: "batch", 2: "quarter_height", 3: "quarter_width"}
    with warnings.catch_warnings(), torch.inference_mode():
        # the TorchScript exporter is deprecated in favour of the dynamo one, which needs
        # onnxscript (not a dependency); it is still the one that handles dynamic H, W here
        warnings.simplefilter("ignore", category=DeprecationWarning)
        warnings.simplefilter("ignore", category=FutureWarning)
        warnings.simplefilter("ignore", category=torch.jit.TracerWarning)
        torch.onnx.export(
            network, (dummy,), str(path), dynamo=False, opset_version=OPSET,
            input_names=[INPUT_NAME], output_names=names, dynamic_axes=dynamic,
        )


def cpu_has_vnni() -> bool:
    """Whether this x86 CPU has VNNI (AVX512-VNNI or AVX-VNNI), read from /proc/cpuinfo.

    Without VNNI, ONNX Runtime's uint8 × int8 kernels (VPMADDUBSW) can saturate and lose accuracy
    (Dice 0.52 against fp32 measured on an AVX2 EPYC), so weights are then quantised to 7 bits.
    """
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_vnni" in flags or "avx_vnni" in flags


class _Batches:
    """onnxruntime CalibrationDataReader over (1, 1, H, W) float32 arrays."""

    def __init__(self, batches: Iterable[np.ndarray]):
        self._iter = iter(batches)

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self._iter, None)
        return None if batch is None else {INPUT_NAME: np.ascontiguousarray(batch, np.float32)}

    def rewind(self) -> None:  # onnxruntime calls it on some calibrators; one pass is enough
        pass


def quantize_onnx(
    fp32_path: Path,
    path: Path,
    calibration: Iterable[np.ndarray],
    force: bool = False,
    metadata: dict[str, str] | None = None,
) -> Path:
    """Static int8 QDQ quantisation (per-channel weights, uint8 activations, min-max calibration).

    ``calibration`` yields (1, 1, H, W) float32 inputs normalised as the network expects. Weights
    use 7 bits (``reduce_range``) on CPUs without VNNI (see :func:`cpu_has_vnni`).
    """
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    path = Path(path)
    try:
        with atomic_write(path, force=force) as temp:
            pre = temp.with_suffix(".pre.onnx")
            try:
                quant_pre_process(str(fp32_path), str(pre), skip_symbolic_shape=True)
                quantize_static(
                    str(pre), str(temp), _Batches(calibration), quant_format=QuantFormat.QDQ,
                    per_channel=True, activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8, reduce_range=not cpu_has_vnni(),
                )
            finally:
                pre.unlink(missing_ok=True)
            if metadata:
                _set_metadata(temp, metadata)
    except AngioSegError:
        raise
    except Exception as error:
        raise ModelError(f"could not quantise the ONNX model to int8: {error}") from error
    return path


def cached_onnx(
    network: Callable[[], object],
    model_name: str,
    digest: str,
    int8: bool = False,
    calibration=None,
    cache_dir: Path | None = None,
    metadata: dict[str, str] | None = None,
) -> Path:
    """The ONNX file of a network from the cache, exported (and quantised) on first use.

    ``network`` returns the torch network; it is called only when the export is not cached, so
    a cached model runs without loading torch. ``digest`` identifies the weights in the file
    name (:func:`weights_digest`, or a hash of the weights file). ``calibration`` is a callable
    returning an iterable of calibration inputs (int8 only); ``metadata`` goes into the file
    (see :func:`export_onnx`). Falls back to a fresh temporary folder when the cache folder
    cannot be written.
    """
    folder = Path(cache_dir) if cache_dir is not None else onnx_cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = tempfile.TemporaryFile(dir=folder)
        probe.close()
    except OSError:
        folder = Path(tempfile.mkdtemp(prefix="angioseg-onnx-"))
    stem = f"{model_name}-{digest}-{EXPORT_RECIPE}-opset{OPSET}"
    fp32 = folder / f"{stem}-fp32.onnx"
    if not fp32.exists():
        export_onnx(network(), fp32, force=True, metadata=metadata)
    if not int8:
        return fp32
    if calibration is None:
        raise ModelError("int8 quantisation needs calibration images")
    quantized = folder / f"{stem}-int8{'' if cpu_has_vnni() else '-7bit'}.onnx"
    if not quantized.exists():
        quantize_onnx(fp32, quantized, calibration(), force=True, metadata=metadata)
    return quantized


def copy_file(source: Path, path: Path, force: bool = False) -> Path:
    """Copy ``source`` to ``path`` through a temporary file (refusing to overwrite unless force)."""
    import shutil

    with atomic_write(path, force=force) as temp:
        shutil.copyfile(source, temp)
    return Path(path)


class OnnxRunner:
    """Runs an ONNX graph: ``runner(batch (B, 1, H, W) float32) -> logits`` of the same shape,
    or the pair (logits, segment logits) for a graph with a ``segments`` output."""

    def __init__(self, path: Path, threads: int | None = None, device: str = "cpu"):
        import onnxruntime as ort

        providers = ["CPUExecutionProvider"]
        if device.startswith("cuda"):
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise DeviceError(
                    "the ONNX backend on CUDA needs onnxruntime-gpu, which is not installed; "
                    "use backend 'torch' for the GPU, or device 'cpu'"
                )
            index = int(device.partition(":")[2] or 0)
            providers = [("CUDAExecutionProvider", {"device_id": index}), *providers]
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
        # the memory pattern plans one block for all activations of an input size: 0.25 GB more
        # at 992² input, and no faster (measured: 414 against 412 ms); the arena stays (without
        # it a 512² frame takes 1.5× as long)
        options.enable_mem_pattern = False
        try:
            self.session = ort.InferenceSession(str(path), options, providers=providers)
        except Exception as error:
            raise ModelError(f"ONNX Runtime could not load {path}: {error}") from error
        self.path = Path(path)
        self.outputs = [o.name for o in self.session.get_outputs()
                        if o.name in (OUTPUT_NAME, SEGMENTS_NAME)]

    def __call__(self, batch: np.ndarray) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        results = self.session.run(self.outputs, {INPUT_NAME: batch})
        return tuple(results) if len(results) > 1 else results[0]
