"""`evaluate`: image ↔ mask matching, metrics of a real segmentation, the CLI and its errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import torch
from cli_helpers import run_cli

from AngioSegLib.errors import InputError, InputNotFoundError
from AngioSegLib.evaluation.evaluate import (
    evaluate_pairs,
    pair_images,
    read_gray,
    read_mask,
    read_name_list,
    read_split,
)
from AngioSegLib.evaluation.metrics import score_segmentation
from AngioSegLib.model import build_network, make_metadata, save_bundle
from AngioSegLib.phantom.generator import PhantomOptions, make_phantom
from AngioSegLib.segment.segmenter import Segmenter

torch.set_num_threads(2)
SPLIT = Path(__file__).resolve().parents[2] / "data_splits" / "xca_split.json"


def write_png(path: Path, array: np.ndarray) -> Path:
    iio.imwrite(path, array.astype(np.uint8))
    return path


def blank_folder(tmp_path: Path, names: list[str], shape=(8, 8)) -> Path:
    for name in names:
        write_png(tmp_path / name, np.zeros(shape))
    return tmp_path


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    """A cenet-light bundle with random (seeded) weights."""
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("bundle") / "light"
    return save_bundle(build_network("cenet-light"), folder, make_metadata("cenet-light"))


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    """The ONNX cache shared by the library and CLI tests (one export of the bundle)."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def segmenter(bundle, cache) -> Segmenter:
    return Segmenter(bundle, device="cpu", cache_dir=cache / "onnx")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """Two phantom frames of different sizes as 8-bit PNGs with ``_gt`` masks, one folder."""
    folder = tmp_path_factory.mktemp("xca")
    for name, size in (("1", 96), ("2", 128)):
        run = make_phantom(PhantomOptions(seed=int(name), n_frames=1, size=size))
        write_png(folder / f"{name}.png", run.cine.frames[0] // 16)
        write_png(folder / f"{name}_gt.png", run.masks[0] * 255)
    return folder


def test_pairs_by_gt_suffix_in_one_folder(tmp_path):
    blank_folder(tmp_path, ["10.png", "10_gt.png", "2.png", "2_gt.png", "notes.txt"])
    pairs = pair_images(tmp_path)
    assert [(p.name, p.image.name, p.mask.name) for p in pairs] == [
        ("2", "2.png", "2_gt.png"), ("10", "10.png", "10_gt.png")
    ]


def test_pairs_by_same_name_in_another_folder_with_fov(tmp_path):
    for folder in ("images", "masks", "fov"):
        (tmp_path / folder).mkdir()
    images = blank_folder(tmp_path / "images", ["a.png", "b.tif"])
    masks = blank_folder(tmp_path / "masks", ["a.png", "b_gt.png"])
    fov = blank_folder(tmp_path / "fov", ["a_fov.png", "b.png"])
    pairs = pair_images(images, masks, fov)
    assert [(p.mask.name, p.fov.name) for p in pairs] == [("a.png", "a_fov.png"),
                                                           ("b_gt.png", "b.png")]


def test_list_and_split_select_images(tmp_path):
    folder = blank_folder(tmp_path, ["1.png", "1_gt.png", "2.png", "2_gt.png", "3.png", "3_gt.png"])
    listing = tmp_path / "names.txt"
    listing.write_text("# validation\n3.png\n\n1\n")
    assert [p.name for p in pair_images(folder, names=read_name_list(listing))] == ["3", "1"]
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"train": ["1.png", "3.png"], "val": ["2.png"]}))
    assert [p.name for p in pair_images(folder, names=read_split(split, "val"))] == ["2"]
    assert read_split(split, "validation") == read_split(split, "val") == ["2.png"]
    if SPLIT.is_file():  # the project's real split file has the same form
        val, train = read_split(SPLIT, "val"), read_split(SPLIT, "train")
        assert val and train and not set(val) & set(train)


def test_masks_threshold_at_half_range(tmp_path):
    write_png(tmp_path / "m.png", np.array([[0, 100, 127, 128, 255]]))
    assert read_mask(tmp_path / "m.png").tolist() == [[0, 0, 0, 1, 1]]
    write_png(tmp_path / "b.png", np.array([[0, 1, 1, 0]]))
    assert read_mask(tmp_path / "b.png").tolist() == [[0, 1, 1, 0]]
    iio.imwrite(tmp_path / "rgb.png", np.full((2, 3, 3), 200, dtype=np.uint8))
    assert read_gray(tmp_path / "rgb.png").shape == (2, 3)


