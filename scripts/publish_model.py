"""Score a trained run's bundle and copy it into AngioSegLib/model/weights/NAME with its metrics.

Usage: python scripts/publish_model.py runs/light/last cenet-light "<training command>" [--write]
       [--version 0.3.0 --change "what changed"]

The bundle is a run's ``bundle`` (best epoch) or ``last`` (last epoch) folder; the run's
``train_log.json`` is read from the folder above it.

Scores on the validation list of data_splits/xca_split.json (whole image and inside the field of
view, raw grey > 10), on ARCADE's 200 validation angiograms (partial labels: Sen and centerline
recall are the figures to read; for a model with a segment head also the coronary-segment scores
of :mod:`AngioSegLib.evaluation.evaluate`), both through the Segmenter as users run it, and on 16
fresh phantom frames (seed 999); prints the metrics as JSON. With
--write, replaces AngioSegLib/model/weights/NAME by the run's bundle and records the metrics,
epochs, training time and command in its configs/metadata.json. MODEL_CARD.md is edited by hand.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch

from AngioSegLib.evaluation.evaluate import evaluate_pairs, pair_images, read_gray, read_split
from AngioSegLib.evaluation.metrics import mean_scores, score_segmentation
from AngioSegLib.model import MODELS_DIR, check_bundle, load_bundle, make_metadata
from AngioSegLib.segment.segmenter import Segmenter
from AngioSegLib.training.data import load_folder_samples, make_phantom_samples
from AngioSegLib.training.validation import score_samples

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "xca-train"
ARCADE_VAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "arcade-syntax" / "val"
SPLIT = Path(__file__).resolve().parents[1] / "data_splits" / "xca_split.json"


def score(model) -> dict:
    """Validation metrics of a loaded model (real split, real inside FOV, phantoms) and speed."""
    method = model.normalisation_name
    torch_cpu = Segmenter(model, device="cpu", backend="torch", threads=2)  # as training validates
    val = load_folder_samples(DATA, split=SPLIT, subset="val", normalisation=method)
    pairs = pair_images(DATA, None, None, read_split(SPLIT, "val"))
    fovs = [read_gray(p.image) > 10 for p in pairs]
    inside = [
        score_segmentation(torch_cpu.segment_frames(s["frame"][None])[0] > 0.5, s["label"][0] > 0,
                           f)
        for s, f in zip(val, fovs, strict=True)
    ]
    seconds = []
    for sample in val:
        start = time.perf_counter()
        torch_cpu.segment_frames(sample["frame"][None])
        seconds.append(time.perf_counter() - start)
    segmenter = Segmenter(model, device="cpu", threads=2)
    named = bool(segmenter.segment_classes)
    arcade = evaluate_pairs(pair_images(ARCADE_VAL / "images", ARCADE_VAL / "labels"), segmenter,
                            label_maps=True, segments=named)
    segments = {"arcade_val_200_segments": arcade.segments.to_json()} if named else {}
    return {
        "arcade_val_200_segmenter": arcade.mean.to_dict(),
        **segments,
        "xca_val_8_images_segmenter": evaluate_pairs(pairs, segmenter).mean.to_dict(),
        "xca_val_8_images": score_samples(torch_cpu, val).to_dict(),
        "xca_val_8_images_fov_gt10": mean_scores(inside).to_dict(),
        "phantom_16_frames_256px_seed999": score_samples(
            torch_cpu, make_phantom_samples(16, 256, seed=999, normalisation=method)
        ).to_dict(),
        "torch_cpu_s_per_300px_image_2_threads": float(np.median(seconds)),
    }


def main(bundle: Path, name: str, command: str, write: bool, version: str | None = None,
         change: str | None = None) -> None:
    torch.set_num_threads(2)
    metrics = score(load_bundle(bundle))
    print(json.dumps(metrics, indent=1))
    if not write:
        return
    log = json.loads((bundle.parent / "train_log.json").read_text())
    target = MODELS_DIR / name
    card = target / "MODEL_CARD.md"
    card_text = card.read_text() if card.exists() else None
    old_meta_path = target / "configs" / "metadata.json"
    changelog = json.loads(old_meta_path.read_text()).get("changelog", {}) if (
        old_meta_path.exists()) else {}
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(bundle, target)
    if card_text is not None:
        card.write_text(card_text)
    meta_path = target / "configs" / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["angioseg"]["name"] = name
    classes = int(meta["angioseg"].get("segment_classes") or 0)
    meta["network_data_format"] = make_metadata(name, segment_classes=classes)[
        "network_data_format"]  # the contract as this version of AngioSeg writes it
    if version is not None:
        meta["version"] = version
        meta["changelog"] = {version: change or "", **changelog}
    meta["angioseg"]["training"].update({
        "metrics": metrics, "best_epoch_by_val_dice": log["best_epoch"],
        "epochs_run": len(log["epochs"]),
        "train_time_s": round(log["train_time_s"], 1), "hardware": log["hardware"],
        "command": command,
    })
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    check_bundle(name)


def _option(args: list[str], flag: str) -> str | None:
    """The value after ``flag`` in ``args`` (both removed), or None."""
    if flag not in args:
        return None
    at = args.index(flag)
    if at + 1 == len(args):
        sys.exit(f"{flag} needs a value, e.g. {flag} 0.7.0")
    value = args[at + 1]
    del args[at:at + 2]
    return value


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--write"]
    version, change = _option(args, "--version"), _option(args, "--change")
    if len(args) < 2 or not (Path(args[0]) / "configs" / "metadata.json").is_file():
        sys.exit("usage: python scripts/publish_model.py RUN/last NAME \"<training command>\" "
                 "[--write] [--version X.Y.Z --change \"what changed\"] (RUN/last: a bundle)")
    main(Path(args[0]), args[1], args[2] if len(args) > 2 else "", "--write" in sys.argv,
         version, change)
