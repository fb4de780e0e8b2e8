"""What naming the coronary segments costs per frame on this CPU, side by side in one run.

Three ways of segmenting the same 512² phantom run (ONNX Runtime fp32, the default CPU path),
timed round-robin (one pass of each, N times) so that load from other jobs falls on all alike:

1. the vessel-only network (cenet-light without a segment head): vessel probabilities;
2. the network with the segment head: vessel probabilities and per-pixel segment classes;
3. as 2, then the names voted among each frame's nearby vessel pixels and over 2K+1 = 5 frames along
   the motion (:func:`AngioSegLib.anatomy.segments.name_vessels`, the optical flow being the
   temporal filter's, which the pipeline computes anyway).

With ``--names``, a second table: how often a listed stenosis is named right on ARCADE's validation
angiograms (a trained model with a segment head, ``--model``). Each image is segmented and named as
`angioseg segment` does (one frame: the vote among nearby pixels only), QCA runs on it, and every
stenosis whose MLD pixel the reference names (a nonzero label within 2 px) counts: right when
``syntax_segment`` is the reference's segment there, wrong when it is another or none.

The shipped models run: ``cenet-light`` (row 1) and ``cenet-light-syntax`` (rows 2–3), the same
network but for the head, so that the votes count the classes and vessel masks a trained head gives
(a freshly initialised one names a phantom with one or two classes, which costs the votes less).
The table gives the median ms/frame and each row over row 1.

    .venv/bin/python benchmarks/bench_anatomy.py [--repeats 5] [--frames 8] [--threads 2]
        [--names ../shared/data/arcade-syntax/val --model cenet-light --limit 200]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from AngioSegLib.anatomy.segments import name_vessels, segment_at
from AngioSegLib.phantom.generator import PhantomOptions, make_phantom
from AngioSegLib.segment.segmenter import Segmenter
from AngioSegLib.temporal.flow import estimate_flows


def naming_accuracy(folder: Path, model: str, limit: int | None, threads: int) -> dict:
    """Stenoses named right / counted on ARCADE-style ``folder`` (images/, labels/)."""
    from AngioSegLib.anatomy.segments import name_analysis
    from AngioSegLib.cine import Calibration, CalibrationSource, CineRun
    from AngioSegLib.evaluation.evaluate import pair_images, read_gray
    from AngioSegLib.qca.measures import analyze_run

    segmenter = Segmenter(model, device="cpu", threads=threads)
    right = wrong = unnamed = images = 0
    for pair in pair_images(folder / "images", folder / "labels")[:limit]:
        frame, reference = read_gray(pair.image), read_gray(pair.mask)
        run = segmenter.segment_run(frame[None])
        masks = (run.probabilities >= 0.5).astype(np.uint8)
        anatomy = name_vessels(run.classes, masks, None, 0)
        cine = CineRun(frames=frame[None], calibration=Calibration(None,
                                                                   CalibrationSource.NONE))
        analysis = name_analysis(analyze_run(cine, run.probabilities, masks), anatomy)
        images += 1
        for stenosis in analysis.stenoses:
            truth = segment_at(reference, *stenosis.position_rc, radius_px=2)
            if truth is None:
                continue
            if stenosis.syntax_segment is None:
                unnamed += 1
            elif stenosis.syntax_segment == truth.syntax:
                right += 1
            else:
                wrong += 1
    return {"images": images, "right": right, "wrong": wrong, "unnamed": unnamed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--names", type=Path, default=None)
    parser.add_argument("--model", default=None)
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()
    if args.names is not None:
        counts = naming_accuracy(args.names, args.model, args.limit, args.threads)
        counted = counts["right"] + counts["wrong"] + counts["unnamed"]
        table = Table(title=f"stenoses named on {counts['images']} images of {args.names}")
        for column in ("stenoses on a named reference segment", "named right", "wrong",
                       "no name", "right (%)"):
            table.add_column(column, justify="right")
        table.add_row(str(counted), str(counts["right"]), str(counts["wrong"]),
                      str(counts["unnamed"]),
                      f"{100 * counts['right'] / counted:.1f}" if counted else "–")
        Console().print(table)
        return
    phantom = make_phantom(PhantomOptions(seed=3, n_frames=args.frames, size=512))
    frames = phantom.cine.to_array()
    with tempfile.TemporaryDirectory() as cache:
        plain = Segmenter("cenet-light", device="cpu", backend="onnx", threads=args.threads,
                          cache_dir=Path(cache))
        named = Segmenter("cenet-light-syntax", device="cpu", backend="onnx",
                          threads=args.threads, cache_dir=Path(cache))
        flows = estimate_flows(frames)

        def vessel_only():
            plain.segment_frames(frames)

        def with_classes():
            named.segment_run(frames)

        def with_names():
            run = named.segment_run(frames)
            name_vessels(run.classes, run.probabilities >= 0.5, flows, 2)

        rows = (("vessel-only network", vessel_only), ("+ segment head", with_classes),
                ("+ head, names voted (nearby pixels, 5 frames)", with_names))
        for _, work in rows:  # warm-up: ONNX sessions, caches
            work()
        times = {label: [] for label, _ in rows}
        for _ in range(args.repeats):
            for label, work in rows:
                start = time.perf_counter()
                work()
                times[label].append((time.perf_counter() - start) / args.frames)
    base = statistics.median(times[rows[0][0]])
    table = Table(title=f"coronary-segment naming, 512² frames, ORT fp32, {args.threads} "
                        f"threads, median of {args.repeats}")
    for column in ("path", "ms/frame", "× vessel-only"):
        table.add_column(column, justify="left" if column == "path" else "right")
    for label, _ in rows:
        median = statistics.median(times[label])
        table.add_row(label, f"{1000 * median:.0f}", f"{median / base:.2f}")
    Console().print(table)


if __name__ == "__main__":
    main()
