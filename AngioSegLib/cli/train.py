"""`angioseg train`: train a CE-Net on image/mask folders and/or phantoms, write a bundle."""

from __future__ import annotations

from pathlib import Path

import typer


def train(
    output: Path = typer.Option(..., "-o", "--output", help="Run folder (log, bundle)."),
    model: str = typer.Option("cenet-light", help="Network: cenet-r34 or cenet-light."),
    data: Path = typer.Option(None, help="Folder of images N.png with masks N_gt.png."),
    masks: Path = typer.Option(None, help="Folder of masks, if not beside the images."),
    split: Path = typer.Option(None, help="JSON split (train/val lists), e.g. "
                                          "data_splits/xca_split.json."),
    phantoms: int = typer.Option(0, help="Phantom frames added to the training set."),
    phantom_size: int = typer.Option(256, help="Phantom frame size (px)."),
    phantom_val: int = typer.Option(8, help="Held-out phantom frames scored each epoch."),
    epochs: int = typer.Option(10, help="Epochs."),
    steps: int = typer.Option(20, help="Batches per epoch."),
    batch_size: int = typer.Option(4, help="Crops per batch."),
    crop: int = typer.Option(256, help="Random crop size (px, multiple of 32)."),
    lr: float = typer.Option(1e-3, help="Adam learning rate (the first epoch's, with --min-lr)."),
    min_lr: float = typer.Option(None, help="Cosine decay of the rate to this at the last epoch."),
    weight_decay: float = typer.Option(1e-5, help="L2 weight decay (paper Eq. 3)."),
    bce_weight: float = typer.Option(0.5, help="Weight of binary cross-entropy added to Dice."),
    seed: int = typer.Option(0, help="Random seed (weights, sampling, augmentation)."),
    threads: int = typer.Option(2, help="CPU threads for torch."),
    time_limit_min: float = typer.Option(None, help="Stop after this many minutes of training."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the run's checkpoint."),
    init_from: str = typer.Option(None, help="Start from a bundle's weights (name or folder)."),
    force: bool = typer.Option(False, "--force", help="Start over in a non-empty run folder."),
    normalisation: str = typer.Option("flattened-inverted", help="Network input normalisation: "
                                      "flattened-inverted or percentile-inverted."),
    arcade: Path = typer.Option(None, help="ARCADE-style folder: train/ and val/, each with "
                                "images/N.png and labels/N.png (label maps, > 0 = vessel)."),
    arcade_limit: int = typer.Option(None, help="Use only the first N ARCADE training images."),
    arcade_val: int = typer.Option(24, help="ARCADE validation images scored each epoch."),
    partial_labels: str = typer.Option("teacher", help="ARCADE's partial labels: 'band' ignores "
                                       "a band around labelled vessels; 'teacher' (chosen by "
                                       "measurement, see the model card) also ignores unlabelled "
                                       "pixels the teacher model calls vessel."),
    teacher: str = typer.Option(None, help="Teacher model for --partial-labels teacher "
                                "(default: the shipped model)."),
    source_weights: str = typer.Option("arcade=0.6,xca=0.25,phantom=0.15",
                                       help="Sampling weight of each source present."),
    collimation: float = typer.Option(0.35, help="Share of crops drawn with a random "
                                      "collimation (shutters, graded edges, borders)."),
    wires: float = typer.Option(0.25, help="Share of crops drawn with one or two guidewires "
                                "(thin radiopaque curves, taught as background)."),
    catheters: float = typer.Option(0.0, help="Share of crops drawn with a catheter (a wide "
                                    "tube of constant width from the frame edge, filled or "
                                    "empty, taught as background). Off by default: at 0.3 a "
                                    "fine-tune halved the rendered catheters called vessel but "
                                    "not the real ones, at 1.3 points of XCA Dice."),
    segments: bool = typer.Option(False, "--segments/--no-segments",
                                  help="Also train the coronary-segment head on ARCADE's SYNTAX "
                                  "labels (turns flips and quarter turns off)."),
    segment_weight: float = typer.Option(0.5, help="Weight of the segment head's "
                                         "cross-entropy in the loss."),
    segment_balance: float = typer.Option(0.0, help="Weigh the segment classes by (median "
                                          "pixel count / count) ** this (0.5: side branches "
                                          "weigh more than main vessels; 0: unweighted)."),
) -> None:
    """Train a vessel segmentation network (Dice + BCE loss, Adam, MONAI augmentation)."""
    from AngioSegLib.cli.progress_bar import stage_progress
    from AngioSegLib.training.train import TrainOptions
    from AngioSegLib.training.train import train as run_training

    options = TrainOptions(
        output=output, model=model, data=data, masks=masks, split=split, phantoms=phantoms,
        phantom_size=phantom_size, phantom_val=phantom_val, epochs=epochs, steps_per_epoch=steps,
        batch_size=batch_size, crop_size=crop, learning_rate=lr, min_learning_rate=min_lr,
        weight_decay=weight_decay,
        bce_weight=bce_weight, seed=seed, threads=threads,
        time_limit_s=None if time_limit_min is None else 60.0 * time_limit_min,
        resume=resume, init_from=init_from, force=force, normalisation=normalisation,
        arcade=arcade, arcade_limit=arcade_limit, arcade_val=arcade_val,
        partial_labels=partial_labels, teacher=teacher,
        source_weights=_parse_weights(source_weights), collimation_probability=collimation,
        wire_probability=wires, catheter_probability=catheters, segments=segments,
        segment_weight=segment_weight, segment_balance=segment_balance,
    )
    with stage_progress() as progress:
        result = run_training(options, progress)
    typer.echo(f"best epoch {result.best_epoch}: validation Dice {result.best_val_dice:.4f}; "
               f"bundle {result.bundle}, last epoch {result.last_bundle}, log {result.log} "
               f"({result.train_time_s / 60:.1f} min)")


def _parse_weights(text: str) -> tuple[tuple[str, float], ...]:
    """``"arcade=0.6,xca=0.3"`` → (("arcade", 0.6), ("xca", 0.3)); InputError if malformed."""
    from AngioSegLib.errors import InputError

    pairs = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, value = item.partition("=")
        try:
            pairs.append((name.strip(), float(value)))
        except ValueError:
            raise InputError(f"--source-weights {text!r}: write name=weight pairs separated by "
                             "commas, e.g. arcade=0.6,xca=0.25,phantom=0.15") from None
    return tuple(pairs)


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("train")(train)
