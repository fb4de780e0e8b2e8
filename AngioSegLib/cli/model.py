"""`angioseg evaluate`, `angioseg export-onnx` and `angioseg bench`: the model's commands."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer

from AngioSegLib.cli import stage_options as so


def _names(list_file: Path | None, split: Path | None, subset: str) -> list[str] | None:
    from AngioSegLib.errors import InputError
    from AngioSegLib.evaluation.evaluate import read_name_list, read_split

    if list_file is not None and split is not None:
        raise InputError("give either --list or --split, not both")
    if list_file is not None:
        return read_name_list(list_file)
    return read_split(split, subset) if split is not None else None


def _print_table(evaluation) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{evaluation.model_name} on {evaluation.device}, "
                        f"threshold {evaluation.threshold:g}")
    keys = ("sen", "spec", "acc", "dice", "iou", "cldice", "cl_recall")
    table.add_column("image")
    for key in ("Sen", "Spec", "Acc", "Dice", "IoU", "clDice", "CL recall"):
        table.add_column(key, justify="right")
    for item in evaluation.images:
        table.add_row(item.name, *(f"{item.scores.short[k]:.4f}" for k in keys))
    table.add_section()
    table.add_row(
        f"[bold]mean ({len(evaluation.images)})",
        *(f"[bold]{evaluation.mean.short[k]:.4f}" for k in keys),
    )
    Console().print(table)
    if evaluation.segments is not None:
        _print_segments(evaluation.segments)


def _print_segments(summary) -> None:
    from rich.console import Console
    from rich.table import Table

    from AngioSegLib.anatomy.segments import segment_of

    table = Table(title=f"coronary segments: mean per-image F1 {summary.mean_f1:.3f}, mean "
                        f"Dice over the segments shown {summary.mean_dice_present:.3f}")
    for name, justify in (("SYNTAX", "left"), ("segment", "left"), ("images", "right"),
                          ("Dice", "right")):
        table.add_column(name, justify=justify)
    for value, dice in summary.dice_by_segment.items():
        segment = segment_of(value)
        table.add_row(segment.syntax, segment.name, str(summary.images_by_segment[value]),
                      f"{dice:.3f}")
    Console().print(table)


def evaluate(
    images: Path = typer.Option(..., help="Folder of images (N.png)."),
    masks: Path = typer.Option(
        None, help="Folder of ground-truth masks (N.png or N_gt.png); default: --images."
    ),
    fov: Path = typer.Option(None, help="Folder of field-of-view masks (N.png or N_fov.png)."),
    list_file: Path = typer.Option(None, "--list", help="Text file: image names, one a line."),
    split: Path = typer.Option(None, help="JSON split file, e.g. data_splits/xca_split.json."),
    subset: str = typer.Option("val", help="Subset of --split to evaluate (train or val)."),
    model: str = typer.Option(None, help="Model name or bundle folder (default: shipped model)."),
    device: str = so.DEVICE,
    backend: str = so.BACKEND,
    precision: str = so.PRECISION,
    threshold: float = typer.Option(0.5, help="Vessel probability threshold."),
    label_maps: bool = typer.Option(False, "--label-maps", help="The masks are label maps "
                                    "(e.g. ARCADE's SYNTAX segments): any value > 0 is vessel."),
    labels: Path = typer.Option(None, help="Folder of coronary-segment label maps (ARCADE's "
                                "values): score the named segments too (per-segment Dice, "
                                "mean F1); replaces --masks."),
    as_json: bool = typer.Option(False, "--json", help="Print the scores as JSON on stdout."),
) -> None:
    """Score the model (Sen, Spec, Acc, Dice, IoU, clDice, centerline recall) on images with
    ground-truth masks. With partial labels (ARCADE) read Sen and centerline recall: vessels found
    that nobody labelled count against Dice. A reference with no vessel scores Dice 1 only when
    nothing is predicted; such images, and masks that had to be binarised, are warned about on
    stderr."""
    from AngioSegLib.cli.progress_bar import stage_progress
    from AngioSegLib.errors import InputError
    from AngioSegLib.evaluation.evaluate import evaluate_pairs, pair_images
    from AngioSegLib.pipeline import phantom_calibration_frames
    from AngioSegLib.segment.segmenter import Segmenter

    if labels is not None and masks is not None:
        raise InputError("give either --masks or --labels, not both")
    pairs = pair_images(images, labels or masks, fov, _names(list_file, split, subset))
    segmenter = Segmenter(model, device=device, backend=backend, precision=precision,
                          calibration_frames=phantom_calibration_frames)
    with stage_progress(quiet=as_json) as progress:
        evaluation = evaluate_pairs(pairs, segmenter, threshold, progress, label_maps,
                                    segments=labels is not None)
    for warning in evaluation.warnings:  # stderr, so that --json stdout stays one JSON document
        typer.echo(f"warning: {warning}", err=True)
    if as_json:
        typer.echo(json.dumps(evaluation.to_json(), indent=2))
    else:
        _print_table(evaluation)


def export_onnx(
    output: Path = typer.Option(..., "-o", "--output", help="ONNX file to write."),
    model: str = typer.Option(None, help="Model name or bundle folder (default: shipped model)."),
    int8: bool = typer.Option(False, "--int8", help="Static int8 QDQ (calibrated on phantoms)."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing file."),
) -> None:
    """Write the network as ONNX: input 'image' (B,1,H,W) float32 normalised as the model expects,
    H and W multiples of 32; output 'logits' (sigmoid gives the vessel probability)."""
    from AngioSegLib.pipeline import phantom_calibration_frames
    from AngioSegLib.segment.segmenter import export_onnx_model

    path = export_onnx_model(model, output, int8=int8,
                             calibration_frames=phantom_calibration_frames, force=force)
    typer.echo(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")


def bench(
    model: str = typer.Option(None, help="Model name or bundle folder (default: shipped model)."),
    size: int = typer.Option(512, help="Frame size (px)."),
    frames: int = typer.Option(8, help="Frames timed (after one warm-up frame)."),
    device: str = so.DEVICE,
    backend: str = so.BACKEND,
    precision: str = so.PRECISION,
    scale: float = typer.Option(1.0, help="Internal resolution factor (fewer FLOPs below 1)."),
    batch_size: int = typer.Option(None, help="Frames per batch (default: 1 on CPU, 8 on GPU)."),
    as_json: bool = typer.Option(False, "--json", help="Print the timing as JSON on stdout."),
) -> None:
    """Time the segmentation of phantom frames: ms/frame and frames/s on this machine."""
    from AngioSegLib.phantom.generator import PhantomOptions, make_phantom
    from AngioSegLib.pipeline import phantom_calibration_frames
    from AngioSegLib.segment.segmenter import Segmenter

    segmenter = Segmenter(
        model, device=device, backend=backend, precision=precision, scale=scale,
        batch_size=batch_size, calibration_frames=phantom_calibration_frames,
    )
    cine = make_phantom(PhantomOptions(seed=0, n_frames=frames, size=size)).cine
    frames_array = cine.to_array()
    segmenter.segment_frames(frames_array[:1])
    start = time.perf_counter()
    segmenter.segment_frames(frames_array)
    ms = 1000 * (time.perf_counter() - start) / frames
    summary = {"model": segmenter.model_name, "device": segmenter.device_label, "size": size,
               "scale": scale, "frames": frames, "ms_per_frame": round(ms, 1),
               "frames_per_s": round(1000 / ms, 2)}
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
    else:
        typer.echo(f"{segmenter.model_name} on {segmenter.device_label}, {size}² frames, scale "
                   f"{scale:g}: {ms:.0f} ms/frame ({1000 / ms:.1f} frames/s over {frames} frames)")


def register(app: typer.Typer) -> None:
    """Add ``evaluate``, ``export-onnx`` and ``bench`` to ``app``."""
    app.command("evaluate")(evaluate)
    app.command("export-onnx")(export_onnx)
    app.command("bench")(bench)
