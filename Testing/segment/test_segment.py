"""`Segmenter`: probabilities for any input size, ONNX ≡ torch, devices, progress and cancel.

The network is the real cenet-light, randomly initialised with a fixed seed; its batch-norm
statistics are taken from phantom frames and its last layer scaled so the logits spread over
several units: probabilities then cover (0, 1) and the comparisons below are not of constants.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from AngioSegLib.cine import CineRun
from AngioSegLib.errors import CancelledError, DeviceError, InputError, ModelError
from AngioSegLib.evaluation.metrics import dice
from AngioSegLib.model import MODELS_DIR, LoadedModel, build_network, normalise_frame
from AngioSegLib.model.onnx_backend import weights_digest
from AngioSegLib.phantom.generator import PhantomOptions, make_phantom
from AngioSegLib.pipeline import phantom_calibration_frames
from AngioSegLib.segment.segmenter import InferenceOptions, Segmenter, plan_size

torch.set_num_threads(2)


def spread_network(name: str = "cenet-light", seed: int = 0):
    """A real network with random weights whose outputs vary across the image."""
    torch.manual_seed(seed)
    network = build_network(name)
    frames = make_phantom(PhantomOptions(seed=1, n_frames=2, size=128)).cine.to_array()
    batch = torch.from_numpy(np.stack([normalise_frame(f) for f in frames])[:, None])
    for module in network.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None  # cumulative average over the one batch
    network.train()
    with torch.no_grad():
        network(batch)
    network.eval()
    last = network.head.layers[-1]
    with torch.no_grad():
        logits = network(batch)
        last.weight /= float(logits.std())
        last.bias -= float(logits.mean()) / float(logits.std())
    return network


@pytest.fixture(scope="module")
def model() -> LoadedModel:
    return LoadedModel(
        spread_network(), {}, "cenet-light-test", "0", input_spacing_mm=0.2, normalisation={}
    )


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("onnx-cache")


@pytest.fixture(scope="module")
def torch_segmenter(model) -> Segmenter:
    return Segmenter(model, device="cpu", backend="torch")


@pytest.fixture(scope="module")
def onnx_segmenter(model, cache_dir) -> Segmenter:
    return Segmenter(model, device="cpu", backend="onnx", cache_dir=cache_dir)


@pytest.fixture(scope="module")
def phantom():
    return make_phantom(PhantomOptions(seed=2, n_frames=3, size=128))


class CountingFrames:
    """A lazy FrameSource that records which frames were decoded, in order."""

    def __init__(self, array: np.ndarray):
        self.array, self.shape, self.dtype = array, array.shape, array.dtype
        self.decoded: list[int] = []

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index: int) -> np.ndarray:
        self.decoded.append(int(index))
        return self.array[index].copy()


@pytest.mark.parametrize(
    ("shape", "dtype"), [((2, 67, 101), np.uint16), ((1, 45, 200), np.uint8), ((3, 33, 31), float)]
)
def test_probabilities_for_odd_sizes(onnx_segmenter, shape, dtype):
    rng = np.random.default_rng(0)
    frames = (rng.random(shape) * 200).astype(dtype)
    probabilities = onnx_segmenter.segment_frames(frames)
    assert probabilities.shape == shape
    assert probabilities.dtype == np.float32
    assert np.isfinite(probabilities).all()
    assert probabilities.min() >= 0.0 and probabilities.max() <= 1.0
    assert probabilities.std() > 0.01  # not a constant map


def test_lazy_cine_is_decoded_one_batch_at_a_time(model, phantom, cache_dir):
    source = CountingFrames(phantom.cine.to_array())
    cine = CineRun(source, calibration=phantom.cine.calibration)
    segmenter = Segmenter(model, device="cpu", batch_size=2, cache_dir=cache_dir)
    decoded_at_event = []
    probabilities = segmenter.segment_frames(
        cine, progress=lambda event: decoded_at_event.append((event.done, len(source.decoded)))
    )
    assert probabilities.shape == cine.shape
    assert sorted(source.decoded) == [0, 1, 2]  # each frame decoded once
    # when frame k is reported, no frame beyond its batch has been decoded
    assert all(decoded <= 2 * ((done + 1) // 2) for done, decoded in decoded_at_event if done)
    assert decoded_at_event[0] == (0, 0)


def test_trained_scale_resize_and_back(onnx_segmenter, phantom):
    # the phantom is 0.4 mm/px, the model was trained at 0.2 mm/px: it sees 256² frames
    assert onnx_segmenter.plan_size((128, 128), 0.4) == (256, 256)
    messages = []
    probabilities = onnx_segmenter.segment_frames(phantom.cine, progress=messages.append)
    assert probabilities.shape == (3, 128, 128)
    assert "256×256 px" in messages[0].message
    native = onnx_segmenter.segment_frames(phantom.cine.to_array())  # no spacing: native size
    assert native.shape == (3, 128, 128)
    assert not np.allclose(native, probabilities, atol=1e-3)


def test_plan_size_rules():
    assert plan_size((512, 512), 0.2, 0.2) == (512, 512)
    assert plan_size((512, 384), None, 0.2) == (512, 384)  # uncalibrated: native
    assert plan_size((512, 384), 0.3, None) == (512, 384)  # model without spacing: native
    assert plan_size((1024, 1024), 0.15, 0.3) == (512, 512)
    assert plan_size((1024, 512), None, None, max_size=512) == (512, 256)
    assert plan_size((512, 512), None, None, scale=0.75) == (384, 384)


def test_inference_scale_policy_of_models_without_a_spacing():
    """Fine pixels are brought to 0.15 mm, large uncalibrated frames to 512 px, never by less
    than half and never enlarged; a model with a spacing, or auto_scale off, is not touched."""
    assert plan_size((1024, 1024), 0.1, None) == (683, 683)  # 0.1 → 0.15 mm/px
    assert plan_size((1024, 1024), 0.05, None) == (512, 512)  # at most halved
    assert plan_size((512, 512), 0.3, None) == (512, 512)  # coarse pixels: never enlarged
    assert plan_size((1024, 1024), None, None) == (512, 512)  # uncalibrated 1024²
    assert plan_size((1024, 768), None, None) == (512, 384)
    assert plan_size((600, 600), None, None) == (600, 600)  # up to 640 px: native
    assert plan_size((1024, 1024), None, None, auto_scale=False) == (1024, 1024)
    assert plan_size((1024, 1024), 0.1, 0.1) == (1024, 1024)  # the model's own spacing wins


def test_restore_crops_the_padding_and_resizes_back():
    logits = np.full((64, 96), 50.0, dtype=np.float32)  # padding region: would give p = 1
    logits[:40, :70] = np.linspace(-4, 4, 70, dtype=np.float32)[None, :]
    probabilities = Segmenter.restore(logits, (40, 70), (80, 140))
    assert probabilities.shape == (80, 140) and probabilities.dtype == np.float32
    assert probabilities.max() < 0.99  # nothing from the padding leaked in
    assert np.all(np.diff(probabilities[40], axis=0) >= 0)  # the ramp survives, left to right
    assert probabilities[0, 0] == pytest.approx(1 / (1 + np.exp(4)), abs=0.01)


def test_onnx_equals_torch_on_the_same_weights(torch_segmenter, onnx_segmenter, phantom):
    assert onnx_segmenter.backend == "onnx" and torch_segmenter.backend == "torch"
    onnx_probabilities = onnx_segmenter.segment_frames(phantom.cine)
    torch_probabilities = torch_segmenter.segment_frames(phantom.cine)
    assert torch_probabilities.std() > 0.05
    np.testing.assert_allclose(onnx_probabilities, torch_probabilities, atol=2e-4)
    odd = (np.random.default_rng(1).random((2, 50, 77)) * 4095).astype(np.uint16)
    np.testing.assert_allclose(
        onnx_segmenter.segment_frames(odd), torch_segmenter.segment_frames(odd), atol=2e-4
    )


def test_onnx_export_is_cached_by_weights(model, onnx_segmenter, cache_dir):
    again = Segmenter(model, device="cpu", backend="onnx", cache_dir=cache_dir)
    assert again.onnx_path == onnx_segmenter.onnx_path
    assert weights_digest(model.network) in again.onnx_path.name
    changed = build_network("cenet-light")
    changed.load_state_dict(model.network.state_dict())
    with torch.no_grad():
        changed.head.layers[-1].bias += 1e-3
    assert weights_digest(changed) != weights_digest(model.network)


def test_int8_stays_close_to_fp32(model, onnx_segmenter, cache_dir, phantom):
    int8 = Segmenter(model, device="cpu", precision="int8", cache_dir=cache_dir,
                     calibration_frames=phantom_calibration_frames)
    assert int8.device_label == "cpu (onnx int8)"
    fp32_masks = onnx_segmenter.segment_frames(phantom.cine) >= 0.5
    int8_masks = int8.segment_frames(phantom.cine) >= 0.5
    assert dice(int8_masks, fp32_masks) > 0.9


def test_auto_device_is_reported(model, cache_dir):
    segmenter = Segmenter(model, cache_dir=cache_dir)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert segmenter.device.startswith(expected) or segmenter.device == "mps"
    assert segmenter.device in segmenter.device_label
    if segmenter.device == "cpu":
        assert segmenter.backend == "onnx" and segmenter.precision == "fp32"


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_raises_device_error(model):
    with pytest.raises(DeviceError, match="device 'cuda' was requested but PyTorch .*install a "
                                          "CUDA build of PyTorch .*choose device 'cpu' or 'auto'"):
        Segmenter(model, device="cuda")


@pytest.mark.skipif(
    bool(torch.backends.mps.is_available()), reason="this machine has Apple's Metal backend"
)
def test_mps_without_mps_raises_device_error(model):
    with pytest.raises(DeviceError, match="device 'mps' was requested but Apple's Metal"):
        Segmenter(model, device="mps")


@pytest.mark.parametrize(
    ("overrides", "error", "match"),
    [
        ({"device": "cdua"}, InputError, "unknown device 'cdua'.*did you mean 'cuda'"),
        ({"precision": "int4"}, InputError, "unknown precision 'int4'.*did you mean 'int8'"),
        ({"backend": "onnx", "precision": "fp16"}, InputError, "ONNX backend runs fp32 or int8"),
        ({"backend": "torch", "precision": "int8"}, InputError, "int8' runs through ONNX"),
        ({"batch_size": 0}, InputError, "batch size must be 1 or more frames, found 0"),
        ({"scale": 5.0}, InputError, "scale must be between 0.1 and 2, found 5.0"),
        ({"batchsize": 2}, InputError, "unknown segmenter option 'batchsize'.*'batch_size'"),
        ({"precision": "int8"}, InputError, "precision 'int8' needs calibration frames"),
    ],
)
def test_bad_options_are_refused(model, overrides, error, match):
    with pytest.raises(error, match=match):
        Segmenter(model, **overrides)


def test_bad_inputs_are_refused(onnx_segmenter):
    with pytest.raises(InputError, match=r"\(T, H, W\) frame array, found shape \(64, 64\)"):
        onnx_segmenter.segment_frames(np.zeros((64, 64)))
    with pytest.raises(InputError, match="no pixels to segment"):
        onnx_segmenter.segment_frames(np.zeros((2, 0, 64)))


def test_foreign_normalisation_is_refused():
    network = build_network("cenet-light")
    foreign = LoadedModel(network, {}, "other", "1", None, {"name": "z-score"})
    with pytest.raises(ModelError, match="normalisation 'z-score' is not implemented"):
        Segmenter(foreign, backend="torch")


def test_progress_per_frame_and_cancel(onnx_segmenter, phantom):
    events = []
    onnx_segmenter.segment_frames(phantom.cine, progress=events.append)
    assert [(e.stage, e.done, e.total) for e in events] == [("segment", k, 3) for k in range(4)]
    assert all(onnx_segmenter.device_label in e.message for e in events)

    seen = []

    def cancel_after_first(event):
        seen.append(event.done)
        if event.done == 1:
            raise CancelledError("cancelled by the user")

    with pytest.raises(CancelledError, match="cancelled by the user"):
        onnx_segmenter.segment_frames(phantom.cine, progress=cancel_after_first)
    assert seen == [0, 1]


@pytest.mark.skipif(
    not (MODELS_DIR / "cenet-light" / "configs" / "metadata.json").is_file(),
    reason="no trained cenet-light bundle installed",
)
def test_shipped_light_model_segments_a_phantom(tmp_path):
    run = make_phantom(PhantomOptions(seed=11, n_frames=2, size=192))
    segmenter = Segmenter("cenet-light", InferenceOptions(device="cpu", cache_dir=tmp_path))
    probabilities = segmenter.segment_frames(run.cine)
    assert dice(probabilities >= 0.5, run.masks) > 0.6


def test_bf16_autocast_path_runs_close_to_fp32(model, torch_segmenter):
    # the GPU's mixed-precision path, exercised with CPU autocast
    frames = (np.random.default_rng(3).random((2, 64, 96)) * 4095).astype(np.uint16)
    bf16 = Segmenter(model, device="cpu", backend="torch", precision="bf16", batch_size=2)
    assert bf16.device_label == "cpu (torch bf16)"
    low, full = bf16.segment_frames(frames), torch_segmenter.segment_frames(frames)
    assert low.dtype == np.float32 and low.shape == full.shape
    assert np.abs(low - full).mean() < 0.01  # bf16 keeps ~3 digits: close, not equal
    assert np.corrcoef(low.ravel(), full.ravel())[0, 1] > 0.99


def test_probabilities_outside_the_shutters_are_zero(model, phantom):
    frames = phantom.cine.to_array().copy()
    frames[:, :, 100:] = 0  # a flat-black shutter over the right side
    cleared = Segmenter(model, device="cpu", backend="torch").segment_frames(frames)
    raw = Segmenter(model, device="cpu", backend="torch",
                    field_of_view=False).segment_frames(frames)
    assert not cleared[:, :, 99:].any() and raw[:, :, 99:].max() > 0.1
    band = 4  # along the image border a run of vessel is cleared too (edge_strips)
    np.testing.assert_array_equal(cleared[:, band:-band, band:95], raw[:, band:-band, band:95])
