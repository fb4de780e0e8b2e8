"""Vessel models side by side: real validation sets, phantoms, collimators and real cines, one run.

For each model (a registered name or a bundle folder), through the :class:`Segmenter` as users
run it (ONNX Runtime on the CPU, field of view cleared):

- ARCADE val (``../shared/data/arcade-syntax/val``, partial labels: Sen and centerline recall are
  the figures; Dice counts every unlabelled vessel found as an error);
- XCA val (the ``val`` list of ``data_splits/xca_split.json``, full masks): Dice, clDice, Sen;
- phantoms (16 frames 256 px, seed 999, random lesions): Dice against the exact truth;
- rendered collimators (:mod:`AngioSegLib.phantom.collimation`, 24 random ones on phantom frames):
  share of predicted vessel pixels behind the collimator (opacity > 0.5), with the field of view
  cleared and from the network alone;
- rendered catheters (:func:`AngioSegLib.phantom.devices.random_catheter`, 3 on each XCA val image,
  real background): share of the catheter's pixels off the labelled vessels predicted vessel;
- real cines (``../shared/data/xa``): predicted vessel area in a frame before contrast over the
  run's peak (the filling curve's floor; rubo frame 0 holds almost no contrast), and the share
  of barre's frames predicted vessel (a catheter and a guidewire, no vessel: ideally 0).

Writes ``OUT/overlays.png``: one row per image (real cines, ARCADE val), one column per model,
predicted vessel in red, ARCADE's labels outlined in green.

    .venv/bin/python benchmarks/bench_model.py --models cenet-light,runs/x/last [--out figs]
        [--catheters-kept]   # also each model without the catheter clearing
        [--flips]            # also each model with flip averaging (segment/flips.py)
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import cv2
import numpy as np
from rich.console import Console
from rich.table import Table

from AngioSegLib.evaluation.evaluate import (
    evaluate_pairs,
    pair_images,
    read_gray,
    read_mask,
    read_split,
)
from AngioSegLib.evaluation.metrics import dice
from AngioSegLib.io import read_cine
from AngioSegLib.phantom.collimation import blocked_fraction, collimate, random_collimation
from AngioSegLib.phantom.devices import add_wire, random_catheter
from AngioSegLib.segment.segmenter import Segmenter
from AngioSegLib.training.data import make_phantom_samples

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SPLIT = Path(__file__).resolve().parents[1] / "data_splits" / "xca_split.json"
CINES = (("rubo_rca_96f", 0, 60), ("barre_catheter_12f", None, 6))  # (name, empty frame, shown)
OVERLAY_ARCADE = (3, 57, 120)


def arcade_scores(segmenter: Segmenter, n: int) -> dict[str, float]:
    folder = DATA / "arcade-syntax" / "val"
    pairs = pair_images(folder / "images", folder / "labels")[:n]
    mean = evaluate_pairs(pairs, segmenter, label_maps=True).mean
    return {"ARCADE Sen": mean.sensitivity, "ARCADE CL recall": mean.centerline_recall,
            "ARCADE Dice": mean.dice}


def xca_scores(segmenter: Segmenter) -> dict[str, float]:
    pairs = pair_images(DATA / "xca-train", names=read_split(SPLIT, "val"))
    mean = evaluate_pairs(pairs, segmenter).mean
    return {"XCA Dice": mean.dice, "XCA clDice": mean.cldice, "XCA Sen": mean.sensitivity}


def phantom_dice(segmenter: Segmenter) -> dict[str, float]:
    samples = make_phantom_samples(16, 256, seed=999)
    scores = [dice(segmenter.segment_frames(s["frame"][None])[0] > 0.5, s["label"][0] > 0)
              for s in samples]
    return {"phantom Dice": float(np.mean(scores))}


def collimator_leak(segmenter: Segmenter, raw: Segmenter, n: int = 24) -> dict[str, float]:
    """Share of predicted vessel pixels behind rendered collimators (with / without FOV)."""
    rng = np.random.default_rng(2024)
    samples = make_phantom_samples(n, 256, seed=4242)
    behind = {"cleared": [0, 0], "network": [0, 0]}
    for sample in samples:
        collimation = random_collimation(rng)
        frame, _, _ = collimate(sample["frame"], None, collimation, rng)
        blocked = blocked_fraction(frame.shape, collimation) > 0.5
        for key, model in (("cleared", segmenter), ("network", raw)):
            vessel = model.segment_frames(frame[None])[0] > 0.5
            behind[key][0] += int((vessel & blocked).sum())
            behind[key][1] += int(vessel.sum())
    return {"behind collimator (FOV cleared)": behind["cleared"][0] / max(behind["cleared"][1], 1),
            "behind collimator (network)": behind["network"][0] / max(behind["network"][1], 1)}


def catheter_leak(segmenter: Segmenter, per_image: int = 3) -> dict[str, float]:
    """Share of rendered catheter pixels (off the labelled vessels) predicted vessel."""
    rng = np.random.default_rng(2024)
    found = total = 0
    for pair in pair_images(DATA / "xca-train", names=read_split(SPLIT, "val")):
        frame, label = read_gray(pair.image), read_mask(pair.mask) > 0
        for _ in range(per_image):
            drawn, covered = add_wire(frame, random_catheter(rng))
            off_vessel = covered & ~cv2.dilate(label.astype(np.uint8), np.ones((5, 5))).astype(bool)
            found += int((segmenter.segment_frames(drawn[None])[0] > 0.5)[off_vessel].sum())
            total += int(off_vessel.sum())
    return {"rendered catheter called vessel": found / max(total, 1)}


def cine_floor(segmenter: Segmenter) -> dict[str, float]:
    """rubo: vessel area in frame 0 (no contrast yet) over the largest area of every 8th frame;
    barre (devices, no vessel): share of the frame called vessel."""
    cine = read_cine(DATA / "xa" / "rubo_rca_96f.dcm")
    frames = np.stack([cine.frame(i) for i in range(0, cine.n_frames, 8)])
    areas = (segmenter.segment_frames(frames) > 0.5).sum(axis=(1, 2))
    barre = read_cine(DATA / "xa" / "barre_catheter_12f.dcm")
    devices = segmenter.segment_frames(np.stack([barre.frame(i) for i in range(barre.n_frames)]))
    return {"rubo frame 0 / peak area": float(areas[0] / max(areas.max(), 1)),
            "barre (no vessel): share called vessel": float((devices > 0.5).mean())}


def overlay(frame: np.ndarray, probability: np.ndarray, label: np.ndarray | None) -> np.ndarray:
    grey = cv2.normalize(np.asarray(frame, np.float32), None, 0, 255, cv2.NORM_MINMAX)
    rgb = np.repeat(grey.astype(np.uint8)[..., None], 3, axis=2)
    vessel = probability > 0.5
    rgb[vessel] = (0.45 * rgb[vessel] + [140, 0, 0]).astype(np.uint8)
    if label is not None:
        edges = cv2.morphologyEx(label.astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((3, 3)))
        rgb[edges > 0] = [0, 255, 0]
    return cv2.resize(rgb, (384, 384), interpolation=cv2.INTER_AREA)


def overlay_images() -> list[tuple[np.ndarray, np.ndarray | None]]:
    images = []
    for name, _, shown in CINES:
        images.append((np.asarray(read_cine(DATA / "xa" / f"{name}.dcm").frame(shown)), None))
    folder = DATA / "arcade-syntax" / "val"
    for k in OVERLAY_ARCADE:
        images.append((read_gray(folder / "images" / f"{k}.png"),
                       read_mask(folder / "labels" / f"{k}.png", label_map=True)))
    return images


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="cenet-light", help="comma-separated names/folders")
    parser.add_argument("--arcade", type=int, default=200, help="ARCADE val images scored")
    parser.add_argument("--out", type=Path, default=Path("bench-model"), help="figure folder")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--catheters-kept", action="store_true",
                        help="also score each model with the catheter left in (a column each)")
    parser.add_argument("--flips", action="store_true",
                        help="also score each model with flip averaging (a column each)")
    args = parser.parse_args(argv)
    if not (DATA / "arcade-syntax").is_dir():
        raise SystemExit(f"bench_model needs {DATA} (ARCADE, XCA and the real cines)")
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    rows: dict[str, dict[str, float]] = {}
    columns = []
    images = overlay_images()
    variants = [({}, "")]
    variants += [({"clear_catheters": False}, ", catheter kept")] if args.catheters_kept else []
    variants += [({"flip_average": True}, ", flips")] if args.flips else []
    for (options, suffix), model in itertools.product(variants, models):
        segmenter = Segmenter(model, device="cpu", threads=args.threads, **options)
        raw = Segmenter(model, device="cpu", threads=args.threads, field_of_view=False,
                        flip_average=options.get("flip_average", False))
        label = f"{model} ({segmenter.model_version}){suffix}"
        figures = {**arcade_scores(segmenter, args.arcade), **xca_scores(segmenter),
                   **phantom_dice(segmenter), **collimator_leak(segmenter, raw),
                   **catheter_leak(segmenter), **cine_floor(segmenter)}
        rows[label] = figures
        columns.append(np.concatenate(
            [overlay(f, segmenter.segment_frames(np.asarray(f)[None])[0], lab)
             for f, lab in images], axis=0))
    table = Table(title=f"vessel models (ARCADE val: first {args.arcade})")
    table.add_column("figure")
    for label in rows:
        table.add_column(label, justify="right")
    for key in next(iter(rows.values())):
        table.add_row(key, *(f"{rows[label][key]:.3f}" for label in rows))
    Console().print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    figure = np.concatenate(columns, axis=1)
    cv2.imwrite(str(args.out / "overlays.png"), cv2.cvtColor(figure, cv2.COLOR_RGB2BGR))
    print(f"overlays: {args.out / 'overlays.png'} (columns: {', '.join(rows)})")


if __name__ == "__main__":
    main()