def test_label_maps_count_every_labelled_value_as_vessel(tmp_path):
    """ARCADE's SYNTAX label maps hold 1–25: with ``label_map`` each is vessel (a plain mask
    read would call them all background)."""
    write_png(tmp_path / "l.png", np.array([[0, 1, 7, 25, 0]]))
    assert read_mask(tmp_path / "l.png", label_map=True).tolist() == [[0, 1, 1, 1, 0]]
    assert read_mask(tmp_path / "l.png").tolist() == [[0, 0, 0, 0, 0]]  # as a mask: below half
    write_png(tmp_path / "m.png", np.array([[0, 3, 200, 0]]))
    assert read_mask(tmp_path / "m.png", label_map=True).tolist() == [[0, 1, 1, 0]]
    assert read_mask(tmp_path / "m.png").tolist() == [[0, 0, 1, 0]]


def test_centerline_recall_counts_the_labelled_tree_not_extra_vessels():
    """Partial labels: a prediction with every labelled vessel and more has recall 1 (Dice lower);
    one that finds half of a vessel's length has recall ≈ 0.5, whatever its width."""
    truth = np.zeros((64, 64), bool)
    truth[30:36, 4:60] = True  # a labelled vessel, 6 px wide
    extra = truth.copy()
    extra[4:8, :] = True  # an unlabelled branch
    scores = score_segmentation(extra, truth)
    assert scores.centerline_recall == 1.0 and scores.dice < 0.9
    half = np.zeros_like(truth)
    half[32:34, 4:32] = True  # the left half, and thinner than the label
    assert score_segmentation(half, truth).centerline_recall == pytest.approx(0.5, abs=0.08)
    assert score_segmentation(np.zeros_like(truth), truth).centerline_recall == 0.0


@pytest.mark.parametrize(
    ("files", "kwargs", "error", "match"),
    [
        ([], {}, InputError, "holds no images"),
        (["1_gt.png"], {}, InputError, "holds only masks"),
        (["1.png", "2.png", "2_gt.png"], {}, InputError,
         r"no mask for 1 image\(s\) \(1.png\).*N.png ↔ N_gt.png"),
        (["1.png", "1_gt.png"], {"names": ["7.png"]}, InputError,
         r"1 listed image\(s\) are not in the images folder: 7.png"),
    ],
)
def test_pairing_errors(tmp_path, files, kwargs, error, match):
    blank_folder(tmp_path, files)
    with pytest.raises(error, match=match):
        pair_images(tmp_path, **kwargs)


def test_missing_folders_and_lists(tmp_path):
    with pytest.raises(InputNotFoundError, match="the images folder .*nope does not exist"):
        pair_images(tmp_path / "nope")
    with pytest.raises(InputNotFoundError, match="the split file .* does not exist"):
        read_split(tmp_path / "split.json", "val")
    (tmp_path / "split.json").write_text(json.dumps({"train": ["1.png"]}))
    with pytest.raises(InputError, match="has no subset 'val'; subsets: train"):
        read_split(tmp_path / "split.json", "val")


def test_wrong_mask_size_is_refused(tmp_path, segmenter):
    write_png(tmp_path / "1.png", np.zeros((40, 50)))
    write_png(tmp_path / "1_gt.png", np.zeros((40, 40)))
    with pytest.raises(InputError, match="mask 1_gt.png is 40×40 px but its image 1.png is 50×40"):
        evaluate_pairs(pair_images(tmp_path), segmenter)


def median_probability(segmenter, path: Path) -> float:
    """A threshold that splits the (random-weight) model's output into two non-empty masks."""
    return float(np.median(segmenter.segment_frames(read_gray(path)[None])))


def test_scores_agree_with_metrics_on_a_real_segmentation(dataset, segmenter):
    events = []
    threshold = median_probability(segmenter, dataset / "2.png")
    evaluation = evaluate_pairs(pair_images(dataset), segmenter, threshold, events.append)
    assert [item.name for item in evaluation.images] == ["1", "2"]
    assert [(e.stage, e.done, e.total) for e in events] == [("evaluate", 1, 2), ("evaluate", 2, 2)]
    for item in evaluation.images:
        image = read_gray(dataset / f"{item.name}.png")
        truth = read_mask(dataset / f"{item.name}_gt.png")
        prediction = segmenter.segment_frames(image[None])[0] >= threshold
        assert item.scores == score_segmentation(prediction, truth)
        assert 0 < item.scores.dice < 1
    mean_dice = np.mean([item.scores.dice for item in evaluation.images])
    assert evaluation.mean.dice == pytest.approx(mean_dice)
    assert evaluation.to_json()["mean"]["cldice"] == evaluation.mean.cldice


