"""Inference speed on this CPU: ms/frame for each model and backend, side by side, in one run.

For cenet-r34 and cenet-light: torch eager fp32, torch channels-last, ONNX Runtime fp32 and int8,
and reduced internal resolutions. Each row is the median of N timings of the network on one 512²
frame; the variants of a model are timed round-robin (one run of each, N times) so that load from
other jobs on the machine falls on all of them alike. Next to it: the FLOPs per frame
(torch.utils.flop_counter) and the floor that this CPU's measured matmul peak allows. A second
table checks accuracy (trained weights only): Dice of each ONNX variant's masks against the
full-resolution fp32 masks and against the ground truth of 512² phantoms, and Dice on the public
XCA validation images when ../shared/data is here. The last two rows time the default Segmenter
end to end (normalisation, padding, sigmoid included), plain and flip-averaged (``--flip-average``).

    .venv/bin/python benchmarks/bench_inference.py [--repeats 5] [--models cenet-r34,cenet-light]
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table
from torch.utils.flop_counter import FlopCounterMode

from AngioSegLib.errors import ModelError
from AngioSegLib.evaluation.evaluate import evaluate_pairs, pair_images, read_split
from AngioSegLib.evaluation.metrics import dice
from AngioSegLib.model import MODEL_NAMES, LoadedModel, build_network, load_bundle
from AngioSegLib.phantom.generator import PhantomOptions, make_phantom
from AngioSegLib.pipeline import phantom_calibration_frames
from AngioSegLib.segment.segmenter import InferenceOptions, Segmenter, TorchRunner, padded_size

XCA = Path(__file__).resolve().parents[2] / "shared" / "data" / "xca-train"
SPLIT = Path(__file__).resolve().parents[1] / "data_splits" / "xca_split.json"


@dataclass(frozen=True)
class Variant:
    """One way of running a model: backend, precision, internal resolution factor."""

    label: str
    backend: str
    precision: str = "fp32"
    scale: float = 1.0
    channels_last: bool = True
    end_to_end: bool = False  # time segment_frames (normalise, resize, pad, sigmoid included)
    flip_average: bool = False  # the frame and its two mirror images (segment/flips.py)


VARIANTS = (
    Variant("torch eager fp32", "torch", channels_last=False),
    Variant("torch channels-last fp32", "torch"),
    Variant("ORT fp32", "onnx"),
    Variant("ORT int8", "onnx", "int8"),
    Variant("ORT fp32 scale 0.75", "onnx", scale=0.75),
    Variant("ORT int8 scale 0.75", "onnx", "int8", 0.75),
    Variant("ORT fp32 scale 0.5", "onnx", scale=0.5),
    Variant("ORT int8 scale 0.5", "onnx", "int8", 0.5),
    Variant("Segmenter default, end to end", "auto", "auto", end_to_end=True),
    Variant("Segmenter flip-averaged, end to end", "auto", "auto", end_to_end=True,
            flip_average=True),
)


def time_ms(function) -> float:
    start = time.perf_counter()
    function()
    return 1000 * (time.perf_counter() - start)


def peak_gflops(n: int = 2048, repeats: int = 5) -> float:
    """Measured fp32 matmul throughput of this CPU (GFLOP/s) with torch's threads."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    return 2 * n**3 / statistics.median(time_ms(lambda: a @ b) for _ in range(repeats)) / 1e6


def count_gflops(network, size: int) -> float:
    """FLOPs (multiply and add counted apart) of one (1, 1, size, size) forward pass, in G."""
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        network(torch.zeros(1, 1, size, size))
    return counter.get_total_flops() / 1e9


def make_segmenter(model: LoadedModel, variant: Variant, cache_dir: Path) -> Segmenter:
    options = InferenceOptions(
        device="cpu", backend=variant.backend, precision=variant.precision, scale=variant.scale,
        cache_dir=cache_dir, flip_average=variant.flip_average,
    )
    return Segmenter(model, options, calibration_frames=phantom_calibration_frames)


def make_call(segmenter: Segmenter, variant: Variant, frame: np.ndarray):
    """A no-argument function running the network of ``variant`` on one prepared frame."""
    if variant.end_to_end:
        return lambda: segmenter.segment_frames(frame[None])
    batch = segmenter.prepare(frame, segmenter.plan_size(frame.shape, None))[None]
    if variant.backend == "torch":  # its own copy: the memory format is set in place
        network = copy.deepcopy(segmenter.model.network)
        runner = TorchRunner(network, "cpu", "fp32", channels_last=variant.channels_last)
        return lambda: runner(batch)
    return lambda: segmenter.run_network(batch)


