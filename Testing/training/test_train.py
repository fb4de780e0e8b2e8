"""Training: it learns (Dice rises on held-out phantoms), resumes exactly, reads folders, checks."""

from __future__ import annotations

import json

import imageio.v3 as iio
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from AngioSegLib.cli import app
from AngioSegLib.errors import InputError, ModelError, OutputExistsError
from AngioSegLib.model import build_network, check_bundle
from AngioSegLib.segment.segmenter import Segmenter
from AngioSegLib.training.data import make_phantom_samples
from AngioSegLib.training.train import TrainOptions, train
from AngioSegLib.training.validation import validation_dice, validation_segmenter

torch.set_num_threads(2)


def test_training_on_phantoms_raises_dice(tmp_path):
    options = TrainOptions(
        output=tmp_path / "run", model="cenet-light", phantoms=8, phantom_size=96,
        phantom_val=0, epochs=6, steps_per_epoch=8, batch_size=4, crop_size=64,
        learning_rate=3e-3, seed=0,
    )
    held_out = make_phantom_samples(4, 96, seed=123)  # runs never seen in training
    torch.manual_seed(0)
    before = validation_dice(validation_segmenter(build_network("cenet-light"),
                                                  options.normalisation), held_out)
    result = train(options)
    check_bundle(result.bundle)
    after = validation_dice(Segmenter(result.bundle, device="cpu", backend="torch"), held_out)
    assert after > before + 0.2, (before, after)
    log = json.loads(result.log.read_text())
    assert [e["epoch"] for e in log["epochs"]] == list(range(1, 7))
    assert log["epochs"][-1]["loss"] < log["epochs"][0]["loss"]


def _tiny(output, **changes) -> TrainOptions:
    base = dict(output=output, phantoms=4, phantom_size=64, phantom_val=2, epochs=2,
                steps_per_epoch=2, batch_size=2, crop_size=32, seed=3)
    return TrainOptions(**{**base, **changes})


def test_resume_continues_bit_for_bit(tmp_path):
    train(_tiny(tmp_path / "a"))
    train(_tiny(tmp_path / "b", epochs=1))
    resumed = train(_tiny(tmp_path / "b", resume=True))
    a = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=False)["network"]
    b = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=False)["network"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert json.loads(resumed.log.read_text())["epochs"][-1]["epoch"] == 2
    with pytest.raises(OutputExistsError, match="pass --resume"):
        train(_tiny(tmp_path / "a"))


def test_options_are_checked(tmp_path):
    with pytest.raises(InputError, match="nothing to train on"):
        TrainOptions(output=tmp_path)
    with pytest.raises(InputError, match="crop_size must be a multiple of 32"):
        TrainOptions(output=tmp_path, phantoms=2, crop_size=100)
    with pytest.raises(InputError, match="batch_size must be at least 1"):
        TrainOptions(output=tmp_path, phantoms=2, batch_size=0)
    with pytest.raises(InputError, match="segment_balance must be 0 .unweighted. or more"):
        TrainOptions(output=tmp_path, phantoms=2, segment_balance=-0.5)


def test_cli_trains_from_an_image_folder(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    for i, sample in enumerate(make_phantom_samples(4, 64, seed=5), start=1):
        iio.imwrite(folder / f"{i}.png", (255 * (1 - sample["image"][0])).astype(np.uint8))
        iio.imwrite(folder / f"{i}_gt.png", (255 * sample["label"][0]).astype(np.uint8))
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"train": ["1.png", "2.png", "3.png"], "val": ["4.png"]}))
    result = CliRunner().invoke(app, [
        "train", "--data", str(folder), "--split", str(split), "--epochs", "1", "--steps", "1",
        "--batch-size", "2", "--crop", "32", "-o", str(tmp_path / "run"),
    ])
    assert result.exit_code == 0, result.output
    assert "best epoch 1" in result.output
    log = json.loads((tmp_path / "run" / "train_log.json").read_text())
    assert 0.0 <= log["epochs"][0]["val_dice"] <= 1.0  # scored on the one validation image
    check_bundle(tmp_path / "run" / "bundle")
    last = check_bundle(tmp_path / "run" / "last")
    assert last.metadata["angioseg"]["training"]["selection"] == "last epoch"