def test_known_prediction_scores_perfectly_and_fov_counts(dataset, segmenter, tmp_path):
    # ground truth := the model's own mask, so every score must be exactly 1
    image = read_gray(dataset / "2.png")
    threshold = median_probability(segmenter, dataset / "2.png")
    predicted = segmenter.segment_frames(image[None])[0] >= threshold
    assert 0.3 < predicted.mean() < 0.7
    shutil.copy(dataset / "2.png", tmp_path / "2.png")
    write_png(tmp_path / "2_gt.png", predicted * 255)
    scores = evaluate_pairs(pair_images(tmp_path), segmenter, threshold).mean
    assert (scores.dice, scores.iou, scores.accuracy) == (1.0, 1.0, 1.0)
    assert scores.cldice == pytest.approx(1.0, abs=1e-8)  # metrics' epsilon
    # an inverted truth inside a field of view of the left half: every FOV pixel is wrong
    (tmp_path / "fov").mkdir()
    write_png(tmp_path / "2_gt.png", (~predicted) * 255)
    fov = np.zeros_like(predicted)
    fov[:, :64] = True
    write_png(tmp_path / "fov" / "2.png", fov * 255)
    pairs = pair_images(tmp_path, fov_dir=tmp_path / "fov")
    scores = evaluate_pairs(pairs, segmenter, threshold).mean
    assert scores.accuracy == 0.0 and scores.dice == 0.0


def test_cli_evaluate_json_and_table(dataset, bundle, segmenter, cache, tmp_path, monkeypatch,
                                     capsys):
    monkeypatch.setenv("ANGIOSEG_CACHE_DIR", str(cache))
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"train": ["1.png"], "val": ["2.png"]}))
    args = ["evaluate", "--images", str(dataset), "--model", str(bundle), "--device", "cpu"]
    code, out, _ = run_cli([*args, "--json", "--split", str(split), "--subset", "val"], capsys)
    assert code == 0
    result = json.loads(out)
    assert [item["name"] for item in result["images"]] == ["2"]
    assert set(result["mean"]) == {"sen", "spec", "acc", "dice", "iou", "cldice", "cl_recall"}
    assert result["mean"]["dice"] == result["images"][0]["dice"]
    assert result["device"] == "cpu (onnx fp32)"
    code, out, _ = run_cli(args, capsys)
    assert code == 0 and "clDice" in out and "mean (2)" in out


def test_cli_errors_are_one_line(tmp_path, bundle, capsys):
    blank_folder(tmp_path, ["1.png"])
    code, _, err = run_cli(["evaluate", "--images", str(tmp_path), "--model", str(bundle)], capsys)
    assert code == 2
    assert err.strip().startswith("angioseg: error: no mask for 1 image(s) (1.png)")
    assert len(err.strip().splitlines()) == 1
    code, _, err = run_cli(
        ["evaluate", "--images", str(tmp_path), "--list", "a", "--split", "b"], capsys
    )
    assert code == 2 and "give either --list or --split, not both" in err


def test_cli_export_onnx_writes_a_runnable_file(bundle, segmenter, cache, tmp_path, monkeypatch,
                                                capsys):
    import onnxruntime as ort

    monkeypatch.setenv("ANGIOSEG_CACHE_DIR", str(cache))
    target = tmp_path / "light.onnx"
    code, out, _ = run_cli(["export-onnx", "--model", str(bundle), "-o", str(target)], capsys)
    assert code == 0 and "wrote" in out
    session = ort.InferenceSession(str(target), providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    assert meta["angioseg_model"] == "cenet-light" and "normalise_frame" in meta["input"]
    image = segmenter.prepare(np.eye(64) * 255, (64, 64))
    logits = session.run(None, {"image": image[None]})[0]
    np.testing.assert_allclose(logits, segmenter.run_network(image[None]), atol=1e-5)
    code, _, err = run_cli(["export-onnx", "--model", str(bundle), "-o", str(target)], capsys)
    assert code == 2 and "already exists; choose another name or pass --force" in err


def test_cli_bench_times_frames(bundle, segmenter, cache, monkeypatch, capsys):
    monkeypatch.setenv("ANGIOSEG_CACHE_DIR", str(cache))
    code, out, _ = run_cli(["bench", "--model", str(bundle), "--size", "96", "--frames", "2",
                            "--device", "cpu", "--json"], capsys)
    assert code == 0
    summary = json.loads(out)
    assert summary["device"] == "cpu (onnx fp32)" and summary["ms_per_frame"] > 0


def test_centerline_recall_of_a_stack_pools_its_frames():
    truth = np.zeros((2, 32, 32), bool)
    truth[:, 14:18, 2:30] = True
    prediction = truth.copy()
    prediction[1] = False  # the second frame found nothing
    scores = score_segmentation(prediction, truth)
    assert scores.centerline_recall == pytest.approx(0.5, abs=0.05)
