"""Train a CE-Net vessel segmentation network and write it as a bundle.

Loss (paper Eq. 2 and 3): soft Dice loss (MONAI ``DiceLoss`` on sigmoid probabilities, over the
batch) plus ``bce_weight`` × binary cross-entropy, with L2 weight decay in Adam; both are masked
by each sample's loss weight, so pixels of a partial label that cannot be trusted (ARCADE: an
ignore band around the labelled vessels, and optionally what a teacher model calls vessel) teach
nothing. Each epoch runs ``steps_per_epoch`` batches of random augmented crops; each crop's
source (ARCADE, XCA folder, phantoms) is drawn with ``source_weights``, and a random collimation
may be rendered onto it first (:func:`~.data.draw_sample`). After each epoch
Dice is scored on the validation images, and sensitivity and centerline recall on the first
``arcade_val`` ARCADE validation images, each segmented as users' runs are, through the
Segmenter (:mod:`.validation`). A checkpoint
is written after every epoch; ``resume`` continues from it (bit for bit given the same options;
the learning rate and epoch count may change). The learning rate is constant or follows a cosine
decay over the epochs. The best epoch by validation Dice is written as a bundle
``<output>/bundle``, the network as it is when training stops as ``<output>/last`` (free of
selection on the validation images), and a JSON log of every epoch as
``<output>/train_log.json``.
"""

from __future__ import annotations

import json
import math
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from AngioSegLib.choices import parse_choice
from AngioSegLib.errors import InputError, OutputExistsError
from AngioSegLib.model.normalise import DEFAULT_NORMALISATION, check_normalisation
from AngioSegLib.progress import ProgressCallback, no_progress
from AngioSegLib.training.data import PartialLabelRule, TrainingSource

CHECKPOINT = "checkpoint.pt"
LOG = "train_log.json"
BUNDLE = "bundle"
LAST_BUNDLE = "last"