def load_model(name: str, random_weights: bool, console: Console) -> LoadedModel:
    """The shipped model (or a bundle folder), else the network freshly initialised."""
    if not random_weights:
        try:
            return load_bundle(name)
        except ModelError as error:
            console.print(f"[yellow]{error}: timing it with random weights[/]")
    torch.manual_seed(0)
    architecture = name if name in MODEL_NAMES else "cenet-light"
    return LoadedModel(build_network(architecture).eval(), {}, f"{architecture} (random)", "0",
                       None, {})


def xca_val_dice(segmenter: Segmenter) -> str:
    """Mean Dice on the validation images of the public XCA set, if it is here."""
    if not (XCA.is_dir() and SPLIT.is_file()):
        return "n/a"
    pairs = pair_images(XCA, names=read_split(SPLIT, "val"))
    return f"{evaluate_pairs(pairs, segmenter).mean.dice:.4f}"


def bench_model(model, args, peak, phantoms, cache: Path, speed: Table, accuracy: Table) -> None:
    """Add the speed rows (and, for trained weights, the accuracy rows) of one model."""
    segmenters = [make_segmenter(model, v, cache) for v in VARIANTS]
    frame = phantoms[0].cine.frame(0)
    calls = [make_call(s, v, frame) for s, v in zip(segmenters, VARIANTS, strict=True)]
    times: list[list[float]] = [[] for _ in VARIANTS]
    for call in calls:  # warm-up
        call()
    for _ in range(args.repeats):
        for k, call in enumerate(calls):
            times[k].append(time_ms(call))
    eager_ms = statistics.median(times[0])
    for variant, samples in zip(VARIANTS, times, strict=True):
        size = padded_size(round(args.size * variant.scale))
        gflop = count_gflops(model.network.float(), size)
        ms, floor_ms = statistics.median(samples), gflop / peak * 1000
        speed.add_row(
            model.name, variant.label, f"{size}²", f"{gflop:.1f}", f"{floor_ms:.0f}",
            f"{ms:.0f}", f"{1000 / ms:.2f}", f"{eager_ms / ms:.1f}", f"{floor_ms / ms * 100:.0f}",
        )
    if "(random)" in model.name:
        return
    truth = np.concatenate([run.masks for run in phantoms])
    reference = None
    for segmenter, variant in zip(segmenters, VARIANTS, strict=True):
        if variant.backend != "onnx" or variant.end_to_end:
            continue
        masks = np.concatenate([segmenter.segment_frames(run.cine) >= 0.5 for run in phantoms])
        reference = masks if reference is None else reference
        agreement = f"{dice(masks, reference):.4f}" if reference.any() else "n/a"
        accuracy.add_row(model.name, variant.label, agreement, f"{dice(masks, truth):.4f}",
                         xca_val_dice(segmenter))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="cenet-r34,cenet-light",
                        help="Comma-separated model names or bundle folders.")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--random-weights", action="store_true", help="Ignore trained weights.")
    args = parser.parse_args()

    console = Console(width=140)
    load = os.getloadavg()
    console.print(
        f"CPU: {os.cpu_count()} cores, torch {torch.__version__} with {torch.get_num_threads()} "
        f"threads; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at start "
        "(other jobs share these cores: timings are upper bounds)"
    )
    peak = peak_gflops()
    console.print(f"Measured fp32 matmul peak: {peak:.0f} GFLOP/s")
    phantoms = [make_phantom(PhantomOptions(seed=seed, n_frames=2, size=args.size, tree=tree))
                for seed, tree in ((7, "left"), (8, "right"))]
    speed = Table(title=f"Network time for one {args.size}² frame, median of {args.repeats}")
    for column in ("model", "variant", "input", "GFLOP", "floor ms", "ms/frame", "frames/s",
                   "× eager", "% fp32 peak"):
        speed.add_column(column, justify="left" if column in ("model", "variant") else "right")
    accuracy = Table(title="Accuracy of the ONNX variants (trained weights only)")
    for column in ("model", "variant", f"Dice vs fp32 (phantoms {args.size}²)",
                   "Dice vs truth (phantoms)", "Dice XCA val"):
        accuracy.add_column(column)
    with tempfile.TemporaryDirectory() as cache:
        for name in args.models.split(","):
            model = load_model(name, args.random_weights, console)
            bench_model(model, args, peak, phantoms, Path(cache), speed, accuracy)
            console.print(f"  {model.name} done")
    console.print(speed)
    if accuracy.row_count:
        console.print(accuracy)
    console.print(f"load average at the end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