def test_cosine_schedule_runs_from_the_rate_to_the_floor(tmp_path):
    options = TrainOptions(output=tmp_path, phantoms=2, epochs=5, learning_rate=1e-3,
                           min_learning_rate=1e-5)
    rates = [options.learning_rate_at(e) for e in range(5)]
    assert rates[0] == pytest.approx(1e-3) and rates[-1] == pytest.approx(1e-5)
    assert rates[2] == pytest.approx(0.5 * (1e-3 + 1e-5))
    assert all(np.diff(rates) < 0)
    assert TrainOptions(output=tmp_path, phantoms=2).learning_rate_at(7) == 1e-3
    with pytest.raises(ModelError, match="normalisation 'minmax' is not implemented"):
        TrainOptions(output=tmp_path, phantoms=2, normalisation="minmax")


def _arcade_like(folder, n: int, seed: int) -> None:
    """An ARCADE-like folder (images/N.png, labels/N.png with SYNTAX values) from phantoms whose
    label maps keep only the widest vessels (main segments) — a partial label."""
    from scipy import ndimage

    (folder / "images").mkdir(parents=True)
    (folder / "labels").mkdir()
    for i, sample in enumerate(make_phantom_samples(n, 64, seed=seed), start=1):
        frame = (255 * (1 - sample["image"][0])).astype(np.uint8)
        vessel = sample["label"][0] > 0
        main = ndimage.binary_opening(vessel, np.ones((3, 3))) & vessel
        iio.imwrite(folder / "images" / f"{i}.png", frame)
        iio.imwrite(folder / "labels" / f"{i}.png", np.where(main, 1 + i % 25, 0).astype(np.uint8))


def test_partial_labels_ignore_a_band_and_what_the_teacher_calls_vessel():
    from AngioSegLib.training.data import IGNORE_BAND_PX, partial_label_weight

    label = np.zeros((64, 64), bool)
    label[30:40, :] = True  # a 10 px polygon
    weight = partial_label_weight(label)
    assert weight[34:36].all() and weight[30:32].sum() == 0  # core trusted, its edge ignored
    assert weight[30 - IGNORE_BAND_PX].sum() == 0 and weight[30 - IGNORE_BAND_PX - 2].all()
    thin = np.zeros((64, 64), bool)
    thin[10:14, 5:60] = True  # a 4 px polygon keeps its centre line as vessel
    assert partial_label_weight(thin)[10:14, 10:55].any(axis=0).all()
    teacher = np.zeros((64, 64), np.float32)
    teacher[15:18, 10:50] = 0.9  # an unlabelled branch the teacher sees
    teacher[:, :3] = 0.9  # and a strip along the image border (a teacher's border error)
    with_teacher = partial_label_weight(label, teacher=teacher)
    assert with_teacher[15:18, 10:50].sum() == 0 and with_teacher[15:18, 55:].all()
    assert with_teacher[:20, :3].all()  # the border strip is taught as background
    assert with_teacher[24].all()  # plain background stays trusted