@dataclass(frozen=True)
class TrainOptions:
    """What and how to train. Sizes in pixels, times in s, learning rate per Adam step."""

    output: Path
    model: str = "cenet-light"
    data: Path | None = None
    masks: Path | None = None
    split: Path | None = None
    phantoms: int = 0
    phantom_size: int = 256
    phantom_val: int = 8
    epochs: int = 10
    steps_per_epoch: int = 20
    batch_size: int = 4
    crop_size: int = 256
    learning_rate: float = 1e-3
    min_learning_rate: float | None = None  # None: constant rate; else cosine decay to it
    weight_decay: float = 1e-5
    bce_weight: float = 0.5
    seed: int = 0
    threads: int = 2
    time_limit_s: float | None = None
    resume: bool = False
    init_from: str | None = None
    force: bool = False
    normalisation: str = DEFAULT_NORMALISATION
    arcade: Path | None = None  # folder with train/ and val/, each images/ + labels/
    arcade_limit: int | None = None  # first N ARCADE training images (None: all)
    arcade_val: int = 24  # ARCADE validation images scored each epoch
    partial_labels: str = "teacher"  # or "band" (see train_data.partial_label_weight)
    teacher: str | None = None  # model for the "teacher" rule (None: the shipped default)
    source_weights: tuple[tuple[str, float], ...] = (("arcade", 0.6), ("xca", 0.25),
                                                     ("phantom", 0.15))
    collimation_probability: float = 0.35
    wire_probability: float = 0.25
    catheter_probability: float = 0.0  # rendered catheters: measured, not adopted (see --catheters)
    segments: bool = False  # also train the coronary-segment head (ARCADE's label values)
    segment_weight: float = 0.5  # weight of the segment head's cross-entropy in the loss
    head_lr_factor: float = 3.0  # the segment head, new, learns at this × the learning rate
    segment_balance: float = 0.0  # class weights (median count / count) ** this; 0: unweighted

    def __post_init__(self) -> None:
        if self.data is None and self.phantoms <= 0 and self.arcade is None:
            raise InputError("nothing to train on: give an image folder (--data), an ARCADE "
                             "folder (--arcade) or --phantoms N")
        if not (math.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise InputError(f"the learning rate must be a positive number, found "
                             f"{self.learning_rate}")
        if self.min_learning_rate is not None and not (
                math.isfinite(self.min_learning_rate) and 0 < self.min_learning_rate
                <= self.learning_rate):
            raise InputError(f"the minimum learning rate must be positive and at most the "
                             f"learning rate, found {self.min_learning_rate}")
        parse_choice(self.partial_labels, PartialLabelRule, "partial-label rule")
        for name, weight in self.source_weights:
            parse_choice(name, TrainingSource, "training source")
            if not weight >= 0:
                raise InputError(f"source weight {name}={weight}: weights are 0 or more")
        for name in ("collimation_probability", "wire_probability", "catheter_probability"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise InputError(f"{name} must be in [0, 1], found {getattr(self, name)}")
        for name in ("epochs", "steps_per_epoch", "batch_size", "threads"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} must be at least 1, found {getattr(self, name)}")
        if not (math.isfinite(self.segment_balance) and self.segment_balance >= 0):
            raise InputError(f"segment_balance must be 0 (unweighted) or more, found "
                             f"{self.segment_balance}; 0.5 weighs by 1/sqrt(pixel count)")
        if not 32 <= self.crop_size <= 4096 or self.crop_size % 32:
            raise InputError(f"crop_size must be a multiple of 32 in [32, 4096], "
                             f"found {self.crop_size}")
        check_normalisation(self.normalisation)

    def learning_rate_at(self, epoch: int) -> float:
        """Adam rate of ``epoch`` (0-based): constant, or cosine from ``learning_rate`` at epoch 0
        to ``min_learning_rate`` at the last epoch."""
        if self.min_learning_rate is None or self.epochs < 2:
            return self.learning_rate
        phase = math.cos(math.pi * epoch / (self.epochs - 1))
        return self.min_learning_rate + 0.5 * (self.learning_rate - self.min_learning_rate) * (
            1.0 + phase)


@dataclass(frozen=True)
class TrainResult:
    """Where the bundles (best epoch, last epoch) and log are, the best epoch and its validation
    Dice, and the training time (s)."""

    bundle: Path
    log: Path
    best_epoch: int
    best_val_dice: float
    train_time_s: float
    last_bundle: Path


def segment_class_weights(samples: list[dict], classes: int, balance: float) -> np.ndarray:
    """(classes,) float32 cross-entropy weights of the segment classes: (median count / count)
    ** ``balance`` over the target pixels of ``samples`` (ignored pixels not counted), so that
    a side branch (a few hundred pixels a frame) weighs more than a main vessel; clipped to
    [0.2, 10]; a class absent from every sample weighs 1. ``balance`` 0 gives all ones."""
    from AngioSegLib.anatomy.segments import IGNORE_CLASS

    counts = np.zeros(classes, np.float64)
    for sample in samples:
        values = np.asarray(sample["segments"]).astype(np.int64).ravel()
        counts += np.bincount(values[values != IGNORE_CLASS], minlength=classes)[:classes]
    weights = np.ones(classes, np.float64)
    present = counts > 0
    if balance > 0 and present.any():
        ratio = np.median(counts[present]) / counts[present]
        weights[present] = np.clip(ratio ** balance, 0.2, 10.0)
    return weights.astype(np.float32)


def _loss_function(bce_weight: float, segment_weight: float = 0.0,
                   class_weights: np.ndarray | None = None):
    """Masked soft Dice + ``bce_weight`` × masked BCE of the vessel logits (B, 1, H, W) against
    labels and weights (B, 1, H, W); for a network with a segment head (output a pair) plus
    ``segment_weight`` × cross-entropy (weighted by ``class_weights``, (classes,)) of the segment
    logits on their 1/4 grid against the targets (B, H, W) sampled there, whose
    ``IGNORE_CLASS`` pixels count for nothing."""
    import torch
    from monai.losses import DiceLoss

    from AngioSegLib.anatomy.segments import IGNORE_CLASS
    from AngioSegLib.model.cenet import vessel_logits

    dice = DiceLoss(sigmoid=False, batch=True)
    bce = torch.nn.BCEWithLogitsLoss(reduction="none")
    cross_entropy = torch.nn.CrossEntropyLoss(
        weight=None if class_weights is None else torch.as_tensor(class_weights),
        ignore_index=IGNORE_CLASS)

    def loss(output, labels, weights, segments=None):
        vessel = vessel_logits(output)
        probability = torch.sigmoid(vessel)
        masked_bce = (bce(vessel, labels) * weights).sum() / weights.sum().clamp_min(1.0)
        total = dice(probability * weights, labels * weights) + bce_weight * masked_bce
        if isinstance(output, tuple) and segments is not None:
            coarse = segments[:, 1::4, 1::4]  # the 1/4 grid's cells, nearest to their centres
            coarse = coarse[:, : output[1].shape[-2], : output[1].shape[-1]]
            if (coarse != IGNORE_CLASS).any():
                total = total + segment_weight * cross_entropy(output[1], coarse)
        return total

    return loss


def _teacher(options: TrainOptions):
    from AngioSegLib.segment.segmenter import Segmenter

    return Segmenter(options.teacher, device="cpu", threads=options.threads)


def _load_samples(options: TrainOptions, progress: ProgressCallback = no_progress):
    """(train samples, real validation samples, phantom validation samples, ARCADE validation
    samples)."""
    from AngioSegLib.training.data import (
        load_folder_samples,
        load_label_map_samples,
        make_phantom_samples,
    )

    train, val_real, val_phantom, val_arcade = [], [], [], []
    method = options.normalisation
    if options.data is not None:
        train += load_folder_samples(options.data, options.masks, options.split, "train", method)
        if options.split is not None:
            val_real = load_folder_samples(options.data, options.masks, options.split, "val",
                                           method)
    if options.phantoms > 0:
        train += make_phantom_samples(options.phantoms, options.phantom_size, options.seed,
                                      method)
        if options.phantom_val > 0:  # other seeds: held-out phantom runs
            val_phantom = make_phantom_samples(
                options.phantom_val, options.phantom_size, options.seed + 7919, method
            )
    if options.arcade is not None:
        teacher = _teacher(options) if options.partial_labels == "teacher" else None
        train += load_label_map_samples(Path(options.arcade) / "train", method,
                                        options.arcade_limit, options.partial_labels, teacher,
                                        progress)
        if options.arcade_val > 0 and (Path(options.arcade) / "val").is_dir():
            val_arcade = load_label_map_samples(Path(options.arcade) / "val", method,
                                                options.arcade_val)
    return train, val_real, val_phantom, val_arcade


def _initial_network(options: TrainOptions):
    from AngioSegLib.anatomy.segments import SEGMENT_CLASSES
    from AngioSegLib.model import build_network, load_bundle

    classes = SEGMENT_CLASSES if options.segments else 0
    if options.init_from is None:
        return build_network(options.model, classes)
    loaded = load_bundle(options.init_from)
    architecture = loaded.metadata.get("angioseg", {}).get("architecture", loaded.name)
    if architecture != options.model:
        raise InputError(f"--init-from {options.init_from} is a {architecture!r} network, but "
                         f"--model is {options.model!r}; train --model {architecture} or start "
                         "from a bundle of the same architecture")
    network = build_network(options.model, classes)
    # a vessel-only bundle starts a network with a segment head: the head starts afresh
    missing, unexpected = network.load_state_dict(loaded.network.state_dict(), strict=False)
    if unexpected or any(not key.startswith("segment_head.") for key in missing):
        raise InputError(f"--init-from {options.init_from}: its weights do not fit "
                         f"{options.model} (missing {len(missing)}, unexpected {len(unexpected)})")
    return network


def _parameter_groups(network, head_lr_factor: float) -> list[dict]:
    """Adam parameter groups: the network, and its segment head (if any) at ``head_lr_factor``
    × the learning rate (it starts from random weights, the rest from a trained model)."""
    head = getattr(network, "segment_head", None)
    if head is None:
        return [{"params": list(network.parameters())}]
    ids = {id(p) for p in head.parameters()}
    rest = [p for p in network.parameters() if id(p) not in ids]
    return [{"params": rest}, {"params": list(head.parameters()), "lr_factor": head_lr_factor}]


def _epoch_batches(sources: list[str], options: TrainOptions, epoch: int) -> np.ndarray:
    """Sample indices (steps, batch) of an epoch: a function of the seed and epoch only. Each
    draw picks a source by ``source_weights`` (among the sources present), then one of its
    samples uniformly."""
    rng = np.random.default_rng([options.seed, epoch])
    names = np.asarray(sources)
    present = sorted(set(sources))
    weights = dict(options.source_weights)
    p = np.array([weights.get(name, 0.0) for name in present], float)
    if p.sum() <= 0:
        p = np.ones(len(present))
    chosen = rng.choice(len(present), size=(options.steps_per_epoch, options.batch_size),
                        p=p / p.sum())
    order = np.argsort(np.searchsorted(present, names), kind="stable")  # samples by source
    counts = np.array([np.count_nonzero(names == name) for name in present])
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    pick = rng.random((options.steps_per_epoch, options.batch_size))
    return order[starts[chosen] + (pick * counts[chosen]).astype(int)]


def _write_json(path: Path, data: dict) -> None:
    from AngioSegLib.io.atomic import atomic_write

    with atomic_write(path, force=True) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n")


def train(options: TrainOptions, progress: ProgressCallback = no_progress) -> TrainResult:
    """Train per ``options``; see the module docstring for what is written under ``output``."""
    import torch
    from monai.utils import set_determinism

    from AngioSegLib.progress import Progress
    from AngioSegLib.training.data import batch_samples, draw_sample, make_augmentation
    from AngioSegLib.training.validation import (
        validation_dice,
        validation_recall,
        validation_segment_f1,
        validation_segmenter,
    )

    output = Path(options.output)
    checkpoint_path = output / CHECKPOINT
    if output.exists() and any(output.iterdir()) and not (options.resume or options.force):
        raise OutputExistsError(f"{output} is not empty; pass --resume to continue the training "
                                "there or --force to start over")
    torch.set_num_threads(options.threads)
    set_determinism(seed=options.seed)
    train_samples, val_real, val_phantom, val_arcade = _load_samples(options, progress)
    if not train_samples:
        raise InputError("no training samples found (empty folder or split subset)")
    output.mkdir(parents=True, exist_ok=True)
    sources = [s["source"] for s in train_samples]
    network = _initial_network(options)
    optimiser = torch.optim.Adam(_parameter_groups(network, options.head_lr_factor),
                                 lr=options.learning_rate, weight_decay=options.weight_decay)
    class_weights = None
    if getattr(network, "segment_head", None) is not None and options.segment_balance > 0:
        class_weights = segment_class_weights(train_samples, network.segment_classes,
                                              options.segment_balance)
    loss_function = _loss_function(options.bce_weight, options.segment_weight, class_weights)
    log = {"options": {k: str(v) for k, v in asdict(options).items()}, "epochs": [],
           "hardware": f"{platform.processor() or platform.machine()}, "
                       f"{options.threads} torch threads", "torch": torch.__version__}
    start_epoch, elapsed_s, best = 0, 0.0, (-1, -math.inf)
    if options.resume and checkpoint_path.is_file():
        state = torch.load(checkpoint_path, map_location="cpu", weights_only=False)
        network.load_state_dict(state["network"])
        optimiser.load_state_dict(state["optimiser"])
        start_epoch, elapsed_s, log, best = (state["epoch"] + 1, state["elapsed_s"],
                                             state["log"], tuple(state["best"]))
        log.setdefault("resumed_with", []).append(
            {k: str(v) for k, v in asdict(options).items()})
    total_steps = options.epochs * options.steps_per_epoch
    for epoch in range(start_epoch, options.epochs):
        if options.time_limit_s is not None and elapsed_s >= options.time_limit_s:
            break
        started = time.perf_counter()
        rate = options.learning_rate_at(epoch)
        for group in optimiser.param_groups:
            group["lr"] = rate * group.get("lr_factor", 1.0)
        augment = make_augmentation(options.crop_size, seed=options.seed * 10_007 + epoch,
                                    flips=not options.segments)
        network.train()
        losses = []
        for step, indices in enumerate(_epoch_batches(sources, options, epoch)):
            draws = [draw_sample(train_samples[i], np.random.default_rng([options.seed, epoch,
                                                                          step, k]),
                                 options.normalisation, options.collimation_probability,
                                 options.wire_probability, options.catheter_probability)
                     for k, i in enumerate(indices)]
            images, labels, weights, segments = batch_samples([augment(d) for d in draws])
            optimiser.zero_grad()
            loss = loss_function(network(images), labels, weights, segments)
            loss.backward()
            optimiser.step()
            losses.append(loss.item())
            progress(Progress("train", epoch * options.steps_per_epoch + step + 1, total_steps,
                              f"epoch {epoch + 1} loss {np.mean(losses):.4f}"))
        segmenter = validation_segmenter(network, options.normalisation)  # sets eval mode
        val = validation_dice(segmenter, val_real)
        val_ph = validation_dice(segmenter, val_phantom)
        arcade_sen, arcade_recall = validation_recall(segmenter, val_arcade)
        segment_f1 = validation_segment_f1(segmenter, val_arcade)
        elapsed_s += time.perf_counter() - started
        score = val if val_real else (val_ph if val_phantom else -float(np.mean(losses)))
        entry = {"epoch": epoch + 1, "lr": rate,
                 "loss": float(np.mean(losses)), "val_dice": val,
                 "phantom_val_dice": val_ph, "arcade_val_sen": arcade_sen,
                 "arcade_val_cl_recall": arcade_recall, "arcade_val_segment_f1": segment_f1,
                 "elapsed_s": round(elapsed_s, 1)}
        log["epochs"].append(entry)
        progress(Progress("validate", epoch + 1, options.epochs,
                          f"val Dice {val:.4f}, phantom Dice {val_ph:.4f}, ARCADE Sen "
                          f"{arcade_sen:.3f} cl-recall {arcade_recall:.3f} segment F1 "
                          f"{segment_f1:.3f}"))
        if score > best[1]:
            best = (epoch + 1, float(score))
            _write_bundle(network, output / BUNDLE, options, entry, "best validation Dice")
        log["best_epoch"], log["best_score"], log["train_time_s"] = best[0], best[1], elapsed_s
        _write_json(output / LOG, log)
        _save_checkpoint(checkpoint_path, network, optimiser, epoch, elapsed_s, log, best)
    if log["epochs"]:
        _write_bundle(network, output / LAST_BUNDLE, options, log["epochs"][-1], "last epoch")
    return TrainResult(output / BUNDLE, output / LOG, best[0], best[1], elapsed_s,
                       output / LAST_BUNDLE)


def _write_bundle(network, folder: Path, options: TrainOptions, entry: dict,
                  selection: str) -> None:
    """Save ``network`` as a bundle whose metadata records the epoch ``entry`` it comes from."""
    from AngioSegLib.model import make_metadata, save_bundle

    training = {"epoch": entry["epoch"], "val_dice": entry["val_dice"],
                "phantom_val_dice": entry["phantom_val_dice"],
                "arcade_val_sen": entry.get("arcade_val_sen"),
                "arcade_val_cl_recall": entry.get("arcade_val_cl_recall"),
                "arcade_val_segment_f1": entry.get("arcade_val_segment_f1"), "seed": options.seed,
                "train_time_s": entry["elapsed_s"], "selection": selection}
    metadata = make_metadata(options.model, input_spacing_mm=None,
                             normalisation=options.normalisation, training=training,
                             segment_classes=getattr(network, "segment_classes", 0))
    save_bundle(network, folder, metadata, force=True)


def _save_checkpoint(path: Path, network, optimiser, epoch, elapsed_s, log, best) -> None:
    import torch

    from AngioSegLib.io.atomic import atomic_write

    with atomic_write(path, force=True) as tmp:
        torch.save({"network": network.state_dict(), "optimiser": optimiser.state_dict(),
                    "epoch": epoch, "elapsed_s": elapsed_s, "log": log, "best": list(best)}, tmp)
