"""Hostile model bundles and evaluation masks: damaged weights, the wrong architecture, broken
metadata, names that are neither registered nor a folder, empty and non-binary reference masks.
Each failure is one ``angioseg: error:`` line (exit 2); each doubtful score is one warning line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import torch
from cli_helpers import assert_one_line_error, run_cli

from AngioSegLib.errors import ModelError
from AngioSegLib.evaluation.evaluate import _read_mask, read_mask
from AngioSegLib.model import build_network, load_bundle, make_metadata, resolve_bundle, save_bundle

torch.set_num_threads(1)
METADATA = Path("configs") / "metadata.json"
WEIGHTS = Path("models") / "model.pt"
BENCH = ["bench", "--size", "32", "--frames", "1", "--device", "cpu", "--backend", "torch"]


@pytest.fixture(scope="module")
def light(tmp_path_factory) -> Path:
    """A cenet-light bundle with seeded random weights; tests copy it before damaging it."""
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("bundles") / "light"
    return save_bundle(build_network("cenet-light"), folder, make_metadata("cenet-light"))


@pytest.fixture
def bundle(light, tmp_path) -> Path:
    """A fresh copy of the light bundle, to damage."""
    return Path(shutil.copytree(light, tmp_path / "mybundle"))


def bench_error(capsys, model: Path | str, match: str) -> str:
    code, _, err = run_cli([*BENCH, "--model", str(model)], capsys)
    assert_one_line_error(code, err, match)
    return err


# --- 1. damaged weights ------------------------------------------------------------------------

def _weights(kind: str, good: bytes) -> bytes:
    if kind == "random":
        return np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    if kind == "empty":
        return b""
    if kind == "truncated":
        return good[: len(good) // 2]
    return b"hello, this is text\n"


@pytest.mark.parametrize(("kind", "match"), [
    ("random", "is damaged or not a PyTorch state dict: not a PyTorch file (it starts with the "
               "bytes"),
    ("empty", "is empty (0 bytes): it was not written completely; copy the bundle again"),
    ("truncated", "is damaged or not a PyTorch state dict: its zip archive is truncated or "
                  "damaged; copy the bundle again"),
    ("text", "is damaged or not a PyTorch state dict: not a PyTorch file"),
])
def test_damaged_weights_are_one_line(bundle, capsys, kind, match):
    path = bundle / WEIGHTS
    path.write_bytes(_weights(kind, path.read_bytes()))
    err = bench_error(capsys, bundle, match)
    assert f"angioseg: error: cannot load the model bundle at {bundle}: models/model.pt " in err
    with pytest.raises(ModelError, match="re-save the weights with torch.save"):
        load_bundle(bundle)


def test_weights_that_are_not_a_state_dict(bundle, capsys):
    state = build_network("cenet-light").state_dict()
    torch.save({"epoch": 3, "state_dict": state}, bundle / WEIGHTS)
    bench_error(capsys, bundle, "is not a PyTorch state dict: 2 of its 2 entries are not tensors "
                                "(e.g. 'epoch'); a training checkpoint?")
    torch.save(torch.zeros(3), bundle / WEIGHTS)
    bench_error(capsys, bundle, "holds a Tensor, not a PyTorch state dict")
    torch.save(torch.nn.Linear(2, 2), bundle / WEIGHTS)
    bench_error(capsys, bundle, "it holds Python objects besides tensors (a whole pickled model?)")
    (bundle / WEIGHTS).unlink()
    bench_error(capsys, bundle, f"at {bundle}: models/model.pt is missing: the bundle has no "
                                "weights; copy the bundle again")


# --- 2. weights of another architecture ---------------------------------------------------------

def test_light_weights_under_r34_metadata_name_the_fitting_architecture(bundle, capsys):
    (bundle / METADATA).write_text(json.dumps(make_metadata("cenet-r34")))
    err = bench_error(capsys, bundle, f"at {bundle}: the weights in models/model.pt do not fit "
                                      "the 'cenet-r34' network that configs/metadata.json names: ")
    assert "tensors of another shape" in err and " missing, 0 unexpected (e.g. " in err
    assert "stem.0.weight is 32×1×7×7 in the file, 64×1×7×7 in the network" in err
    assert err.rstrip().endswith("they are 'cenet-light' weights: set \"architecture\" to "
                                 "'cenet-light' in configs/metadata.json")


def test_foreign_weights_count_missing_unexpected_and_reshaped(bundle, capsys):
    state = build_network("cenet-light").state_dict()
    del state[next(reversed(state))]  # the last tensor missing
    state["extra.weight"] = torch.zeros(2)
    state["stem.0.weight"] = torch.zeros(8, 1, 3, 3)
    torch.save(state, bundle / WEIGHTS)
    bench_error(capsys, bundle, "1 tensors of another shape, 1 missing, 1 unexpected (e.g. "
                                "stem.0.weight is 8×1×3×3 in the file, 32×1×7×7 in the network; ")
    bench_error(capsys, bundle, "they were saved from another network")


def test_data_parallel_prefix_is_named(bundle, capsys):
    state = build_network("cenet-light").state_dict()
    torch.save({f"module.{k}": v for k, v in state.items()}, bundle / WEIGHTS)
    bench_error(capsys, bundle, "their names carry a 'module.' prefix")


# --- 3. names: folders without ./, unknown names ------------------------------------------------

def test_a_folder_name_without_dot_slash_is_a_bundle(bundle, capsys, monkeypatch):
    monkeypatch.chdir(bundle.parent)
    code, out, err = run_cli([*BENCH, "--model", "mybundle"], capsys)
    assert code == 0, err
    assert out.startswith("cenet-light on cpu")


def test_a_local_folder_wins_over_a_registered_name(light, tmp_path, monkeypatch):
    shutil.copytree(light, tmp_path / "cenet-light")
    monkeypatch.chdir(tmp_path)
    assert resolve_bundle("cenet-light") == Path("cenet-light")


@pytest.mark.parametrize(("name", "match"), [
    ("cenet-lite", "unknown model 'cenet-lite' (did you mean 'cenet-light'?): give a registered "
                   "model (cenet-r34, cenet-light, cenet-light-syntax) or the path of a bundle "
                   "folder, a folder "
                   "holding configs/metadata.json and models/model.pt; there is no folder "
                   "'cenet-lite' in "),
    ("mybundel", "unknown model 'mybundel' (did you mean 'mybundle'?)"),
    ("zebra", "unknown model 'zebra': give a registered model (cenet-r34, cenet-light, "
              "cenet-light-syntax) or the path of a bundle folder"),
    ("nowhere/zebra", "no model bundle at nowhere/zebra: the folder does not exist"),
])
def test_unknown_names_list_the_registered_models(bundle, capsys, monkeypatch, name, match):
    monkeypatch.chdir(bundle.parent)
    bench_error(capsys, name, match)


def test_a_file_or_a_plain_folder_is_not_a_bundle(bundle, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bench_error(capsys, f"mybundle/{WEIGHTS}", f"mybundle/{WEIGHTS} is a file, not a model "
                                               "bundle folder: give its bundle folder mybundle")
    (tmp_path / "empty").mkdir()
    bench_error(capsys, "empty", "empty is not a model bundle: configs/metadata.json not found "
                                 "in it; a bundle is a folder holding")


# --- 4. broken metadata -------------------------------------------------------------------------

def _metadata(**section) -> str:
    metadata = make_metadata("cenet-light")
    metadata["angioseg"].update(section)
    return json.dumps(metadata)


@pytest.mark.parametrize(("text", "match"), [
    (None, "mybundle is not a model bundle: models/model.pt is there but configs/metadata.json "
           "is missing: restore it"),
    ("{nope", "cannot load the model bundle at mybundle: configs/metadata.json is not valid "
              "JSON (Expecting property name enclosed in double quotes at line 1 column 2); "
              "repair it or restore it from the bundle it came from"),
    ("", "configs/metadata.json is not valid JSON (Expecting value at line 1 column 1)"),
    ("\xff\xfe", "configs/metadata.json is not valid JSON"),
    ("[1, 2]", "configs/metadata.json holds a JSON list, expected an object"),
    ("{}", "configs/metadata.json has no 'angioseg' section"),
    (_metadata(architecture="cenet-r18"), "names architecture 'cenet-r18' (did you mean "
                                          "'cenet-r34'?), which this version of AngioSeg does "
                                          "not know; known: cenet-r34, cenet-light"),
    (_metadata(architecture=None), "names no architecture (angioseg.architecture is None)"),
    (_metadata(input_spacing_mm="fine"), "angioseg.input_spacing_mm in configs/metadata.json "
                                         "is 'fine', expected a positive number (mm) or null"),
    (_metadata(normalisation="percentile"), "angioseg.normalisation in configs/metadata.json is "
                                            "'percentile', expected an object with a 'name'"),
])
def test_broken_metadata_is_one_line(bundle, capsys, monkeypatch, text, match):
    if text is None:
        (bundle / METADATA).unlink()
    else:
        (bundle / METADATA).write_text(text)
    monkeypatch.chdir(bundle.parent)
    bench_error(capsys, "mybundle", match)


def test_non_utf8_metadata(bundle, capsys):
    (bundle / METADATA).write_bytes(b'{"a": "\xff"}')
    bench_error(capsys, bundle, "configs/metadata.json is not UTF-8 text (byte 7): it is damaged")


# --- 5. evaluate: empty references, non-binary masks --------------------------------------------

def _dataset(folder: Path, masks: dict[str, np.ndarray]) -> Path:
    """32×32 images (a bright bar on grey) with the given ``_gt`` masks."""
    folder.mkdir()
    image = np.full((32, 32), 120, np.uint8)
    image[14:18, 2:30] = 30
    for name, mask in masks.items():
        iio.imwrite(folder / f"{name}.png", image)
        iio.imwrite(folder / f"{name}_gt.png", mask)
    return folder


def _bar(value=255, dtype=np.uint8) -> np.ndarray:
    mask = np.zeros((32, 32), dtype)
    mask[14:18, 2:30] = value
    return mask


def evaluate_json(capsys, light, images: Path, *extra: str) -> tuple[dict, list[str]]:
    code, out, err = run_cli(["evaluate", "--images", str(images), "--model", str(light),
                              "--device", "cpu", "--backend", "torch", "--json", *extra], capsys)
    assert code == 0, err
    return json.loads(out), [line for line in err.splitlines() if line.strip()]


def test_binary_masks_give_no_warning(light, tmp_path, capsys):
    result, err = evaluate_json(capsys, light, _dataset(tmp_path / "d", {"1": _bar(),
                                                                          "2": _bar(1)}))
    assert err == []
    assert (result["empty_references"], result["binarised_masks"], result["warnings"]) == (0, 0,
                                                                                           [])


def test_empty_references_are_counted_and_warned(light, tmp_path, capsys):
    images = _dataset(tmp_path / "d", {"1": _bar(), "2": np.zeros((32, 32), np.uint8),
                                       "3": np.zeros((32, 32), np.uint8)})
    result, err = evaluate_json(capsys, light, images)
    assert err == ["warning: 2 reference masks hold no vessel; their Dice is 1 only if nothing "
                   "is predicted (2, 3)"]
    assert result["empty_references"] == 2
    assert [item["empty_reference"] for item in result["images"]] == [False, True, True]
    code, out, err = run_cli(["evaluate", "--images", str(images), "--model", str(light),
                              "--device", "cpu", "--backend", "torch"], capsys)
    assert code == 0 and "mean (3)" in out
    assert "warning: 2 reference masks hold no vessel" in err


def test_non_binary_masks_are_binarised_with_one_warning(light, tmp_path, capsys):
    grades = _bar(255)
    grades[15, 2:30] = 100  # three values: 0, 100, 255
    rgb = np.repeat(_bar(255)[..., None], 3, axis=-1)
    images = _dataset(tmp_path / "d", {"1": _bar(65535, np.uint16), "2": rgb, "3": grades,
                                       "4": _bar()})
    result, err = evaluate_json(capsys, light, images)
    assert err == ["warning: 3 of 4 reference masks were not binary and were binarised (1 16-bit, "
                   "1 colour, 1 more than two values): thresholded at half the range (8-bit: "
                   "> 127, 16-bit: > 32767, floating point: > half the maximum); for label maps "
                   "pass --label-maps (any value > 0)"]
    assert result["binarised_masks"] == 3 and result["empty_references"] == 0
    _, err = evaluate_json(capsys, light, images, "--label-maps")
    assert err == ["warning: 3 of 4 reference masks were not binary and were binarised (1 16-bit, "
                   "1 colour, 1 more than two values): vessel wherever the value is > 0 (label "
                   "maps)"]


def test_a_mask_whose_two_values_read_as_one_is_reported(tmp_path):
    iio.imwrite(tmp_path / "m.png", _bar(100))  # {0, 100}: nothing above 127
    mask, reason = _read_mask(tmp_path / "m.png")
    assert reason == "two values read as one" and not mask.any()
    assert read_mask(tmp_path / "m.png", label_map=True).sum() == 4 * 28
    iio.imwrite(tmp_path / "f.tiff", _bar(0.8, np.float32))
    mask, reason = _read_mask(tmp_path / "f.tiff")
    assert reason == "floating-point" and mask.sum() == 4 * 28
