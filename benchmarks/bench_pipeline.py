"""Whole-pipeline time per stage on the demo's run (phantom XA, 512², 30 frames), median of runs.

Usage: .venv/bin/python benchmarks/bench_pipeline.py [--frames 30 --size 512 --repeats 3]
Prints a table: stage, median s, s/frame and share of the total. The model is loaded once
(as a Slicer session or a batch job would) and its load time is listed separately.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from AngioSegLib.evaluation.metrics import score_segmentation
from AngioSegLib.io import read_cine
from AngioSegLib.io.xa_write import write_xa
from AngioSegLib.outputs.writers import write_outputs
from AngioSegLib.phantom.generator import PhantomOptions, make_phantom
from AngioSegLib.pipeline import PipelineOptions, run
from AngioSegLib.segment.segmenter import InferenceOptions, Segmenter


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    phantom = make_phantom(PhantomOptions(seed=0, n_frames=args.frames, size=args.size))
    start = time.perf_counter()
    segmenter = Segmenter(device="cpu")
    segmenter.segment_frames(phantom.cine.to_array()[:1])  # ONNX export/cache and warm-up
    load_s = time.perf_counter() - start
    times: dict[str, list[float]] = {}
    options = PipelineOptions(inference=InferenceOptions(device="cpu"))
    with tempfile.TemporaryDirectory() as tmp:
        source = write_xa(phantom.cine, Path(tmp) / "run.dcm", transfer_syntax="jpeg-ls")
        for repeat in range(args.repeats):
            start = time.perf_counter()
            cine = read_cine(source)
            times.setdefault("read header", []).append(time.perf_counter() - start)
            result = run(cine, options, segmenter=segmenter)
            for stage, seconds in result.timings_s.items():
                times.setdefault(stage, []).append(seconds)
            start = time.perf_counter()
            write_outputs(result, Path(tmp) / f"out{repeat}")
            times.setdefault("write outputs", []).append(time.perf_counter() - start)
    medians = {stage: statistics.median(values) for stage, values in times.items()}
    total = sum(medians.values())
    dice = score_segmentation(result.masks, phantom.masks).dice
    print(f"{args.frames} frames {args.size}², model {result.model_name} on {result.device}, "
          f"median of {args.repeats}; model load + ONNX warm-up {load_s:.1f} s (once)")
    print(f"{'stage':<16}{'median s':>10}{'s/frame':>10}{'share':>8}")
    for stage, seconds in medians.items():
        print(f"{stage:<16}{seconds:>10.2f}{seconds / args.frames:>10.3f}{seconds / total:>8.0%}")
    print(f"{'total':<16}{total:>10.2f}{total / args.frames:>10.3f}{1:>8.0%}")
    print(f"Dice against the phantom's ground truth: {dice:.3f}")


if __name__ == "__main__":
    main()