def test_training_reads_an_arcade_folder_with_partial_labels(tmp_path):
    """Train, val and per-epoch ARCADE scores from a tiny ARCADE-like folder; the loss weight
    zeroes the band around each labelled vessel; bad options are refused."""
    from AngioSegLib.training.data import load_label_map_samples

    for subset, seed in (("train", 11), ("val", 12)):
        _arcade_like(tmp_path / "arcade" / subset, 3, seed)
    samples = load_label_map_samples(tmp_path / "arcade" / "train")
    assert len(samples) == 3 and {s["source"] for s in samples} == {"arcade"}
    assert all((s["weight"] == 0).any() and s["label"].max() == 1 for s in samples)
    result = train(TrainOptions(output=tmp_path / "run", arcade=tmp_path / "arcade",
                                arcade_val=2, epochs=1, steps_per_epoch=2, batch_size=2,
                                crop_size=32, seed=1, collimation_probability=1.0))
    entry = json.loads(result.log.read_text())["epochs"][0]
    assert 0.0 <= entry["arcade_val_sen"] <= 1.0 and 0.0 <= entry["arcade_val_cl_recall"] <= 1.0
    for bad, match in (({"learning_rate": -1.0}, "learning rate must be a positive"),
                       ({"learning_rate": float("nan")}, "learning rate must be a positive"),
                       ({"partial_labels": "pu"}, "unknown partial-label rule"),
                       ({"source_weights": (("imagenet", 1.0),)}, "unknown training source"),
                       ({"source_weights": (("xca", -1.0),)}, "weights are 0 or more")):
        with pytest.raises(InputError, match=match):
            TrainOptions(output=tmp_path / "x", arcade=tmp_path / "arcade", **bad)
    assert not (tmp_path / "x").exists()
    with pytest.raises(InputError, match="is a 'cenet-light' network, but --model is 'cenet-r34'"):
        train(TrainOptions(output=tmp_path / "y", phantoms=2, model="cenet-r34",
                           init_from="cenet-light"))


def test_collimated_draws_clear_the_label_behind_the_collimator():
    from AngioSegLib.phantom.collimation import Collimation, collimate

    sample = make_phantom_samples(1, 96, seed=4)[0]
    frame, label, field = collimate(sample["frame"], sample["label"][0],
                                    Collimation("blades", blades=(0.5, 0.0, 0.0, 0.0)))
    assert label[:48].sum() == 0 and label[52:].sum() == sample["label"][0][52:].sum()
    assert not field[:47].any() and field[49:].all()
    assert frame.dtype == sample["frame"].dtype


def test_a_drawn_guidewire_is_dark_thin_and_certain_background():
    from AngioSegLib.phantom.devices import Wire, add_wire
    from AngioSegLib.training.data import draw_sample

    sample = make_phantom_samples(1, 96, seed=6)[0]
    wire = Wire(np.array([[0.1, 0.05], [0.5, 0.5], [0.9, 0.95]]), radius_px=1.0, darkening=0.5)
    frame, mask = add_wire(sample["frame"], wire)
    assert frame.dtype == sample["frame"].dtype and 50 < mask.sum() < 400
    assert (frame[mask].astype(float) < sample["frame"][mask].astype(float)).all()
    drawn = draw_sample({**sample, "weight": np.zeros_like(sample["weight"])},
                        np.random.default_rng(0), "flattened-inverted",
                        collimation_probability=0.0, wire_probability=1.0)
    assert drawn["weight"].sum() > 0  # the wires' pixels off the vessels are taught
    assert np.array_equal(drawn["label"], sample["label"])  # a wire adds no vessel


def test_a_drawn_catheter_is_a_wide_tube_from_the_edge_and_certain_background():
    from AngioSegLib.phantom.devices import Wire, add_wire, random_catheter
    from AngioSegLib.training.data import draw_sample

    flat = np.full((96, 96), 200, np.uint8)
    flat[0, 0] = 0  # a grey range to darken within
    axis = np.array([[0.0, 0.5], [0.5, 0.5], [1.0, 0.5]])
    filled, mask = add_wire(flat, Wire(axis, radius_px=4.0, darkening=0.5))
    empty, _ = add_wire(flat, Wire(axis, radius_px=4.0, darkening=0.5, lumen_fraction=0.6))
    row = 48
    assert 7 <= mask[row].sum() <= 9  # 8 px across
    assert filled[row, 48] < filled[row, 45] < flat[row, 40]  # darkest on the axis
    assert empty[row, 48] > empty[row, 45]  # an empty catheter: dark walls, lighter lumen
    rng = np.random.default_rng(1)
    for _ in range(20):
        catheter = random_catheter(rng)
        assert 2.0 <= catheter.radius_px <= 5.0
        start = catheter.points[0]
        assert min(np.abs(start).min(), np.abs(1.0 - start).min()) < 0.2  # near an edge
    sample = make_phantom_samples(1, 96, seed=6)[0]
    drawn = draw_sample({**sample, "weight": np.zeros_like(sample["weight"])},
                        np.random.default_rng(0), "flattened-inverted", collimation_probability=0.0,
                        wire_probability=0.0, catheter_probability=1.0)
    assert drawn["weight"].sum() > 100  # the catheter's pixels off the vessels are taught
    assert np.array_equal(drawn["label"], sample["label"])


