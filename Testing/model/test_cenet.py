"""CE-Net network, blocks and bundles: shapes, the paper's structure, save/load, checks, names."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from AngioSegLib.errors import InputError, ModelError
from AngioSegLib.model import (
    DEFAULT_MODEL,
    MODEL_NAMES,
    MODELS_DIR,
    build_network,
    check_bundle,
    load_bundle,
    make_metadata,
    normalise_frame,
    save_bundle,
)
from AngioSegLib.model.blocks import DenseAtrousBlock, ResidualMultiKernelPool

torch.set_num_threads(2)


def _n_parameters(network: torch.nn.Module) -> int:
    return sum(p.numel() for p in network.parameters())


@pytest.mark.parametrize(("name", "size"), [
    ("cenet-r34", (96, 128)), ("cenet-light", (96, 160)), ("cenet-light", (64, 64)),
    ("cenet-light", (32, 224)),
])
def test_logits_have_the_input_size(name, size):
    network = build_network(name).eval()
    with torch.no_grad():
        logits = network(torch.rand(2, 1, *size))
    assert logits.shape == (2, 1, *size)
    assert torch.isfinite(logits).all()
    if name == "cenet-r34":
        assert 28.5e6 < _n_parameters(network) < 29.5e6  # the paper's CE-Net has ≈ 29 M
    else:
        assert _n_parameters(network) < 6e6


def test_unknown_name_suggests_the_closest():
    with pytest.raises(ModelError, match="did you mean 'cenet-r34'"):
        build_network("cenet-r35")
    with pytest.raises(ModelError, match="did you mean 'cenet-light'"):
        load_bundle("cenet-lite")


def test_dac_computes_each_shared_convolution_once():
    torch.manual_seed(0)
    block = DenseAtrousBlock(8).eval()
    calls = {name: 0 for name in ("dilate1", "dilate3", "dilate5", "project")}
    for name in calls:
        getattr(block, name).register_forward_hook(
            lambda *_, name=name: calls.__setitem__(name, calls[name] + 1))
    x = torch.randn(1, 8, 16, 16)
    with torch.no_grad():
        out = block(x)
    # a(x) once, b(x) and b(a(x)), c(b(a(x))), and the 1×1 projection of three branches
    assert calls == {"dilate1": 1, "dilate3": 2, "dilate5": 1, "project": 3}
    # same result as the paper's formula written out naively (recomputing shared results)
    a, b, c, p = block.dilate1, block.dilate3, block.dilate5, block.project
    with torch.no_grad():
        expected = (x + F.relu(a(x)) + F.relu(p(b(x))) + F.relu(p(b(a(x))))
                    + F.relu(p(c(b(a(x))))))
    torch.testing.assert_close(out, expected)


def test_rmp_adds_four_pooled_maps():
    block = ResidualMultiKernelPool(16)
    for size in (4, 13):  # smaller and larger than the pooling kernels
        x = torch.randn(2, 16, size, size)
        out = block(x)
        assert out.shape == (2, 20, size, size)
        torch.testing.assert_close(out[:, :16], x)  # the input passes through unchanged


def test_normalise_frame_inverts_and_scales():
    frame = np.full((64, 64), 3000, np.uint16)
    frame[30:34, :] = 1000  # a dark (contrast-filled) vessel
    image = normalise_frame(frame, "percentile-inverted")
    assert image.dtype == np.float32
    assert image.min() >= 0.0 and image.max() <= 1.0
    assert image[32, 10] == 1.0 and image[0, 0] == 0.0  # vessel bright, background dark
    assert not normalise_frame(np.full((8, 8), 7.0)).any()
    with pytest.raises(InputError, match=r"one \(H, W\) frame"):
        normalise_frame(np.zeros((2, 8, 8)))


def test_save_load_round_trip(tmp_path):
    torch.manual_seed(1)
    network = build_network("cenet-light").eval()
    metadata = make_metadata("cenet-light", input_spacing_mm=0.3)
    save_bundle(network, tmp_path / "b", metadata)
    loaded = load_bundle(tmp_path / "b")
    assert (loaded.name, loaded.input_spacing_mm) == ("cenet-light", 0.3)
    assert loaded.normalisation["name"] == "flattened-inverted"  # make_metadata default
    assert not loaded.network.training
    # the bundle stores fp16 weights: the loaded network equals the original rounded to fp16
    network.load_state_dict({k: v.half().float() if v.is_floating_point() else v
                             for k, v in network.state_dict().items()})
    x = torch.rand(1, 1, 64, 96)
    with torch.no_grad():
        assert torch.equal(network(x), loaded.network(x))
    with pytest.raises(Exception, match="already exists"):
        save_bundle(network, tmp_path / "b", metadata)


def test_check_bundle_passes_and_catches_a_wrong_contract(tmp_path):
    network = build_network("cenet-light")
    metadata = make_metadata("cenet-light")
    save_bundle(network, tmp_path / "good", metadata)
    assert check_bundle(tmp_path / "good").name == "cenet-light"
    metadata["network_data_format"]["outputs"]["pred"]["num_channels"] = 2
    save_bundle(network, tmp_path / "bad", metadata)
    with pytest.raises(ModelError, match=r"output shape \(1, 1, 64, 64\), expected \(1, 2, 64"):
        check_bundle(tmp_path / "bad")


def test_load_bundle_errors(tmp_path):
    with pytest.raises(ModelError, match="not a model bundle"):
        load_bundle(tmp_path)
    save_bundle(build_network("cenet-light"), tmp_path / "b", make_metadata("cenet-r34"))
    with pytest.raises(ModelError, match="cannot load the model bundle"):
        load_bundle(tmp_path / "b")  # weights of another architecture


def test_shipped_bundles_pass_the_check():
    shipped = [name for name in MODEL_NAMES if (MODELS_DIR / name).is_dir()]
    assert DEFAULT_MODEL in shipped
    for name in set(MODEL_NAMES) - set(shipped):
        with pytest.raises(ModelError, match=f"'{name}' has no trained weights installed"):
            load_bundle(name)
    for name in shipped:
        loaded = check_bundle(name)
        assert loaded.name == name
        metadata = json.loads((MODELS_DIR / name / "configs" / "metadata.json").read_text())
        assert metadata["angioseg"]["training"]["val_dice"] > 0.5
        assert (MODELS_DIR / name / "MODEL_CARD.md").is_file()


def test_flattened_normalisation_evens_out_a_dense_background():
    frame = np.full((256, 256), 3000.0, np.float32)
    frame[:, 128:] = 1500.0  # a dense region (diaphragm) over the right half
    frame[120:124, 20:236] -= 400.0  # one vessel of the same attenuation crossing both halves
    plain = normalise_frame(frame, "percentile-inverted")
    flat = normalise_frame(frame, "flattened-inverted")
    left, right = (slice(20, 100), slice(156, 236))
    contrast = [float(img[122, cols].mean() - img[100, cols].mean())
                for img in (plain, flat) for cols in (left, right)]
    assert max(contrast[:2]) < 0.3  # squashed by the dense half and the clipping
    assert min(contrast[2:]) > 0.4 and abs(contrast[2] - contrast[3]) < 0.05  # same both sides
    with pytest.raises(ModelError, match="normalisation 'zscore' is not implemented"):
        normalise_frame(frame, "zscore")


def test_bundle_records_its_normalisation(tmp_path):
    network = build_network("cenet-light").eval()
    metadata = make_metadata("cenet-light", normalisation="flattened-inverted")
    loaded = load_bundle(save_bundle(network, tmp_path / "b", metadata))
    assert loaded.normalisation_name == "flattened-inverted"
    assert loaded.normalisation["description"].startswith("per frame: frame minus")


@pytest.mark.parametrize("size", [(97, 128), (96, 130), (33, 33)])
def test_network_refuses_inputs_it_would_have_to_pad(size):
    network = build_network("cenet-light").eval()
    with pytest.raises(ModelError, match=rf"input is {size[0]}×{size[1]} px \(H×W\); height and "
                                         r"width must be multiples of 32: run frames through "
                                         r"AngioSegLib\.segment\.segmenter\.Segmenter"):
        network(torch.rand(1, 1, *size))


@pytest.mark.parametrize("shape", [(97, 130), (33, 200), (64, 64)])
def test_segmenter_pads_once_and_gives_the_frame_shape_back(shape):
    from AngioSegLib.model import LoadedModel
    from AngioSegLib.segment.segmenter import Segmenter, padded_size

    torch.manual_seed(0)
    network = build_network("cenet-light", 26).eval()
    model = LoadedModel(network, {}, "cenet-light", "0", None, {"name": "flattened-inverted"})
    segmenter = Segmenter(model, device="cpu", backend="torch")
    frames = np.random.default_rng(0).integers(0, 255, (2, *shape)).astype(np.uint8)
    prepared = segmenter.prepare(frames[0], shape)
    assert prepared.shape == (1, padded_size(shape[0]), padded_size(shape[1]))
    run = segmenter.segment_run(frames)
    assert run.probabilities.shape == run.classes.shape == (2, *shape)
    assert run.probabilities.dtype == np.float32
    assert 0.0 <= run.probabilities.min() and run.probabilities.max() <= 1.0
