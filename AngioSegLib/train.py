"""Train a CE-Net vessel segmentation network and write it as a bundle.

Loss (paper Eq. 2 and 3): soft Dice loss (MONAI ``DiceLoss`` on sigmoid probabilities, over the
batch) plus ``bce_weight`` × binary cross-entropy, with L2 weight decay in Adam. Each epoch runs
``steps_per_epoch`` batches of random augmented crops drawn from the training samples (real
images and phantom frames), then scores Dice on the validation images at full size. A checkpoint
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

from AngioSegLib.errors import InputError, OutputExistsError
from AngioSegLib.model.normalise import DEFAULT_NORMALISATION, check_normalisation
from AngioSegLib.progress import ProgressCallback, no_progress

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

    def __post_init__(self) -> None:
        if self.data is None and self.phantoms <= 0:
            raise InputError("nothing to train on: give an image folder (--data) or --phantoms N")
        for name in ("epochs", "steps_per_epoch", "batch_size", "threads"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} must be at least 1, found {getattr(self, name)}")
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


def _loss_function(bce_weight: float):
    import torch
    from monai.losses import DiceLoss

    dice = DiceLoss(sigmoid=True, batch=True)
    bce = torch.nn.BCEWithLogitsLoss()

    def loss(logits, labels):
        return dice(logits, labels) + bce_weight * bce(logits, labels)

    return loss


def predict_probability(network, image: np.ndarray) -> np.ndarray:
    """Vessel probability (H, W) float32 of one normalised image (H, W); network in eval mode."""
    import torch

    with torch.no_grad():
        logits = network(torch.from_numpy(np.ascontiguousarray(image, np.float32))[None, None])
    return torch.sigmoid(logits)[0, 0].numpy()


def validation_dice(network, samples: list[dict]) -> float:
    """Mean Dice of the thresholded (0.5) prediction over samples (NaN when there are none)."""
    from AngioSegLib.metrics import dice

    if not samples:
        return float("nan")
    network.eval()
    scores = [dice(predict_probability(network, s["image"][0]) > 0.5, s["label"][0] > 0)
              for s in samples]
    return float(np.mean(scores))


def score_samples(network, samples: list[dict], threshold: float = 0.5):
    """Mean Sen, Spec, Acc, Dice, IoU and clDice of the thresholded predictions over samples."""
    from AngioSegLib.metrics import mean_scores, score_segmentation

    network.eval()
    return mean_scores([
        score_segmentation(predict_probability(network, s["image"][0]) > threshold,
                           s["label"][0] > 0)
        for s in samples
    ])


def _load_samples(options: TrainOptions):
    """(train samples, real validation samples, phantom validation samples)."""
    from AngioSegLib.train_data import load_folder_samples, make_phantom_samples

    train, val_real, val_phantom = [], [], []
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
    return train, val_real, val_phantom


def _initial_network(options: TrainOptions):
    from AngioSegLib.model import build_network, load_bundle

    if options.init_from is None:
        return build_network(options.model)
    loaded = load_bundle(options.init_from)
    network = build_network(options.model)
    network.load_state_dict(loaded.network.state_dict())
    return network


def _epoch_batches(n_samples: int, options: TrainOptions, epoch: int) -> np.ndarray:
    """Sample indices (steps, batch) of an epoch: a function of the seed and epoch only."""
    rng = np.random.default_rng([options.seed, epoch])
    return rng.integers(0, n_samples, size=(options.steps_per_epoch, options.batch_size))


def _write_json(path: Path, data: dict) -> None:
    from AngioSegLib.io.atomic import atomic_write

    with atomic_write(path, force=True) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n")


def train(options: TrainOptions, progress: ProgressCallback = no_progress) -> TrainResult:
    """Train per ``options``; see the module docstring for what is written under ``output``."""
    import torch
    from monai.utils import set_determinism

    from AngioSegLib.progress import Progress
    from AngioSegLib.train_data import batch_samples, make_augmentation

    output = Path(options.output)
    checkpoint_path = output / CHECKPOINT
    if output.exists() and any(output.iterdir()) and not (options.resume or options.force):
        raise OutputExistsError(f"{output} is not empty; pass --resume to continue the training "
                                "there or --force to start over")
    output.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(options.threads)
    set_determinism(seed=options.seed)
    train_samples, val_real, val_phantom = _load_samples(options)
    if not train_samples:
        raise InputError("no training samples found (empty folder or split subset)")
    network = _initial_network(options)
    optimiser = torch.optim.Adam(network.parameters(), lr=options.learning_rate,
                                 weight_decay=options.weight_decay)
    loss_function = _loss_function(options.bce_weight)
    log = {"options": {k: str(v) for k, v in asdict(options).items()}, "epochs": [],
           "hardware": f"{platform.processor() or platform.machine()}, "
                       f"{options.threads} torch threads", "torch": torch.__version__}
    start_epoch, elapsed_s, best = 0, 0.0, (-1, -1.0)
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
            group["lr"] = rate
        augment = make_augmentation(options.crop_size, seed=options.seed * 10_007 + epoch)
        network.train()
        losses = []
        for step, indices in enumerate(_epoch_batches(len(train_samples), options, epoch)):
            images, labels = batch_samples([augment(train_samples[i]) for i in indices])
            optimiser.zero_grad()
            loss = loss_function(network(images), labels)
            loss.backward()
            optimiser.step()
            losses.append(loss.item())
            progress(Progress("train", epoch * options.steps_per_epoch + step + 1, total_steps,
                              f"epoch {epoch + 1} loss {np.mean(losses):.4f}"))
        val = validation_dice(network, val_real)
        val_ph = validation_dice(network, val_phantom)
        elapsed_s += time.perf_counter() - started
        score = val if val_real else (val_ph if val_phantom else -float(np.mean(losses)))
        entry = {"epoch": epoch + 1, "lr": rate,
                 "loss": float(np.mean(losses)), "val_dice": val,
                 "phantom_val_dice": val_ph, "elapsed_s": round(elapsed_s, 1)}
        log["epochs"].append(entry)
        progress(Progress("validate", epoch + 1, options.epochs,
                          f"val Dice {val:.4f}, phantom Dice {val_ph:.4f}"))
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
                "phantom_val_dice": entry["phantom_val_dice"], "seed": options.seed,
                "train_time_s": entry["elapsed_s"], "selection": selection}
    metadata = make_metadata(options.model, input_spacing_mm=None,
                             normalisation=options.normalisation, training=training)
    save_bundle(network, folder, metadata, force=True)


def _save_checkpoint(path: Path, network, optimiser, epoch, elapsed_s, log, best) -> None:
    import torch

    from AngioSegLib.io.atomic import atomic_write

    with atomic_write(path, force=True) as tmp:
        torch.save({"network": network.state_dict(), "optimiser": optimiser.state_dict(),
                    "epoch": epoch, "elapsed_s": elapsed_s, "log": log, "best": list(best)}, tmp)