def test_validation_scores_what_the_segmenter_gives_users(tmp_path):
    """Validation of the in-training network runs what users run: its probabilities equal those
    of its saved bundle through ``Segmenter.segment_frames`` on the raw frames (resizing,
    padding, field of view), so validation Dice is the Dice users would measure; validating
    leaves the network's memory layout as training set it."""
    from AngioSegLib.evaluation.metrics import dice
    from AngioSegLib.model import make_metadata, save_bundle
    from AngioSegLib.training.validation import score_samples, validation_recall

    torch.manual_seed(0)
    network = build_network("cenet-light")
    network.load_state_dict({k: v.half().float() if v.is_floating_point() else v  # as bundled
                             for k, v in network.state_dict().items()})
    samples = make_phantom_samples(3, 80, seed=11)  # 80 px: padded to 96 and cropped back
    segmenter = validation_segmenter(network, "flattened-inverted")
    assert not network.training
    assert all(p.is_contiguous() for p in network.parameters())
    bundle = save_bundle(network, tmp_path / "b", make_metadata("cenet-light"))
    users = Segmenter(bundle, device="cpu", backend="torch", precision="fp32")
    for s in samples:
        np.testing.assert_allclose(segmenter.segment_frames(s["frame"][None]),
                                   users.segment_frames(s["frame"][None]), atol=1e-4)
    predictions = [users.segment_frames(s["frame"][None])[0] > 0.5 for s in samples]
    expected = float(np.mean([dice(p, s["label"][0] > 0)
                              for p, s in zip(predictions, samples, strict=True)]))
    assert validation_dice(segmenter, samples) == pytest.approx(expected, abs=0.01)
    assert score_samples(segmenter, samples).dice == pytest.approx(expected, abs=0.01)
    sen, recall = validation_recall(segmenter, samples)
    assert 0.0 <= sen <= 1.0 and 0.0 <= recall <= 1.0
    assert np.isnan(validation_dice(segmenter, []))


def test_segment_classes_are_weighed_by_inverse_pixel_frequency():
    from AngioSegLib.anatomy.segments import IGNORE_CLASS
    from AngioSegLib.training.train import segment_class_weights

    target = np.full((1, 40, 40), IGNORE_CLASS, np.float32)
    target[0, :10] = 1  # 400 px of a main vessel
    target[0, 10:11] = 2  # 40 px of a branch
    target[0, 11:12, :10] = 3  # 10 px of a small branch; class 4 absent
    samples = [{"segments": target}, {"segments": target.copy()}]
    weights = segment_class_weights(samples, 5, 0.5)
    # median count 80 (per two samples): weights sqrt(80 / count), clipped to [0.2, 10]
    np.testing.assert_allclose(weights, [1.0, 0.3162, 1.0, 2.0, 1.0], atol=1e-4)
    np.testing.assert_array_equal(segment_class_weights(samples, 5, 0.0), np.ones(5))


def test_augmentation_pads_small_images_up_to_a_large_crop():
    """A 165 px sample (a 256 px phantom zoomed out) fills a 512 crop: mirrored, every key
    alike, labels still binary."""
    from AngioSegLib.training.data import make_augmentation

    rng = np.random.default_rng(0)
    label = np.zeros((1, 165, 165), np.float32)
    label[0, 80:85] = 1.0
    sample = {"image": rng.random((1, 165, 165), dtype=np.float32), "label": label,
              "weight": np.ones_like(label), "segments": label.copy()}
    out = make_augmentation(512, seed=0)(sample)
    for key in ("image", "label", "weight", "segments"):
        assert tuple(out[key].shape) == (1, 512, 512)
    values = np.unique(np.asarray(out["label"]))
    assert set(values.tolist()) <= {0.0, 1.0} and 1.0 in values
